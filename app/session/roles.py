"""Which role the app holds on a profile, and what that allows (Qt-free)."""

from __future__ import annotations

from app.models.profile import Profile

ROLE_ORDER = {"viewer": 1, "operator": 2, "admin": 3}


def effective_role(profile: Profile, gateway_role: str | None) -> str | None:
    """The role the servers grant: the Gateway's hello first, then the profile's, admin for the own stack."""
    if gateway_role:
        return gateway_role
    if profile.role:
        return profile.role
    if profile.is_local:
        return "admin"  # the app owns (or attached to) the stack and holds its admin token
    return None


def read_only_reason(profile: Profile, role: str | None) -> str | None:
    """None if the user may change things, else the one-line reason controls show."""
    if role is None:
        return f"read-only: role on '{profile.name}' not confirmed yet"
    if role == "viewer":
        return f"read-only: viewer token on '{profile.name}'"
    return None


def denied(profile: Profile, role: str | None, needed: str) -> str | None:
    """None if ``role`` allows ``needed`` (viewer/operator/admin), else why not."""
    if role is not None and ROLE_ORDER.get(role, 0) >= ROLE_ORDER[needed]:
        return None
    return f"needs the {needed} role (you are {role or 'unconfirmed'} on '{profile.name}')"


def title(profile: Profile, role: str | None, run_id: str | None) -> str:
    """"Local (admin) - run demo" style: what the title and status bars show."""
    run = f" - run {run_id}" if run_id else ""
    return f"{profile.name} ({role or 'role unknown'}){run}"
