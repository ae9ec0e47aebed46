"""One small async HTTP client per service, with the profile's token.

Every call returns parsed JSON or raises :class:`ServiceError` carrying the
status code and the server's ``{error, detail}``; a connection failure is a
``ServiceError`` with status 0 so panels can show "service down" banners.
:meth:`ServiceClient.events` follows a server-sent-event stream (httpx-sse).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, aconnect_sse

from backend.clients.errors import ServiceError


class ServiceClient:
    """Async JSON client of one service.

    Args:
        service: a display name (``agent``, ``trading``, ``news``, ``runtime``).
        base_url: e.g. ``http://127.0.0.1:8001``.
        token: bearer token, or None for an open local stack.
        timeout: seconds per request.
    """

    def __init__(self, service: str, base_url: str, token: str | None = None, timeout: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=timeout,
                                         transport=transport)

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        if self._client.is_closed:
            # The session swapped profiles under an in-flight panel refresh.
            raise ServiceError(self.service, 0, "closed", f"the {self.service} client was closed (profile changed)")
        try:
            try:
                response = await self._client.request(method, path, **kwargs)
            except httpx.RemoteProtocolError:
                if method not in ("GET", "HEAD"):
                    raise
                # A pooled keep-alive connection the server had just closed: once more, fresh.
                response = await self._client.request(method, path, **kwargs)
        except httpx.HTTPError as err:
            raise ServiceError(self.service, 0, "unreachable",
                               f"cannot reach {self.base_url} ({type(err).__name__})") from None
        except RuntimeError as err:  # httpx: "Cannot send a request, as the client has been closed."
            raise ServiceError(self.service, 0, "closed", str(err)) from None
        self._raise_for(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def get_raw(self, path: str, **params: Any) -> httpx.Response:
        """A GET whose body is not JSON (an NDJSON page): the response, read; errors as :meth:`request`."""
        if self._client.is_closed:
            raise ServiceError(self.service, 0, "closed", f"the {self.service} client was closed (profile changed)")
        query = {k: v for k, v in params.items() if v is not None}
        try:
            try:
                response = await self._client.get(path, params=query)
            except httpx.RemoteProtocolError:
                response = await self._client.get(path, params=query)
        except httpx.HTTPError as err:
            raise ServiceError(self.service, 0, "unreachable",
                               f"cannot reach {self.base_url} ({type(err).__name__})") from None
        except RuntimeError as err:
            raise ServiceError(self.service, 0, "closed", str(err)) from None
        self._raise_for(response)
        return response

    def _raise_for(self, response: httpx.Response) -> None:
        if response.status_code >= 400:
            try:
                body = response.json()
                error, detail = str(body.get("error", "error")), str(body.get("detail", ""))
            except ValueError:
                error, detail = "error", response.text[:200]
            raise ServiceError(self.service, response.status_code, error, detail)

    async def events(self, path: str, *, read_timeout: float = 45.0,
                     **params: Any) -> AsyncIterator[ServerSentEvent]:
        """Follow a server-sent-event stream: each event with data (heartbeats are passed over).

        ``read_timeout``: a stream silent this long (no event, no heartbeat) is a dead connection.

        Ends when the server closes the stream; raises :class:`ServiceError`
        like :meth:`request` (status 0 also when the connection drops).
        """
        if self._client.is_closed:
            raise ServiceError(self.service, 0, "closed", f"the {self.service} client was closed (profile changed)")
        timeout = httpx.Timeout(self._client.timeout.connect, read=read_timeout)
        query = {k: v for k, v in params.items() if v is not None}
        try:
            async with aconnect_sse(self._client, "GET", path, params=query, timeout=timeout) as source:
                if source.response.status_code >= 400:
                    await source.response.aread()
                    self._raise_for(source.response)
                async for event in source.aiter_sse():
                    if event.data:
                        yield event
        except httpx.HTTPError as err:
            raise ServiceError(self.service, 0, "unreachable",
                               f"lost the stream from {self.base_url} ({type(err).__name__})") from None

    async def get(self, path: str, **params: Any) -> Any:
        return await self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    async def post(self, path: str, json: Any = None) -> Any:
        return await self.request("POST", path, json=json)

    async def put(self, path: str, json: Any = None) -> Any:
        return await self.request("PUT", path, json=json)

    async def patch(self, path: str, json: Any = None) -> Any:
        return await self.request("PATCH", path, json=json)

    async def delete(self, path: str) -> Any:
        return await self.request("DELETE", path)

    async def aclose(self) -> None:
        await self._client.aclose()
