"""What the HTTP benchmarks share: a free port, waiting for /health, and closed-loop load clients.

The clients speak raw HTTP/1.1 on asyncio streams over keep-alive
connections (each sends its next request as soon as the previous answer is
read), so that the server, not an HTTP client library, is what is measured.
"""

from __future__ import annotations

import asyncio
import random
import socket
import statistics
import subprocess
import time

import httpx


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_health(url: str, proc: subprocess.Popen, what: str, timeout: float = 60.0) -> None:
    """Until ``url/health`` answers 200; SystemExit naming ``what`` if it exits or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{what} did not answer /health in time")


async def _client(host: str, port: int, token: str, paths: list[str], deadline: float, budget: list[int],
                  latencies: list[float], errors: list[str], seed: int) -> None:
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while budget[0] > 0 and time.perf_counter() < deadline:
            budget[0] -= 1
            path = rng.choice(paths)
            request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                       f"Authorization: Bearer {token}\r\n\r\n").encode()
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            status = int(head.split(b" ", 2)[1])
            if status != 200:
                errors.append(f"{status} {path}")
    except (OSError, asyncio.IncompleteReadError) as err:
        errors.append(f"connection: {err!r}")
    finally:
        writer.close()


async def load(host: str, port: int, token: str, paths: list[str], clients: int, requests: int,
               seconds: float) -> dict:
    """``clients`` closed-loop clients GETting random ``paths`` for ``requests`` in all or ``seconds``."""
    latencies: list[float] = []
    errors: list[str] = []
    budget = [requests]
    started = time.perf_counter()
    await asyncio.gather(*(_client(host, port, token, paths, started + seconds, budget, latencies, errors, seed)
                           for seed in range(clients)))
    elapsed = time.perf_counter() - started
    ms = sorted(x * 1000 for x in latencies)
    q = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else [0.0] * 99
    return {"clients": clients, "requests": len(ms), "seconds": round(elapsed, 2),
            "requests_per_s": round(len(ms) / elapsed, 1), "p50_ms": round(q[49], 2), "p99_ms": round(q[98], 2),
            "max_ms": round(ms[-1], 2) if ms else 0.0, "errors": len(errors), "first_errors": errors[:5]}
