"""A real HTTP server on 127.0.0.1 (a free port) speaking OpenAI's chat-completions wire format.

The stand-in for a model server (there is no internet and no model here).
Each test scripts it: queued replies are served in order; once the queue is
empty the ``responder`` callable (if any) builds the reply from the request.

Replies: ``answer`` (a completion whose message content is the given text),
``fenced`` (the same inside a markdown code fence), ``tool_calls`` (an
assistant message calling tools, ``finish_reason: tool_calls``),
``http_error`` (a status and an OpenAI-style error body), ``rate_limited``
(429 with ``Retry-After``), ``slow`` (a reply sent only after a delay),
``stall`` (no answer until the server shuts down). ``rejects`` makes the
server refuse any request carrying one of the named parameters (``seed``,
``response_format``, ``tools``) with 400 naming it, as some servers do.
:class:`ToyModel` is a deterministic responder that uses its tools like a
model would. Every request is recorded (path, headers, raw body, parsed JSON,
arrival time) so tests can assert on what a client actually sent.
"""

from __future__ import annotations

import collections
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass(frozen=True)
class Reply:
    status: int = 200
    content: str | None = None   # the assistant's text (a chat completion)
    body: str | None = None      # a raw body instead
    stall: bool = False
    delay: float = 0.0           # seconds before the reply is sent
    headers: tuple[tuple[str, str], ...] = ()
    calls: tuple[tuple[str, str], ...] = ()  # (tool name, JSON arguments) of an assistant tool-call message


def answer(content: str | dict[str, Any]) -> Reply:
    return Reply(content=content if isinstance(content, str) else json.dumps(content))


def fenced(content: dict[str, Any], prose: str = "Here is my answer:") -> Reply:
    return Reply(content=f"{prose}\n```json\n{json.dumps(content, indent=1)}\n```\n")


def tool_calls(*calls: tuple[str, dict[str, Any] | str]) -> Reply:
    return Reply(calls=tuple((name, args if isinstance(args, str) else json.dumps(args)) for name, args in calls))


def http_error(status: int, body: str = '{"error": {"message": "internal error"}}') -> Reply:
    return Reply(status=status, body=body)


def rate_limited(retry_after: float) -> Reply:
    return Reply(status=429, body='{"error": {"message": "Rate limit reached", "type": "requests", '
                                  '"code": "rate_limit_exceeded"}}',
                 headers=(("Retry-After", f"{retry_after:g}"),))


def slow(seconds: float, reply: Reply) -> Reply:
    return Reply(status=reply.status, content=reply.content, body=reply.body, delay=seconds, headers=reply.headers,
                 calls=reply.calls)


def stall() -> Reply:
    return Reply(stall=True)


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]
    raw: bytes
    body: dict[str, Any]
    at: float = field(default=0.0)  # time.monotonic() when it arrived

    def text(self, role: str) -> str:
        return "\n".join(m.get("content") or "" for m in self.body.get("messages", []) if m.get("role") == role)

    @property
    def tool_results(self) -> list[dict[str, Any]]:
        return [json.loads(m["content"]) for m in self.body.get("messages", []) if m.get("role") == "tool"]

    @property
    def tool_names(self) -> list[str]:
        return [t["function"]["name"] for t in self.body.get("tools") or []]


class ChatServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, rejects: frozenset[str] = frozenset()) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: collections.deque[Reply] = collections.deque()
        self.responder: Callable[[Seen], Reply] | None = None
        self.rejects = set(rejects)
        self.requests: list[Seen] = []
        self.lock = threading.Lock()
        self.released = threading.Event()  # set at shutdown: stalled requests give up
        self._ids = itertools.count(1)
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests served at once

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def queue(self, *replies: Reply) -> None:
        with self.lock:
            self.script.extend(replies)

    def next_reply(self, seen: Seen) -> Reply:
        with self.lock:
            self.requests.append(seen)
            refused = sorted(p for p in self.rejects if p in seen.body)
            if refused:
                return http_error(400, json.dumps({"error": {
                    "message": f"Unrecognized request argument supplied: {refused[0]}",
                    "type": "invalid_request_error", "param": refused[0], "code": None}}))
            if self.script:
                return self.script.popleft()
        if self.responder is not None:
            return self.responder(seen)
        return http_error(500, '{"error": {"message": "test script exhausted"}}')

    def completion(self, model: str, reply: Reply) -> bytes:
        n = next(self._ids)
        message: dict[str, Any] = {"role": "assistant", "content": reply.content if not reply.calls else None}
        if reply.calls:
            message["tool_calls"] = [{"id": f"call_{n}_{i}", "type": "function",
                                      "function": {"name": name, "arguments": args}}
                                     for i, (name, args) in enumerate(reply.calls)]
        return json.dumps({
            "id": f"chatcmpl-test-{n}", "object": "chat.completion", "created": 1735689600, "model": model,
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if reply.calls else "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
        }).encode()


class _Handler(BaseHTTPRequestHandler):
    server: ChatServer
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers (and the SDK's connection pool) expect

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/v1/chat/completions":
            return self._send(404, b'{"error": {"message": "not found"}}')
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            return self._send(400, b'{"error": {"message": "body is not JSON"}}')
        seen = Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, raw, body, time.monotonic())
        with self.server.lock:
            self.server.in_flight += 1
            self.server.max_in_flight = max(self.server.max_in_flight, self.server.in_flight)
        try:
            self._reply(seen, body)
        finally:
            with self.server.lock:
                self.server.in_flight -= 1

    def _reply(self, seen: Seen, body: dict[str, Any]) -> None:
        reply = self.server.next_reply(seen)
        if reply.stall:
            self.server.released.wait(30)
            self.close_connection = True
            return
        if reply.delay and self.server.released.wait(reply.delay):
            self.close_connection = True
            return
        try:
            if reply.body is not None:
                return self._send(reply.status, reply.body.encode(), reply.headers)
            return self._send(reply.status, self.server.completion(str(body.get("model")), reply), reply.headers)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout)
            self.close_connection = True


# -- a deterministic model -----------------------------------------------------------
_TICKERS_RE = re.compile(r"Tickers: ([A-Z0-9., ]+?)\.(?:\s|$)")


def _tickers(seen: Seen) -> list[str]:
    match = _TICKERS_RE.search(seen.text("user"))
    return [t.strip() for t in match.group(1).split(",")] if match else []


class ToyModel:
    """A responder that behaves like a small tool-using model, deterministically.

    An analyst offered tools first calls each skill tool for all tickers (and
    ``search_memory`` once), then calls a bull / bear / neutral per ticker from
    the mean of the features its tools returned (or, offered no tools, from
    the features in its prompt). In a conference round it keeps its calls and
    says so; the portfolio manager writes a summary or buys one share of each
    ticker the team leans bullish on; the risk manager halves every limit.
    """

    def __init__(self, note: str = "TOY") -> None:
        self.note = note

    def __call__(self, seen: Seen) -> Reply:
        system, user = seen.text("system"), seen.text("user")
        tickers = _tickers(seen)
        if "You chair the morning conference" in user:
            return answer({"summary": f"{self.note}-SUMMARY: the team keeps its calls on {', '.join(tickers)}."})
        if "Morning conference of" in user:
            own = json.loads(user.split("Your current calls:\n", 1)[1].split("\n\n", 1)[0])
            return answer({"comment": f"{self.note}-COMMENT: I keep my calls.",
                           "signals": [{**c, "reasoning": c["reasoning"] or "kept"} for c in own]})
        if "You are risk_manager" in system:
            limits = json.loads(user.split("gross exposure", 1)[1].split(":\n", 1)[1].split("\n\n", 1)[0])
            return answer({"limits": [{"ticker": t, "max_position_value": limits[t]["max_position_value"] / 2,
                                       "reasoning": f"{self.note}-RISK halves {t}"} for t in tickers]})
        if "You are portfolio_manager" in system:
            return answer({"decisions": [{"ticker": t, "action": "long", "quantity": 1, "confidence": 60,
                                          "reasoning": f"{self.note}-PM buys one {t}"} for t in tickers]})
        skills = [n for n in seen.tool_names if n != "search_memory"]
        if skills and not seen.tool_results:
            calls: list[tuple[str, dict[str, Any] | str]] = [(n, {"tickers": tickers}) for n in skills]
            if "search_memory" in seen.tool_names:
                calls.append(("search_memory", {"query": " ".join(tickers)}))
            return tool_calls(*calls)
        features: dict[str, dict[str, Any]] = {}
        for result in seen.tool_results:
            features.update(result.get("tickers") or {})
        if not features and "Features your skill computed today" in user:
            features = json.loads(user.split("the raw indicators):\n", 1)[1].split("\n\n", 1)[0])
        signals = []
        for t in tickers:
            values = list((features.get(t) or {}).get("features", {}).values())
            mean = sum(values) / len(values) if values else 0.0
            signal = "bull" if mean > 0.05 else "bear" if mean < -0.05 else "neutral"
            signals.append({"ticker": t, "signal": signal, "confidence": round(min(100.0, abs(mean) * 100), 2),
                            "reasoning": f"{self.note}: mean feature {mean:+.3f} from {len(values)} feature(s)"})
        return answer({"signals": signals})
