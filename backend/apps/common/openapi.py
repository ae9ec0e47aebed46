"""OpenAPI declarations shared by routes: streamed media types and extra error answers.

FastAPI documents every answer as ``application/json`` unless told; a route
that streams server-sent events or JSON lines declares its real media type
here, so clients (and schemathesis) know what they get.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response, StreamingResponse

from backend.apps.common.errors import ErrorBody

SSE = "text/event-stream"
NDJSON = "application/x-ndjson"


class EventStreamResponse(StreamingResponse):
    """Server-sent events (``data: <json>\\n\\n`` per message)."""

    media_type = SSE


class NDJSONResponse(Response):
    """JSON lines: one JSON object per ``\\n``-terminated line."""

    media_type = NDJSON


def streamed(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route whose 200 answer is ``media_type`` text, not a JSON document."""
    return {200: {"description": description, "content": {media_type: {"schema": {"type": "string"}}}}}


def errors(**descriptions: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` documenting extra error statuses: ``errors(e503="...", e504="...")``."""
    return {int(code.lstrip("e")): {"model": ErrorBody, "description": text} for code, text in descriptions.items()}
