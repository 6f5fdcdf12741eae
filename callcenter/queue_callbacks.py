"""The IVR's call-back port (``ivr.ports.CallbackRequests``) on the callbacks service.

A caller who pressed 1 in a queue and confirmed a number (``ivr/callback.py``) becomes a
``queue_callback`` that keeps the caller's place, through
:meth:`callcenter.callbacks.service.CallbackService.queue_callback`; the request is also a
line of the call's timeline (``call_events`` kind ``callback_requested``), and the call's
outcome becomes ``callback_requested`` (``Writer.CALLBACK``; ``call_records`` rule 5 keeps it
when the bridge, which missed the dialplan's UserEvent, ends the call as ``failed``).
"""

from __future__ import annotations

import logging

from callcenter.call_records import CallWriteSpec, Writer, write_calls
from callcenter.callbacks.keep_place import Request
from callcenter.callbacks.service import CallbackService
from callcenter.db.models import CallEventRow
from callcenter.db.repositories import Store
from callcenter.domain import CallOutcome, mask_phone
from ivr.ports import CallbackBooking, QueueCallbackRequest

__all__ = ["StoreCallbackRequests"]

logger = logging.getLogger(__name__)


class StoreCallbackRequests:
    """Implements ``ivr.ports.CallbackRequests``: one request per call (its linked id)."""

    def __init__(self, store: Store, callbacks: CallbackService) -> None:
        self.store = store
        self.callbacks = callbacks

    async def request_callback(self, request: QueueCallbackRequest) -> CallbackBooking:
        """Store the request with the caller's place; ``kept`` when this call (or the same
        number in the same queue) already has an open one, ``no_merchant`` when the keyed
        merchant number is not ours. Raises what the store raises."""
        merchant = await self.store.merchants.by_number(request.merchant_number)
        if merchant is None:
            return CallbackBooking.NO_MERCHANT
        place = Request(call_id=request.call_id, number=request.number, queue=request.queue,
                        arrived_at=request.arrived_at, priority=request.priority)
        stored = await self.callbacks.queue_callback(merchant.id, request.call_id,
                                                     request.requested_at, place=place,
                                                     position=request.position)
        async with self.store.transaction() as s:
            s.add(CallEventRow(linked_id=request.call_id, at=request.requested_at,
                               kind="callback_requested",
                               data={"queue": request.queue, "stored": stored,
                                     "number": mask_phone(request.number),
                                     "arrived_at": request.arrived_at.isoformat(),
                                     "position": request.position,
                                     "priority": request.priority}))
            await write_calls(s, Writer.CALLBACK, [CallWriteSpec(
                request.call_id, request.arrived_at,
                (("outcome", CallOutcome.CALLBACK_REQUESTED.value),))])
        logger.info("call %s: call-back request in %s %s", request.call_id, request.queue,
                    "stored" if stored else "kept (already open)")
        return CallbackBooking.BOOKED if stored else CallbackBooking.KEPT
