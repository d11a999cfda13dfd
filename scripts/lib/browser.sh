#!/usr/bin/env bash
# shellcheck shell=bash
# Browser tests: the dashboard end to end and its accessibility, in headless Chromium
# (tests/browser/e2e.mjs on playwright-core and axe-core) against `linkledger serve` on a
# fresh SQLite file. Loopback only.
#
# Sourced by scripts/test (ROOT set; VENV's python used when there); also runs on its own:
#   scripts/lib/browser.sh
#
#   browser_step      everything below in order; 0 when the tests passed or were skipped
#   browser_chromium  Debian's chromium (/usr/bin/chromium), apt-get installed when missing
#   browser_packages  tests/browser/node_modules from the committed lockfile (npm ci, only
#                     when the lockfile changed since the last install)
#   browser_start LOG build the local binary, mint an admin key on a temporary database, start
#                     `serve --no-settle` on 127.0.0.1:<free port>; sets BROWSER_SERVE_PID,
#                     BROWSER_URL, BROWSER_ADMIN_KEY
#   browser_run       node tests/browser/e2e.mjs (screenshots into LL_SCREENSHOTS, by default
#                     target/screenshots/; scripts/screenshots refreshes docs/screenshots/)
#   browser_stop      stop the server, remove the database (idempotent; safe in an EXIT trap)
#
# With CI=true every failure to install or launch is a failure. Elsewhere, a machine where
# chromium (or Node 20+) cannot be installed gets a loud warning and the step is skipped.

BROWSER_SERVE_PID=""
BROWSER_URL=""
BROWSER_ADMIN_KEY=""
BROWSER_SERVE_DIR=""
BROWSER_CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
# The whole browser run (the test's own watchdog is a little shorter).
BROWSER_TIMEOUT_S="${BROWSER_TIMEOUT_S:-180}"

# The same parent-death launcher as moto.sh and schemathesis.sh: the server never outlives the run.
_BROWSER_LAUNCHER='
import ctypes, os, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
except Exception:
    pass
if os.getppid() != int(sys.argv[1]):
    sys.exit("launcher: parent already gone")
os.execv(sys.argv[2], sys.argv[2:])
'

_browser_python() {
    if [[ -n "${VENV:-}" && -x "$VENV/bin/python" ]]; then
        echo "$VENV/bin/python"
    else
        command -v python3
    fi
}

_browser_ci() {
    [[ "${CI:-}" == "true" ]]
}

# Not installable here: a failure on CI, a loud warning and a skip (status 2) elsewhere.
_browser_unavailable() {
    local what="$1"
    if _browser_ci; then
        echo "browser tests: FAILED: $what (CI=true: never skipped)" >&2
        return 1
    fi
    {
        echo
        echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
        echo "!!  WARNING: browser tests SKIPPED: $what"
        echo "!!  The dashboard's end-to-end and accessibility checks did not run on this"
        echo "!!  machine. CI (CI=true) runs them and fails without them."
        echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
        echo
    } >&2
    return 2
}

_browser_chromium_works() {
    [[ -x "$BROWSER_CHROMIUM" ]] && "$BROWSER_CHROMIUM" --version 2>/dev/null | grep -q '^Chromium'
}

browser_chromium() {
    if _browser_chromium_works; then
        "$BROWSER_CHROMIUM" --version 2>/dev/null
        return 0
    fi
    if [[ "$BROWSER_CHROMIUM" != /usr/bin/chromium ]]; then
        _browser_unavailable "CHROMIUM=$BROWSER_CHROMIUM is not a working Chromium"
        return
    fi
    local sudo=() log="$ROOT/target/browser-apt.log"
    if [[ "$(id -u)" -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            _browser_unavailable "chromium is not installed, and installing it needs root (or sudo)"
            return
        fi
    fi
    mkdir -p "$(dirname "$log")"
    echo "installing Debian's chromium (apt-get; about a minute the first time; log: target/browser-apt.log)"
    if ! { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update &&
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; } \
        >"$log" 2>&1; then
        tail -n 20 "$log" >&2 || true
        _browser_unavailable "apt-get install chromium failed (log: target/browser-apt.log)"
        return
    fi
    if ! _browser_chromium_works; then
        _browser_unavailable "chromium was installed but $BROWSER_CHROMIUM --version does not answer"
        return
    fi
    "$BROWSER_CHROMIUM" --version 2>/dev/null
}

browser_packages() {
    local dir="$ROOT/tests/browser" stamp want major
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        _browser_unavailable "node and npm are not installed (Node 20 or later is needed)"
        return
    fi
    major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
    if ((major < 20)); then
        _browser_unavailable "Node $(node --version) is too old (20 or later is needed)"
        return
    fi
    stamp="$dir/node_modules/.linkledger-lock"
    want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1) node-$major"
    if [[ "$(cat "$stamp" 2>/dev/null)" == "$want" && -f "$dir/node_modules/playwright-core/package.json" &&
        -f "$dir/node_modules/axe-core/axe.min.js" ]]; then
        # shellcheck disable=SC2016 # JavaScript template literals, not shell expansions
        echo "tests/browser/node_modules up to date ($(cd "$dir" && node -p 'const v = (p) => require(`${process.cwd()}/node_modules/${p}/package.json`).version; `playwright-core ${v("playwright-core")}, axe-core ${v("axe-core")}`'))"
        return 0
    fi
    echo "npm ci in tests/browser (playwright-core, axe-core; no browser download)"
    # playwright-core downloads nothing on install; the variable is belt and braces.
    if ! (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error); then
        echo "browser tests: FAILED: npm ci in tests/browser" >&2
        return 1
    fi
    printf '%s\n' "$want" >"$stamp"
}

browser_start() {
    local log="$1" port deadline python bin="${CARGO_TARGET_DIR:-$ROOT/target}/debug/linkledger"
    python="$(_browser_python)"
    cargo build --quiet -p linkledger || return 1
    BROWSER_SERVE_DIR="$(mktemp -d)" || return 1
    BROWSER_ADMIN_KEY="$("$bin" --db "$BROWSER_SERVE_DIR/browser.db" keys create --role admin 2>/dev/null)"
    if [[ -z "$BROWSER_ADMIN_KEY" ]]; then
        echo "linkledger keys create --role admin printed no key" >&2
        return 1
    fi
    port="$("$python" -c '
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
    BROWSER_URL="http://127.0.0.1:${port}"
    mkdir -p "$(dirname "$log")"
    (exec "$python" -c "$_BROWSER_LAUNCHER" "$$" "$bin" --db "$BROWSER_SERVE_DIR/browser.db" \
        serve --addr "127.0.0.1:${port}" --no-settle >"$log" 2>&1 </dev/null) &
    BROWSER_SERVE_PID=$!
    deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)); do
        if ! kill -0 "$BROWSER_SERVE_PID" 2>/dev/null; then
            echo "linkledger serve exited; last lines of $log:" >&2
            tail -n 20 "$log" >&2 || true
            BROWSER_SERVE_PID=""
            return 1
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "linkledger serve did not listen on $BROWSER_URL in time" >&2
    return 1
}

browser_run() {
    # Loopback only: never through a proxy.
    NO_PROXY="127.0.0.1,localhost" no_proxy="127.0.0.1,localhost" \
        LL_BASE_URL="$BROWSER_URL" LL_ADMIN_KEY="$BROWSER_ADMIN_KEY" CHROMIUM="$BROWSER_CHROMIUM" \
        LL_E2E_TIMEOUT_S="$((BROWSER_TIMEOUT_S - 10))" \
        LL_SCREENSHOTS="${LL_SCREENSHOTS:-$ROOT/target/screenshots}" \
        timeout --kill-after=5 "$BROWSER_TIMEOUT_S" node "$ROOT/tests/browser/e2e.mjs"
}

browser_stop() {
    local pid="$BROWSER_SERVE_PID" i
    BROWSER_SERVE_PID=""
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    fi
    # The server's own status (143 after our TERM) is not the step's: never let `set -e` see it.
    if [[ -n "$pid" ]]; then
        wait "$pid" 2>/dev/null || true
    fi
    [[ -n "$BROWSER_SERVE_DIR" ]] && rm -rf "$BROWSER_SERVE_DIR"
    BROWSER_SERVE_DIR=""
    return 0
}

browser_step() {
    local rc=0
    browser_chromium || rc=$?
    ((rc == 0)) || { ((rc == 2)) && return 0; return "$rc"; }
    browser_packages || rc=$?
    ((rc == 0)) || { ((rc == 2)) && return 0; return "$rc"; }
    browser_start "$ROOT/target/browser-serve.log" || return 1
    echo "linkledger serve pid $BROWSER_SERVE_PID on $BROWSER_URL (log: target/browser-serve.log)"
    rc=0
    browser_run || rc=$?
    browser_stop
    if ((rc != 0)); then
        echo "browser tests: FAILED (exit $rc; server log: target/browser-serve.log)" >&2
    fi
    return "$rc"
}

# Run on its own: the step alone.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
    cd "$ROOT"
    [[ -x "$ROOT/.venv/bin/python" ]] && VENV="$ROOT/.venv"
    trap 'browser_stop' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    browser_step
fi
