"""Qt-free network clients of the desktop app (HTTP services and the Gateway)."""
