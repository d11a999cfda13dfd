# shellcheck shell=bash
# Start / stop a local moto_server (AWS service mock) for the test suite.
#
# Sourced by scripts/test. Needs MOTO_BIN (path of moto_server, or of a python
# with MOTO_SCRIPT, a script taking moto_server's -H/-p) and MOTO_PYTHON (a
# python3, used to pick a free port and to probe HTTP).
#
#   moto_start LOGFILE   start on 127.0.0.1:<free port>; sets MOTO_PID,
#                        MOTO_PORT, MOTO_URL; returns non-zero (after
#                        printing the log tail) if it never answers HTTP.
#   moto_stop            stop it (idempotent; safe in an EXIT trap).

MOTO_PID=""
MOTO_PORT=""
MOTO_URL=""

# Runs moto_server with a parent-death signal: if the calling script dies
# without running its EXIT trap (SIGKILL, OOM killer, ...), the kernel sends
# SIGTERM to moto_server, so it can never outlive the test run.
# argv: <expected parent pid> <moto_server path> <moto_server args...>
_MOTO_LAUNCHER='
import ctypes, os, signal, sys
PR_SET_PDEATHSIG = 1
try:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
except Exception:
    pass  # not Linux: the EXIT trap alone stops it
if os.getppid() != int(sys.argv[1]):
    sys.exit("moto launcher: parent already gone")
os.execv(sys.argv[2], sys.argv[2:])
'

_moto_free_port() {
    "$MOTO_PYTHON" -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# Exit status 0 as soon as anything answers HTTP on the URL (any status code).
_moto_answers() {
    "$MOTO_PYTHON" - "$1" <<'PY' >/dev/null 2>&1
import sys, urllib.request, urllib.error
# No proxy, whatever the environment says: moto is on the loopback.
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    opener.open(sys.argv[1], timeout=1)
except urllib.error.HTTPError:
    pass  # an HTTP error status is still an HTTP answer
PY
}

moto_start() {
    local log="$1" attempt deadline
    mkdir -p "$(dirname "$log")"
    : >"$log"
    # A port picked by binding port 0 can, rarely, be taken by someone else
    # before moto binds it: then moto exits at once and we try another one.
    for attempt in 1 2 3; do
        MOTO_PORT="$(_moto_free_port)"
        MOTO_URL="http://127.0.0.1:${MOTO_PORT}"
        echo "--- moto_server attempt $attempt on $MOTO_URL" >>"$log"
        # `exec` keeps one process (pid $!) from here to moto_server itself.
        (exec "$MOTO_PYTHON" -c "$_MOTO_LAUNCHER" "$$" "$MOTO_BIN" ${MOTO_SCRIPT:+"$MOTO_SCRIPT"} \
            -H 127.0.0.1 -p "$MOTO_PORT" >>"$log" 2>&1 </dev/null) &
        MOTO_PID=$!
        # Bounded wait: at most MOTO_START_TIMEOUT seconds (default 30).
        deadline=$((SECONDS + ${MOTO_START_TIMEOUT:-30}))
        while ((SECONDS < deadline)); do
            if ! kill -0 "$MOTO_PID" 2>/dev/null; then
                wait "$MOTO_PID" 2>/dev/null || true
                MOTO_PID=""
                break
            fi
            # Cheap TCP connect first, the HTTP probe only once it listens.
            if (exec 3<>"/dev/tcp/127.0.0.1/$MOTO_PORT") 2>/dev/null &&
                _moto_answers "$MOTO_URL/moto-api/"; then
                return 0
            fi
            sleep 0.1
        done
        if [[ -n "$MOTO_PID" ]]; then
            echo "moto_server did not answer on $MOTO_URL in time" >&2
            moto_stop
            break
        fi
    done
    echo "moto_server failed to start; last lines of $log:" >&2
    tail -n 30 "$log" >&2 || true
    return 1
}

moto_stop() {
    local pid="$MOTO_PID" i
    MOTO_PID=""
    [[ -n "$pid" ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
    return 0
}
