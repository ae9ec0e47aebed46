"""TCP port checks done before spawning a listener, and free ports for tests.

A conflict is reported before anything is spawned, as one line naming the
port and, where psutil can see it, the process that holds it.
"""

from __future__ import annotations

import errno
import socket

import psutil


class PortError(RuntimeError):
    """A port cannot be listened on; ``str(err)`` says which and why."""

    def __init__(self, message: str, *, host: str, port: int) -> None:
        super().__init__(message)
        self.host = host
        self.port = port


class PortInUseError(PortError):
    """Another socket already listens on the port.

    Args:
        host, port: the address that was checked.
        pid, process_name: the holder, when psutil can identify it (else None).
    """

    def __init__(self, host: str, port: int, pid: int | None = None, process_name: str | None = None,
                 cmdline: str | None = None) -> None:
        if pid is not None:
            who = f"pid {pid} ({process_name or '?'}"
            who += f": {cmdline})" if cmdline else ")"
            message = f"port {port} on {host} is already in use by {who}"
        else:
            message = f"port {port} on {host} is already in use (the holder is not visible to this user)"
        super().__init__(message, host=host, port=port)
        self.pid = pid
        self.process_name = process_name


def find_port_holder(port: int) -> tuple[int, str, str] | None:
    """(pid, name, short command line) of the process listening on ``port``, if visible."""
    try:
        conns = psutil.net_connections(kind="inet")
    except (psutil.AccessDenied, OSError):
        return None
    for conn in conns:
        if conn.status != psutil.CONN_LISTEN or not conn.laddr or conn.laddr.port != port or not conn.pid:
            continue
        try:
            proc = psutil.Process(conn.pid)
            name = proc.name()
            cmdline = " ".join(proc.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return conn.pid, "?", ""
        if len(cmdline) > 100:
            cmdline = cmdline[:97] + "..."
        return conn.pid, name, cmdline
    return None


def _addresses(host: str, port: int) -> list[tuple[int, tuple]]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        raise PortError(f"cannot resolve host {host!r}: {err.strerror}", host=host, port=port) from None
    seen: list[tuple[int, tuple]] = []
    for family, _type, _proto, _name, addr in infos:
        if (family, addr) not in seen:
            seen.append((family, addr))
    return seen


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`PortInUseError` if something already listens on ``host:port``.

    The probe binds with ``SO_REUSEADDR`` like uvicorn and websockets do, so a
    port left in TIME_WAIT by a previous run counts as free, as it is for them.
    """
    if port == 0:
        return
    other_error: OSError | None = None
    bound_any = False
    for family, addr in _addresses(host, port):
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(addr)
            bound_any = True
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                holder = find_port_holder(port)
                if holder is None:
                    raise PortInUseError(host, port) from None
                raise PortInUseError(host, port, *holder) from None
            other_error = err
        finally:
            sock.close()
    if not bound_any and other_error is not None:
        raise PortError(f"cannot listen on {host}:{port}: {other_error.strerror}", host=host, port=port)


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free right now (another process may still take it before you do)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
