"""What the workspace, agents, approvals, history and sandbox panels share.

:class:`SessionPanel` is their scaffolding: the panel's message line (object
name ``<panel_id>_message``), the layout of a top bar, a body and that line,
``attach(session)`` (reload on a profile switch, re-check permissions on a
role change, Gateway events when the panel follows them) and the read-only
rule (a reason from the window, else the session's denial of
``required_role``: the controls are disabled with the reason as tooltip, and
the message line says it while it has nothing else to say). A panel fills in
``_use_profile`` and, where it has more to do, ``_on_session_event``,
``_on_gateway_event`` and ``_permissions_applied``.

First run: while nothing was started yet (the Local profile, no stack started
or attached, no service ever reached: :func:`nothing_started`) the body and
the message line give way to an invitation (``<panel_id>_invitation``) with a
"Start the local stack" and a "Pick a profile" button, instead of the errors
of services nobody started. Once a service was reached the body is back, and
losing it later is the window's "unreachable (showing last known data)" banner.
"""

from __future__ import annotations

from typing import Any, ClassVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame, QHBoxLayout, QLabel, QLayout, QPushButton, QScrollArea, QStackedWidget, QVBoxLayout, QWidget,
)

from app.panel_api import MutatingControls
from app.qt.async_helpers import spawn
from app.qt.observe import observe


def came_up(event: Any, service: str) -> bool:
    """Whether a session event says ``service`` is reachable again."""
    return event.kind == "connection" and event.service == service and event.state.status == "up"


def nothing_started(session: Any) -> bool:
    """The first-run state: the Local profile, no stack started or attached, no service reached yet."""
    return (session.profile.is_local and session.stack is None and session.attached_stack is None
            and not any(state.reached for state in session.states().values()))


def scrolling(widget: QWidget, name: str = "", sideways: bool = True) -> QScrollArea:
    """``widget`` in a frameless scroll area: a tall form scrolls in a short dock instead of setting
    the window's minimum height (at 1366x768 every dock's minimum counts). ``sideways=False``: it
    scrolls only up and down, its width that of the view (its text wraps)."""
    area = QScrollArea()
    if not sideways:
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setObjectName(name)
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    return area


def _host_window(widget: QWidget) -> Any:
    """The main window holding ``widget`` (also from a floating dock), or None."""
    while widget is not None:
        if hasattr(widget, "start_local_stack") and hasattr(widget, "open_profiles"):
            return widget
        widget = widget.parentWidget()
    return None


class Invitation(QWidget):
    """What a panel shows before anything was started: what it needs, and the two ways to get it."""

    def __init__(self, panel_id: str, title: str, needs: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"{panel_id}_invitation")
        self.text = QLabel(f"Nothing is running yet. {title} needs the {needs}: start the local stack "
                           "on this machine, or pick a profile of a remote runtime.")
        self.text.setObjectName(f"{panel_id}_invitation_text")
        self.text.setWordWrap(True)
        self.text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.start_button = QPushButton("Start the local stack")
        self.start_button.setObjectName(f"{panel_id}_start_stack")
        self.start_button.setToolTip("Start agent, trading, news and runtime services on this machine")
        self.profile_button = QPushButton("Pick a profile")
        self.profile_button.setObjectName(f"{panel_id}_pick_profile")
        self.profile_button.setToolTip("Look at a remote runtime (service URLs and a token)")
        self.start_button.clicked.connect(lambda *_: self._start())
        self.profile_button.clicked.connect(lambda *_: self._pick())
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.profile_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(self.text)
        layout.addLayout(buttons)
        layout.addStretch(2)

    def _start(self) -> None:
        window = _host_window(self)
        if window is not None:
            spawn(window.start_local_stack())

    def _pick(self) -> None:
        window = _host_window(self)
        if window is None:
            return
        combo = getattr(window, "profile_combo", None)
        if combo is not None and combo.count() > 1:
            combo.showPopup()  # the profiles there are: pick one
        else:
            window.open_profiles()  # only Local: add a remote one


class SessionPanel(QWidget):
    """A dockable panel fed by the session (see ``app/panel_api.py``)."""

    panel_id: ClassVar[str]
    required_role: ClassVar[str | None] = None  # the role that may use ``controls``; None: nothing to lock
    follows_gateway: ClassVar[bool] = False  # whether ``_on_gateway_event`` gets the Gateway's events

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"{self.panel_id}_panel")
        self.session: Any = None
        self._panel_reason: str | None = None
        self._lock_note: str | None = None  # the read-only reason the message line shows, while it does
        self.controls = MutatingControls()
        self.message = QLabel()
        self.message.setObjectName(f"{self.panel_id}_message")
        self.message.setWordWrap(True)
        self.pages = QStackedWidget()  # the top bar and body, or the first-run invitation
        needs = [name for name in getattr(self, "services", ()) if name != "gateway"]
        self.invitation = Invitation(self.panel_id, getattr(self, "title", self.panel_id.title()),
                                     " and ".join(f"{name} service" for name in needs) or "services")

    @property
    def inviting(self) -> bool:
        """Whether the first-run invitation stands in for the body."""
        return self.pages.currentWidget() is self.invitation

    def _lay_out(self, body: QWidget, top: QLayout | None = None) -> QVBoxLayout:
        """The top bar (if any), the body taking the room, the message line below (or the invitation)."""
        page = QWidget()
        inner = QVBoxLayout(page)
        inner.setContentsMargins(0, 0, 0, 0)
        if top is not None:
            inner.addLayout(top)
        inner.addWidget(body, 1)
        self.pages.addWidget(page)
        self.pages.addWidget(self.invitation)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.message)
        return layout

    def _update_invitation(self) -> None:
        invite = self.session is not None and nothing_started(self.session)
        if invite != self.inviting and self.pages.count() == 2:
            self.pages.setCurrentIndex(1 if invite else 0)
            self.message.setVisible(not invite)  # no errors of services nobody started

    def _show_message(self, text: str | None) -> None:
        # With nothing else to say, a locked panel says why it is locked.
        self.message.setText(text or self._lock_note or "")

    # -- panel API ----------------------------------------------------------------
    def attach(self, session: Any) -> None:
        self.session = session
        self._update_invitation()
        self._use_profile()
        observe(session.changed, self, self._on_session)
        if self.follows_gateway:
            observe(session.gateway_event, self, self._on_gateway_event)

    def set_read_only(self, reason: str | None) -> None:
        self._panel_reason = reason
        self._apply_permissions()

    def read_only_reason(self) -> str | None:
        """Why the controls are locked now, or None when the user may change things."""
        reason = self._panel_reason
        if reason is None and self.session is not None and self.required_role is not None:
            reason = self.session.denied(self.required_role)
        return reason

    def _apply_permissions(self) -> None:
        reason = self.read_only_reason()
        self.controls.set_read_only(reason)
        self._show_lock(reason if list(self.controls) else None)
        self._permissions_applied(reason)

    def _show_lock(self, reason: str | None) -> None:
        """The reason on the message line (not only in tooltips), unless the line says something else."""
        shown = self.message.text()
        if reason is not None and (not shown or shown == self._lock_note):
            self.message.setText(reason)
        elif reason is None and shown and shown == self._lock_note:
            self.message.setText("")
        self._lock_note = reason

    def _permissions_applied(self, reason: str | None) -> None:
        """After the controls are locked or unlocked: what else follows the reason."""

    # -- session -> panel ---------------------------------------------------------
    def _use_profile(self) -> None:
        """Point the panel's clients at the session's (new) profile and reload."""
        raise NotImplementedError

    def _on_session(self, event: Any) -> None:
        if event.kind in ("profile", "stack", "connection"):
            self._update_invitation()
        if event.kind == "profile":
            self._use_profile()
        elif event.kind == "role":
            self._apply_permissions()
        else:
            self._on_session_event(event)

    def _on_session_event(self, event: Any) -> None:
        """Any other session event (run, stack, connection)."""

    def _on_gateway_event(self, frame: Any) -> None:
        """A Gateway event, when ``follows_gateway``."""
