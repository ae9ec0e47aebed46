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
"""

from __future__ import annotations

from typing import Any, ClassVar

from PySide6.QtWidgets import QLabel, QLayout, QVBoxLayout, QWidget

from app.panel_api import MutatingControls
from app.qt.observe import observe


def came_up(event: Any, service: str) -> bool:
    """Whether a session event says ``service`` is reachable again."""
    return event.kind == "connection" and event.service == service and event.state.status == "up"


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

    def _lay_out(self, body: QWidget, top: QLayout | None = None) -> QVBoxLayout:
        """The top bar (if any), the body taking the room, the message line below."""
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        if top is not None:
            layout.addLayout(top)
        layout.addWidget(body, 1)
        layout.addWidget(self.message)
        return layout

    def _show_message(self, text: str | None) -> None:
        # With nothing else to say, a locked panel says why it is locked.
        self.message.setText(text or self._lock_note or "")

    # -- panel API ----------------------------------------------------------------
    def attach(self, session: Any) -> None:
        self.session = session
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
