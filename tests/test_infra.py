"""serverless.yml, the deploy script and the Firestore config agree with the code."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra import serverless_config
from infra.serverless_config import STORAGE_FINALIZED

ROOT = Path(__file__).resolve().parents[1]
CONFIG = serverless_config.load(ROOT / "serverless.yml", env={})
FUNCTIONS = sorted(CONFIG.functions)


def test_serverless_yml_declares_the_functions():
    assert {"telegram_webhook", "photo_triage", "scheduled_jobs", "booking_callbacks"} <= set(FUNCTIONS)
    assert CONFIG.runtime == "python311"
    for fn in CONFIG.functions.values():
        assert fn.source.startswith("functions/") and fn.source.endswith(".py")
        assert fn.memory_mb >= 128 and fn.timeout.endswith("s")
        assert fn.requirements, fn.name
        serverless_config.requirement_lines(fn.requirements, ROOT / "requirements.txt")  # all known
        for secret in fn.secrets:
            assert secret in CONFIG.secrets
    triage = CONFIG.functions["photo_triage"]
    assert triage.trigger == "event" and triage.event_type == STORAGE_FINALIZED
    assert triage.event_resource == CONFIG.environment["PHOTOS_BUCKET"] == "telemed-pet-photos"
    assert triage.memory_mb >= 1024
    jobs = CONFIG.functions["scheduled_jobs"]
    assert jobs.schedules and json.loads(jobs.schedules[0].body) == {"job": "due_reminders"}
    assert jobs.schedules[0].token_secret == "JOBS_AUTH_TOKEN"
    prune = {s.name: s for s in jobs.schedules}["prune-calendars"]  # daily, at night in Moscow
    assert json.loads(prune.body) == {"job": "prune_calendars"} and prune.token_secret == "JOBS_AUTH_TOKEN"
    assert (prune.rate, prune.time_zone) == ("0 3 * * *", "Europe/Moscow")


def test_bucket_variable_follows_the_environment():
    cfg = serverless_config.load(ROOT / "serverless.yml", env={"PHOTOS_BUCKET": "other-bucket"})
    assert cfg.functions["photo_triage"].event_resource == "other-bucket"
    assert [f.name for f in cfg.functions_for_bucket_finalize("other-bucket")] == ["photo_triage"]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_function_has_its_entry_point(name):
    fn = CONFIG.functions[name]
    path = ROOT / fn.source
    assert path.exists(), f"{fn.source} (declared in serverless.yml) does not exist"
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    spec = importlib.util.spec_from_file_location(f"_entry_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(getattr(module, fn.target, None)), f"{fn.source} has no callable {fn.target}"


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory) -> tuple[str, Path]:
    build = tmp_path_factory.mktemp("build")
    out = subprocess.run(
        ["bash", str(ROOT / "infra" / "deploy.sh"), "--dry-run", "--project", "demo-project", "--build-dir", str(build)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout, build


def test_dry_run_prints_a_deploy_command_per_function(dry_run):
    script, build = dry_run
    for fn in CONFIG.functions.values():
        cloud = fn.name.replace("_", "-")
        block = script.split(f"gcloud functions deploy {cloud} ", 1)
        assert len(block) == 2, f"no deploy command for {fn.name}"
        cmd = block[1].split("\n\n")[0].split("\n# ")[0]
        assert "--gen2" in cmd and "--runtime=python311" in cmd and "--project=demo-project" in cmd
        assert f"--entry-point={fn.target}" in cmd
        assert f"--source={build / fn.name}" in cmd
        assert f"--memory={fn.memory_mb}Mi" in cmd
        assert "GOOGLE_CLOUD_PROJECT=demo-project" in cmd and "PHOTOS_BUCKET=telemed-pet-photos" in cmd
        assert "TELEGRAM_BOT_TOKEN=telegram-bot-token:latest" in cmd
        assert "FUNCTION_URL_SCHEDULED_JOBS=https://europe-west1-demo-project.cloudfunctions.net/scheduled-jobs" in cmd
        if fn.trigger == "event":
            assert f"--trigger-event-filters=type={STORAGE_FINALIZED}" in cmd
            assert "--trigger-event-filters=bucket=telemed-pet-photos" in cmd
        else:
            assert "--trigger-http" in cmd
    assert "TELEGRAM_WEBHOOK_SECRET=telegram-webhook-secret:latest" in script
    assert "JOBS_AUTH_TOKEN=jobs-auth-token:latest" in script


def test_dry_run_prints_firestore_queue_scheduler_and_webhook(dry_run):
    script, _ = dry_run
    assert (
        "gcloud firestore fields ttls update expires_at --collection-group=processed_updates --enable-ttl" in script
    )
    assert "firestore:rules" in script and "infra/firebase.json" in script
    assert "gcloud tasks queues create default --location=europe-west1" in script
    assert "gcloud scheduler jobs create http due-reminders" in script
    assert "--schedule='*/15 * * * *'" in script
    assert "--http-method=POST" in script
    assert """--message-body='{"job": "due_reminders"}'""" in script
    assert "gcloud scheduler jobs create http prune-calendars" in script
    assert """--message-body='{"job": "prune_calendars"}'""" in script
    assert "X-Jobs-Token=${JOBS_TOKEN}" in script
    assert "/setWebhook" in script and "secret_token=${WEBHOOK_SECRET}" in script
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)  # valid bash


def test_build_dirs_hold_what_each_function_needs(dry_run):
    _, build = dry_run
    for fn in CONFIG.functions.values():
        d = build / fn.name
        reqs = [l for l in (d / "requirements.txt").read_text().splitlines() if l and not l.startswith("#")]
        names = {serverless_config._norm(l.split("=")[0]) for l in reqs}
        assert names == {serverless_config._norm(r) for r in fn.requirements}
        assert (d / "shared" / "__init__.py").exists(), "shared must be an importable package"
        assert not list(d.rglob("__pycache__"))
        if (ROOT / fn.source).exists():
            assert (d / "main.py").read_text() == (ROOT / fn.source).read_text()
    webhook = (build / "telegram_webhook" / "requirements.txt").read_text().lower()
    assert "onnxruntime" not in webhook and "models" not in {p.name for p in (build / "telegram_webhook").iterdir()}
    assert "pillow" in webhook  # photo intake cleans images (imported only when a photo arrives)
    assert "python-telegram-bot" in webhook and "functions-framework" in webhook
    triage = (build / "photo_triage" / "requirements.txt").read_text().lower()
    assert all(p in triage for p in ("onnxruntime", "pillow", "simplejpeg", "numpy"))
    assert (build / "photo_triage" / "models").is_dir()
    assert not (build / "telegram_webhook" / "models").exists()
    assert not (build / "scheduled_jobs" / "models").exists()


def test_firestore_rules_deny_clients_and_ttl_is_declared():
    rules = (ROOT / "infra" / "firestore.rules").read_text()
    assert "allow read, write: if false;" in rules
    assert "allow read, write: if true" not in rules
    indexes = json.loads((ROOT / "infra" / "firestore.indexes.json").read_text())
    assert isinstance(indexes["indexes"], list)
    ttl = [o for o in indexes["fieldOverrides"] if o.get("ttl")]
    assert {(o["collectionGroup"], o["fieldPath"]) for o in ttl} == {("processed_updates", "expires_at")}
    firebase = json.loads((ROOT / "infra" / "firebase.json").read_text())
    assert (ROOT / "infra" / firebase["firestore"]["rules"]).exists()
    assert (ROOT / "infra" / firebase["firestore"]["indexes"]).exists()
    assert CONFIG.firestore["ttl"] == [{"collectionGroup": "processed_updates", "field": "expires_at"}]


def test_setup_script_is_valid_bash():
    subprocess.run(["bash", "-n", str(ROOT / "infra" / "setup.sh")], check=True)


def test_booking_callbacks_is_declared_with_its_queue_secrets_and_only_its_provider(dry_run):
    script, build = dry_run
    fn = CONFIG.functions["booking_callbacks"]
    assert fn.trigger == "http" and fn.allow_unauthenticated  # providers' webhooks: checked in the handler
    assert {"TASKS_AUTH_TOKEN", "TELEGRAM_BOT_TOKEN", "YOOKASSA_SECRET_KEY", "DAILY_API_KEY",
            "DAILY_WEBHOOK_SECRET"} == set(fn.secrets)
    reqs = (build / "booking_callbacks" / "requirements.txt").read_text().lower()
    assert "onnxruntime" not in reqs and "livekit" not in reqs and "matplotlib" not in reqs
    assert {q["name"] for q in CONFIG.queues} >= {"default", "consultations"}
    assert "gcloud tasks queues create consultations --location=europe-west1" in script
    assert "--min-backoff=5s" in script
    cmd = script.split("gcloud functions deploy booking-callbacks ", 1)[1].split("\n\n")[0]
    assert "TASKS_AUTH_TOKEN=tasks-auth-token:latest" in cmd and "VIDEO_PROVIDER=daily" in cmd
    assert "TASKS_SERVICE_ACCOUNT=telemed-tasks@demo-project.iam.gserviceaccount.com" in cmd
    assert "livekit-api-secret" not in script  # Daily is the provider: LiveKit's secret is neither needed nor checked
    assert "gcloud iam service-accounts create telemed-tasks" in script
    assert "--role=roles/cloudtasks.enqueuer" in script and "--role=roles/run.invoker" in script
    assert "/webhooks/video" in script and "/webhooks/yookassa" in script
    # the webhook schedules the tasks (holds, paid bookings): it has the token and the client
    webhook = CONFIG.functions["telegram_webhook"]
    assert "TASKS_AUTH_TOKEN" in webhook.secrets and "google-cloud-tasks" in webhook.requirements
    # LiveKit as the provider: its SDK and secret come along, Daily's do not
    lk = serverless_config.load(ROOT / "serverless.yml", env={"VIDEO_PROVIDER": "livekit"}).functions["booking_callbacks"]
    assert "livekit-api" in lk.requirements and "LIVEKIT_API_SECRET" in lk.secrets and "DAILY_API_KEY" not in lk.secrets


def test_booking_callbacks_cold_path_is_light():
    """Its instance is built without telegram.ext, onnxruntime, livekit or the Cloud Tasks client."""
    import os

    env = {**os.environ, "TELEGRAM_BOT_TOKEN": "1:x", "GOOGLE_CLOUD_PROJECT": "p", "TASKS_AUTH_TOKEN": "t",
           "FIRESTORE_EMULATOR_HOST": "127.0.0.1:9", "DAILY_API_KEY": "k", "VIDEO_PROVIDER": "daily"}
    code = ("import sys; import functions.booking_callbacks as f; i = f._instance();"
            "assert type(i.services).__name__ == 'CallbacksServices';"
            "heavy = sorted({m.split('.')[0] if not m.startswith('telegram.ext') else 'telegram.ext' for m in sys.modules"
            " if m.startswith(('telegram.ext', 'onnxruntime', 'livekit', 'matplotlib', 'google.cloud.tasks'))});"
            "print(heavy); sys.exit(1 if heavy else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
