"""Qt-free models the panels observe."""
