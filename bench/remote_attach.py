"""Benchmark: a remote desk's time from "connect" to a complete picture, against the bare libraries.

A deployment runs a live run (held at an approval, so its Gateway keeps
serving it); the desk's main window is up (offscreen), looking at nothing.
Each repeat measures, one after the other on the same ports:

- **bare**: a fresh ``httpx.AsyncClient`` GETs the four services' ``/health``
  concurrently, then a ``websockets`` client connects to the run's Gateway
  and reads its ``hello`` -- the least any client must do to know the
  services answer and to be on the run's stream;
- **ours**: ``Session.open(profile)`` with a profile that holds only the four
  service URLs and a viewer token, until the services answered (four states
  up), the live run is followed at the URL runtime_service returns (its
  ``hello`` arrived) and the Live panel drew the run's ``initial_state``
  (its status line names the run). Ours also asks runtime_service which run
  is live (``GET /runs``), which the bare client is told, closes the previous
  profile's connections (each repeat is a switch to a fresh profile) and
  reloads every panel for the new profile on the same loop.

Printed per repeat and as medians, with the ratio ours / bare (issue 12's
target: ours under 1 s).

    .venv/bin/python bench/remote_attach.py [--repeat 7]            # the compose deployment
    .venv/bin/python bench/remote_attach.py --local [--repeat 7]    # a local stack with tokens instead

The compose deployment needs the image ``evotraders/control-center:0.1.0``
(``scripts/build_image.sh``) and a Docker engine (``DOCKER_HOST``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

RUN_ID = "attach-bench"


async def bare_once(urls: dict[str, str], gateway_url: str, token: str) -> float:
    import httpx
    from websockets.asyncio.client import connect

    started = time.perf_counter()
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        replies = await asyncio.gather(*(http.get(f"{url}/health") for url in urls.values()))
        assert all(r.status_code == 200 for r in replies)
        sep = "&" if "?" in gateway_url else "?"
        async with connect(f"{gateway_url}{sep}token={token}") as ws:
            hello = await ws.recv()
            assert '"hello"' in str(hello)
    return time.perf_counter() - started


class Picture:
    """When each part of the complete picture arrived, after ``start()``."""

    def __init__(self, session: Any, live: Any) -> None:
        self.session, self.live = session, live
        self.t0 = 0.0
        self.services_at: float | None = None
        self.hello_at: float | None = None
        self.drawn_at: float | None = None
        self.state_seen = False  # this attach's initial_state arrived (what the Live panel must draw)
        self.switched = False  # the session emitted this attach's "profile"
        self.done = asyncio.Event()
        session.changed.connect(self._on_session)
        session.gateway_event.connect(self._on_event)
        original = live._refresh_status

        def timed_status() -> None:
            original()
            if self.drawn_at is None and self.state_seen and RUN_ID in live.run_label.text():
                self.drawn_at = time.perf_counter() - self.t0
                self._check()

        live._refresh_status = timed_status

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self.services_at = self.hello_at = self.drawn_at = None
        self.state_seen = False
        self.switched = False
        self.done.clear()

    def _on_session(self, event: Any) -> None:
        if event.kind == "profile" and self.t0:
            self.switched = True  # states before this are the previous profile's
        if self.services_at is None and self.switched and all(
                self.session.state(s).status == "up" for s in ("agent", "trading", "news", "runtime")):
            self.services_at = time.perf_counter() - self.t0
            self._check()

    def _on_event(self, event: Any) -> None:
        if self.hello_at is None and self.t0 and event.type == "hello" and event.run_id == RUN_ID:
            self.hello_at = time.perf_counter() - self.t0
            self._check()
        elif self.hello_at is not None and event.type == "initial_state":
            self.state_seen = True

    def _check(self) -> None:
        if None not in (self.services_at, self.hello_at, self.drawn_at):
            self.done.set()


async def ours_once(session: Any, picture: Picture, deployment: Any, index: int) -> tuple[float, float, float, float]:
    # A fresh profile each time (the desk switching to it: new clients, new Gateway connection),
    # from the viewer's URLs and token alone.
    profile = deployment.profile("viewer")
    profile.name = f"{profile.name} #{index}"
    picture.start()
    await session.open(profile)
    await asyncio.wait_for(picture.done.wait(), 30)
    total = max(picture.services_at, picture.hello_at, picture.drawn_at)
    return total, picture.services_at, picture.hello_at, picture.drawn_at


async def bench(args: argparse.Namespace) -> None:
    from app.models.settings_store import AppSettings, MemorySettings
    from app.qt.main_window import MainWindow
    from app.qt.panels import load_panels
    from app.session import Session
    from tests.remote.remote_flow import compose_deployment, local_deployment, start_held_run

    async with (local_deployment() if args.local else compose_deployment()) as deployment:
        gateway = await start_held_run(deployment, RUN_ID, days=("2025-02-03", "2025-02-07"))
        gateway_url = gateway["url"]
        session = Session(health_interval=5.0)
        window = MainWindow(session, AppSettings(MemorySettings()), panel_classes=load_panels(), demo_run=None)
        window.show()
        await asyncio.sleep(0.5)  # let the window's first paint and the panels' first loads pass
        picture = Picture(session, window.panel("live"))
        where = "local tokened stack" if args.local else "compose deployment"
        print(f"remote attach against the {where}: {deployment.urls['runtime']}, Gateway {gateway_url}")
        print(f"{'repeat':>6} {'bare s':>8} {'ours s':>8} {'ratio':>6}   services  followed  drawn")
        bares, ours = [], []
        try:
            for i in range(args.warmup + args.repeat):
                bare = await bare_once(deployment.urls, gateway_url, deployment.tokens["viewer"])
                total, services, hello, drawn = await ours_once(session, picture, deployment, i)
                if i < args.warmup:
                    continue
                bares.append(bare)
                ours.append(total)
                print(f"{i - args.warmup + 1:>6} {bare:8.3f} {total:8.3f} {total / bare:6.1f}   "
                      f"{services:8.3f}  {hello:8.3f}  {drawn:5.3f}")
        finally:
            await window.shutdown()
            window.close()
        b, o = statistics.median(bares), statistics.median(ours)
        print(f"median  bare {b:.3f} s  ours {o:.3f} s  ratio {o / b:.1f}x  (target: ours < 1 s: "
              f"{'met' if o < 1.0 else 'NOT met'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--local", action="store_true", help="a local tokened stack instead of the compose deployment")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()
    from PySide6.QtWidgets import QApplication
    import qasync

    app = QApplication.instance() or QApplication([])
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(asyncio.wait_for(bench(args), 600))
    finally:
        from app.qt.teardown import release_qt

        loop.close()
        release_qt(app, delete_app=True)


if __name__ == "__main__":
    main()
