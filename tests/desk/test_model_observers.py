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
