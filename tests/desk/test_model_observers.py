"""The one observer mechanism (psygnal) under Qt: deleted panels, failing views.

psygnal holds a panel's bound method weakly, but a panel deleted on the C++
side can outlive its C++ object as a Python wrapper; it must then no longer
be called (it would touch deleted widgets). A view callback that raises must
surface under its own type, in the caller and in the desk's excepthook, not
as psygnal's ``EmitLoopError``.
"""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent

from app.models.observable import ObservableModel
from app.models.sandbox_model import SandboxModel
from app.qt.observe import observe
from app.qt.panels.sandbox import SandboxPanel


class CountingPanel(SandboxPanel):
    """A sandbox panel that records every model change it is told about."""

    def __init__(self, model: SandboxModel, seen: list[str]) -> None:
        self.seen = seen
        super().__init__(model)

    def _on_model(self, kind: str, payload: Any) -> None:
        self.seen.append(kind)
        super()._on_model(kind, payload)


def flush_deletes() -> None:
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)


def test_a_panel_deleted_with_delete_later_is_no_longer_called(qtbot: Any) -> None:
    model = SandboxModel()
    gone_seen: list[str] = []
    gone = CountingPanel(model, gone_seen)  # the test keeps its Python wrapper alive on purpose
    live = SandboxPanel(model)
    qtbot.addWidget(live)
    model._say("before")
    assert gone_seen == ["message"] and gone.message.text() == "before"

    gone.deleteLater()
    flush_deletes()
    assert not shiboken6.isValid(gone)  # the C++ panel and its labels are gone; the wrapper is not
    model._say("after")  # would raise "Internal C++ object already deleted" if the dead panel were called
    model.set_field("timeout", -1)
    assert gone_seen == ["message"]
    assert live.message.text() == "after" and live.errors["timeout"].text()  # the live panel still follows
    assert len(model.changed) == 1  # only the live panel is connected


def test_a_dropped_view_is_collected_and_disconnected(qtbot: Any) -> None:
    from PySide6.QtWidgets import QLabel

    class View(QLabel):
        def __init__(self, model: ObservableModel) -> None:
            super().__init__()
            observe(model.changed, self, self.on_model)

        def on_model(self, kind: str, payload: Any) -> None:
            self.setText(str(payload))

    model = ObservableModel()
    view = View(model)
    model._say("shown")
    assert view.text() == "shown"
    ref = weakref.ref(view)
    del view
    gc.collect()
    flush_deletes()
    assert ref() is None  # observing the model does not keep a Python-owned view alive
    model._say("nobody listens")
    assert len(model.changed) == 0


def test_a_failing_view_raises_its_own_error_to_the_caller() -> None:
    model = ObservableModel()
    later: list[str] = []

    def broken(kind: str, payload: Any) -> None:
        raise ValueError(f"view cannot show {kind}")

    model.changed.connect(broken)
    model.changed.connect(lambda kind, _: later.append(kind))
    with pytest.raises(ValueError, match="view cannot show message") as raised:
        model._say("x")
    assert raised.value.__context__ is None  # no psygnal wrapper chained in the report
    model.changed.disconnect(broken)
    model._say("y")
    assert later[-1] == "message" and model.message == "y"


def test_a_failing_view_reaches_the_desk_excepthook_under_its_own_type(qtbot: Any) -> None:
    from app.qt.excepthook import ErrorReporter

    panel = SandboxPanel(SandboxModel())
    qtbot.addWidget(panel)

    def broken(kind: str, payload: Any) -> None:
        raise KeyError(f"no row for {kind}")

    panel.model.changed.connect(broken)
    reporter = ErrorReporter(show_dialog=False).install()
    try:
        panel.reset_button.click()  # a Qt slot: model.reset() announces "draft", the broken view raises
    finally:
        reporter.uninstall()
    assert reporter.errors == ["KeyError: 'no row for draft'"]


def test_a_failing_view_of_a_live_event_raises_its_own_error_and_the_next_event_still_applies() -> None:
    """LiveModel announces each Gateway event on the fast path (psygnal's emit_fast): same contract."""
    from app.models.live_model import LiveModel

    model = LiveModel()
    seen: list[str] = []

    def broken(kind: str, payload: Any) -> None:
        if kind == "memory":
            raise ValueError("view cannot show memory")
        seen.append(kind)

    model.changed.connect(broken)
    with pytest.raises(ValueError, match="view cannot show memory") as raised:
        model.apply_frame({"type": "memory", "agentId": "a", "content": "lesson", "ts": 1})
    assert raised.value.__context__ is None  # no psygnal wrapper chained in the report
    assert model.feed[-1].text == "lesson"  # applied before it was announced
    model.apply_frame({"type": "system", "content": "still here"})
    assert seen == ["system"] and model.feed[-1].text == "still here"


def test_a_failing_panel_is_logged_and_the_session_keeps_delivering_gateway_events(caplog: Any) -> None:
    """The Gateway client -> RunFollower -> Session hops use the fast emit: a panel's error is logged, not raised."""
    from app.net.gateway_client import GatewayClient
    from app.session import Session
    from backend.schema.events import parse_frame

    session = Session(health_interval=3600)
    client = GatewayClient("ws://127.0.0.1:1/")
    client.event_received.connect(session.runs._on_event)  # as RunFollower.watch_gateway wires it
    got: list[str] = []

    def panel(event: Any) -> None:
        if event.type == "memory":
            raise RuntimeError("panel broke on memory")
        got.append(event.content)

    session.gateway_event.connect(panel)
    with caplog.at_level("ERROR"):
        client._dispatch('{"type": "memory", "agentId": "a", "content": "m", "ts": 1}')
        client._dispatch('{"type": "system", "content": "after"}')
    assert got == ["after"]
    assert any("panel broke on memory" in r.getMessage() and "gateway_event" in r.getMessage() for r in caplog.records)
