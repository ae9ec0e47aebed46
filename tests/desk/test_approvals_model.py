"""ApprovalsModel without Qt: Gateway events, refresh, decisions, 409s, selection, countdown.

agent_service is not runnable yet, so the HTTP side is a local stub server
(a real ``ThreadingHTTPServer`` on 127.0.0.1) implementing the routes the
model uses: ``GET /approvals``, ``GET /approvals/{id}``, ``POST /approvals/{id}/decision``.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from app.models.approvals_model import ApprovalItem, ApprovalsModel, format_countdown
from backend.clients.http import ServiceClient
from backend.clients.services import AgentServiceClient

NOW = 1_750_000_000.0


def iso(epoch: float) -> str:
    """An epoch time as agent_service writes times (ISO 8601, UTC)."""
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat()


def approval(id_: str, ticker: str = "AAPL", status: str = "pending", expires: float = NOW + 120, **extra: Any) -> dict:
    return {"id": id_, "run_id": "r1", "date": "2025-01-02", "ticker": ticker, "action": "long", "quantity": 40,
            "price": 190.5, "notional": 7620.0, "confidence": 72.0, "reasoning": "momentum and value agree",
            "reasons": ["notional above 5,000"], "status": status, "expires_at": iso(expires),
            "created_at": iso(NOW), "timeout_seconds": expires - NOW, "on_timeout": "reject",
            "allow_quantity_change": True,
            "context": {"signals": [{"agent_id": "technical_analyst", "signal": "bull", "confidence": 70,
                                     "reasoning": "trend up"}],
                        "risk_warnings": ["AAPL volatility 38% annualised"], "pm_reasoning": "PM: buy 40"},
            **{k: iso(v) if k.endswith("_at") else v for k, v in extra.items()}}


class StubAgentService:
    """The approvals routes of agent_service, in memory, with the real 409 shape."""

    def __init__(self) -> None:
        self.approvals: dict[str, dict] = {}
        self.decisions: list[tuple[str, dict]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                if url.path == "/approvals":
                    q = {k: v[0] for k, v in parse_qs(url.query).items()}
                    rows = [a for a in stub.approvals.values()
                            if q.get("run_id") in (None, a["run_id"]) and q.get("status") in (None, a["status"])]
                    return self._send(200, rows)
                parts = url.path.strip("/").split("/")
                if len(parts) == 2 and parts[0] == "approvals" and parts[1] in stub.approvals:
                    return self._send(200, stub.approvals[parts[1]])
                self._send(404, {"error": "not_found", "detail": url.path})

            def do_POST(self) -> None:  # noqa: N802
                parts = self.path.strip("/").split("/")
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                if len(parts) != 3 or parts[2] != "decision" or parts[1] not in stub.approvals:
                    return self._send(404, {"error": "not_found", "detail": self.path})
                current = stub.approvals[parts[1]]
                if current["status"] != "pending":
                    return self._send(409, {"error": "conflict", "approval": current,
                                            "detail": f"approval {current['id']} is already {current['status']}"})
                stub.decisions.append((parts[1], body))
                current.update(status="approved" if body["decision"] == "approve" else "rejected",
                               decided_by="operator", reason=body.get("reason", ""),
                               decided_quantity=body.get("quantity") or current["quantity"], decided_at=iso(NOW + 5))
                self._send(200, current)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub() -> Iterator[StubAgentService]:
    server = StubAgentService()
    yield server
    server.close()


@pytest.fixture
async def model(stub: StubAgentService) -> Any:
    http = ServiceClient("agent", stub.url)
    m = ApprovalsModel(AgentServiceClient(http), clock=lambda: NOW)
    m.set_run("r1")
    yield m
    await http.aclose()


def requested(id_: str, ticker: str = "MSFT", expires: str = "2025-06-15T14:00:30+00:00") -> dict:
    return {"type": "approval_requested", "approval_id": id_, "run_id": "r1", "date": "2025-01-03",
            "ticker": ticker, "action": "short", "quantity": 10, "price": 400.0, "notional": 4000.0,
            "confidence": 55.0, "reasoning": "overbought", "expires_at": expires,
            "context": {"signals": [], "risk_warnings": ["crowded short"]}}


async def test_refresh_loads_pending_and_history_and_selects_soonest(stub: StubAgentService, model: ApprovalsModel) -> None:
    stub.approvals = {"a1": approval("a1", "AAPL", expires=NOW + 300), "a2": approval("a2", "NVDA", expires=NOW + 60),
                      "a3": approval("a3", "TSLA", status="expired", decided_by="policy", decided_at=NOW - 10)}
    arrived = []
    model.changed.connect(lambda kind, item: arrived.append(item.id) if kind == "arrived" else None)
    await model.refresh()
    assert [a.id for a in model.pending] == ["a2", "a1"]  # soonest deadline first
    assert [a.id for a in model.history] == ["a3"] and model.history[0].decided_by == "policy"
    assert model.selected_id == "a2"
    assert sorted(arrived) == ["a1", "a2"]
    first = model.pending[0]
    assert first.signals[0]["agent_id"] == "technical_analyst"
    assert first.risk_warnings == ["AAPL volatility 38% annualised"] and first.pm_reasoning == "PM: buy 40"


async def test_events_add_and_resolve_idempotently(model: ApprovalsModel) -> None:
    model.apply_event(requested("e1"))
    model.apply_event(requested("e1"))  # the same event twice (reconnect replay) is one row
    assert [a.id for a in model.pending] == ["e1"]
    assert model.pending[0].risk_warnings == ["crowded short"]
    resolved = {"type": "approval_resolved", "approval_id": "e1", "decision": "rejected",
                "decided_by": "alice (operator)", "reason": "too risky", "ts": int(NOW * 1000)}
    model.apply_event(resolved)
    model.apply_event(resolved)
    assert model.pending == [] and [a.id for a in model.history] == ["e1"]
    assert model.history[0].decided_by == "alice (operator)" and model.history[0].reason == "too risky"
    model.apply_event(requested("e1"))  # a stale request after the decision does not resurrect it
    assert model.pending == []


async def test_events_of_another_run_are_ignored(model: ApprovalsModel) -> None:
    model.apply_event({**requested("x1"), "run_id": "other"})
    assert model.pending == []


async def test_approve_with_smaller_quantity_then_409_shows_current_state(stub: StubAgentService,
                                                                         model: ApprovalsModel) -> None:
    stub.approvals = {"a1": approval("a1"), "a2": approval("a2", "NVDA", expires=NOW + 400)}
    await model.refresh()
    assert await model.approve("a1", quantity=25, reason="half size")
    assert stub.decisions == [("a1", {"decision": "approve", "reason": "half size", "quantity": 25})]
    assert [a.id for a in model.pending] == ["a2"] and model.selected_id == "a2"
    assert model.history[0].decided_quantity == 25
    assert "approved 25 of 40" in model.message
    # Somebody else rejected a2 meanwhile: our approve gets a 409 and the row moves to history.
    stub.approvals["a2"].update(status="rejected", decided_by="bob (admin)")
    assert not await model.approve("a2")
    assert model.pending == [] and model.item("a2").status == "rejected"
    assert model.message == "NVDA was already rejected by bob (admin)"


async def test_a_list_read_before_a_decision_landed_does_not_bring_it_back(stub: StubAgentService,
                                                                          model: ApprovalsModel) -> None:
    stub.approvals = {"a1": approval("a1"), "a2": approval("a2", "NVDA", expires=NOW + 400)}
    await model.refresh()
    assert await model.approve("a1")
    stub.approvals["a1"]["status"] = "pending"  # the list as a GET in flight before the decision read it
    await model.refresh()
    assert [a.id for a in model.pending] == ["a2"] and model.item("a1").status == "approved"


async def test_quantity_outside_request_is_refused_before_sending(stub: StubAgentService, model: ApprovalsModel) -> None:
    stub.approvals = {"a1": approval("a1")}
    await model.refresh()
    assert not await model.approve("a1", quantity=41)
    assert stub.decisions == [] and "between 1 and 40" in model.message


async def test_unreachable_service_is_a_message_not_an_exception() -> None:
    http = ServiceClient("agent", "http://127.0.0.1:9")  # discard port: nothing listens
    m = ApprovalsModel(AgentServiceClient(http), clock=lambda: NOW)
    m.apply_event(requested("e1"))
    await m.refresh()
    assert m.message.startswith("cannot load approvals: agent: cannot reach")
    assert not await m.reject("e1", reason="x")
    assert "failed" in m.message and [a.id for a in m.pending] == ["e1"]
    await http.aclose()


def test_selection_wraps_and_countdown_formats() -> None:
    m = ApprovalsModel(clock=lambda: NOW)
    for i, ticker in enumerate(("AAPL", "MSFT", "NVDA")):
        m.upsert(ApprovalItem.from_api(approval(f"a{i}", ticker, expires=NOW + 10 * (i + 1))))
    assert m.selected_id == "a0"
    assert m.select_next().id == "a1" and m.select_next().id == "a2" and m.select_next().id == "a0"
    assert m.select_previous().id == "a2"
    assert m.pending[0].seconds_left(NOW) == 10
    assert [format_countdown(s) for s in (None, 0, 9.7, 75, 3725)] == ["-", "expiring", "0:09", "1:15", "1:02:05"]
    # ISO deadlines with Z or an offset mean the same instant.
    a = ApprovalItem.from_event(requested("z", expires="2025-06-15T14:00:30Z"))
    b = ApprovalItem.from_event(requested("o", expires="2025-06-15T16:00:30+02:00"))
    assert a.expires_at == b.expires_at


async def test_a_load_failure_message_clears_once_the_service_answers(stub: StubAgentService) -> None:
    dead, live = ServiceClient("agent", "http://127.0.0.1:9"), ServiceClient("agent", stub.url)
    m = ApprovalsModel(AgentServiceClient(dead), clock=lambda: NOW)
    await m.refresh()
    assert m.message.startswith("cannot load approvals")
    m.set_client(AgentServiceClient(lambda: live))  # a provider: the session's current client
    await m.refresh()
    assert m.message is None
    await dead.aclose()
    await live.aclose()
