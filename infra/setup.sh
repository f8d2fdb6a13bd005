#!/usr/bin/env bash
# Idempotent machine set-up for Telemed-Pet development, tests and CI.
#
#   bash infra/setup.sh          # quiet when everything is already in place
#   FORCE=1 bash infra/setup.sh  # reinstall the venvs' packages
#
# Creates .venv (requirements-dev.txt) and .venv-tasks (gcloud-tasks-emulator, which pins protobuf<5,
# hence its own venv), and checks Java and the Firestore emulator (installing them with apt-get when
# missing), Debian's chromium for the browser tests, and builds the Mini App (webapp/: npm ci, the catalogs'
# export, vite build). A stamp file per venv (and for the webapp's packages and build) holds the hash of what
# it was built from; an unchanged hash skips it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1; then PYTHON="$(command -v "$c")"; break; fi
  done
fi
[ -n "$PYTHON" ] || { echo "setup: no python3 found" >&2; exit 1; }
TASKS_EMULATOR_REQ="${TASKS_EMULATOR_REQ:-gcloud-tasks-emulator==0.6.*}"

say() { echo "setup: $*" >&2; }

hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -d' ' -f1; }

# venv DIR STAMP_CONTENT PIP_ARGS...
ensure_venv() {
  local dir="$1" want="$2"; shift 2
  local stamp="$dir/.telemed-stamp"
  if [ -z "${FORCE:-}" ] && [ -x "$dir/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  say "installing $dir ..."
  [ -x "$dir/bin/python" ] || "$PYTHON" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --disable-pip-version-check "$@"
  echo "$want" >"$stamp"
  say "$dir ready"
}

apt_install() {
  if [ -z "${APT_UPDATED:-}" ]; then
    apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# 1. the project venv
ensure_venv .venv "$(hash_of requirements.txt requirements-dev.txt)-$("$PYTHON" -V 2>&1)" -r requirements-dev.txt

# 2. the Cloud Tasks emulator's own venv
ensure_venv .venv-tasks "$(echo "$TASKS_EMULATOR_REQ" | sha256sum | cut -d' ' -f1)-$("$PYTHON" -V 2>&1)" "$TASKS_EMULATOR_REQ"

# 3. Java + the Firestore emulator (gcloud component from Debian's google-cloud-cli packages)
if ! command -v java >/dev/null 2>&1; then
  say "installing a Java runtime ..."
  apt_install default-jre-headless
fi
if ! command -v gcloud >/dev/null 2>&1 || ! gcloud emulators firestore start --help >/dev/null 2>&1 \
   || ! ls "$(dirname "$(readlink -f "$(command -v gcloud)")")"/../platform/cloud-firestore-emulator/cloud-firestore-emulator*.jar >/dev/null 2>&1; then
  say "installing google-cloud-cli-firestore-emulator ..."
  apt_install google-cloud-cli-firestore-emulator || {
    say "could not install google-cloud-cli-firestore-emulator (is Google's apt source configured?)"
    exit 1
  }
fi

# 4. Debian's Chromium, which the Mini App's browser tests drive through Playwright (no browser download),
#    and a colour emoji font for its screenshots (the app's species icons)
if [ ! -x /usr/bin/chromium ] || [ ! -d /usr/share/fonts/truetype/noto ] || ! ls /usr/share/fonts/truetype/noto/NotoColorEmoji* >/dev/null 2>&1; then
  say "installing chromium and fonts-noto-color-emoji ..."
  apt_install chromium fonts-noto-color-emoji
fi

# 5. The Mini App (webapp/): npm ci when the lock file changed, then the catalogs' export and the Vite build
#    when a source, a catalog or the lock file changed (stamps like the venvs'; dist/ and node_modules/ are
#    not in git)
if ! command -v npm >/dev/null 2>&1; then
  say "installing Node.js and npm ..."
  apt_install nodejs npm
fi
tree_hash() { find "$@" -type f ! -name catalog.json -print0 2>/dev/null | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1; }
NPM_WANT="$(hash_of webapp/package.json webapp/package-lock.json)-$(node -v)"
if [ -n "${FORCE:-}" ] || [ "$(cat webapp/node_modules/.telemed-stamp 2>/dev/null)" != "$NPM_WANT" ]; then
  say "installing the webapp's npm packages ..."
  (cd webapp && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$NPM_WANT" >webapp/node_modules/.telemed-stamp
fi
BUILD_WANT="$NPM_WANT-$(tree_hash webapp/src webapp/index.html webapp/vite.config.js infra/webapp_i18n.py shared/i18n/locales)"
if [ -n "${FORCE:-}" ] || [ ! -f webapp/dist/index.html ] || [ "$(cat webapp/node_modules/.telemed-build-stamp 2>/dev/null)" != "$BUILD_WANT" ]; then
  say "building the webapp ..."
  .venv/bin/python -m infra.webapp_i18n
  (cd webapp && npm run build --silent >/dev/null)
  echo "$BUILD_WANT" >webapp/node_modules/.telemed-build-stamp
  say "webapp/dist ready"
fi

exit 0
