#!/usr/bin/env bash
# The demo: installs what is missing, brings the local stack up, plays a scripted owner conversation
# through the webhook and prints the chat. Everything stops when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
bash infra/setup.sh
exec .venv/bin/python -m infra.local.demo "$@"
