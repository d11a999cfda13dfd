# shellcheck shell=bash
# Contract fuzzing: schemathesis against `linkledger serve` on a fresh SQLite file.
#
# Sourced by scripts/test (needs VENV with schemathesis, ROOT). Loopback only.
#
#   schemathesis_start LOGFILE  build the local binary, mint an admin key on a
#                               temporary database, start `serve` on
#                               127.0.0.1:<free port>; sets LL_SERVE_PID,
#                               LL_SERVE_URL, LL_ADMIN_KEY
#   schemathesis_run            all checks, SCHEMATHESIS_EXAMPLES examples per
#                               operation (default 25), config in
#                               scripts/lib/schemathesis.toml; fails on any
#                               server error, schema violation or undocumented status
#   schemathesis_stop           stop the server, remove the database (idempotent;
#                               safe in an EXIT trap)

LL_SERVE_PID=""
LL_SERVE_URL=""
LL_ADMIN_KEY=""
LL_SERVE_DIR=""

# The same parent-death launcher as moto.sh: the server never outlives the run.
_LL_LAUNCHER='
import ctypes, os, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
except Exception:
    pass
if os.getppid() != int(sys.argv[1]):
    sys.exit("launcher: parent already gone")
os.execv(sys.argv[2], sys.argv[2:])
'

schemathesis_start() {
    local log="$1" port deadline bin="${CARGO_TARGET_DIR:-$ROOT/target}/debug/linkledger"
    cargo build --quiet -p linkledger
    LL_SERVE_DIR="$(mktemp -d)"
    LL_ADMIN_KEY="$("$bin" --db "$LL_SERVE_DIR/contract.db" keys create --role admin 2>/dev/null)"
    port="$("$VENV/bin/python" -c '
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
    LL_SERVE_URL="http://127.0.0.1:${port}"
    mkdir -p "$(dirname "$log")"
    # The fuzzing checks the contract, not the rate limits (tests/tests/dashboard.rs does): it
    # sends far more than a key's 100 requests per second.
    (LINKLEDGER_API_RATE=1000000/1000000 exec "$VENV/bin/python" -c "$_LL_LAUNCHER" "$$" "$bin" --db "$LL_SERVE_DIR/contract.db" \
        serve --addr "127.0.0.1:${port}" --no-settle >"$log" 2>&1 </dev/null) &
    LL_SERVE_PID=$!
    deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)); do
        if ! kill -0 "$LL_SERVE_PID" 2>/dev/null; then
            echo "linkledger serve exited; last lines of $log:" >&2
            tail -n 20 "$log" >&2 || true
            LL_SERVE_PID=""
            return 1
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "linkledger serve did not listen on $LL_SERVE_URL in time" >&2
    return 1
}

schemathesis_run() {
    # Loopback only: never through a proxy.
    NO_PROXY="127.0.0.1,localhost" no_proxy="127.0.0.1,localhost" \
        SCHEMATHESIS_HOOKS="" \
        "$VENV/bin/schemathesis" --config-file "$ROOT/scripts/lib/schemathesis.toml" \
        --no-color run "$LL_SERVE_URL/openapi.json" \
        --url "$LL_SERVE_URL" \
        --checks all \
        --max-examples "${SCHEMATHESIS_EXAMPLES:-25}" \
        --seed "${SCHEMATHESIS_SEED:-20261201}" \
        --workers 1 \
        --request-timeout 10 \
        --header "Authorization: Bearer $LL_ADMIN_KEY" \
        --report junit --report-dir "$ROOT/target/schemathesis"
}

schemathesis_stop() {
    local pid="$LL_SERVE_PID" i
    LL_SERVE_PID=""
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
    [[ -n "$LL_SERVE_DIR" ]] && rm -rf "$LL_SERVE_DIR"
    LL_SERVE_DIR=""
    return 0
}
