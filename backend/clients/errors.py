"""What a failed call to a service raises (kept apart from httpx, so the CLI can name it cheaply)."""

from __future__ import annotations


class ServiceError(Exception):
    """A failed request: ``status`` 0 means the service could not be reached."""

    def __init__(self, service: str, status: int, error: str, detail: str) -> None:
        self.service, self.status, self.error, self.detail = service, status, error, detail
        super().__init__(f"{service}: {detail}" if status == 0 else f"{service}: {status} {error}: {detail}")

    @property
    def unreachable(self) -> bool:
        return self.status == 0

    @property
    def forbidden(self) -> bool:
        return self.status in (401, 403)
