"""agent_service routes: workspace CRUD, workspace files, BOOTSTRAP.md validation.

Names and paths come from the URL, so every one is checked: an invalid name
or a path that leaves its workspace is a 400, an unknown one a 404, and an
invalid BOOTSTRAP.md a 422 naming the line and field.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from backend.apps.agent_service import team
from backend.apps.common.auth import AdminDep, ViewerDep
from backend.errors import BadRequestError, NotFoundError
from backend.schema.api_agents import (
    BootstrapText,
    BootstrapValidation,
    FileContent,
    FileWrite,
    WorkspaceCreate,
    WorkspaceDetail,
    WorkspaceNewName,
    WorkspaceSummary,
)
from backend.storage.workspaces import WorkspaceStore

router = APIRouter(tags=["workspaces"])


def _store(request: Request) -> WorkspaceStore:
    return request.app.state.workspaces


@router.get("/workspaces", response_model=list[WorkspaceSummary])
def list_workspaces(request: Request, role: ViewerDep) -> list[WorkspaceSummary]:
    store = _store(request)
    rows = []
    for name in store.names():
        try:
            rows.append(team.summary(store, name))
        except NotFoundError:
            continue  # deleted between listing and reading
    return rows


@router.post("/workspaces", status_code=201, response_model=WorkspaceDetail)
def create_workspace(body: WorkspaceCreate, request: Request, role: AdminDep) -> WorkspaceDetail:
    store = _store(request)
    store.create(body.name, body.source)
    return team.detail(store, body.name)


@router.get("/workspaces/{name}", response_model=WorkspaceDetail)
def get_workspace(name: str, request: Request, role: ViewerDep) -> WorkspaceDetail:
    return team.detail(_store(request), name)


@router.patch("/workspaces/{name}", response_model=WorkspaceDetail)
def rename_workspace(name: str, body: WorkspaceNewName, request: Request, role: AdminDep) -> WorkspaceDetail:
    store = _store(request)
    store.rename(name, body.new_name)
    return team.detail(store, body.new_name)


@router.post("/workspaces/{name}/duplicate", status_code=201, response_model=WorkspaceDetail)
def duplicate_workspace(name: str, body: WorkspaceNewName, request: Request, role: AdminDep) -> WorkspaceDetail:
    store = _store(request)
    store.create(body.new_name, source=name)
    return team.detail(store, body.new_name)


@router.delete("/workspaces/{name}", status_code=204, response_class=Response)
def delete_workspace(name: str, request: Request, role: AdminDep) -> Response:
    _store(request).delete(name)
    return Response(status_code=204)


@router.get("/workspaces/{name}/files/{path:path}", response_model=FileContent)
def read_file(name: str, path: str, request: Request, role: ViewerDep) -> FileContent:
    try:
        text = _store(request).read_file(name, path)
    except UnicodeDecodeError:
        raise BadRequestError(f"{path!r} in workspace {name!r} is not UTF-8 text") from None
    except IsADirectoryError:
        raise NotFoundError(f"no file {path!r} in workspace {name!r}") from None
    return FileContent(path=path, text=text)


@router.put("/workspaces/{name}/files/{path:path}", response_model=FileContent)
def write_file(name: str, path: str, body: FileWrite, request: Request, role: AdminDep) -> FileContent:
    """Write a file atomically; BOOTSTRAP.md must validate first (422 with line and field)."""
    store = _store(request)
    try:
        store.write_file(name, path, body.text)
    except IsADirectoryError:
        raise BadRequestError(f"{path!r} in workspace {name!r} is a folder") from None
    return FileContent(path=path, text=body.text)


@router.post("/bootstrap/validate", response_model=BootstrapValidation)
def validate_bootstrap(body: BootstrapText, role: ViewerDep) -> BootstrapValidation:
    """As-you-type validation: ``{ok, error: {line, field, message} or null}``."""
    return team.validate_text(body.text)
