"""Render every panel of the control center with a real run's data to ``docs/screenshots/<panel>.png``.

    .venv/bin/python scripts/screenshots.py            # offscreen (default)
    xvfb-run -a .venv/bin/python scripts/screenshots.py --platform xcb
    .venv/bin/python scripts/screenshots.py --remote-viewer [--local]   # docs/screenshots/remote-viewer.png
    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python scripts/screenshots.py --platform xcb \
        --size 1366x768 --size 1920x1080   # also <panel>-1366x768.png, main_window-1920x1080.png, ...

What it does, all for real and all on loopback, in a temporary data folder:
two headless backtests (``shots`` and ``shots-b``, a different market seed,
for the comparison), then the app's own local stack (agent, trading, news and
runtime services as subprocesses on free ports), a third run started through
runtime_service with an approval threshold so that it stops at a pending
approval with some days of live data behind it; then the main window, one
floating dock per panel captured at a fixed size, and the whole window.
With ``--size WxH`` (repeatable, or ``--size 1366x768,1920x1080``) the
window is also resized to each size and every panel is captured as it sits
docked in it (its tab raised), ``<panel>-WxH.png``, with the whole window as
``main_window-WxH.png``: the layout a user with that screen sees; and first,
``first_run-WxH.png``: the window before anything was started.
Every process is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SIZE = (1280, 800)


def backtest(run_id: str, seed: int, end: str) -> None:
    subprocess.run([sys.executable, "-m", "backend.cli.main", "backtest", "--end", end, "--run-id", run_id,
                    "--seed", str(seed)], cwd=ROOT, check=True, capture_output=True, timeout=300)


async def until(predicate: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise SystemExit(f"screenshots: timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.05)
    return value


async def settle(seconds: float = 0.4) -> None:
    """Let throttled views repaint (they refresh at most 30 times a second)."""
    await asyncio.sleep(seconds)


async def stage(window: Any, session: Any) -> None:
    """Bring up the stack and put real data in every panel."""
    from backend.clients.services import RuntimeServiceClient

    await window.start_local_stack()
    await until(lambda: all(session.state(s).status == "up" for s in ("agent", "trading", "runtime")),
                "the local services")
    runtime = RuntimeServiceClient(session.client("runtime"))
    # A run that trades a few days, then holds larger orders for a human.
    run_id = await runtime.create_run({
        "workspace": "default", "run_id": "live", "end_date": "2025-03-31",
        "approval": {"mode": "threshold", "notional_threshold": 6000, "timeout_seconds": 3600}})
    await runtime.start_run(run_id, pace=0.05)
    await session.watch_run(run_id)

    # Decide (for real, through the Approvals model) until a quarter of the run is done,
    # then leave the next day's approvals pending for the picture.
    approvals, live = window.panel("approvals"), window.panel("live")
    decided = 0
    while True:
        await until(lambda: approvals.model.pending, "a pending approval", timeout=120)
        if live.model.progress >= 0.25:
            break
        for item in list(approvals.model.pending):
            if decided % 5 == 4:
                await approvals.model.reject(item.id, reason="too crowded a trade")
            else:
                smaller = item.quantity // 2 if decided % 3 == 2 and item.quantity > 1 else None
                await approvals.model.approve(item.id, quantity=smaller)
            decided += 1
    await until(lambda: live.model.current_date, "live data")
    live.flush()
    recent = [i for i, item in enumerate(live.feed_view.rows.rows) if item.type == "agent_message"][-20:]
    if recent:  # the longest recent message, elided in the feed and whole in the detail pane
        live.feed_view.select(max(recent, key=lambda i: len(live.feed_view.rows.rows[i].text)))

    history = window.panel("history")
    await history.model.refresh()
    await until(lambda: history.model.row("shots") and history.model.row("shots-b"), "the run history")
    history.throttle.flush()
    history.select_runs(["shots", "shots-b"])
    await history.model.compare(["shots", "shots-b"])

    agents = window.panel("agents")
    await agents.show_source("run", "shots")
    await agents.model.select("fundamentals_analyst")

    workspaces = window.panel("workspaces")
    await until(lambda: workspaces.model.selected, "the workspace list")
    # Show the as-you-type validation: one bad ticker, marked on its line.
    text = workspaces.model.text.replace("tickers: [AAPL, MSFT", "tickers: [AAPL, msft", 1)
    workspaces.editor.editor.setPlainText(text)
    await workspaces.model.settled()

    sandbox = window.panel("sandbox")
    await until(lambda: sandbox.model.saved is not None, "the sandbox settings")
    stack = window.panel("stack")
    stack.open_log(stack._name_at(0))  # the agent service's live log under the process table

    sandbox.mode.setCurrentText("process")  # an unsaved switch: the banner stays until it is saved
    await sandbox.model.probe("process")
    await settle(1.0)


async def capture(window: Any, out: Path) -> list[Path]:
    """One PNG per panel (its dock floated at SIZE) and one of the whole window.

    Waits with ``asyncio.sleep`` (never ``processEvents()`` inside a coroutine:
    qasync would re-enter the loop) so layouts and throttled views settle.
    """
    written = []
    for panel_id in window.panels:
        dock = window.dock(panel_id)
        dock.setFloating(True)
        dock.resize(*SIZE)
        dock.show()
        panel = window.panel(panel_id)
        throttle = getattr(panel, "throttle", None)
        if throttle is not None:
            throttle.flush()
        await settle(0.3)
        table = getattr(panel, "table", None)
        if panel_id == "stack" and table is not None:
            table.resizeColumnsToContents()  # columns were sized for the docked width
            await settle(0.1)
        path = out / f"{panel_id}.png"
        dock.grab().save(str(path))
        written.append(path)
        dock.setFloating(False)
    window.show_panel("live")  # the window as a user watching a run sees it
    await settle(0.5)
    path = out / "main_window.png"
    window.grab().save(str(path))
    written.append(path)
    return written


async def capture_sized(window: Any, out: Path, sizes: list[tuple[int, int]]) -> list[Path]:
    """For each size: the window at that size, each panel as docked in it, and the whole window."""
    written = []
    for width, height in sizes:
        window.resize(width, height)
        await settle(0.3)
        window.fit_docks()  # the dock sizes a first launch at this size gets
        await settle(0.5)
        for panel_id in window.panels:
            window.show_panel(panel_id)
            panel = window.panel(panel_id)
            throttle = getattr(panel, "throttle", None)
            if throttle is not None:
                throttle.flush()
            await settle(0.3)
            path = out / f"{panel_id}-{width}x{height}.png"
            window.dock(panel_id).grab().save(str(path))
            written.append(path)
        for panel_id in ("stack", "approvals", "live"):  # the window as a user watching a run sees it
            if panel_id in window.panels:
                window.show_panel(panel_id)
        await settle(0.5)
        path = out / f"main_window-{width}x{height}.png"
        window.grab().save(str(path))
        written.append(path)
    return written


async def capture_first_run(out: Path, sizes: list[tuple[int, int]]) -> list[Path]:
    """``first_run-WxH.png``: the window a new user first sees (Local profile, nothing started): invitations."""
    import socket

    from app.models.profile import LOCAL, Profile
    from app.qt.main_window import MainWindow
    from app.session import Session

    def free_url() -> str:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return f"http://127.0.0.1:{sock.getsockname()[1]}"

    profile = Profile(LOCAL, agent_url=free_url(), trading_url=free_url(), news_url=free_url(),
                      runtime_url=free_url())
    session = Session(profile, health_interval=0.5)
    window = MainWindow(session, demo_run=None)
    written = []
    try:
        await session.open(profile)
        session.start_monitoring()
        await until(lambda: all(session.state(s).down for s in ("agent", "runtime")), "the first probes")
        for width, height in sizes:
            window.resize(width, height)
            window.show()
            await settle(0.3)
            window.fit_docks()
            for panel_id in ("stack", "approvals", "live"):
                window.show_panel(panel_id)
            await settle(0.6)
            path = out / f"first_run-{width}x{height}.png"
            window.grab().save(str(path))
            written.append(path)
    finally:
        await window.shutdown()
        window.close()
    return written


def parse_sizes(values: list[str] | None) -> list[tuple[int, int]]:
    """``["1366x768", "1920x1080,1600x1000"]`` -> ``[(1366, 768), (1920, 1080), (1600, 1000)]``."""
    sizes = []
    for value in values or []:
        for part in filter(None, (p.strip() for p in value.split(","))):
            width, sep, height = part.lower().partition("x")
            if not (sep and width.isdigit() and height.isdigit() and int(width) >= 640 and int(height) >= 480):
                raise SystemExit(f"screenshots: --size {part!r} is no WxH of at least 640x480 (e.g. 1366x768)")
            sizes.append((int(width), int(height)))
    return sizes


async def run(args: argparse.Namespace, app: Any) -> list[Path]:
    from app.qt import theme
    from app.qt.main_window import MainWindow
    from app.session import Session
    from backend.config import load_settings
    from backend.stack.local_stack import LocalStack

    theme.apply_theme(app, args.theme)
    first = await capture_first_run(args.out, args.sizes) if args.sizes else []
    settings = load_settings()
    state_dir = Path(os.environ["RUNS_DIR"]).parent / ".stack"
    ports = {name: 0 for name in ("agent", "trading", "news", "runtime")}
    session = Session(health_interval=0.5)
    # The app's own kind of stack (controller embedded); no demo run: the script makes its own runs.
    window = MainWindow(session, demo_run=None,
                        stack_factory=lambda: LocalStack(settings, state_dir=state_dir, ports=ports, embed_runtime=True))
    window.resize(1600, 1000)
    window.show()
    try:
        await stage(window, session)
        await settle()
        written = await capture(window, args.out)
        return first + written + await capture_sized(window, args.out, args.sizes)
    finally:
        await window.shutdown()
        window.close()


async def remote_viewer(args: argparse.Namespace, app: Any) -> list[Path]:
    """``--remote-viewer``: the desk attached read-only to a deployment, as a viewer sees it.

    The deployment is the compose one (``deploy/compose``: the image, the four
    service containers, a Gateway container per run) or, with ``--local``, a
    local stack with tokens. As the admin (no desk) the script starts a run with
    an approval threshold and decides its held orders until a quarter of the
    run is done, leaving the next ones pending; the desk is given only the
    service URLs and the viewer token, follows the run at the URL
    runtime_service returns, and every control that would change something is
    locked, saying why. One picture of the whole window.
    """
    from app.qt import theme
    from app.qt.main_window import MainWindow
    from app.session import Session
    from backend.clients.http import ServiceClient
    from backend.clients.services import AgentServiceClient
    from tests.remote.remote_flow import compose_deployment, local_deployment

    theme.apply_theme(app, args.theme)
    app.setQuitOnLastWindowClosed(False)  # the deployment is taken down after the window closes
    async with (local_deployment() if args.local else compose_deployment()) as deployment:
        runtime = deployment.runtime("admin")
        agent = AgentServiceClient(ServiceClient("agent", deployment.urls["agent"], deployment.tokens["admin"]))
        try:
            run_id = await runtime.create_run({
                "workspace": "default", "run_id": "prod-live", "end_date": "2025-03-31",
                "approval": {"mode": "threshold", "notional_threshold": 6000, "timeout_seconds": 3600}})
            await runtime.start_run(run_id, pace=0.05)
            session = Session(health_interval=0.5)
            window = MainWindow(session, demo_run=None)
            window.resize(1600, 1000)
            window.show()
            try:
                await session.open(deployment.profile("viewer"))
                await until(lambda: session.run_id == run_id and session.role == "viewer",
                            "the viewer desk following the run", timeout=90)
                live, approvals = window.panel("live"), window.panel("approvals")
                while True:  # the admin decides (not the desk: it is read-only) until a quarter is done
                    await until(lambda: approvals.model.pending, "a pending approval", timeout=120)
                    if live.model.progress >= 0.25:
                        break
                    for item in list(approvals.model.pending):
                        await agent.decide(item.id, "approve")
                        await until(lambda i=item.id: all(a.id != i for a in approvals.model.pending),
                                    "the decision to land")
                history = window.panel("history")
                await history.model.refresh()
                window.show_panel("live")
                window.show_panel("approvals")
                approvals.model.select(approvals.model.pending[0].id)
                await settle(1.5)
                path = args.out / "remote-viewer.png"
                window.grab().save(str(path))
                return [path]
            finally:
                await window.shutdown()
                window.close()
        finally:
            await runtime.http.aclose()
            await agent.http.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--platform", default="offscreen", help="Qt platform plugin (offscreen, xcb under Xvfb)")
    parser.add_argument("--theme", default="dark", choices=("dark", "light"))
    parser.add_argument("--remote-viewer", action="store_true",
                        help="only docs/screenshots/remote-viewer.png: the desk attached read-only to the compose "
                             "deployment (needs the image and a Docker engine)")
    parser.add_argument("--local", action="store_true", help="with --remote-viewer: a local stack with tokens instead")
    parser.add_argument("--size", action="append", metavar="WxH",
                        help="also capture the window and each docked panel at this size (repeatable, or a "
                             "comma-separated list): <panel>-WxH.png, main_window-WxH.png")
    args = parser.parse_args(argv)
    args.sizes = parse_sizes(args.size)
    args.out.mkdir(parents=True, exist_ok=True)
    data = Path(tempfile.mkdtemp(prefix="evotraders-shots-"))
    # Everything (runs, workspaces, the stack's state) lives in the temporary folder.
    for key in [k for k in os.environ if k.startswith(("EVOTRADERS_", "SKILL_SANDBOX_", "AGENT_"))]:
        del os.environ[key]
    os.environ.update(RUNS_DIR=str(data / "runs"), WORKSPACES_DIR=str(data / "workspaces"),
                      QT_QPA_PLATFORM=args.platform)
    sys.path.insert(0, str(ROOT))
    print(f"screenshots: data in {data}", flush=True)
    if not args.remote_viewer:
        backtest("shots", 7, "2025-03-31")
        backtest("shots-b", 11, "2025-03-31")

    import qasync
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])
    app.setApplicationName("EvoTraders Control Center")
    with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:  # one qasync loop for all
        written = runner.run(remote_viewer(args, app) if args.remote_viewer else run(args, app))
    for path in written:
        print(f"screenshots: wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
