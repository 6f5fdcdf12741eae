"""An httpx transport that sends over aiohttp. Adapter.

Why: the outbox worker posts one signed request per task version, hundreds a second, and
httpx's own transport (httpcore's connection pool over anyio) costs about 0.9 ms of CPU per
POST on one connection and 1.4 ms with eight in flight on this 2-core machine, against
0.4 ms for the same ``httpx.AsyncClient`` over this transport (``bench/outbox.py``; aiohttp is
a dependency already, for the web app). The client code keeps httpx's API (requests,
responses, exceptions, ``httpx.MockTransport`` and respx for tests, which pass httpx's own
transport); only the wire underneath changes.

Exceptions are translated into httpx's, so :class:`~callcenter.business.business_client.
BusinessClient` sees the same ``httpx.TimeoutException`` / ``httpx.TransportError`` whatever
the transport. Redirects are never followed here either (httpx decides; it is told not to).
"""

from __future__ import annotations

from typing import Any

import aiohttp
import httpx

# Headers aiohttp computes itself from the URL and the body; httpx's copies would be doubled.
_OWN_HEADERS = frozenset({b"host", b"content-length", b"transfer-encoding"})


def _timeout(request: httpx.Request) -> aiohttp.ClientTimeout:
    """httpx's per-request timeouts (``connect``/``read``/``write``/``pool``) for aiohttp."""
    t: dict[str, Any] = request.extensions.get("timeout", {})
    return aiohttp.ClientTimeout(total=None, connect=t.get("pool"), sock_connect=t.get("connect"),
                                 sock_read=t.get("read"))


class AiohttpTransport(httpx.AsyncBaseTransport):
    """``httpx.AsyncClient(transport=AiohttpTransport(8))``: at most ``limit`` connections,
    kept alive between requests. Close it with the client (``aclose``)."""

    def __init__(self, limit: int = 8) -> None:
        self.limit = limit
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        # Created on first use, inside the running loop (aiohttp binds a session to it).
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.limit, limit_per_host=self.limit),
                auto_decompress=False,  # httpx decodes Content-Encoding itself
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept"),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._open()
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
                   if k.lower() not in _OWN_HEADERS]
        body = await request.aread()
        try:
            async with session.request(request.method, str(request.url), data=body or None,
                                       headers=headers, allow_redirects=False,
                                       timeout=_timeout(request)) as response:
                content = await response.read()
                return httpx.Response(
                    response.status,
                    headers=[(k.decode("latin-1"), v.decode("latin-1"))
                             for k, v in response.raw_headers],
                    content=content, request=request)
        except aiohttp.ServerTimeoutError as exc:
            # sock_read expired (aiohttp's ServerTimeoutError is also an asyncio.TimeoutError)
            raise httpx.ReadTimeout(str(exc) or "read timeout", request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except TimeoutError as exc:  # connect or pool wait
            raise httpx.ConnectTimeout(str(exc) or "connect timeout", request=request) from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError,
                aiohttp.ClientResponseError) as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.NetworkError(str(exc), request=request) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
