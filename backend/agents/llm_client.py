"""One chat completion against any OpenAI-compatible server, with the official `openai` SDK.

The SDK does the transport: its ``max_retries`` retries connection errors,
timeouts, 408/409/429 and 5xx with exponential back-off that honours the
server's ``Retry-After`` (``LLM_MAX_RETRIES``; ``LLM_TIMEOUT_SECONDS`` per
request). What this module adds:

- :class:`Capabilities`: the optional request parameters (``seed``,
  ``response_format``, ``tools``) a server accepts. A server that answers 400
  or 422 naming one of them is detected once per run: the parameter is
  dropped from then on, the request is sent again without it, and a ``system``
  event says so (once). Losing ``tools`` raises :class:`ToolsUnsupported` so
  the caller can change how it asks (the tool results go into the prompt).
- errors as :class:`LlmTransportError`, one line naming the server and what
  went wrong; the API key never appears in a message, a log line or a record.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import openai  # imported when a request is made: a run of rules agents never pays for the SDK

log = logging.getLogger(__name__)

OPTIONAL_PARAMS = ("response_format", "seed", "tools")  # dropped in this order when a 400 names none
# A 400 naming no parameter is about one only if it says something like this.
PARAM_WORDS = ("unrecognized", "unknown", "unsupported", "not supported", "extra", "not permitted", "unexpected")
REASON_LIMIT = 240


class LlmAnswerError(ValueError):
    """The model's answer cannot be used; ``str(err)`` is one line naming what is wrong."""


class LlmTransportError(LlmAnswerError):
    """No answer at all (HTTP error, timeout, unreachable server) after the client's retries."""


class ToolsUnsupported(Exception):
    """The server rejected ``tools``: ask again without them."""


def one_line(text: str, limit: int = REASON_LIMIT) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str  # the model's JSON text, as sent

    def as_message(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass
class Completion:
    """What one request returned."""

    content: str | None
    tool_calls: list[ToolCall]
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    sent: list[str]  # the optional parameters this request carried

    def as_message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [c.as_message() for c in self.tool_calls]
        return message


@dataclass
class Capabilities:
    """Which optional parameters the run's server accepts (learned, never re-probed within a run)."""

    rejected: set[str] = field(default_factory=set)

    def allows(self, param: str) -> bool:
        return param not in self.rejected


def _rejected_param(err: openai.APIStatusError, sent: list[str]) -> str | None:
    text = json.dumps(err.body, default=str) if err.body is not None else ""
    text = (text + " " + str(err.message)).lower()
    named = [p for p in sent if p in text or (p == "tools" and ("tool_choice" in text or "function" in text))]
    if named:
        return named[0]
    if not any(word in text for word in PARAM_WORDS):  # a 400 about something else (say, the context length)
        return None
    return next((p for p in OPTIONAL_PARAMS if p in sent), None)


class LlmClient:
    """Chat completions for a run's `llm` agents.

    Args:
        base_url: the OpenAI-compatible endpoint (``OPENAI_BASE_URL``).
        api_key: ``OPENAI_API_KEY`` (a local server needs none: a placeholder is sent).
        timeout: seconds for one request.
        max_retries: the SDK's retries of one request.
        on_notice: receives a one-line notice (a parameter the server rejects).
    """

    def __init__(self, base_url: str, api_key: str | None, timeout: float, max_retries: int,
                 on_notice: Callable[[str], None] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self.timeout = timeout
        self.max_retries = max_retries
        self.capabilities = Capabilities()
        self.on_notice = on_notice or (lambda text: None)
        self._sdk: openai.AsyncOpenAI | None = None

    def scrub(self, text: str) -> str:
        """``text`` without the API key (for anything shown, logged or recorded)."""
        return text.replace(self._key, "[key]") if self._key else text

    def _client(self) -> openai.AsyncOpenAI:
        # One SDK client for the run: building one costs tens of ms (its TLS context), and its
        # connection pool keeps the server's connection between requests. Closed by aclose().
        if self._sdk is None:
            import openai

            self._sdk = openai.AsyncOpenAI(base_url=self.base_url, api_key=self._key or "not-needed",
                                           timeout=self.timeout, max_retries=self.max_retries)
        return self._sdk

    async def aclose(self) -> None:
        """Close the connection pool (at the run's end); a later request opens a new one."""
        sdk, self._sdk = self._sdk, None
        if sdk is not None:
            await sdk.close()

    async def complete(self, agent_id: str, model: str, messages: list[dict[str, Any]],
                       tools: list[dict[str, Any]] | None = None, want_json: bool = True) -> Completion:
        """One completion. Raises :class:`LlmTransportError` or :class:`ToolsUnsupported`."""
        import openai

        for _ in range(len(OPTIONAL_PARAMS) + 1):  # at most one re-send per parameter dropped
            params: dict[str, Any] = {"model": model, "messages": messages, "temperature": 0}
            if self.capabilities.allows("seed"):
                params["seed"] = 0
            if want_json and self.capabilities.allows("response_format"):
                params["response_format"] = {"type": "json_object"}
            if tools and self.capabilities.allows("tools"):
                params["tools"] = tools
            elif tools:
                raise ToolsUnsupported()
            sent = [p for p in OPTIONAL_PARAMS if p in params]
            log.debug("%s: LLM request to %s: %s", agent_id, self.base_url,
                      json.dumps(params, sort_keys=True, ensure_ascii=False, default=str))
            started = time.perf_counter()
            try:
                response = await self._client().chat.completions.create(**params)
            except openai.APITimeoutError:
                raise LlmTransportError(f"no answer from {self.base_url} within {self.timeout:g}s"
                                        f" ({self.max_retries + 1} attempt(s))") from None
            except openai.APIConnectionError as err:
                cause = err.__cause__ or err
                raise LlmTransportError(self.scrub(f"cannot reach {self.base_url}: {type(cause).__name__}: "
                                                   f"{one_line(str(cause), 120)}")) from None
            except (openai.BadRequestError, openai.UnprocessableEntityError) as err:
                param = _rejected_param(err, sent) if sent else None
                if param is None:
                    raise LlmTransportError(self._status_reason(err)) from None
                self._reject(param, agent_id, err)
                if param == "tools":
                    raise ToolsUnsupported() from None
                continue
            except openai.APIStatusError as err:
                raise LlmTransportError(self._status_reason(err)) from None
            latency = round((time.perf_counter() - started) * 1000, 3)
            completion = self._completion(response, latency, sent)
            log.debug("%s: LLM answer in %.0f ms: %s", agent_id, latency,
                      json.dumps(completion.as_message(), ensure_ascii=False))
            return completion
        raise LlmTransportError(f"{self.base_url} rejects every request")  # pragma: no cover - bounded loop

    def _status_reason(self, err: openai.APIStatusError) -> str:
        text = err.response.text if err.response is not None else str(err.message)
        extra = " (rate limited)" if err.status_code == 429 else ""
        return self.scrub(f"HTTP {err.status_code}{extra} from {self.base_url}: {one_line(text, 120)}")

    def _reject(self, param: str, agent_id: str, err: openai.APIStatusError) -> None:
        if param in self.capabilities.rejected:
            return
        self.capabilities.rejected.add(param)
        notice = (f"LLM server {self.base_url} rejects `{param}` (HTTP {err.status_code}, first seen by {agent_id}): "
                  f"sending requests without it for the rest of the run")
        log.info("%s", notice)
        self.on_notice(self.scrub(notice))

    def _completion(self, response: Any, latency: float, sent: list[str]) -> Completion:
        try:
            message = response.choices[0].message
        except (AttributeError, IndexError, TypeError):
            raise LlmTransportError(f"{self.base_url} did not answer in the chat-completions shape") from None
        calls = [ToolCall(id=c.id or f"call_{i}", name=c.function.name, arguments=c.function.arguments or "{}")
                 for i, c in enumerate(getattr(message, "tool_calls", None) or [])
                 if getattr(c, "function", None) is not None]
        usage = getattr(response, "usage", None)
        return Completion(content=message.content if isinstance(message.content, str) else None, tool_calls=calls,
                          prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                          completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
                          latency_ms=latency, sent=sent)
