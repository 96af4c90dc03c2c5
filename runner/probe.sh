#!/bin/sh
# Report the runner's state as one JSON line (orchestrator rule 30):
#   {"state":"running|exited|dead|no_pidfile","pid":N|null,"exit_code":N|null}
# running: the pid is alive and no exit status was written; exited: the wrapper
# wrote the runner's exit status; dead: gone without an exit status (killed, or
# the sandbox restarted); no_pidfile: never launched here.
set -u

DIR=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd -P) || exit 2
PIDFILE="$DIR/.runner.pid"
EXITFILE="$DIR/.runner.exit"

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

PID=""
[ -f "$PIDFILE" ] && PID=$(cat "$PIDFILE" 2>/dev/null)
case "$PID" in
  ''|*[!0-9]*)
    echo '{"state":"no_pidfile","pid":null,"exit_code":null}'
    exit 0 ;;
esac

if [ -f "$EXITFILE" ]; then
  CODE=$(cat "$EXITFILE" 2>/dev/null)
  case "$CODE" in ''|*[!0-9]*) CODE=null ;; esac
  printf '{"state":"exited","pid":%s,"exit_code":%s}\n' "$PID" "$CODE"
elif alive "$PID"; then
  printf '{"state":"running","pid":%s,"exit_code":null}\n' "$PID"
else
  printf '{"state":"dead","pid":%s,"exit_code":null}\n' "$PID"
fi
exit 0
