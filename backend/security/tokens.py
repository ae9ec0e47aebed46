"""Bearer tokens and the three roles: viewer < operator < admin.

- ``viewer``: reads (GET, WebSocket subscribe).
- ``operator``: viewer + decide approvals, pause/resume runs.
- ``admin``: everything (start/stop runs, edit workspaces, sandbox settings).

Tokens come from ``EVOTRADERS_{ADMIN,OPERATOR,VIEWER}_TOKEN`` or a tokens file
(JSON ``{"admin": "...", "operator": "...", "viewer": "..."}``) that must not
be readable by group or others. Tokens are compared in constant time. With no
token configured at all, a server is *open*: it must then listen on loopback
only (see :func:`check_bind_allowed`).

A Gateway only checks the tokens its clients present, so it is handed their
SHA-256 digests (``EVOTRADERS_TOKEN_DIGESTS``, see
:meth:`TokenRegistry.gateway_env`), never the tokens: nothing in a Gateway's
memory or environment -- where an in-process skill runs -- opens a service.

A registry may also hold the *run secret* (``EVOTRADERS_RUN_SECRET``, or
``run_secret`` in the tokens file) from which each run's Gateway credential
is derived (:mod:`backend.security.run_credentials`). It is no role: it only
files approvals, and only for the run it was derived for.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backend.security.run_credentials import (
    RUN_SECRET_ENV,
    RUN_TOKEN_ENV,
    RunSecretError,
    check_run_secret,
    generate_run_secret,
    run_token,
    secret_from_env,
)

if TYPE_CHECKING:
    from backend.config import Settings


class Role(enum.IntEnum):
    """Ordered roles: a higher role can do everything a lower one can."""

    viewer = 1
    operator = 2
    admin = 3


class TokenConfigError(ValueError):
    """The token configuration is unusable; the message says why."""


TOKEN_DIGESTS_ENV = "EVOTRADERS_TOKEN_DIGESTS"
ROLE_TOKEN_ENVS = tuple(f"EVOTRADERS_{role.name.upper()}_TOKEN" for role in Role)


def token_digest(token: str) -> str:
    """The SHA-256 (hex) a digest-only registry compares a presented token by."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TokenRegistry:
    """The tokens a server accepts, by role. Empty means no auth configured.

    ``run_secret`` (optional) derives the run credentials; it does not count
    as "configured" (it grants no role). Neither shows in ``repr``.
    """

    tokens: dict[Role, str] = field(default_factory=dict, repr=False)
    run_secret: str | None = field(default=None, repr=False)
    # Roles this process only verifies (a Gateway): token_digest of each token.
    digests: dict[Role, str] = field(default_factory=dict, repr=False)

    @property
    def configured(self) -> bool:
        return bool(self.tokens or self.digests)

    def resolve(self, presented: str | None) -> Role | None:
        """The role of a presented token, or None (constant-time per candidate)."""
        if not presented:
            return None
        found: Role | None = None
        candidate = presented.encode()
        for role, token in self.tokens.items():
            if hmac.compare_digest(candidate, token.encode()):
                found = role if found is None else max(found, role)
        if self.digests:
            hashed = token_digest(presented).encode()
            for role, digest in self.digests.items():
                if hmac.compare_digest(hashed, digest.encode()):
                    found = role if found is None else max(found, role)
        return found

    def as_env(self) -> dict[str, str]:
        """Environment variables that hand these tokens to a child process (never the run secret)."""
        return {f"EVOTRADERS_{role.name.upper()}_TOKEN": tok for role, tok in self.tokens.items()}

    def run_secret_env(self) -> dict[str, str]:
        """The run secret for a child that verifies or derives run credentials (agent_service, runtime_service)."""
        return {RUN_SECRET_ENV: self.run_secret} if self.run_secret else {}

    def digest_env(self) -> dict[str, str]:
        """The role tokens as digests for a child that only verifies them; the tokens themselves blanked."""
        digests = {role.name: token_digest(tok) for role, tok in self.tokens.items()}
        digests.update({role.name: d for role, d in self.digests.items() if role.name not in digests})
        return {**{name: "" for name in ROLE_TOKEN_ENVS}, TOKEN_DIGESTS_ENV: json.dumps(digests) if digests else ""}

    def gateway_env(self, run_id: str) -> dict[str, str]:
        """The environment of ``run_id``'s Gateway: the role tokens' digests (it only checks them), its
        own run credential, and the tokens and run secret blanked (a child inherits its parent's environment)."""
        env = {**self.digest_env(), RUN_SECRET_ENV: ""}
        if self.run_secret:
            env[RUN_TOKEN_ENV] = run_token(self.run_secret, run_id)
        return env

    def with_run_secret(self) -> "TokenRegistry":
        """This registry with a run secret (a fresh one if it had none)."""
        return self if self.run_secret else replace(self, run_secret=generate_run_secret())

    def to_json(self) -> str:
        return json.dumps({role.name: tok for role, tok in self.tokens.items()}, indent=2)


def generate_registry() -> TokenRegistry:
    """Fresh random tokens for every role and a fresh run secret (used by a local stack)."""
    return TokenRegistry({role: secrets.token_urlsafe(24) for role in Role}, generate_run_secret())


def read_tokens_file(path: Path) -> TokenRegistry:
    """Load a tokens file; refuse one that group or others can read."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise TokenConfigError(f"tokens file {path} does not exist") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise TokenConfigError(f"tokens file {path} must not be readable by others (chmod 600 {path})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise TokenConfigError(f"tokens file {path}: invalid JSON at line {err.lineno}") from None
    if not isinstance(data, dict):
        raise TokenConfigError(f"tokens file {path}: expected an object of role -> token")
    tokens: dict[Role, str] = {}
    run_secret = data.pop("run_secret", None)
    if run_secret is not None:
        if not isinstance(run_secret, str):
            raise TokenConfigError(f"tokens file {path}: run_secret must be a string")
        try:
            check_run_secret(run_secret)
        except RunSecretError as err:
            raise TokenConfigError(f"tokens file {path}: {err}") from None
    for name, tok in data.items():
        if name not in Role.__members__:
            raise TokenConfigError(f"tokens file {path}: unknown role {name!r} (viewer, operator, admin)")
        if not isinstance(tok, str) or len(tok) < 16:
            raise TokenConfigError(f"tokens file {path}: the {name} token must be a string of 16+ characters")
        tokens[Role[name]] = tok
    return TokenRegistry(tokens, run_secret)


def write_tokens_file(path: Path, registry: TokenRegistry) -> None:
    """Write tokens to a 0600 file (created with that mode, replaced atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(registry.to_json())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def registry_from_settings(settings: Settings) -> TokenRegistry:
    """Tokens from the environment variables, else digests (``EVOTRADERS_TOKEN_DIGESTS``, a
    Gateway's), else from the tokens file, else none.

    The run secret comes from ``EVOTRADERS_RUN_SECRET``, else from the tokens file.
    """
    try:
        run_secret = secret_from_env()
    except RunSecretError as err:
        raise TokenConfigError(str(err)) from None
    env_tokens = {
        Role.admin: settings.evotraders_admin_token,
        Role.operator: settings.evotraders_operator_token,
        Role.viewer: settings.evotraders_viewer_token,
    }
    tokens = {role: tok for role, tok in env_tokens.items() if tok}
    if tokens:
        return TokenRegistry(tokens, run_secret)
    digests = digests_from_env()
    if digests:
        return TokenRegistry({}, run_secret, digests)
    if settings.evotraders_tokens_file:
        from_file = read_tokens_file(Path(settings.evotraders_tokens_file))
        return TokenRegistry(from_file.tokens, run_secret or from_file.run_secret)
    return TokenRegistry({}, run_secret)


def digests_from_env(environ: Any = None) -> dict[Role, str]:
    """``EVOTRADERS_TOKEN_DIGESTS`` (``{"admin": "<sha256 hex>", ...}``), checked; empty if unset."""
    raw = (os.environ if environ is None else environ).get(TOKEN_DIGESTS_ENV) or ""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        raise TokenConfigError(f"{TOKEN_DIGESTS_ENV} is not JSON (expected {{\"role\": \"sha256 hex\"}})") from None
    if not isinstance(data, dict):
        raise TokenConfigError(f"{TOKEN_DIGESTS_ENV} must be an object of role -> SHA-256 hex digest")
    digests: dict[Role, str] = {}
    for name, digest in data.items():
        if name not in Role.__members__:
            raise TokenConfigError(f"{TOKEN_DIGESTS_ENV}: unknown role {name!r} (viewer, operator, admin)")
        if not isinstance(digest, str) or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise TokenConfigError(f"{TOKEN_DIGESTS_ENV}: the {name} digest must be 64 lowercase hex characters")
        digests[Role[name]] = digest
    return digests


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def check_bind_allowed(host: str, registry: TokenRegistry) -> None:
    """Refuse to listen beyond loopback without any token configured."""
    if not registry.configured and not is_loopback(host):
        raise TokenConfigError(
            f"refusing to bind {host} without tokens: set EVOTRADERS_ADMIN_TOKEN (and operator/viewer "
            "tokens) or EVOTRADERS_TOKENS_FILE, or bind 127.0.0.1"
        )


def role_for_request(registry: TokenRegistry, presented: str | None, peer_host: str | None) -> Role | None:
    """The role of a request: its token's role, or admin for loopback peers of an open server."""
    if not registry.configured:
        return Role.admin if is_loopback(peer_host) else None
    return registry.resolve(presented)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
