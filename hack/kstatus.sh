#!/usr/bin/env bash
# Build, cache and locate the kstatus checker (hack/kstatus/main.go; see hack/README.md): the
# verdict of sigs.k8s.io/cli-utils' kstatus, the library Flux and cli-utils read objects with.
#
#   hack/kstatus.sh build     build it if missing or if its sources changed, print the binary's path
#   hack/kstatus.sh path      print the binary's path (no build)
#   hack/kstatus.sh version   print the pinned cli-utils version
#
# Built with the local Go toolchain from the module in hack/kstatus (go.mod and go.sum pin
# every dependency), sharing Go's module and build caches with hack/controlplane.sh.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="$HERE/kstatus"
CLI_UTILS="$(sed -n 's#^\tsigs.k8s.io/cli-utils \(v[^ ]*\)$#\1#p' "$SRC/go.mod")"
CACHE="${TRAINJOB_CACHE:-$HOME/.cache/trainjob}"
ROOT="$CACHE/kstatus-$CLI_UTILS"
BIN="$ROOT/bin/kstatus"
STAMP="$ROOT/bin/.sources"  # the checksum of the sources the binary was built from
LOG="$ROOT/build.log"

export GOFLAGS="-mod=readonly -buildvcs=false"  # go.sum is committed: never rewrite it
export GOTOOLCHAIN=local
export CGO_ENABLED=0

log() { echo "kstatus.sh: $*" >&2; }

sources() { (cd "$SRC" && cat go.mod go.sum ./*.go) | sha256sum | cut -d' ' -f1; }

built() { [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$(sources)" ]]; }

build() {
  if built; then echo "$BIN"; return; fi
  command -v go >/dev/null || { log "go is not installed: cannot build the kstatus checker"; exit 1; }
  mkdir -p "$ROOT/bin"
  exec 9>"$ROOT/.lock"
  flock 9  # one build at a time; a second caller waits, then finds it built
  if built; then echo "$BIN"; return; fi
  local start=$SECONDS
  log "building the checker with sigs.k8s.io/cli-utils $CLI_UTILS; go output in $LOG"
  rm -f "$STAMP"
  if ! (cd "$SRC" && go build -trimpath -ldflags="-s -w" -o "$BIN" .) >"$LOG" 2>&1; then
    log "go build failed:"
    tail -n 40 "$LOG" >&2
    exit 1
  fi
  sources >"$STAMP"
  log "built in $((SECONDS - start))s"
  echo "$BIN"
}

case "${1:-}" in
  build) build ;;
  path) echo "$BIN" ;;
  version) echo "cli-utils=$CLI_UTILS" ;;
  *) echo "usage: $0 build|path|version" >&2; exit 2 ;;
esac
