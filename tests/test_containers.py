"""The function containers (shared/bootstrap.py): one per function, frozen, with only what that function
uses; the scheduled job and the triage trigger never import telegram.ext; the Firestore adapters and the
fakes implement the repository Protocols the containers are typed with."""
from __future__ import annotations

import dataclasses
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from shared import bootstrap
from shared.bootstrap import JobsServices, MiniAppServices, TriageServices, WebhookServices
from shared.services import repositories as ports

ROOT = Path(__file__).resolve().parents[1]


def _fields(container) -> set[str]:
    return {f.name for f in dataclasses.fields(container)}


def _run(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": "1:x", "PHOTO_PATH_KEY": "k", "GOOGLE_CLOUD_PROJECT": "p",
           "FIRESTORE_EMULATOR_HOST": "127.0.0.1:9"}  # building a client connects to nothing
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=120)


_NO_EXT = ("ext=[m for m in sys.modules if m == 'telegram.ext' or m.startswith('telegram.ext.')];"
           "print(ext); sys.exit(1 if ext else 0)")


def test_the_scheduled_job_builds_its_instance_without_telegram_ext():
    res = _run("import sys; import functions.scheduled_jobs as f; i = f._instance();"
               "import shared.services.reminders, shared.services.calendars;"
               "assert type(i.services).__name__ == 'JobsServices';" + _NO_EXT)
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_triage_trigger_builds_its_instance_without_telegram_ext():
    res = _run("import sys; import functions.photo_triage;"
               "from shared.bootstrap import TriageInstance; from shared.config import Settings;"
               "i = TriageInstance(Settings.from_env(), model_loader=lambda: None);"
               "import shared.services.triage;"
               "assert type(i.services).__name__ == 'TriageServices';" + _NO_EXT)
    assert res.returncode == 0, res.stdout + res.stderr


def test_each_function_gets_only_what_it_uses():
    assert _fields(JobsServices) == {"reminders", "calendars", "stats", "clock"}
    assert _fields(TriageServices) == {"pets", "triage", "photos", "clock"}
    assert _fields(WebhookServices) == {"owners", "pets", "diary", "reminders", "triage", "photos", "vets",
                                        "update_log", "unit_of_work", "stats", "clock", "bookings", "payments",
                                        "payment_provider", "tasks", "conclusions", "label_photos"}
    assert _fields(MiniAppServices) == {"owners", "pets", "diary", "reminders", "triage", "photos", "vets",
                                        "unit_of_work", "stats", "bookings", "payments", "payment_provider", "tasks",
                                        "consultations", "video", "label_photos", "clock"}
    # and each of them is read where its function runs
    bot_code = "\n".join(p.read_text() for p in (ROOT / "shared" / "bot").rglob("*.py"))
    users = {JobsServices: inspect.getsource(bootstrap.JobsInstance),
             TriageServices: inspect.getsource(bootstrap.TriageInstance),
             WebhookServices: inspect.getsource(bootstrap.WebhookInstance) + bot_code
             + (ROOT / "benchmarks" / "webhook.py").read_text(),  # stats: the webhook's budget per update
             # the Mini App's API, and the bot's notices it sends (handlers.bookings reads shared_services)
             MiniAppServices: inspect.getsource(bootstrap.MiniAppInstance)
             + "\n".join(p.read_text() for p in (ROOT / "shared" / "miniapp").glob("*.py"))
             + (ROOT / "benchmarks" / "miniapp_api.py").read_text()}
    for container, code in users.items():
        unused = {name for name in _fields(container) if not re.search(rf"\.{name}\b", code)}
        assert not unused, f"{container.__name__}: {unused} read by nobody"


def test_the_mini_app_builds_its_instance_and_answers_a_forged_request_without_reading():
    code = ("import sys, types; import functions.miniapp_api as f; i = f._instance();"
            "assert type(i.services).__name__ == 'MiniAppServices';"
            "from shared.miniapp.router import Request;"
            "print(i.handle(Request('GET', '/api/pets', {'authorization': 'tma user=1&hash=00'})));"
            "assert i.services.stats.reads == 0, i.services.stats.reads")
    res = _run(code)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "(401, {'error': 'unauthorized'})" in res.stdout


def test_containers_are_built_once_and_never_changed():
    from tests.fakes import FakeReminders, FakeStats

    services = JobsServices(reminders=FakeReminders(), calendars=object(), stats=FakeStats())
    with pytest.raises(dataclasses.FrozenInstanceError):
        services.reminders = FakeReminders()
    with pytest.raises(TypeError):  # keywords only: nothing is wired by position
        JobsServices(FakeReminders(), object(), FakeStats())


def test_an_owners_update_sees_its_unit_of_works_repositories_and_the_instance_keeps_its_own():
    import asyncio

    from shared.bot.context import BotContext
    from shared.domain.owners import Owner
    from tests.fakes import (FakeDiary, FakeOwners, FakePets, FakePhotoStorage, FakeReminders, FakeStats,
                             FakeTriageResults, FakeUpdateLog, FakeVets)

    class Uow:
        def __init__(self, owner):
            self.owners, self.pets, self.diary, self.reminders = object(), FakePets(), FakeDiary(), FakeReminders()
            self.vets = FakeVets()

    base = WebhookServices(owners=FakeOwners(), pets=FakePets(), diary=FakeDiary(), reminders=FakeReminders(),
                           triage=FakeTriageResults(), photos=FakePhotoStorage(), vets=FakeVets(),
                           update_log=FakeUpdateLog(), stats=FakeStats(), unit_of_work=Uow)
    base.owners.put(Owner(id=1, language="en"))

    class Context(BotContext):
        application = type("App", (), {"bot_data": {"services": base}})

        def __init__(self):  # only what load_owner reads
            self.owner, self.language, self.uow, self._services = None, "ru", None, None

    context = Context()
    asyncio.run(context.load_owner(0, type("User", (), {"id": 1, "language_code": "ru"})()))
    assert context.services.pets is context.uow.pets and context.services.triage is base.triage
    assert context.shared_services is base and base.pets is not context.uow.pets


@pytest.mark.parametrize("port,implementations", [
    (ports.Owners, ("shared.adapters.firestore_repositories:FirestoreOwners", "tests.fakes:FakeOwners")),
    (ports.Pets, ("shared.adapters.firestore_repositories:FirestorePets", "tests.fakes:FakePets")),
    (ports.UpdateLog, ("shared.adapters.firestore_repositories:FirestoreUpdateLog", "tests.fakes:FakeUpdateLog")),
    (ports.Diary, ("shared.adapters.firestore_diary:FirestoreDiary", "tests.fakes:FakeDiary")),
    (ports.Reminders, ("shared.adapters.firestore_diary:FirestoreReminders", "tests.fakes:FakeReminders")),
    (ports.TriageRecords, ("shared.adapters.firestore_triage:FirestoreTriage", "tests.fakes:FakeTriageResults")),
    (ports.PhotoStore, ("shared.adapters.photo_storage:PhotoStorage", "tests.fakes:FakePhotoStorage")),
    (ports.Vets, ("shared.adapters.firestore_vets:FirestoreVets", "tests.fakes:FakeVets")),
    (ports.Calendars, ("shared.adapters.firestore_bookings:FirestoreBookings",)),
    (ports.StagedOwners, ("shared.adapters.firestore_uow:_StagedOwner", "tests.fakes:FakeUnitOfWork")),
], ids=lambda v: getattr(v, "__name__", ""))
def test_adapters_and_fakes_implement_the_ports(port, implementations):
    import importlib

    wanted = {name for name, value in vars(port).items()
              if inspect.iscoroutinefunction(value) or inspect.isfunction(value)} - {"__init__"}
    wanted = {name for name in wanted if not name.startswith("_")}
    assert wanted
    for spec in implementations:
        module, _, name = spec.partition(":")
        cls = getattr(importlib.import_module(module), name)
        missing = {m for m in wanted if not inspect.iscoroutinefunction(getattr(cls, m, None))}
        assert not missing, f"{spec} lacks {missing}"


def test_booking_callbacks_gets_only_what_it_uses():
    from shared.bootstrap import CallbacksInstance, CallbacksServices

    assert _fields(CallbacksServices) == {"bookings", "consultations", "ledger", "participants", "video", "payments",
                                          "clock"}
    code = inspect.getsource(CallbacksInstance)
    unused = {name for name in _fields(CallbacksServices) if not re.search(rf"\.{name}\b", code)}
    assert not unused, f"CallbacksServices: {unused} read by nobody"
