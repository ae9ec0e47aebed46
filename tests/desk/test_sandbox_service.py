"""SandboxModel and panel against a real runtime_service: load, validated save, probe."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.models.sandbox_model import SandboxModel
from backend.clients.http import ServiceClient
from backend.clients.services import RuntimeServiceClient
from app.qt.panels.sandbox import SandboxPanel
from tests.support.waiting import until
from tests.desk.test_workspaces_service import ServiceProcess


@pytest.fixture
def runtime(tmp_path: Any) -> Iterator[ServiceProcess]:
    service = ServiceProcess("runtime_service", tmp_path).start()
    yield service
    service.stop()


async def test_load_save_and_probe(runtime: ServiceProcess) -> None:
    http = ServiceClient("runtime", runtime.url)
    model = SandboxModel(RuntimeServiceClient(http))
    assert await model.load()
    assert model.mode == "none" and model.banner is not None and not model.dirty
    model.set_field("mode", "docker")
    model.set_field("memory_limit", "1g")
    model.set_field("image", "python:3.12-slim")
    assert model.dirty and await model.save()
    assert model.mode == "docker" and model.banner is None and model.message == "saved: sandbox mode docker"
    stored = httpx.get(f"{runtime.url}/sandbox/settings", timeout=10).json()
    assert (stored["mode"], stored["memory_limit"], stored["image"]) == ("docker", "1g", "python:3.12-slim")
    outcome = await model.probe("none")
    assert outcome.ok and outcome.mode == "none" and outcome.duration_ms > 0
    assert outcome.summary.startswith("works: Python ")
    await http.aclose()


def test_panel_banner_follows_what_the_service_saved(qtbot: Any, arun: Any, runtime: ServiceProcess) -> None:
    http = ServiceClient("runtime", runtime.url)
    panel = SandboxPanel(SandboxModel(RuntimeServiceClient(http)))
    qtbot.addWidget(panel)
    arun(panel.model.load())
    assert not panel.banner.isHidden()
    panel.mode.setCurrentText("process")
    assert not panel.banner.isHidden()  # not saved yet: still running without a sandbox
    panel.save_button.click()
    arun(until(lambda: panel.model.mode == "process", what="the save"))
    assert panel.banner.isHidden()
    panel.probe_button.click()
    arun(until(lambda: panel.model.probe_result is not None, timeout=40, what="the probe"))
    assert panel.probe_label.text().startswith(("\u2713 process:", "\u2717 process:"))
    assert panel.probe_label.text().endswith(" ms)")
    arun(http.aclose())
