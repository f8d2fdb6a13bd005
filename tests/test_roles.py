"""Roles: owner (everyone), vet (once verified), ops (OPS_USER_IDS); the configuration that names ops."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from telegram.ext import CommandHandler

from infra import serverless_config
from infra.local.bot_api_double import BotApiDouble
from shared.config import Settings
from shared.domain.roles import VET_STATUSES, Role, is_vet, roles_of
from shared.domain.vets import VetStatus
from tests.bot_harness import TOKEN, BotHarness

ROOT = Path(__file__).resolve().parents[1]
OPS, VET, OWNER = 9001, 9002, 9003


def test_everyone_is_an_owner_vets_once_verified_ops_by_the_list():
    ops = frozenset({OPS})
    assert roles_of(OWNER, ops) == {Role.OWNER}
    assert roles_of(OPS, ops) == {Role.OWNER, Role.OPS}
    assert roles_of(VET, ops, VetStatus.ACTIVE) == {Role.OWNER, Role.VET}
    assert roles_of(OPS, ops, "verified") == {Role.OWNER, Role.VET, Role.OPS}  # the stored value works too
    assert roles_of(OPS, frozenset(), None) == {Role.OWNER}


@pytest.mark.parametrize("status", list(VetStatus))
def test_only_verified_active_and_paused_vets_act_as_vets(status):
    assert is_vet(status) == (status in {VetStatus.VERIFIED, VetStatus.ACTIVE, VetStatus.PAUSED})
    assert is_vet(status.value) == is_vet(status)


def test_an_unknown_or_missing_vet_status_grants_nothing():
    assert not is_vet(None) and not is_vet("superuser") and not is_vet("")
    assert VET_STATUSES <= set(VetStatus)


def _settings(**env):
    return Settings.from_env({"TELEGRAM_BOT_TOKEN": "1:x", **env})


def test_ops_are_configured_by_id_and_a_typo_fails_the_start():
    assert _settings().ops_user_ids == frozenset() and _settings().ops_chat_id is None
    assert _settings(OPS_USER_IDS=" 123, 456 ,,789 ").ops_user_ids == {123, 456, 789}
    assert _settings(OPS_CHAT_ID="-1001234567890").ops_chat_id == -1001234567890
    assert _settings(OPS_CHAT_ID="42").ops_chat_id == 42
    for bad in ("@alice", "12;34", "-5", "0", "1.5", "١٢٣"):
        with pytest.raises(RuntimeError, match="OPS_USER_IDS"):
            _settings(OPS_USER_IDS=bad)
    for bad in ("ops", "0", "-", "1e5"):
        with pytest.raises(RuntimeError, match="OPS_CHAT_ID"):
            _settings(OPS_CHAT_ID=bad)


def test_the_webhook_function_gets_the_ops_configuration_and_the_readme_lists_it():
    ops = ("OPS_USER_IDS", "OPS_CHAT_ID")
    cfg = serverless_config.load(ROOT / "serverless.yml", env={"OPS_USER_IDS": "1,2", "OPS_CHAT_ID": "-3"})
    environment = cfg.functions["telegram_webhook"].environment
    assert {k: environment[k] for k in ops} == {"OPS_USER_IDS": "1,2", "OPS_CHAT_ID": "-3"}
    unset = serverless_config.load(ROOT / "serverless.yml", env={}).functions["telegram_webhook"].environment
    assert {k: unset[k] for k in ops} == {"OPS_USER_IDS": "", "OPS_CHAT_ID": ""}
    readme = (ROOT / "README.md").read_text()
    for name in ("OPS_USER_IDS", "OPS_CHAT_ID"):
        assert re.search(rf"^\| `{name}` \|", readme, re.M), name


async def test_handlers_know_whether_the_acting_person_is_ops():
    with BotApiDouble(TOKEN) as double:
        bot = BotHarness(double)
        bot.app.bot_data["ops_ids"] = frozenset({OPS})  # what build_application(ops_ids=...) stores
        seen = []

        async def whoami(update, context):
            seen.append((context.user_id, context.is_ops))

        bot.app.handlers[0].insert(0, CommandHandler("whoami", whoami))
        for person in (OPS, OWNER):
            await bot.onboard(person)
            await bot.say("/whoami", person)
        assert seen == [(OPS, True), (OWNER, False)]
        await bot.app.shutdown()


def test_the_webhook_instance_hands_the_ops_list_to_its_handlers(monkeypatch):
    from shared.bootstrap import WebhookInstance

    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:9")  # a client that connects to nothing yet
    instance = WebhookInstance(_settings(TELEGRAM_WEBHOOK_SECRET="s", PHOTO_PATH_KEY="k", OPS_USER_IDS="5,6"))
    assert instance.app.bot_data["ops_ids"] == {5, 6}
    instance.runner.loop.call_soon_threadsafe(instance.runner.loop.stop)
