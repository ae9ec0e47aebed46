"""Domain errors any part of the backend may raise, free of any web framework.

The services map them to HTTP answers (see ``backend/apps/common/errors.py``):
``NotFoundError`` -> 404, ``ConflictError`` -> 409, ``BadRequestError`` and
``ForbiddenPathError`` -> 400, ``UnavailableError`` -> 503,
``UpstreamTimeoutError`` -> 504. ``str(err)`` is the one-line ``detail`` shown
to the client, so say what is wrong and name the thing ("run r-42 not found").
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of the errors a client can be told about; ``code`` is the JSON ``error`` value."""

    code = "error"


class NotFoundError(DomainError):
    """The named thing (run, agent, skill, approval, ...) does not exist."""

    code = "not_found"


class ConflictError(DomainError):
    """The request clashes with the current state (already running, already decided, ...)."""

    code = "conflict"


class BadRequestError(DomainError):
    """The request is well-formed but its values cannot be used."""

    code = "bad_request"


class ForbiddenPathError(BadRequestError):
    """A client-supplied path escapes the directory it must stay in."""

    code = "forbidden_path"


class InvalidInputError(DomainError):
    """Input that is well-formed JSON but invalid for the domain (a bad BOOTSTRAP.md field): 422."""

    code = "invalid"


class UnavailableError(DomainError):
    """A component the request needs (a run's Gateway) cannot be reached now: 503."""

    code = "unavailable"


class UpstreamTimeoutError(DomainError):
    """A component the request needs did not answer in time: 504."""

    code = "timeout"
