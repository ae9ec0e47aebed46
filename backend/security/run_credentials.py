"""Run credentials: the per-run token with which a run's own Gateway files approvals.

Whoever spawns Gateways (the :class:`RuntimeController` of runtime_service or
of the desktop app) and agent_service share one *run secret*
(``EVOTRADERS_RUN_SECRET``). A run's token is ``HMAC-SHA256(secret, run_id)``;
the spawner hands it to that run's Gateway only (``EVOTRADERS_RUN_TOKEN``),
and agent_service recomputes it from the ``run_id`` of the filed approval. So
a Gateway can act for its own run and no other, and no human token (viewer,
operator or admin) is a run credential. See docs/approvals.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from typing import MutableMapping

RUN_SECRET_ENV = "EVOTRADERS_RUN_SECRET"
RUN_TOKEN_ENV = "EVOTRADERS_RUN_TOKEN"
MIN_SECRET_LENGTH = 32
# A domain label, so that this HMAC can never be confused with another use of the same secret.
_LABEL = b"evotraders run token v1\x00"


class RunSecretError(ValueError):
    """The configured run secret is unusable; the message says why (never what it is)."""


def generate_run_secret() -> str:
    """A fresh random run secret (a local stack makes one per start)."""
    return secrets.token_urlsafe(32)


def check_run_secret(secret: str) -> str:
    if len(secret) < MIN_SECRET_LENGTH:
        raise RunSecretError(f"{RUN_SECRET_ENV} must be at least {MIN_SECRET_LENGTH} characters")
    return secret


def run_token(secret: str, run_id: str) -> str:
    """The credential of ``run_id``'s Gateway."""
    digest = hmac.new(secret.encode(), _LABEL + run_id.encode(), hashlib.sha256).digest()
    return "run-" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def verify_run_token(secret: str, run_id: str, presented: str | None) -> bool:
    """Whether ``presented`` is ``run_id``'s credential (constant time)."""
    if not presented:
        return False
    return hmac.compare_digest(presented.encode(), run_token(secret, run_id).encode())


def secret_from_env(environ: MutableMapping[str, str] | None = None) -> str | None:
    """The run secret of this process's environment, if any (an empty value is none)."""
    value = (os.environ if environ is None else environ).get(RUN_SECRET_ENV) or None
    return None if value is None else check_run_secret(value)


def take_run_token(environ: MutableMapping[str, str] | None = None) -> str | None:
    """Read this Gateway's run credential and remove it from the environment.

    Removing it keeps it out of every process the Gateway starts later
    (skill sandboxes inherit the environment).
    """
    env = os.environ if environ is None else environ
    return env.pop(RUN_TOKEN_ENV, None) or None
