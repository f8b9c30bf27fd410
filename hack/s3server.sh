#!/usr/bin/env bash
# Build and cache the S3-compatible server the object-storage tests run against (see hack/README.md).
#
#   hack/s3server.sh build     build versitygw if it is missing (instant when cached), print its path
#   hack/s3server.sh path      print where the binary is (no build)
#
# versitygw is a real S3 gateway (Apache-2.0) that serves S3 from a plain directory (its posix
# backend) and checks SigV4 signatures; it is built from its Go module with the local Go
# toolchain and cached beside the control plane's binaries, so only the first run pays the build.
set -euo pipefail

VERSITYGW_VERSION="v1.8.0"
CACHE="${TRAINJOB_CACHE:-$HOME/.cache/trainjob}"
BIN="$CACHE/versitygw-$VERSITYGW_VERSION/bin"
LOG="$CACHE/versitygw-$VERSITYGW_VERSION/build.log"

export GOFLAGS="-mod=mod -buildvcs=false"
export GOTOOLCHAIN=local
export CGO_ENABLED=0

case "${1:-build}" in
  path) echo "$BIN/versitygw" ;;
  build)
    if [[ ! -x "$BIN/versitygw" ]]; then
      mkdir -p "$BIN"
      echo "s3server.sh: building versitygw $VERSITYGW_VERSION (once; cached in $BIN)" >&2
      if ! GOBIN="$BIN" go install -trimpath -ldflags="-s -w" \
        "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" >"$LOG" 2>&1; then
        echo "s3server.sh: the build failed:" >&2
        tail -n 40 "$LOG" >&2
        exit 1
      fi
    fi
    echo "$BIN/versitygw"
    ;;
  *)
    echo "usage: $0 build|path" >&2
    exit 2
    ;;
esac
