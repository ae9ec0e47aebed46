"""Typed async clients of the four HTTP services (routes per ``docs/api.md``).

Each class wraps one :class:`~backend.clients.http.ServiceClient` and names the routes
the desktop panels use, so a panel model never spells a URL. Responses are
returned as the plain JSON the services send (dicts and lists); errors arrive
as :class:`~backend.clients.http.ServiceError` (status 0 = service down, 409 = the
server's current state in ``detail``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Union
from urllib.parse import quote

from backend.clients.http import ServiceClient
from backend.schema.api_runtime import CreateRunRequest, StartRunRequest


HttpSource = Union[ServiceClient, Callable[[], ServiceClient]]


class _Routes:
    """Base of the typed clients: ``http`` is the current :class:`ServiceClient`.

    Given a callable (e.g. ``lambda: session.client("agent")``) it is asked on
    every request, so a client outlives profile switches (the session replaces
    its ServiceClients then and closes the old ones).
    """

    def __init__(self, http: HttpSource) -> None:
        self._http = http

    @property
    def http(self) -> ServiceClient:
        return self._http if isinstance(self._http, ServiceClient) else self._http()


def _seg(value: str) -> str:
    """One URL path segment: never lets a name smuggle a ``/`` or ``..`` into the route."""
    return quote(str(value), safe="")


def _path(value: str) -> str:
    """A relative file path inside a workspace: its segments quoted, its slashes kept."""
    return "/".join(_seg(part) for part in str(value).split("/"))


class AgentServiceClient(_Routes):
    """agent_service (:8000): workspaces, agents, BOOTSTRAP validation, approvals.

    Args:
        http: the service's :class:`ServiceClient`, or a callable returning the current one.
    """

    # Workspaces -------------------------------------------------------------
    async def list_workspaces(self) -> list[dict[str, Any]]:
        return await self.http.get("/workspaces")

    async def get_workspace(self, name: str) -> dict[str, Any]:
        return await self.http.get(f"/workspaces/{_seg(name)}")

    async def create_workspace(self, name: str, source: str = "default") -> dict[str, Any]:
        return await self.http.post("/workspaces", {"name": name, "source": source})

    async def rename_workspace(self, name: str, new_name: str) -> dict[str, Any]:
        return await self.http.patch(f"/workspaces/{_seg(name)}", {"new_name": new_name})

    async def duplicate_workspace(self, name: str, new_name: str) -> dict[str, Any]:
        return await self.http.post(f"/workspaces/{_seg(name)}/duplicate", {"new_name": new_name})

    async def delete_workspace(self, name: str) -> None:
        await self.http.delete(f"/workspaces/{_seg(name)}")

    async def read_file(self, name: str, path: str) -> str:
        body = await self.http.get(f"/workspaces/{_seg(name)}/files/{_path(path)}")
        return str(body.get("text", ""))

    async def write_file(self, name: str, path: str, text: str) -> None:
        await self.http.put(f"/workspaces/{_seg(name)}/files/{_path(path)}", {"text": text})

    async def validate_bootstrap(self, text: str) -> dict[str, Any]:
        """``{ok, error: {line, field, message} | None}``."""
        return await self.http.post("/bootstrap/validate", {"text": text})

    # Agents -----------------------------------------------------------------
    async def workspace_agents(self, name: str) -> list[dict[str, Any]]:
        return await self.http.get(f"/workspaces/{_seg(name)}/agents")

    async def workspace_agent(self, name: str, agent_id: str) -> dict[str, Any]:
        return await self.http.get(f"/workspaces/{_seg(name)}/agents/{_seg(agent_id)}")

    async def run_agents(self, run_id: str) -> list[dict[str, Any]]:
        return await self.http.get(f"/runs/{_seg(run_id)}/agents")

    async def run_agent(self, run_id: str, agent_id: str) -> dict[str, Any]:
        return await self.http.get(f"/runs/{_seg(run_id)}/agents/{_seg(agent_id)}")

    async def agent_memory(self, run_id: str, agent_id: str, limit: int | None = None) -> list[dict[str, Any]]:
        body = await self.http.get(f"/runs/{_seg(run_id)}/agents/{_seg(agent_id)}/memory", limit=limit)
        return body.get("items", []) if isinstance(body, dict) else body

    async def agent_exchanges(self, run_id: str, agent_id: str, limit: int | None = None) -> list[dict[str, Any]]:
        """An llm agent's exchanges with its model, newest last (``agent_exchange`` event shapes)."""
        body = await self.http.get(f"/runs/{_seg(run_id)}/agents/{_seg(agent_id)}/exchanges", limit=limit)
        return body if isinstance(body, list) else []

    # Approvals --------------------------------------------------------------
    async def list_approvals(self, run_id: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        body = await self.http.get("/approvals", run_id=run_id, status=status)
        return body.get("items", []) if isinstance(body, dict) else body

    async def get_approval(self, approval_id: str) -> dict[str, Any]:
        return await self.http.get(f"/approvals/{_seg(approval_id)}")

    async def decide(self, approval_id: str, decision: str, reason: str = "",
                     quantity: int | None = None) -> dict[str, Any]:
        """``decision`` is ``approve`` or ``reject``; a 409 means it was already decided or expired."""
        body: dict[str, Any] = {"decision": decision, "reason": reason}
        if quantity is not None:
            body["quantity"] = int(quantity)
        return await self.http.post(f"/approvals/{_seg(approval_id)}/decision", body)

    async def approval_audit(self, run_id: str) -> list[dict[str, Any]]:
        body = await self.http.get(f"/runs/{_seg(run_id)}/approvals/audit")
        return body.get("items", []) if isinstance(body, dict) else body


class TradingServiceClient(_Routes):
    """trading_service (:8001): read-only trading data of any run."""

    async def portfolio(self, run_id: str) -> dict[str, Any]:
        return await self.http.get(f"/runs/{_seg(run_id)}/portfolio")

    async def holdings(self, run_id: str) -> list[dict[str, Any]]:
        body = await self.http.get(f"/runs/{_seg(run_id)}/holdings")
        return body.get("items", []) if isinstance(body, dict) else body

    async def trades(self, run_id: str, *, ticker: str | None = None, date_from: str | None = None,
                     date_to: str | None = None, offset: int = 0, limit: int = 500) -> dict[str, Any]:
        """One page ``{items, total, offset, limit}``."""
        return await self.http.get(f"/runs/{_seg(run_id)}/trades", ticker=ticker, date_from=date_from,
                                   date_to=date_to, offset=offset, limit=limit)

    async def curves(self, run_id: str) -> dict[str, Any]:
        """``{equity, baseline, baseline_vw, momentum}``, each a list of ``{t, v}`` (epoch ms)."""
        return await self.http.get(f"/runs/{_seg(run_id)}/curves")

    async def stats(self, run_id: str) -> dict[str, Any]:
        return await self.http.get(f"/runs/{_seg(run_id)}/stats")

    async def metrics(self, run_id: str) -> dict[str, Any]:
        return await self.http.get(f"/runs/{_seg(run_id)}/metrics")

    async def leaderboard(self, run_id: str) -> list[dict[str, Any]]:
        body = await self.http.get(f"/runs/{_seg(run_id)}/leaderboard")
        return body.get("items", body.get("data", [])) if isinstance(body, dict) else body

    async def signals(self, run_id: str, *, agent_id: str | None = None, ticker: str | None = None,
                      date: str | None = None) -> list[dict[str, Any]]:
        body = await self.http.get(f"/runs/{_seg(run_id)}/signals", agent_id=agent_id, ticker=ticker, date=date)
        return body.get("items", []) if isinstance(body, dict) else body


class NewsServiceClient(_Routes):
    """news_service (:8002): headlines and explanations."""

    async def news(self, run_id: str, *, ticker: str | None = None, start: str | None = None,
                   end: str | None = None) -> list[dict[str, Any]]:
        body = await self.http.get(f"/runs/{_seg(run_id)}/news", ticker=ticker, start=start, end=end)
        return body.get("items", []) if isinstance(body, dict) else body

    async def explain_trade(self, run_id: str, trade_id: str) -> dict[str, Any]:
        return await self.http.get(f"/runs/{_seg(run_id)}/explain/trade/{_seg(trade_id)}")

    async def explain_decision(self, run_id: str, date: str, ticker: str) -> dict[str, Any]:
        return await self.http.get(f"/runs/{_seg(run_id)}/explain/decision", date=date, ticker=ticker)


@dataclass
class EventsPageReply:
    """One page of ``GET /runs/{id}/events``: whole lines (each with its newline) and where the next starts."""

    lines: list[bytes]
    next_cursor: int
    skipped: int = 0
    log_bytes: int = 0


class RuntimeServiceClient(_Routes):
    """runtime_service (:8003): runs and their Gateways, sandbox settings."""

    async def list_runs(self, sort: str | None = None, order: str | None = None) -> list[dict[str, Any]]:
        """Every run's history row (``sort``: a row field or closing figure, ``order``: asc or desc)."""
        body = await self.http.get("/runs", sort=sort, order=order)
        return body.get("items", []) if isinstance(body, dict) else body

    async def events_page(self, run_id: str, *, cursor: int = 0, limit: int = 2000,
                          max_bytes: int | None = None) -> EventsPageReply:
        """One page of the run's ``logs/events.jsonl`` from byte ``cursor`` (``GET /runs/{id}/events``)."""
        response = await self.http.get_raw(f"/runs/{_seg(run_id)}/events", cursor=cursor, limit=limit,
                                           max_bytes=max_bytes)
        lines = [line + b"\n" for line in response.content.split(b"\n") if line]
        head = response.headers
        return EventsPageReply(lines, int(head.get("x-next-cursor", cursor)), int(head.get("x-skipped-lines", 0)),
                               int(head.get("x-log-bytes", 0)))

    async def event_lines(self, run_id: str, *, page_lines: int = 2000,
                          max_bytes: int | None = None) -> AsyncIterator[bytes]:
        """Every line of the run's events log, page by page (one page held at a time), up to its end now.

        Each page starts where the previous one ended (``X-Next-Cursor``), so
        the log is read once whatever its length; the iteration ends at the
        first page that brings nothing new.
        """
        cursor = 0
        while True:
            page = await self.events_page(run_id, cursor=cursor, limit=page_lines, max_bytes=max_bytes)
            for line in page.lines:
                yield line
            if page.next_cursor <= cursor:
                return
            cursor = page.next_cursor

    async def get_run(self, run_id: str) -> dict[str, Any]:
        return await self.http.get(f"/runs/{_seg(run_id)}")

    async def create_run(self, body: dict[str, Any]) -> str:
        """``POST /runs`` with a ``CreateRunRequest`` body (workspace, run_id, mode, tickers,
        start_date, end_date, seed, pace_seconds, approval); returns the new run id.

        The body is validated first, so a bad one is named here (pydantic's
        ``ValidationError``), not as a 422 later."""
        CreateRunRequest.model_validate(body)
        created = await self.http.post("/runs", body)
        return str(created["run_id"])

    async def start_run(self, run_id: str, *, paused: bool = False, pace: float | None = None) -> dict[str, Any]:
        body = StartRunRequest(paused=paused, pace=pace).model_dump(exclude_none=True)
        return await self.http.post(f"/runs/{_seg(run_id)}/start", body)

    async def stop_run(self, run_id: str) -> Any:
        return await self.http.post(f"/runs/{_seg(run_id)}/stop")

    async def pause(self, run_id: str) -> Any:
        return await self.http.post(f"/runs/{_seg(run_id)}/pause")

    async def resume(self, run_id: str) -> Any:
        return await self.http.post(f"/runs/{_seg(run_id)}/resume")

    async def gateway(self, run_id: str) -> dict[str, Any]:
        return await self.http.get(f"/runs/{_seg(run_id)}/gateway")

    async def state(self, run_id: str) -> dict[str, Any]:
        """``{runtime_state, server_state}``."""
        return await self.http.get(f"/runs/{_seg(run_id)}/state")

    async def logs(self, run_id: str, tail: int = 200) -> list[str]:
        body = await self.http.get(f"/runs/{_seg(run_id)}/logs", tail=tail)
        return body.get("lines", []) if isinstance(body, dict) else body

    async def follow_logs(self, run_id: str) -> AsyncIterator[str]:
        """Each new line of the run's Gateway log as it comes (``GET /runs/{id}/logs/follow``), until closed."""
        async for event in self.http.events(f"/runs/{_seg(run_id)}/logs/follow"):
            yield str(json.loads(event.data))

    async def sandbox_settings(self) -> dict[str, Any]:
        return await self.http.get("/sandbox/settings")

    async def put_sandbox_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        return await self.http.put("/sandbox/settings", settings)

    async def probe_sandbox(self, mode: str | None = None) -> dict[str, Any]:
        return await self.http.post("/sandbox/probe", {"mode": mode} if mode else {})


def runtime_client(base_url: str, token: str | None = None, timeout: float = 60.0) -> RuntimeServiceClient:
    """A runtime_service client of its own (``evotraders stack up``, benches); ``await c.http.aclose()`` ends it."""
    return RuntimeServiceClient(ServiceClient("runtime", base_url, token, timeout=timeout))
