"""SandboxPanel with qtbot: banner only for mode none, fields per mode, errors shown, read-only."""

from __future__ import annotations

from typing import Any

import pytest

from app.models.sandbox_model import SandboxModel
from app.qt.panels.sandbox import SandboxPanel
from backend.schema.api_runtime import SandboxSettings


def loaded(model: SandboxModel, mode: str) -> None:
    """As if ``GET /sandbox/settings`` answered ``mode`` (the service round trip is tested elsewhere)."""
    model.saved = SandboxSettings(mode=mode)
    model._emit("loaded", model.saved)
    model.reset()


@pytest.fixture
def panel(qtbot: Any) -> SandboxPanel:
    view = SandboxPanel(SandboxModel())
    qtbot.addWidget(view)
    return view


def test_banner_is_visible_only_while_mode_is_none(panel: SandboxPanel) -> None:
    loaded(panel.model, "none")
    assert not panel.banner.isHidden() and "without isolation" in panel.banner.text()
    loaded(panel.model, "docker")
    assert panel.banner.isHidden()
    panel.mode.setCurrentText("none")  # an unsaved choice does not change what is in effect
    assert panel.banner.isHidden()
    loaded(panel.model, "none")
    assert not panel.banner.isHidden()


def test_fields_follow_the_mode_and_errors_show_before_saving(panel: SandboxPanel) -> None:
    loaded(panel.model, "process")
    visible = {n for n in panel.inputs if panel.form.isRowVisible(panel._row_of(n))}
    assert visible == {"memory_limit", "cpu_limit", "network", "timeout"}
    panel.mode.setCurrentText("kubernetes")
    visible = {n for n in panel.inputs if panel.form.isRowVisible(panel._row_of(n))}
    assert {"namespace", "kube_context", "image"} <= visible and "network" not in visible
    memory = panel.inputs["memory_limit"]
    memory.setText("")
    memory.textEdited.emit("12 gigs")
    assert panel.errors["memory_limit"].text() == "expected a size like 512m or 1g"
    assert not panel.errors["memory_limit"].isHidden() and not panel.save_button.isEnabled()
    memory.textEdited.emit("2g")
    assert panel.errors["memory_limit"].isHidden() and panel.save_button.isEnabled()


def test_read_only_disables_the_form_with_the_reason(panel: SandboxPanel) -> None:
    loaded(panel.model, "none")
    reason = "needs the admin role (you are operator on 'prod')"
    panel.set_read_only(reason)
    for widget in (panel.mode, panel.save_button, panel.probe_button, *panel.inputs.values()):
        assert not widget.isEnabled() and widget.toolTip() == reason
    assert not panel.banner.isHidden()  # the warning still shows to everyone
