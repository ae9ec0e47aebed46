"""What every dockable panel of the main window implements (Qt-free).

A panel is a ``QWidget`` subclass living in ``app/qt/panels/<name>.py`` and
listed in ``app/qt/panels/__init__.py:PANELS``. The main window builds each
panel with no arguments, wraps it in a dock (with a connection banner above
it), then calls, in this order:

1. ``panel.attach(session)`` -- once, with the :class:`app.session.Session`.
   Subscribe to what you need there: the session and every model announce
   through psygnal signals (``session.changed``, ``session.gateway_event`` for
   Gateway events, ``model.changed``); connect a panel's method with
   ``app.qt.observe.observe(signal, self, self._on_x)`` so a deleted panel is
   never called. ``session.client("agent")`` gives HTTP. The session
   outlives profile switches: when the user switches
   runtime, the session emits ``SessionEvent("profile")`` and the panel
   reloads; it is never attached twice.
2. ``panel.set_read_only(reason)`` -- whenever the role changes: ``reason`` is
   a one-line explanation ("read-only: viewer token on remote profile 'prod'")
   or ``None`` when the user may change things. Disable every control that
   would change something and show ``reason`` as its tooltip;
   :class:`MutatingControls` does exactly that for a list of widgets.
3. ``panel.detach()`` (optional) -- when the window closes.

Optional hook: ``panel.on_theme_changed(effective)`` (``"dark"``/``"light"``)
after the user switches theme, for widgets that do not follow the palette
(pyqtgraph charts).

Class attributes the main window reads:

- ``panel_id``: stable id (``"stack"``, ``"live"``, ``"workspaces"``, ...), used by
  ``MainWindow.panel(panel_id)``, dock object names and saved layouts.
- ``title``: the dock title.
- ``services``: the services the panel depends on, any of ``SERVICES``; the
  dock's banner shows "agent service unreachable -- retrying" while one is down.
- ``shortcut`` (optional): e.g. ``"Alt+3"`` to show and focus the panel.

Panels never block: every network call is ``async`` on the qasync loop
(see ``app/qt/async_helpers.py``), and a panel keeps showing its last data
while a service is down.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from app.session import Session

SERVICES: tuple[str, ...] = ("agent", "trading", "news", "runtime", "gateway")


@runtime_checkable
class Panel(Protocol):
    """The protocol of a dockable panel (see the module docstring)."""

    panel_id: ClassVar[str]
    title: ClassVar[str]
    services: ClassVar[tuple[str, ...]]

    def attach(self, session: "Session") -> None: ...

    def set_read_only(self, reason: str | None) -> None: ...


class MutatingControls:
    """The controls of a panel that change something, disabled together when read-only.

    Duck-typed (anything with ``setEnabled`` and ``setToolTip``), so it is
    usable from widgets and testable without Qt.

    Args:
        controls: widgets/actions to manage now; more with :meth:`add`.
    """

    def __init__(self, controls: Iterable[Any] = ()) -> None:
        self._controls: list[Any] = []
        self._tooltips: dict[int, str] = {}
        self.reason: str | None = None
        for control in controls:
            self.add(control)

    def add(self, control: Any, tooltip: str = "") -> Any:
        """Manage ``control``; ``tooltip`` is what it shows when enabled. Returns it."""
        self._controls.append(control)
        self._tooltips[id(control)] = tooltip
        self._apply(control)
        return control

    def set_read_only(self, reason: str | None) -> None:
        self.reason = reason
        for control in self._controls:
            self._apply(control)

    @property
    def read_only(self) -> bool:
        return self.reason is not None

    def __iter__(self):
        return iter(list(self._controls))

    def _apply(self, control: Any) -> None:
        if self.reason is None:
            control.setEnabled(True)
            control.setToolTip(self._tooltips.get(id(control), ""))
        else:
            control.setEnabled(False)
            control.setToolTip(self.reason)
