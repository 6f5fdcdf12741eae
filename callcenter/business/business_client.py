"""HTTP client of the business management system (httpx). Adapter: the wire format is in
:mod:`callcenter.business.business_protocol`.

One request per outbox row, never retried here: the outbox worker owns retries (respx and
httpx's own transport retries would hide them), so one attempt is exactly one POST::

    POST https://bms.example/api/tasks
    Content-Type: application/json; charset=utf-8
    Idempotency-Key: RP20261122-0001.v1
    X-Callcenter-Signature: sha256=…

httpx's exceptions are translated here, once, with ``raise … from exc``:
:class:`DeliveryTemporary` (retry later) or :class:`DeliveryRejected` (dead letter).
"""

from __future__ import annotations

import logging

import httpx

from callcenter.business.business_protocol import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TASKS_PATH,
    Acknowledgement,
    encode_body,
    parse_acknowledgement,
    sign,
)
from callcenter.business.errors import DeliveryRejected, DeliveryTemporary
from callcenter.business.http_transport import AiohttpTransport
from callcenter.business.records import OutboxEntry
from callcenter.settings import BusinessSettings

logger = logging.getLogger(__name__)

# Answers that mean "not now" rather than "never": timeout, too early, too many requests.
TEMPORARY_4XX = frozenset({408, 425, 429})
MAX_ERROR_BODY = 300


class BusinessClient:
    """Posts task versions to the business system. Close it with :meth:`aclose`.

    The wire is :class:`AiohttpTransport` unless ``transport`` is given (tests pass
    ``httpx.MockTransport`` or httpx's own transport under respx)."""

    def __init__(self, settings: BusinessSettings, *,
                 transport: httpx.AsyncBaseTransport | None = None,
                 max_connections: int = 8) -> None:
        if not settings.url:
            raise ValueError("BusinessClient needs business.url")
        self.settings = settings
        self._http = httpx.AsyncClient(
            base_url=settings.url, timeout=httpx.Timeout(settings.timeout),
            transport=transport or AiohttpTransport(max_connections), follow_redirects=False,
            limits=httpx.Limits(max_connections=max_connections,
                                max_keepalive_connections=max_connections),
            headers={"User-Agent": "callcenter-outbox/1"},
        )

    async def deliver(self, entry: OutboxEntry) -> Acknowledgement:
        """POST one outbox row. Awaits the answer (``business.timeout`` at most).

        Returns the acknowledgement for 2xx and for 409 (the key was already taken: delivered
        before). Raises DeliveryTemporary for 5xx, 408/425/429, timeouts and connection
        errors; DeliveryRejected for any other status (including 3xx: redirects are not
        followed, a signed POST must not wander).
        """
        body = encode_body(entry.payload)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            IDEMPOTENCY_HEADER: entry.idempotency_key,
            SIGNATURE_HEADER: sign(self.settings.secret, body),
        }
        try:
            response = await self._http.post(TASKS_PATH.lstrip("/"), content=body,
                                             headers=headers)
        except httpx.TimeoutException as exc:
            raise DeliveryTemporary(f"timeout after {self.settings.timeout:g} s: "
                                    f"{type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise DeliveryTemporary(f"no connection: {type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if 200 <= status < 300 or status == 409:
            return parse_acknowledgement(status, response.content)
        detail = f"HTTP {status}: {response.text[:MAX_ERROR_BODY]}"
        if status >= 500 or status in TEMPORARY_4XX:
            raise DeliveryTemporary(detail, http_status=status)
        raise DeliveryRejected(detail, http_status=status)

    async def aclose(self) -> None:
        await self._http.aclose()
