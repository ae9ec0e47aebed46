"""Sandbox settings (GET; PUT for admin) and the backend probe."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from backend.apps.common.auth import AdminDep, ViewerDep
from backend.schema.api_runtime import ProbeRequest, ProbeResponse, SandboxSettings

router = APIRouter(tags=["sandbox"])


@router.get("/sandbox/settings", response_model=SandboxSettings)
def get_settings_(request: Request, _: ViewerDep) -> Any:
    return request.app.state.sandbox.current()


@router.put("/sandbox/settings", response_model=SandboxSettings)
def put_settings(body: SandboxSettings, request: Request, _: AdminDep) -> Any:
    return request.app.state.sandbox.save(body)


@router.post("/sandbox/probe", response_model=ProbeResponse)
async def probe(request: Request, _: AdminDep, body: ProbeRequest | None = None) -> Any:
    from backend.sandbox.probe import run_probe

    store = request.app.state.sandbox
    settings = store.apply(request.app.state.controller.settings)
    mode = (body.mode if body and body.mode else None) or store.current().mode
    result = await run_probe(mode, settings)
    return {"mode": result.mode, "ok": result.ok, "duration_ms": result.duration_ms,
            "result": result.result.model_dump(), "note": result.note}
