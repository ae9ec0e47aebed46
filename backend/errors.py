"""Domain errors that any layer may raise; the HTTP layer maps them to 4xx."""

from __future__ import annotations


class EvoTradersError(Exception):
    """Base of the domain errors; ``str(err)`` is the user-facing detail."""

    status_code = 400
    code = "bad_request"


class BadRequestError(EvoTradersError):
    status_code = 400
    code = "bad_request"


class NotFoundError(EvoTradersError):
    status_code = 404
    code = "not_found"


class ConflictError(EvoTradersError):
    status_code = 409
    code = "conflict"


class ForbiddenPathError(EvoTradersError):
    """A path from user input points outside runs/ or workspaces/."""

    status_code = 400
    code = "forbidden_path"
