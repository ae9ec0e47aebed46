"""Health checks of a supervised process: poll its health URL until it answers 200."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

UNHEALTHY_AFTER = 3  # failed checks in a row before a ready process counts as unhealthy

# report(healthy, message) -> False once the process is gone or stopping (ends the watch).
Reporter = Callable[[bool, str], bool]


async def probe(client: httpx.AsyncClient, url: str) -> str | None:
    """None if ``url`` answers 200, else a short description of what went wrong."""
    try:
        response = await client.get(url)
    except httpx.ConnectError:
        return f"GET {url}: connection refused"
    except httpx.TimeoutException:
        return f"GET {url}: timed out"
    except httpx.HTTPError as err:
        return f"GET {url}: {type(err).__name__}: {err}"
    if response.status_code != 200:
        return f"GET {url} answered HTTP {response.status_code}"
    return None


async def watch_health(url: str, *, ready_timeout: float, check_interval: float | None, report: Reporter,
                       nudge: asyncio.Event | None = None) -> None:
    """Readiness, then liveness.

    Polls quickly (50 ms, doubling to 500 ms) until the first 200 -> ``report(True, "")``
    or ``ready_timeout`` -> ``report(False, "not healthy within ...")``. Then, every
    ``check_interval`` seconds (unless None): a healthy process turns unhealthy
    after :data:`UNHEALTHY_AFTER` failed checks in a row, an unhealthy one turns
    healthy on its first 200. Runs until cancelled or ``report`` returns False.

    ``nudge``, set when the process printed something (a server says it listens),
    cuts the wait before the next readiness probe short.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ready_timeout
    interval = 0.05
    # trust_env=False: a proxy from the environment must never see loopback health checks.
    # verify only for https: loading the CA bundle costs ~30 ms of CPU per client, for nothing over http.
    async with httpx.AsyncClient(timeout=httpx.Timeout(2.0, connect=1.0), trust_env=False,
                                 verify=url.startswith("https://")) as client:
        while True:
            error = await probe(client, url)
            if error is None:
                healthy = True
                if not report(True, ""):
                    return
                break
            if loop.time() >= deadline:
                healthy = False
                if not report(False, f"not healthy within {ready_timeout:g}s: {error}"):
                    return
                break
            wait = min(interval, max(0.0, deadline - loop.time()))
            if nudge is None:
                await asyncio.sleep(wait)
            else:
                nudge.clear()
                try:
                    await asyncio.wait_for(nudge.wait(), wait)
                except TimeoutError:
                    pass
            interval = min(interval * 2, 0.2)
        if check_interval is None:
            return
        failed = 0
        while True:
            await asyncio.sleep(check_interval)
            error = await probe(client, url)
            if error is None:
                failed = 0
                if not healthy:
                    healthy = True
                    if not report(True, ""):
                        return
                continue
            failed += 1
            if healthy and failed >= UNHEALTHY_AFTER:
                healthy = False
                if not report(False, f"health check failing: {error}"):
                    return
