"""The CTI service on a migrated SQLite store (the fixtures of ``tests/cti/test_service.py``),
for the tests that replay a capture into real ``calls`` rows."""

from __future__ import annotations

from tests.cti.test_service import Env, cti_store, env, template_db

__all__ = ["Env", "cti_store", "env", "template_db"]
