"""How the IVR joins the running product (called from ``callcenter.app``).

``install(runtime, options)`` adds, unless ``options.fastagi`` is off:

* the ``fastagi`` component to ``runtime.components``: the FastAGI server with the hotline's
  routes (merchants looked up in the domain store through ``callcenter.ivr_directory``), plus a
  watcher that reloads the menu file when it changes;
* the ``fastagi`` health probe (bound port, active sessions, refused peers);
* speech at the menu when ``speech.ivr`` is on and the caller's language has a model
  (``speech.listener``): the models are loaded when the component starts.

The server accepts connections only from ``fastagi.allowed_peers``.

It returns the component (None when disabled): its ``bound_port`` is where Asterisk, or the
simulator, connects once the runtime has started.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callcenter.callbacks.wiring import build_service as callback_service
from callcenter.ivr_directory import StoreIvrDirectory
from callcenter.queue_callbacks import StoreCallbackRequests
from callcenter.runtime import RunOptions, Runtime, static_probe
from callcenter.runtime_settings import RuntimeSettings, ivr_overrides
from ivr.agi_server import FastAgiServer, parse_networks
from ivr.menu_config import MenuRegistry
from ivr.prompts import load_catalogue
from ivr.service import make_routes
from speech.listener import VoskSpeechInput, speech_input

__all__ = ["FastAgiComponent", "apply_settings", "install"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class FastAgiComponent:
    """The IVR's FastAGI server, plus a watcher that reloads the menu file when it changes."""

    server: FastAgiServer
    registry: MenuRegistry
    host: str
    port: int
    reload_every: float = 5.0
    speech: VoskSpeechInput | None = None
    name: str = "fastagi"
    bound_port: int | None = None
    _watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.speech is not None:
            await self.speech.start()  # models loaded before the first caller speaks
        self.bound_port = await self.server.start(self.host, self.port)
        self._watcher = asyncio.create_task(self._watch(), name="menu-reload")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.reload_every)
            report = self.registry.reload_if_changed()
            if report is not None:
                logger.info("menu reload: %s", report)

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        await self.server.stop()
        if self.speech is not None:
            await self.speech.stop()

    async def health(self) -> dict[str, Any]:
        """``/healthz`` → ``fastagi``: bound port, live sessions and the concurrency limit."""
        return {"ok": True, "port": self.bound_port, "active_sessions":
                self.server.active_sessions, "max_concurrent": self.server.max_concurrent,
                "refused_peers": self.server.refused_peers}


def apply_settings(registry: MenuRegistry, settings: RuntimeSettings) -> bool:
    """Business hours and holidays an administrator changed (``callcenter.runtime_settings``)
    replace the files' for the calls that start from now on; True when the menu changed."""
    return registry.override(*ivr_overrides(settings))


async def install(runtime: Runtime, options: RunOptions) -> FastAgiComponent | None:
    """Add the FastAGI component and its health probe to ``runtime`` (see the module
    docstring). Raises ``MenuConfigError`` when the menu or holiday file is invalid."""
    if not options.fastagi:
        runtime.health["fastagi"] = static_probe({"ok": True, "state": "disabled"})
        return None
    cfg = runtime.settings.fastagi
    registry = MenuRegistry(Path(cfg.menu_file) if cfg.menu_file else None,
                            Path(cfg.holidays_file) if cfg.holidays_file else None,
                            prompt_ids=load_catalogue().ids)
    # Only the configured Asterisk hosts may connect: a stray peer would create call rows.
    speech = speech_input(runtime.settings.speech)
    # key 1 in a queue: the call-back keeping the caller's place (route callback)
    callbacks = StoreCallbackRequests(runtime.store, callback_service(runtime))
    server = FastAgiServer(make_routes(StoreIvrDirectory(runtime.store), registry,
                                       speech=speech, callbacks=callbacks),
                           allowed_peers=parse_networks(cfg.allowed_peers))
    component = FastAgiComponent(server, registry, cfg.host, cfg.port, speech=speech)
    if runtime.live_settings is not None:
        runtime.live_settings.subscribe(lambda settings: apply_settings(registry, settings))
    runtime.components.append(component)
    runtime.health["fastagi"] = component.health
    return component
