#!/usr/bin/env bash
# The test command: installs what is missing, then runs the whole suite (unit, emulator, end-to-end).
set -euo pipefail
cd "$(dirname "$0")/.."
bash infra/setup.sh
exec .venv/bin/python -m pytest "$@"
