"""Gateway events as the panel models take them: the schema's event models.

The Gateway client delivers parsed events (``backend.schema.events``); a wire
dict (a replayed log line, a test) is validated by its type's model here
(``parse_event``, the schema's reader of what the project wrote), so a model
reads ``event.ticker``, never ``frame.get("ticker")``, and a field the
schema adds reaches it without a second edit.
"""

from __future__ import annotations

from typing import Any

from backend.schema.events import Event, parse_event


def as_event(frame: Event | dict[str, Any]) -> Event:
    """``frame`` as its event model (a type the protocol does not define: a plain ``Event``).

    Raises pydantic's ``ValidationError`` (naming the field) for a dict that is
    not a valid event of its type.
    """
    return frame if isinstance(frame, Event) else parse_event(frame)


def event_type(frame: Event | dict[str, Any]) -> str | None:
    """The ``type`` of an event or wire dict."""
    return frame.type if isinstance(frame, Event) else frame.get("type")
