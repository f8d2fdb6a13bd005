"""Shared fixtures: the local stack (emulators, Bot API double, functions) for integration tests.

- ``stack``: the whole LocalStack, started once per session (lazily, on first use); yields the
  stack.json dict and sets os.environ (FIRESTORE_EMULATOR_HOST, STORAGE_EMULATOR_HOST,
  CLOUD_TASKS_EMULATOR_HOST, GOOGLE_CLOUD_PROJECT, TELEGRAM_*, PHOTOS_BUCKET, JOBS_AUTH_TOKEN, PHOTO_PATH_KEY) for
  in-process clients.
- ``firestore_emulator``: only the Firestore emulator (from the same session stack; reused if the
  whole stack is up, and the rest is added later if a test asks for ``stack``).
- ``clean_firestore``: empties the emulator before the test; yields the info dict.
- ``storage_emulator``: only the Storage emulator (with the photos bucket).

Tests using these are marked ``integration`` automatically.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from infra.local.stack import ALL_PARTS, OWN_DOUBLE_VAR, LocalStack, clear_firestore  # noqa: E402

_ENV_KEYS = {
    "FIRESTORE_EMULATOR_HOST": "firestore_emulator_host",
    "STORAGE_EMULATOR_HOST": "storage_emulator_host",
    "CLOUD_TASKS_EMULATOR_HOST": "tasks_emulator_host",
    "GOOGLE_CLOUD_PROJECT": "project",
    "TELEGRAM_API_BASE": "telegram_api_base",
    "TELEGRAM_BOT_TOKEN": "bot_token",
    "TELEGRAM_WEBHOOK_SECRET": "webhook_secret",
    "PHOTOS_BUCKET": "photos_bucket",
    "JOBS_AUTH_TOKEN": "jobs_auth_token",
    "PHOTO_PATH_KEY": "photo_path_key",
    "OPS_USER_IDS": "ops_user_ids",
    "OPS_CHAT_ID": "ops_chat_id",
}
# Photo paths are keyed (services.pets.photo_prefix): tests without a stack get this key; a stack's own
# replaces it, so in-process code and the stack's functions name an owner's photos alike.
os.environ.setdefault("PHOTO_PATH_KEY", "unit-test-photo-path-key")
_STACK_FIXTURES = {"stack", "firestore_emulator", "clean_firestore", "storage_emulator", "local_stack"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: needs local emulators (started by the fixtures)")
    config.addinivalue_line("markers", "e2e: drives the whole local stack end to end")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _STACK_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


class _SessionStack:
    """One LocalStack per test session, grown part by part as fixtures ask."""

    def __init__(self) -> None:
        state = ROOT / ".local" / f"pytest-{os.getpid()}"
        self.stack = LocalStack(ROOT, parts=(), state_dir=state)
        self._saved_env: dict[str, str | None] = {}

    def ensure(self, parts: tuple[str, ...] | None) -> dict[str, Any]:
        info = self.stack.start(parts if parts is not None else ALL_PARTS)
        for var, key in _ENV_KEYS.items():
            value = info.get(key)
            if value:
                self._saved_env.setdefault(var, os.environ.get(var))
                os.environ[var] = str(value)
        if info.get("telegram_api_base") and not self.stack.external_api_base:
            # our own double: another LocalStack started in a test must start its own, not reuse this
            self._saved_env.setdefault(OWN_DOUBLE_VAR, os.environ.get(OWN_DOUBLE_VAR))
            os.environ[OWN_DOUBLE_VAR] = info["telegram_api_base"]
        return info

    def close(self) -> None:
        self.stack.stop()
        for var, old in self._saved_env.items():
            if old is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = old
        try:  # remove the per-session state dir when it is empty but for logs
            for p in sorted(self.stack.state_dir.rglob("*"), reverse=True):
                p.unlink() if p.is_file() else p.rmdir()
            self.stack.state_dir.rmdir()
        except OSError:
            pass


@pytest.fixture(scope="session")
def local_stack() -> Iterator[_SessionStack]:
    s = _SessionStack()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="session")
def stack(local_stack: _SessionStack) -> dict[str, Any]:
    """The whole local stack (stack.json dict)."""
    return local_stack.ensure(None)


@pytest.fixture(scope="session")
def firestore_emulator(local_stack: _SessionStack) -> dict[str, Any]:
    """Only the Firestore emulator needs to be up; returns the info dict."""
    return local_stack.ensure(("firestore",))


@pytest.fixture(scope="session")
def storage_emulator(local_stack: _SessionStack) -> dict[str, Any]:
    return local_stack.ensure(("storage",))


@pytest.fixture
def clean_firestore(firestore_emulator: dict[str, Any]) -> dict[str, Any]:
    """Empties the Firestore emulator before the test."""
    clear_firestore(firestore_emulator["firestore_emulator_host"], firestore_emulator["project"])
    return firestore_emulator
