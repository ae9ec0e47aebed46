"""Qt-free parts of the shell: Session identity and connection tracking, settings, profiles and tokens."""

from __future__ import annotations

import http.server
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from app.models.profile import LOCAL, Profile
from app.models.profiles import ProfileError, ProfileStore, TokenVault, validate
from app.models.settings_store import AppSettings, MemorySettings
from backend.clients.http import ServiceError
from app.panel_api import MutatingControls
from app.session import Session, SessionEvent
from tests.desk.conftest import ROOT
from tests.support.http_server import JsonHandler
from tests.support.waiting import until


class FakeControl:
    def __init__(self) -> None:
        self.enabled, self.tooltip = True, ""

    def setEnabled(self, value: bool) -> None:  # noqa: N802 - the Qt method name
        self.enabled = value

    def setToolTip(self, value: str) -> None:  # noqa: N802
        self.tooltip = value


def test_mutating_controls_disable_with_reason_and_restore_tooltips() -> None:
    a, b = FakeControl(), FakeControl()
    controls = MutatingControls([a])
    controls.add(b, "Approve the order")
    controls.set_read_only("read-only: viewer token on 'prod'")
    assert (a.enabled, b.enabled, b.tooltip) == (False, False, "read-only: viewer token on 'prod'")
    late = controls.add(FakeControl())  # added while read-only: disabled at once
    assert not late.enabled
    controls.set_read_only(None)
    assert a.enabled and b.enabled and b.tooltip == "Approve the order" and late.enabled


def test_roles_and_reasons() -> None:
    local = Session(Profile(LOCAL))
    assert local.role == "admin" and local.read_only_reason is None and local.denied("admin") is None
    viewer = Session(Profile("prod", role="viewer"))
    assert viewer.read_only_reason == "read-only: viewer token on 'prod'"
    assert viewer.denied("operator") == "needs the operator role (you are viewer on 'prod')"
    operator = Session(Profile("ops", role="operator"))
    assert operator.read_only_reason is None and operator.denied("operator") is None
    assert operator.denied("admin") == "needs the admin role (you are operator on 'ops')"
    unknown = Session(Profile("new"))
    assert "not confirmed" in (unknown.read_only_reason or "") and unknown.title == "new (role unknown)"


async def test_tracked_clients_report_reachability_at_once() -> None:
    class Handler(JsonHandler):
        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/health":
                self.reply(200, {})
            else:
                self.reply(403, {"error": "forbidden", "detail": "viewer"})

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    events: list[SessionEvent] = []
    session = Session(Profile(LOCAL, agent_url=url, trading_url=url, news_url=url, runtime_url=url))
    session.changed.connect(events.append)
    try:
        with pytest.raises(ServiceError) as refused:
            await session.client("agent").get("/workspaces")
        assert refused.value.forbidden and session.state("agent").status == "up"  # it answered
        server.shutdown()
        server.server_close()
        with pytest.raises(ServiceError) as down:
            await session.client("agent").get("/workspaces")
        assert down.value.unreachable
        state = session.state("agent")
        assert state.down and "cannot reach" in state.detail
        assert [(e.service, e.state.status) for e in events if e.kind == "connection"] == [("agent", "up"),
                                                                                            ("agent", "down")]
        with pytest.raises(KeyError, match="no service named 'nope'"):
            session.client("nope")
    finally:
        await session.close()


async def test_monitor_marks_every_service_down_when_nothing_listens() -> None:
    from backend.supervisor import free_port

    url = f"http://127.0.0.1:{free_port()}"
    session = Session(Profile(LOCAL, agent_url=url, trading_url=url, news_url=url, runtime_url=url),
                      health_interval=0.05)
    await session.open(session.profile)
    try:
        await until(lambda: all(session.state(s).down for s in ("agent", "trading", "news", "runtime")), 10,
                    "every service down")
        assert session.state("gateway").status == "off"
    finally:
        await session.close()


def test_app_settings_convert_types() -> None:
    store = MemorySettings({"stack/start_at_launch": "true", "ui/theme": "purple"})
    settings = AppSettings(store)
    assert settings.start_stack_at_launch is True and settings.theme == "system"
    settings.theme = "dark"
    with pytest.raises(ValueError, match="unknown theme"):
        settings.theme = "purple"
    settings.window_state = b"\x00\x01"
    assert settings.window_state == b"\x00\x01" and settings.geometry is None
    store.set_value(AppSettings.PROFILES, "not json")
    assert settings.profiles == []


class BrokenKeyring:
    def get_password(self, *args: Any) -> None:
        raise RuntimeError("no backend")

    set_password = delete_password = get_password


class MemoryKeyring:
    def __init__(self) -> None:
        self.data: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, user: str) -> str | None:
        return self.data.get((service, user))

    def set_password(self, service: str, user: str, secret: str) -> None:
        self.data[(service, user)] = secret

    def delete_password(self, service: str, user: str) -> None:
        self.data.pop((service, user), None)


def test_tokens_fall_back_to_a_private_file_with_a_warning(tmp_path: Path) -> None:
    vault = TokenVault(tmp_path / "cfg" / "tokens.json", backend=BrokenKeyring())
    store = ProfileStore(AppSettings(MemorySettings()), vault)
    store.save(Profile("prod", agent_url="https://prod:8000", trading_url="https://prod:8001",
                       news_url="https://prod:8002", runtime_url="https://prod:8003",
                       gateway_url="wss://prod:8765", token="s3cret", role="viewer"))
    assert vault.warning and "tokens are stored in" in vault.warning
    path = tmp_path / "cfg" / "tokens.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and "s3cret" in path.read_text()
    assert "s3cret" not in repr(store.settings.store.data)  # never in the settings
    loaded = store.get("prod")
    assert loaded.token == "s3cret" and loaded.role == "viewer" and loaded.read_only
    assert store.names() == [LOCAL, "prod"]
    store.delete("prod")
    assert store.names() == [LOCAL] and "s3cret" not in path.read_text()


def test_tokens_go_to_the_keyring_when_it_works(tmp_path: Path) -> None:
    keyring = MemoryKeyring()
    vault = TokenVault(tmp_path / "tokens.json", backend=keyring)
    vault.set("prod", "abc")
    assert keyring.data == {("evotraders-desk", "prod"): "abc"} and vault.get("prod") == "abc"
    assert not (tmp_path / "tokens.json").exists() and vault.warning is None


def test_profile_validation_names_the_field() -> None:
    with pytest.raises(ProfileError, match="gateway url 'http://x:1': expected ws:// or wss://"):
        validate(Profile("p", gateway_url="http://x:1"))
    with pytest.raises(ProfileError, match="trading url"):
        validate(Profile("p", trading_url="ftp://x"))
    with pytest.raises(ProfileError, match="profile name"):
        validate(Profile("a/b"))
    store = ProfileStore(AppSettings(MemorySettings()), TokenVault(Path("/nonexistent/t.json"), backend=None))
    with pytest.raises(ProfileError, match="built in"):
        store.save(Profile(LOCAL))
    with pytest.raises(KeyError, match="no profile named 'x'"):
        store.get("x")


def test_desk_command_opens_the_window_quickly_and_exits(tmp_path: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
           "RUNS_DIR": str(tmp_path / "runs"), "WORKSPACES_DIR": str(tmp_path / "ws")}
    out = subprocess.run([sys.executable, "-m", "backend.cli.main", "desk", "--quit-after-shown",
                          "--settings", str(tmp_path / "desk.ini"), "--theme", "dark"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("window shown after ")
    assert "theme=dark" in (tmp_path / "desk.ini").read_text()
    bad = subprocess.run([sys.executable, "-m", "app.main", "--profile", "nope", "--quit-after-shown",
                          "--settings", str(tmp_path / "desk.ini")], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "no profile named 'nope'" in bad.stderr
