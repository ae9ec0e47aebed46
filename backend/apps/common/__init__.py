"""What every service is built from: the app factory, errors, role dependencies, the runner.

    from backend.apps.common import create_service_app, run_service
    from backend.apps.common.auth import ViewerDep, OperatorDep, AdminDep, protected_router
"""

from backend.apps.common.app import HealthBody, create_service_app, service_config
from backend.apps.common.auth import (
    AdminDep,
    OperatorDep,
    ViewerDep,
    protected_router,
    require_role,
    unprotected_routes,
)
from backend.apps.common.errors import ErrorBody, error_response
from backend.apps.common.runner import run_service, service_main
from backend.errors import BadRequestError, ConflictError, DomainError, ForbiddenPathError, NotFoundError

__all__ = [
    "AdminDep",
    "BadRequestError",
    "ConflictError",
    "DomainError",
    "ErrorBody",
    "ForbiddenPathError",
    "HealthBody",
    "NotFoundError",
    "OperatorDep",
    "ViewerDep",
    "create_service_app",
    "error_response",
    "protected_router",
    "require_role",
    "run_service",
    "service_config",
    "service_main",
    "unprotected_routes",
]
