"""Sandbox probe: what can a skill see and do here? (standard library only)"""

import errno
import os
import platform
import socket
import sys
import tempfile


def _closed_loopback_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
    except OSError:
        return 9
    finally:
        sock.close()


def _connect(host, port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(0.5)
    try:
        sock.connect((host, port))
        return "connected"
    except socket.timeout:
        return "timeout"
    except ConnectionRefusedError:
        return "refused"
    except OSError as exc:
        if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL):
            return "unreachable"
        return "error: " + (exc.strerror or type(exc).__name__)
    finally:
        sock.close()


def _writable(folder):
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
            return True
    except OSError:
        return False


def run(payload):
    loopback = _connect("127.0.0.1", _closed_loopback_port())
    outside = _connect("10.255.255.1", 9)
    return {
        "python_version": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(),
        "network_reachable": outside != "unreachable" and not outside.startswith("error"),
        "network": {"loopback_closed_port": loopback, "private_blackhole": outside},
        "uid": os.getuid(),
        "cwd": os.getcwd(),
        "cwd_writable": _writable(os.getcwd()),
        "root_writable": _writable("/"),
    }
