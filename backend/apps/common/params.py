"""Path and query parameters shared by the services, with their patterns.

Declaring the pattern here puts it in the OpenAPI schema and turns a bad
value into a 422 that names the parameter, before any route code runs.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from backend.storage.ids import RUN_ID_RE, WORKSPACE_NAME_RE

RunId = Annotated[str, Path(pattern=RUN_ID_RE.pattern, max_length=80, description="the run's id")]
WorkspaceName = Annotated[str, Path(pattern=WORKSPACE_NAME_RE.pattern, max_length=64,
                                    description="the workspace's name")]
