"""A real HTTP server on 127.0.0.1 speaking the OpenAI chat-completions shape.

Each test scripts it: queued replies are served in order (``answer`` a
completion whose message content is the given text, ``http_error`` a status
and body, ``stall`` no answer until the server shuts down); once the queue is
empty the ``responder`` callable (if any) builds the reply from the request.
Every request is recorded (path, headers, raw body, parsed JSON) so tests can
assert on what a client actually sent.
"""

from __future__ import annotations

import collections
import itertools
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass(frozen=True)
class Reply:
    status: int = 200
    content: str | None = None   # the assistant's text (a chat completion)
    body: str | None = None      # a raw body instead
    stall: bool = False


def answer(content: str | dict[str, Any]) -> Reply:
    return Reply(content=content if isinstance(content, str) else json.dumps(content))


def http_error(status: int, body: str = '{"error": {"message": "internal error"}}') -> Reply:
    return Reply(status=status, body=body)


def stall() -> Reply:
    return Reply(stall=True)


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]
    raw: bytes
    body: dict[str, Any]

    def text(self, role: str) -> str:
        return "\n".join(m["content"] for m in self.body.get("messages", []) if m.get("role") == role)


class ChatServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: collections.deque[Reply] = collections.deque()
        self.responder: Callable[[Seen], Reply] | None = None
        self.requests: list[Seen] = []
        self.lock = threading.Lock()
        self.released = threading.Event()  # set at shutdown: stalled requests give up
        self._ids = itertools.count(1)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def queue(self, *replies: Reply) -> None:
        with self.lock:
            self.script.extend(replies)

    def next_reply(self, seen: Seen) -> Reply:
        with self.lock:
            self.requests.append(seen)
            if self.script:
                return self.script.popleft()
        if self.responder is not None:
            return self.responder(seen)
        return http_error(500, '{"error": {"message": "test script exhausted"}}')

    def completion(self, model: str, content: str) -> bytes:
        return json.dumps({
            "id": f"chatcmpl-test-{next(self._ids)}", "object": "chat.completion", "created": 1735689600,
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
        }).encode()


class _Handler(BaseHTTPRequestHandler):
    server: ChatServer

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
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
        seen = Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, raw, body)
        reply = self.server.next_reply(seen)
        if reply.stall:
            self.server.released.wait(30)
            return
        if reply.body is not None:
            return self._send(reply.status, reply.body.encode())
        return self._send(reply.status, self.server.completion(str(body.get("model")), reply.content or ""))
