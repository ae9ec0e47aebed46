"""Connection profiles: which runtime the app is looking at, and as whom."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from backend.config import Settings

Role = Literal["viewer", "operator", "admin"]
LOCAL = "Local"


@dataclass
class Profile:
    """Where the four services and the Gateway are, and the token to use.

    ``Local`` is the stack the app owns; any other name is a remote runtime.
    The token itself is kept in the keyring (see ``app/models/secrets.py``),
    not in this object's persisted form.
    """

    name: str
    agent_url: str = "http://127.0.0.1:8000"
    trading_url: str = "http://127.0.0.1:8001"
    news_url: str = "http://127.0.0.1:8002"
    runtime_url: str = "http://127.0.0.1:8003"
    gateway_url: str = "ws://127.0.0.1:8765"
    token: str | None = field(default=None, repr=False)
    role: Role | None = None  # learned from the servers (hello.role / 403s)

    @property
    def is_local(self) -> bool:
        return self.name == LOCAL

    @property
    def read_only(self) -> bool:
        return self.role == "viewer"

    def can(self, needed: Role) -> bool:
        order = {"viewer": 1, "operator": 2, "admin": 3}
        return self.role is not None and order[self.role] >= order[needed]


def local_profile(urls: dict[str, str], token: str | None) -> Profile:
    """The ``Local`` profile of a stack from its service URLs (``{agent, trading, news, runtime}``)."""
    return Profile(LOCAL, agent_url=urls["agent"], trading_url=urls["trading"], news_url=urls["news"],
                   runtime_url=urls["runtime"], gateway_url="", token=token, role="admin")


def local_profile_from_settings(settings: "Settings | None" = None) -> Profile:
    """The ``Local`` profile before any stack is known: the service URLs of ``Settings``.

    ``AGENT_SERVICE_PORT``, ``RUNTIME_SERVICE_PORT``, ... (or ``*_SERVICE_URL``) say
    where a local stack listens; ``evotraders stack up`` uses the same settings.
    """
    if settings is None:
        from backend.config import get_settings

        settings = get_settings()
    return Profile(LOCAL, agent_url=str(settings.agent_service_url), trading_url=str(settings.trading_service_url),
                   news_url=str(settings.news_service_url), runtime_url=str(settings.runtime_service_url),
                   gateway_url="")
