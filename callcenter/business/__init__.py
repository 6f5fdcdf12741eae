"""Every answered call logged as a business record: wrap-up forms, repair and installation
tasks (任务单 / 任务装机单), complaints and their escalation clocks, the transactional outbox to
the business management system (业务管理系统) with its signed webhook, and the dispatcher board.

Layout (the same role names as the other packages):

* pure core — ``wrapup.py`` (form rules, pre-fill, record diff, task numbers), ``sla.py``
  (clocks, complaint tiers and escalation steps), ``task_state.py`` and ``outbox_state.py``
  (state machines), ``business_protocol.py`` (wire format, HMAC), ``presentation.py`` (JSON
  shapes), ``messages.py`` (zh-CN/en texts), ``records.py`` (frozen dataclasses),
  ``errors.py``;
* adapters — ``repository.py`` (SQLAlchemy), ``business_client.py`` (httpx),
  ``outbox_worker.py`` (delivery loop), ``web.py`` (JSON API, webhook), ``board.py`` (pages,
  WebSocket);
* use cases — ``service.py``; composition — ``wiring.py`` (``install(runtime, options)``).
"""
