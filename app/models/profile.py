"""Connection profiles: which runtime the app is looking at, and as whom."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

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
