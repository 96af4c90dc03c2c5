#!/bin/sh
# Start runner.py detached for one work item (orchestrator rules 29 and 31).
#
# Called by the orchestrator's single exec as `sh <runner dir>/launch.sh` with the
# item's ANTHROPIC_* variables in the exec's per-command env (rule 28). Prints one
# JSON line: {"pid":N}, or {"pid":N,"already_running":true} when a live runner
# already serves this work id (idempotent relaunch, rule 31); ,"unpacked":true is
# added when the exec's command had to unpack the bundle it carried
# (CMA_BUNDLE_UNPACKED=1; see RunnerEnvironment.launchCommand).
#
# The directory comes from $0, not a fixed /srv/cma: the emulator maps absolute
# paths only in command strings and env values, never inside files.
#
# Environment:
#   ANTHROPIC_WORK_ID   required; recorded in .runner.work
#   CMA_RUNNER_ENTRY    TEST-ONLY hook: the Python script to run instead of
#                       runner.py (relative paths are taken from this directory),
#                       so script tests and loopback tests need no SDK.
#   CMA_PYTHON          interpreter, default python3
#
# Why setsid plus redirection: exec has no background mode, waits for both
# output pipes to close and kills its process group on timeout (rule 29).
set -u

DIR=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd -P) || exit 2
PIDFILE="$DIR/.runner.pid"
WORKFILE="$DIR/.runner.work"
EXITFILE="$DIR/.runner.exit"
LOGFILE="$DIR/runner.log"
PYTHON="${CMA_PYTHON:-python3}"
ENTRY="${CMA_RUNNER_ENTRY:-runner.py}"
case "$ENTRY" in
  /*) ;;
  *) ENTRY="$DIR/$ENTRY" ;;
esac

# The bundle itself never reaches the runner's environment.
unset CMA_RUNNER_BUNDLE
UNPACKED=""
[ "${CMA_BUNDLE_UNPACKED:-0}" = 1 ] && UNPACKED=',"unpacked":true'
unset CMA_BUNDLE_UNPACKED

WORK="${ANTHROPIC_WORK_ID:-}"
if [ -z "$WORK" ]; then
  echo '{"error":"ANTHROPIC_WORK_ID is not set"}'
  exit 2
fi

# alive PID: true when PID is a running process (zombies count as gone).
alive() {
  case "$1" in ''|*[!0-9]*) return 1 ;; esac
  kill -0 "$1" 2>/dev/null || return 1
  if [ -r "/proc/$1/stat" ]; then
    st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
  else
    st=$(ps -o stat= -p "$1" 2>/dev/null)
  fi
  case "$st" in Z*) return 1 ;; esac
  return 0
}

OLD_PID=""
[ -f "$PIDFILE" ] && OLD_PID=$(cat "$PIDFILE" 2>/dev/null)
if [ ! -f "$EXITFILE" ] && alive "$OLD_PID"; then
  OLD_WORK=""
  [ -f "$WORKFILE" ] && OLD_WORK=$(cat "$WORKFILE" 2>/dev/null)
  if [ "$OLD_WORK" = "$WORK" ]; then
    printf '{"pid":%s,"already_running":true%s}\n' "$OLD_PID" "$UNPACKED"
    exit 0
  fi
  # Another work id: two runners on one session would both run its tool calls.
  sh "$DIR/stop.sh" >/dev/null 2>&1
fi

printf '%s\n' "$WORK" > "$WORKFILE.tmp" && mv -f "$WORKFILE.tmp" "$WORKFILE" || exit 3
rm -f "$PIDFILE" "$EXITFILE"

# The background child of a non-interactive shell is not a process-group leader,
# so setsid(1) calls setsid() and execs in place: $! is the new session's leader
# and its process group id, which stop.sh signals as a whole.
cd "$DIR" || exit 3
setsid sh -c '"$1" "$2"; code=$?; echo "$code" > "$3.tmp" && mv -f "$3.tmp" "$3"' \
  cma-runner "$PYTHON" "$ENTRY" "$EXITFILE" </dev/null >>"$LOGFILE" 2>&1 &
PID=$!
printf '%s\n' "$PID" > "$PIDFILE.tmp" && mv -f "$PIDFILE.tmp" "$PIDFILE" || exit 3
printf '{"pid":%s%s}\n' "$PID" "$UNPACKED"
exit 0
