#!/bin/sh
# Stop the runner (orchestrator rule 31): SIGTERM to its process group, wait up to
# CMA_STOP_GRACE_SECONDS (default 30) for it to go, then SIGKILL the group.
# Prints one JSON line: {"stopped":true|false,"pid":N|null,"signal":"TERM|KILL"|null}.
# Idempotent: a runner that is not running is an outcome, not an error.
set -u

DIR=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd -P) || exit 2
PIDFILE="$DIR/.runner.pid"
GRACE="${CMA_STOP_GRACE_SECONDS:-30}"
case "$GRACE" in ''|*[!0-9]*) GRACE=30 ;; esac

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

# group_alive PGID: true while any non-zombie process is in the group (the wrapper
# may be gone while a child that ignores SIGTERM lives on).
group_alive() {
  if [ -d /proc/self ]; then
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v g="$1" '
      { sub(/^.*\) /, ""); if ($3 == g && $1 !~ /^Z/) found = 1 }
      END { exit found ? 0 : 1 }'
  else
    ps -e -o pgid=,stat= 2>/dev/null | awk -v g="$1" '
      $1 == g && $2 !~ /^Z/ { found = 1 } END { exit found ? 0 : 1 }'
  fi
}

PID=""
[ -f "$PIDFILE" ] && PID=$(cat "$PIDFILE" 2>/dev/null)
case "$PID" in ''|*[!0-9]*) PID="" ;; esac
if [ -z "$PID" ] || { ! alive "$PID" && ! group_alive "$PID"; }; then
  case "$PID" in ''|*[!0-9]*) PID=null ;; esac
  printf '{"stopped":false,"pid":%s,"signal":null}\n' "$PID"
  exit 0
fi

# The runner leads its own process group (launch.sh starts it under setsid).
# (dash's kill takes no "--"; a negative operand right after the signal is the group.)
kill -TERM "-$PID" 2>/dev/null || kill -TERM "$PID" 2>/dev/null
# Poll in fifths of a second where sleep accepts fractions, else whole seconds.
if sleep 0.2 2>/dev/null; then STEP=0.2; TICKS=$((GRACE * 5)); else STEP=1; TICKS=$GRACE; fi
i=0
while [ "$i" -lt "$TICKS" ]; do
  if ! group_alive "$PID"; then
    printf '{"stopped":true,"pid":%s,"signal":"TERM"}\n' "$PID"
    exit 0
  fi
  sleep "$STEP"
  i=$((i + 1))
done
kill -KILL "-$PID" 2>/dev/null || kill -KILL "$PID" 2>/dev/null
i=0
while group_alive "$PID" && [ "$i" -lt 25 ]; do sleep "$STEP"; i=$((i + 1)); done
printf '{"stopped":true,"pid":%s,"signal":"KILL"}\n' "$PID"
exit 0
