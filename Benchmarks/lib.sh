# Sourced by the benchmark scripts: tool installs and the release build.
# shellcheck shell=bash

BENCH_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(dirname -- "$BENCH_DIR")
export PATH="$PATH:/usr/sbin:/sbin"  # nginx lives in /usr/sbin, often not on a user's PATH

_apt_updated=""

# need COMMAND PACKAGE: installs PACKAGE with apt-get when COMMAND is missing.
need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing $2 (for $1)" >&2
  if [ -z "$_apt_updated" ]; then
    $sudo apt-get update -qq
    _apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$2" >/dev/null
  command -v "$1" >/dev/null 2>&1 || { echo "error: $2 installed but $1 is still missing" >&2; exit 1; }
}

# has_flag FLAG ARGS...: whether FLAG (alone or as FLAG=VALUE) is among ARGS.
has_flag() {
  local flag=$1 arg
  shift
  for arg in "$@"; do
    case "$arg" in "$flag" | "$flag"=*) return 0 ;; esac
  done
  return 1
}

# build_release: builds the release binary and sets BIN to its path.
build_release() {
  # A static Swift runtime (as the Dockerfile builds it) links FoundationNetworking
  # against libcurl's development files.
  if ! dpkg -s libcurl4-openssl-dev >/dev/null 2>&1; then
    echo "installing libcurl4-openssl-dev (static release link)" >&2
    local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends libcurl4-openssl-dev >/dev/null
  fi
  echo "building cma-orchestrator (release, static Swift runtime)" >&2
  (cd "$REPO_ROOT" && swift build -c release --static-swift-stdlib --product cma-orchestrator >&2)
  BIN="$(cd "$REPO_ROOT" && swift build -c release --static-swift-stdlib --show-bin-path)/cma-orchestrator"
  [ -x "$BIN" ] || { echo "error: $BIN was not built" >&2; exit 1; }
}

# run_driver DRIVER ARGS...: builds the release binary unless ARGS name one, need none
# (--only-nginx) or ask for help, then replaces this shell with the Python driver.
run_driver() {
  local driver=$1
  shift
  local args=("$@")
  if ! has_flag --binary "$@" && ! has_flag --only-nginx "$@" && ! has_flag --help "$@" && ! has_flag -h "$@"; then
    build_release
    args+=(--binary "$BIN")
  fi
  exec python3 "$BENCH_DIR/$driver" "${args[@]}"
}
