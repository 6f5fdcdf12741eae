"""Policy of the CTI bridge: one frozen object, built once (``cti.wiring`` fills it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from callcenter.domain import HOTLINE_QUEUES

__all__ = ["DEFAULT_PAUSE_REASONS", "DEFAULT_QUEUES", "CtiConfig"]

DEFAULT_QUEUES: Final = HOTLINE_QUEUES
"""The queues of dialplans/queues.conf (the IVR's hotline.toml routes to these five)."""

DEFAULT_PAUSE_REASONS: Final = ("lunch", "training", "acw", "meeting", "restroom", "break")
"""Pause reason codes the desktop offers; ``acw`` (after-call work) still allows dialling."""


@dataclass(frozen=True, slots=True)
class CtiConfig:
    """Policy of the CTI service, built once (``cti.wiring`` fills it from the settings).

    ``dial_context`` is the dialplan context an ``Originate`` sends the agent's answered phone
    to (``Exten`` = the merchant's digits); ``transfer_context`` the one a blind transfer to a
    queue redirects the caller to (``Exten`` = queue, dialplans/extensions.conf
    ``[cc-transfer]``); ``extension_context`` the one that rings an agent extension
    (``[agents]``). ``state_interface`` gives queue members added as a Local interface the
    device whose state they take (``PJSIP/{ext}``, settings ``[ami] state_interface``), as
    the dialplan README describes, unless the agent's account names its own.
    """

    queues: tuple[str, ...] = DEFAULT_QUEUES
    pause_reasons: tuple[str, ...] = DEFAULT_PAUSE_REASONS
    dial_context: str = "cc-outbound"
    transfer_context: str = "cc-transfer"
    extension_context: str = "agents"
    state_interface: str = "PJSIP/{ext}"
    dial_timeout_ms: int = 30_000
    action_timeout: float = 5.0
    timezone: str = "Asia/Shanghai"
    recent_calls: int = 5
    complaint_history: int = 10
    writer_batch: int = 500
    writer_linger_s: float = 0.05
    writer_queue_max: int = 100_000
    prefetch_concurrency: int = 8
    dial_key_ttl_s: float = 600.0
    dial_reply_wait: float = 1.0
    agent_refresh_s: float = 60.0
