#!/usr/bin/env bash
# Deploy Telemed-Pet to Google Cloud from serverless.yml (functions, Firestore rules/indexes/TTL,
# Cloud Tasks queue, Cloud Scheduler job, Telegram setWebhook).
#
#   infra/deploy.sh --dry-run [--project P] [--region R] [--only telegram_webhook,...]
#   infra/deploy.sh --project P            # needs gcloud auth, the secrets in Secret Manager, npx
#
# Builds .build/<function>/ (main.py, shared/, models/ for photo_triage, its own requirements.txt).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || PY="$(command -v python3)"
cd "$ROOT"
exec "$PY" -m infra.deploy "$@"
