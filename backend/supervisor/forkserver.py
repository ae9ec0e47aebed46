"""A preloading fork server: import the modules every child needs once, then fork each child.

Like gunicorn's ``--preload``: one parent (the *fork server*) imports the
common modules (FastAPI, uvicorn, pydantic, the schema, ...) and forks a
fresh child for every ``python -m <module> ...`` the supervisor asks for.
Each child is still a separate process with its own pid, its own session
and process group (signalled as usual), its own output pipe (handed over
with ``SCM_RIGHTS``), its own environment and working directory; it runs
the module exactly as ``python -m`` would (``runpy``). The fork server is
the child's parent: it reaps it and reports the exit status to the
connection that asked for it.

Safety:

- the server listens on an abstract Unix socket with a random name and only
  talks to peers running as the same user (``SO_PEERCRED``);
- it is single-threaded and runs no event loop, so ``fork()`` is safe;
- it gets SIGKILL when the process that spawned it dies (parent-death
  signal), and every forked child gets SIGKILL when the fork server dies;
- when a requesting connection closes (its supervisor died), the children it
  asked for are killed, as a parent-death signal would;
- a request whose interpreter settings (``PYTHON*`` variables) differ from the
  server's is refused, and the caller spawns a fresh interpreter instead.

Server:  ``python -m backend.supervisor.forkserver ADDRESS [MODULE ...] [--own MODULE ...]
[--later MODULE ...] [--sibling-serves MODULE ...] [--sibling-preloads MODULE ...]``
(prints ``forkserver ready`` once the modules are imported; the ``--later``
ones are imported one at a time while no request waits, for children that
are asked for later, such as a run's Gateway; a sibling server forks the
``--sibling-serves`` children, see :func:`main`).
Client: :func:`fork_child` (used by :func:`backend.supervisor.child.spawn_child`).
"""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import signal
import socket
import struct
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

ENV_VAR = "EVOTRADERS_FORKSERVER"  # the abstract socket name children hand on to their own supervisors
# A file to append ``<monotonic> <pid> <event>`` lines to: the server's phases, each fork and
# every output line of every child it forks, timed where it is written (bench/stack_startup.py --phases).
TRACE_ENV = "EVOTRADERS_STARTUP_TRACE"
_MAX_MSG = 1 << 20
_KEEP_ENV = ("PYTHONUNBUFFERED",)
_GREETED_WAIT = 0.05  # seconds a greeted caller's request is awaited before a later module is imported


def new_address() -> str:
    """A fresh, unguessable abstract socket name (no file; gone with the server)."""
    import secrets

    return f"evotraders-forkserver-{os.getpid()}-{secrets.token_hex(8)}"


def trace(event: str, path: str | None = None) -> None:
    """Append ``<time.monotonic()> <pid> <event>`` to the trace file, if :data:`TRACE_ENV` names one.

    CLOCK_MONOTONIC is system-wide on Linux: lines of different processes compare.
    One ``write`` of an ``O_APPEND`` file per line, so processes do not interleave.
    """
    path = path or os.environ.get(TRACE_ENV)
    if not path:
        return
    import time

    line = f"{time.monotonic():.4f} {os.getpid()} {event}\n".encode("utf-8", "replace")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except OSError:
        pass


def _sockaddr(address: str) -> str:
    return "\0" + address


def interpreter_env(env: Mapping[str, str]) -> dict[str, str]:
    """The ``PYTHON*`` variables that shape an interpreter at start (a fork inherits the server's)."""
    return {k: v for k, v in env.items() if k.startswith("PYTHON") and k not in _KEEP_ENV}


# -- the server -------------------------------------------------------------------

def _listen(address: str) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(_sockaddr(address))
    listener.listen(64)
    return listener


class _Server:
    def __init__(self, address: str, listener: socket.socket | None = None) -> None:
        self.listener = listener or _listen(address)
        self.sibling: dict[str, Any] | None = None  # {address, serves}: the modules its sibling forks
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        os.set_blocking(self.wake_r, False)
        self.selector.register(self.wake_r, selectors.EVENT_READ, "sigchld")
        self.owner: dict[int, socket.socket] = {}  # child pid -> the connection that asked for it
        self.refusing = ""  # why it no longer forks (a thread appeared): callers spawn instead
        self.conns: set[socket.socket] = set()
        self.greeted: dict[socket.socket, float] = {}  # greeted, no request yet -> until when to wait for one

    def serve(self, later: Sequence[str] = ()) -> None:
        """Serve requests; between them, while none is waiting, import the ``later`` modules one by one."""
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # the wake-up fd does the work
        pending = list(later)
        while True:
            ready = self.selector.select(self._idle_wait() if pending else None)
            if not ready and pending:
                _preload(pending.pop(0))
                if not _single_threaded():
                    self.refusing = "a preloaded module started a thread"
                    pending.clear()
                if not pending:
                    _freeze()
                    print(f"forkserver: later modules preloaded ({len(sys.modules)} in memory)", flush=True)
                    trace("forkserver later modules preloaded")
                continue
            for key, _ in ready:
                if key.data == "accept":
                    self._accept()
                elif key.data == "sigchld":
                    try:
                        while os.read(self.wake_r, 512):
                            pass
                    except BlockingIOError:
                        pass
                    self._reap()
                else:
                    self._request(key.fileobj)  # type: ignore[arg-type]

    def _idle_wait(self) -> float:
        """How long to wait for a request before importing a later module: a caller that just got
        its hello is about to ask (a module's import would make it wait), anyone else is not."""
        import time

        now = time.monotonic()
        for conn, until in list(self.greeted.items()):
            if until <= now:
                del self.greeted[conn]
        return max(0.0, max(self.greeted.values(), default=now) - now)

    def accept_waiting(self) -> None:
        """Greet the callers already queued (between two preloaded modules): their requests then
        wait in the socket, and the first forks follow the last import at once."""
        import select

        while select.select([self.listener], [], [], 0)[0]:
            self._accept()

    def _accept(self) -> None:
        import time

        conn, _ = self.listener.accept()
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
        if uid != os.getuid():
            conn.close()
            return
        self.conns.add(conn)
        self.greeted[conn] = time.monotonic() + _GREETED_WAIT
        self.selector.register(conn, selectors.EVENT_READ, "conn")
        _send(conn, {"hello": True, "python_env": interpreter_env(os.environ), "executable": sys.executable,
                     "sibling": self.sibling})

    def _request(self, conn: socket.socket) -> None:
        self.greeted.pop(conn, None)
        try:
            data, fds, _flags, _addr = socket.recv_fds(conn, _MAX_MSG, 4)
        except OSError:
            data, fds = b"", []
        if not data:
            self._drop(conn)
            for fd in fds:
                os.close(fd)
            return
        try:
            request = json.loads(data)
            if len(fds) != 1:
                raise ValueError(f"expected one output descriptor, got {len(fds)}")
            pid = self._fork(request, fds[0], conn)
        except Exception as err:  # noqa: BLE001 - reported to the caller, who spawns instead
            _send(conn, {"id": _id(data), "error": f"{type(err).__name__}: {err}"})
        else:
            self.owner[pid] = conn
            _send(conn, {"id": request["id"], "pid": pid})
        finally:
            for fd in fds:
                os.close(fd)

    def _fork(self, request: dict[str, Any], out_fd: int, conn: socket.socket) -> int:
        if self.refusing:
            raise RuntimeError(f"not forking: {self.refusing}")
        argv = [str(a) for a in request["argv"]]
        if len(argv) < 3 or argv[1] != "-m":
            raise ValueError("only 'python -m MODULE ...' can be forked")
        env = {str(k): str(v) for k, v in request["env"].items()}
        cwd = request.get("cwd") or os.getcwd()
        server_pid = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            _become_child(argv, env, cwd, out_fd, server_pid, self)
        trace(f"fork {argv[2]} pid {pid}")
        return pid

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.owner.pop(pid, None)
            if conn is not None and conn in self.conns:
                _send(conn, {"exit": pid, "returncode": os.waitstatus_to_exitcode(status)})

    def _drop(self, conn: socket.socket) -> None:
        """A caller went away: its children go too (what a parent-death signal would do)."""
        self.conns.discard(conn)
        self.greeted.pop(conn, None)
        try:
            self.selector.unregister(conn)
        except (KeyError, ValueError):
            pass
        conn.close()
        for pid, owner in list(self.owner.items()):
            if owner is conn:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass

    def close_in_child(self) -> None:
        self.selector.close()
        for conn in self.conns:
            conn.close()
        self.listener.close()
        os.close(self.wake_r)
        os.close(self.wake_w)


def _id(data: bytes) -> Any:
    try:
        return json.loads(data).get("id")
    except (ValueError, AttributeError):
        return None


def _send(conn: socket.socket, message: dict[str, Any]) -> None:
    try:
        conn.send(json.dumps(message).encode())
    except OSError:
        pass  # the caller is gone; _drop follows when its end is read


def _become_child(argv: list[str], env: dict[str, str], cwd: str, out_fd: int, server_pid: int,
                  server: _Server) -> None:
    """In the forked child: become ``python -m argv[2] argv[3:]`` with its own session, output and env."""
    code: int = 1
    try:
        os.setsid()
        from backend.supervisor.procgroup import set_parent_death_signal

        set_parent_death_signal(server_pid)
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as the interpreter sets it at start
        signal.signal(signal.SIGINT, signal.default_int_handler)
        server.close_in_child()
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        os.close(out_fd)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        unbuffered = bool(env.get("PYTHONUNBUFFERED"))
        import io

        traced = env.get(TRACE_ENV)
        text = _traced_text(traced, argv[2]) if traced else io.TextIOWrapper
        sys.stdout = text(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                          errors="backslashreplace", line_buffering=True, write_through=unbuffered)
        sys.stderr = text(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                          errors="backslashreplace", line_buffering=True, write_through=True)
        trace(f"child {argv[2]} forked", traced)
        sys.argv = [argv[2], *argv[3:]]
        sys.path[0] = cwd  # what `python -m` puts first
        import runpy

        runpy.run_module(argv[2], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except BaseException:  # noqa: BLE001 - printed as the interpreter would
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        # What the interpreter does at exit: join non-daemon threads, run atexit, flush.
        try:
            import threading

            threading._shutdown()  # type: ignore[attr-defined]
            import atexit

            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001
            pass
        os._exit(code)


def _traced_text(path: str, module: str) -> type:
    """A text stream class that also traces every line written to it (see :func:`trace`)."""
    import io
    import time

    class Traced(io.TextIOWrapper):
        def write(self, text: str) -> int:
            for line in text.splitlines():
                if line.strip():
                    trace(f"line {module} cpu={time.process_time():.3f} {line[:200]}", path)
            return super().write(text)

    return Traced


def _exit_code(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)
    return 1


def _preload(name: str) -> None:
    import importlib

    try:
        importlib.import_module(name)
    except Exception as err:  # noqa: BLE001 - a child imports it again and reports it properly
        print(f"forkserver: cannot preload {name}: {type(err).__name__}: {err}", file=sys.stderr)


def _single_threaded() -> bool:
    import threading

    return threading.active_count() == 1


def _freeze() -> None:
    # What was imported stays put: the children's collections neither scan it nor
    # touch its pages (copy-on-write keeps them shared).
    import gc

    gc.freeze()


USAGE = ("usage: python -m backend.supervisor.forkserver ADDRESS [MODULE ...] [--own MODULE ...] "
         "[--later MODULE ...] [--sibling-serves MODULE ...] [--sibling-preloads MODULE ...]")
_OPTIONS = ("--own", "--later", "--sibling-serves", "--sibling-preloads")


def parse_args(args: Sequence[str]) -> tuple[str, dict[str, list[str]]]:
    """``ADDRESS`` and the module lists: ``shared`` (the names before any option) and one per option."""
    if not args or args[0].startswith("--"):
        raise ValueError(USAGE)
    lists: dict[str, list[str]] = {"shared": [], **{opt[2:]: [] for opt in _OPTIONS}}
    current = "shared"
    for arg in args[1:]:
        if arg.startswith("--"):
            if arg not in _OPTIONS:
                raise ValueError(f"unknown option {arg!r}; {USAGE}")
            current = arg[2:]
        else:
            lists[current].append(arg)
    return args[0], lists


def main(argv: Sequence[str] | None = None) -> int:
    """Serve at ADDRESS: import the shared MODULEs and the ``--own`` ones, fork what is asked for,
    import the ``--later`` ones while no request waits (for children asked for later, a run's Gateway).

    With ``--sibling-serves``, a *sibling* fork server is forked once the shared modules are
    imported: it imports the ``--sibling-preloads`` modules on the other core while this one
    imports its own, and forks the ``--sibling-serves`` modules' children (this server's
    greeting tells callers where it listens; if it cannot, this server forks them). What
    every child needs is imported once; what only some need, by two processes in parallel.
    """
    try:
        address, lists = parse_args(list(sys.argv[1:] if argv is None else argv))
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    server = _Server(address)  # listening first: callers may queue while the modules import
    sibling: tuple[str, socket.socket] | None = None
    if lists["sibling-serves"]:
        sibling = (f"{address}-sibling", _listen(f"{address}-sibling"))  # bound before anyone hears of it
        server.sibling = {"address": sibling[0], "serves": lists["sibling-serves"]}
    print("forkserver listening", flush=True)
    trace("forkserver listening")
    import gc

    gc.disable()  # nothing to collect while importing; frozen below
    _import_all(server, lists["shared"])
    name = "forkserver"
    own = lists["own"]
    if sibling is not None:
        if not _single_threaded():
            print("forkserver: a preloaded module started a thread; refusing to fork", file=sys.stderr)
            return 1
        server_pid = os.getpid()
        pid = os.fork()
        if pid == 0:  # the sibling: serves from its own socket until the server dies
            code = 1
            try:
                from backend.supervisor.procgroup import set_parent_death_signal

                set_parent_death_signal(server_pid)
                server.close_in_child()
                server = _Server(sibling[0], sibling[1])
                name, own = "forkserver sibling", lists["sibling-preloads"]
                code = _serve(server, own, [], name)
            finally:
                os._exit(code)
        sibling[1].close()
        trace(f"forkserver sibling forked, pid {pid}")
    return _serve(server, own, lists["later"], name)


def _import_all(server: _Server, modules: Sequence[str]) -> None:
    for module in modules:
        _preload(module)
        server.accept_waiting()


def _serve(server: _Server, own: Sequence[str], later: Sequence[str], name: str) -> int:
    import gc

    _import_all(server, own)
    if not _single_threaded():
        print(f"{name}: a preloaded module started a thread; refusing to fork", file=sys.stderr)
        return 1
    _freeze()
    gc.enable()
    print(f"{name} ready ({len(sys.modules)} modules in memory)", flush=True)
    trace(f"{name} ready")
    server.serve(later)
    return 0


# -- the client ---------------------------------------------------------------------

class ForkServerError(RuntimeError):
    """The fork server cannot fork this child (gone, refused, different interpreter): spawn it instead."""


class ForkServerClient:
    """One connection to a fork server, from one event loop, shared by its supervisor's children."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._sock: socket.socket | None = None
        self._hello: dict[str, Any] | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._exits: dict[int, Callable[[int], None]] = {}
        self._early_exits: dict[int, int] = {}
        self._next = 0
        self._reader: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self.closed = False

    async def _connect(self) -> None:
        if self._sock is not None or self.closed:
            return
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, _sockaddr(self.address))
            hello = json.loads(await asyncio.wait_for(loop.sock_recv(sock, _MAX_MSG), 30.0))
        except (OSError, ValueError, TimeoutError) as err:
            sock.close()
            self.closed = True
            raise ForkServerError(f"fork server {self.address} unreachable: {err}") from None
        self._sock, self._hello = sock, hello
        self._reader = loop.create_task(self._read(), name="forkserver reader")

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        sock = self._sock
        assert sock is not None
        try:
            while True:
                data = await loop.sock_recv(sock, _MAX_MSG)
                if not data:
                    break
                message = json.loads(data)
                if "exit" in message:
                    pid, code = int(message["exit"]), int(message["returncode"])
                    callback = self._exits.pop(pid, None)
                    if callback is None:
                        self._early_exits[pid] = code
                    else:
                        callback(code)
                else:
                    fut = self._pending.pop(message.get("id"), None)
                    if fut is not None and not fut.done():
                        fut.set_result(message)
        except (OSError, ValueError):
            pass
        finally:
            self._lost()

    def _lost(self) -> None:
        """The server is gone: its children were killed with it (their parent-death signal)."""
        self.closed = True
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ForkServerError(f"fork server {self.address} went away"))
        self._pending.clear()
        exits, self._exits = self._exits, {}
        for callback in exits.values():
            callback(-signal.SIGKILL)
        if self._sock is not None:
            self._sock.close()

    async def fork(self, argv: Sequence[str], env: Mapping[str, str], cwd: str | None, out_fd: int,
                   on_exit: Callable[[int], None]) -> int:
        """Fork ``argv`` (``python -m ...``) with ``env``; returns its pid. Raises ForkServerError."""
        trace(f"request {argv[2] if len(argv) > 2 else argv}")
        async with self._lock:
            await self._connect()
        hello = self._hello or {}
        if hello.get("executable") != argv[0] or interpreter_env(env) != hello.get("python_env"):
            raise ForkServerError("the child needs another interpreter than the fork server's")
        sibling = hello.get("sibling") or {}
        if len(argv) > 2 and argv[2] in sibling.get("serves", ()):
            try:
                return await client_for(str(sibling["address"])).fork(argv, env, cwd, out_fd, on_exit)
            except ForkServerError as err:  # this server has the shared modules: it forks it instead
                import logging

                logging.getLogger(__name__).info("%s: the sibling fork server cannot fork it (%s)", argv[2], err)
        if self.closed or self._sock is None:
            raise ForkServerError(f"fork server {self.address} went away")
        self._next += 1
        request_id = self._next
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = fut
        payload = json.dumps({"id": request_id, "argv": list(argv), "env": dict(env), "cwd": cwd}).encode()
        try:
            socket.send_fds(self._sock, [payload], [out_fd])
        except OSError as err:
            self._pending.pop(request_id, None)
            raise ForkServerError(f"fork server {self.address}: {err}") from None
        reply = await fut
        if "error" in reply:
            raise ForkServerError(f"fork server refused: {reply['error']}")
        pid = int(reply["pid"])
        early = self._early_exits.pop(pid, None)
        if early is not None:
            asyncio.get_running_loop().call_soon(on_exit, early)
        else:
            self._exits[pid] = on_exit
        return pid

    def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self._sock is not None:
            self._sock.close()
        self.closed = True


_clients: dict[tuple[int, str], ForkServerClient] = {}


def client_for(address: str) -> ForkServerClient:
    """The running loop's connection to ``address`` (one per loop and server)."""
    loop = asyncio.get_running_loop()
    key = (id(loop), address)
    client = _clients.get(key)
    if client is None or client.closed or getattr(client, "_loop", loop) is not loop:
        client = ForkServerClient(address)
        client._loop = loop  # type: ignore[attr-defined]
        _clients[key] = client
    return client


def forget(address: str) -> None:
    """Drop every loop's connection to ``address`` and its sibling (the server was stopped)."""
    for key in [k for k in _clients if k[1] in (address, f"{address}-sibling")]:
        _clients.pop(key).close()


if __name__ == "__main__":
    sys.exit(main())
