"""OpenAPI declarations shared by routes: streamed media types and extra error answers.

FastAPI documents every answer as ``application/json`` unless told; a route
that streams server-sent events or JSON lines declares its real media type
here, so clients (and schemathesis) know what they get.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response
from sse_starlette import EventSourceResponse, ServerSentEvent

from backend.apps.common.errors import ErrorBody

SSE = "text/event-stream"
NDJSON = "application/x-ndjson"
KEEP_ALIVE = "keep-alive"  # the comment sent as a heartbeat on an idle stream


class EventStreamResponse(EventSourceResponse):
    """Server-sent events, framed by sse-starlette.

    The content yields one dict of event fields per message (``data``,
    ``event``, ``id`` or ``comment``; sse-starlette writes the lines, ending
    them in ``\\n``). A client that goes away ends the stream at once (its
    generator is cancelled where it waits, its ``finally`` runs); an idle
    stream sends a ``keep-alive`` comment every ``ping`` seconds (default 15).
    """

    media_type = SSE

    def __init__(self, content: Any, status_code: int = 200, *, ping: float | None = None, **kwargs: Any) -> None:
        super().__init__(content, status_code, ping=ping, sep="\n", media_type=SSE,
                         ping_message_factory=lambda: ServerSentEvent(comment=KEEP_ALIVE, sep="\n"), **kwargs)


class NDJSONResponse(Response):
    """JSON lines: one JSON object per ``\\n``-terminated line."""

    media_type = NDJSON


def streamed(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route whose 200 answer is ``media_type`` text, not a JSON document."""
    return {200: {"description": description, "content": {media_type: {"schema": {"type": "string"}}}}}


def errors(**descriptions: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` documenting extra error statuses: ``errors(e503="...", e504="...")``."""
    return {int(code.lstrip("e")): {"model": ErrorBody, "description": text} for code, text in descriptions.items()}
