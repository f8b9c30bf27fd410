#!/usr/bin/env bash
# Build, cache and locate the binaries of the test control plane (see hack/README.md).
#
#   hack/controlplane.sh build     build what is missing (instant when cached), print the bin dir
#   hack/controlplane.sh bin-dir   print the bin dir (no build)
#   hack/controlplane.sh versions  print the pinned versions
#   hack/controlplane.sh kueue-dir print Kueue's directory (bin/kueue, its CRDs and webhooks)
#   hack/controlplane.sh up        build, then run a control plane + test node until Ctrl-C
#                                  (python -m tests.cluster; needs root and the project's venv)
#
# Everything is built from Go modules with the local Go toolchain: a throwaway module
# requiring k8s.io/kubernetes with every k8s.io/* staging module pinned by `replace`,
# etcd from go.etcd.io/etcd/server/v3 and helm from helm.sh/helm/v3. Kueue (the queue controller
# the tests run against) from sigs.k8s.io/kueue, cached apart so that a new Kueue pin never
# rebuilds Kubernetes.
set -euo pipefail

K8S_VERSION="v1.36.3"
ETCD_VERSION="v3.6.8"   # the etcd that k8s.io/kubernetes ${K8S_VERSION} requires
HELM_VERSION="v3.21.4"  # built against k8s.io/client-go v0.36

CACHE="${TRAINJOB_CACHE:-$HOME/.cache/trainjob}"
ROOT="$CACHE/k8s-$K8S_VERSION"
BIN="$ROOT/bin"
STAMP="$BIN/.versions"  # written when every binary is built
LOG="$ROOT/build.log"  # go's output; its tail is shown when a build fails
PINS="k8s=$K8S_VERSION etcd=$ETCD_VERSION helm=$HELM_VERSION"
K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
KUEUE_VERSION="v0.17.0"
KUEUE="$CACHE/kueue-$KUEUE_VERSION"  # bin/kueue, crds/, webhooks.yaml; .version when complete

export GOFLAGS="-mod=mod -buildvcs=false"
export GOTOOLCHAIN=local
export CGO_ENABLED=0

log() { echo "controlplane.sh: $*" >&2; }

have_all() {
  [[ -f "$STAMP" && "$(cat "$STAMP")" == "$PINS" ]] || return 1
  local b
  for b in etcd helm "${K8S_CMDS[@]}"; do [[ -x "$BIN/$b" ]] || return 1; done
}

# quietly CMD...: run CMD with its output appended to $LOG; on failure show the log's tail.
quietly() {
  if ! "$@" >>"$LOG" 2>&1; then
    log "failed: $*"
    tail -n 60 "$LOG" >&2
    exit 1
  fi
}

# go_build MODDIR OUT LDFLAGS PKG... : build packages of a prepared module into OUT
# (a directory ending in / for several packages, or the binary's path for one).
go_build() {
  local moddir="$1" out="$2" ldflags="$3"
  shift 3
  (cd "$moddir" && quietly go build -trimpath -ldflags="-s -w $ldflags" -o "$out" "$@")
}

build_k8s() {
  local mod="$ROOT/src/kubernetes" gomod minor ver_ldflags pkg
  mkdir -p "$mod"
  (cd "$mod" && quietly go mod download "k8s.io/kubernetes@$K8S_VERSION")
  gomod="$(cd "$mod" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')"
  minor="$(echo "$K8S_VERSION" | cut -d. -f2)"
  {
    echo "module trainjob.local/k8s-build"
    echo
    echo "go 1.26.0"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    # every staging module k8s.io/kubernetes replaces with ./staging/src/k8s.io/X -> k8s.io/X v0.<minor>.<patch>
    sed -n 's#^\t\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\1#p' "$gomod" |
      while read -r m; do echo "	$m => $m v0.${K8S_VERSION#v1.}"; done
    echo ")"
  } >"$mod/go.mod"
  : >"$mod/go.sum"
  ver_ldflags=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ver_ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ver_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  local pkgs=()
  for pkg in "${K8S_CMDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$pkg"); done
  log "building ${K8S_CMDS[*]} $K8S_VERSION"
  go_build "$mod" "$BIN/" "$ver_ldflags" "${pkgs[@]}"
}

build_etcd() {
  local mod="$ROOT/src/etcd"
  mkdir -p "$mod"
  printf 'module trainjob.local/etcd-build\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >"$mod/go.mod"
  : >"$mod/go.sum"
  log "building etcd $ETCD_VERSION"
  go_build "$mod" "$BIN/etcd" "" go.etcd.io/etcd/server/v3
}

build_helm() {
  local mod="$ROOT/src/helm" v="helm.sh/helm/v3/internal/version" minor
  minor="$(echo "$K8S_VERSION" | cut -d. -f2)"
  mkdir -p "$mod"
  printf 'module trainjob.local/helm-build\n\ngo 1.26.0\n\nrequire helm.sh/helm/v3 %s\n' "$HELM_VERSION" >"$mod/go.mod"
  : >"$mod/go.sum"
  log "building helm $HELM_VERSION"
  go_build "$mod" "$BIN/" "-X $v.version=$HELM_VERSION -X $v.gitTreeState=clean \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor" \
    helm.sh/helm/v3/cmd/helm
}

have_kueue() { [[ -f "$KUEUE/.version" && "$(cat "$KUEUE/.version")" == "$KUEUE_VERSION" ]]; }

# Kueue's controller, its CRDs and its webhook configurations, from the module of the pinned release.
build_kueue() {
  have_kueue && return
  local mod="$KUEUE/src" source
  rm -rf "${KUEUE:?}/bin" "${KUEUE:?}/crds"
  mkdir -p "$mod" "$KUEUE/bin" "$KUEUE/crds"
  printf 'module trainjob.local/kueue-build\n\ngo 1.26.0\n\nrequire sigs.k8s.io/kueue %s\n' "$KUEUE_VERSION" >"$mod/go.mod"
  : >"$mod/go.sum"
  log "building kueue $KUEUE_VERSION"
  go_build "$mod" "$KUEUE/bin/kueue" "-X sigs.k8s.io/kueue/pkg/version.GitVersion=$KUEUE_VERSION" \
    sigs.k8s.io/kueue/cmd/kueue
  source="$(cd "$mod" && go mod download -json "sigs.k8s.io/kueue@$KUEUE_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
  cp "$source"/config/components/crd/bases/*.yaml "$KUEUE/crds/"
  cp "$source/config/components/webhook/manifests.yaml" "$KUEUE/webhooks.yaml"
  echo "$KUEUE_VERSION" >"$KUEUE/.version"
}

build() {
  if have_all && have_kueue; then echo "$BIN"; return; fi
  command -v go >/dev/null || { log "go is not installed: cannot build the control plane"; exit 1; }
  mkdir -p "$ROOT"
  exec 9>"$ROOT/.lock"
  flock 9  # one build at a time; a second caller waits, then finds everything built
  if have_all && have_kueue; then echo "$BIN"; return; fi
  local start=$SECONDS
  if have_all; then build_kueue; log "built kueue in $((SECONDS - start))s"; echo "$BIN"; return; fi
  rm -f "$STAMP"
  # binaries of other pins are rebuilt; those of an interrupted build with these pins are kept
  if [[ -f "$BIN/.pins" && "$(cat "$BIN/.pins")" != "$PINS" ]]; then rm -rf "$BIN"; fi
  mkdir -p "$BIN"
  echo "$PINS" >"$BIN/.pins"
  log "building into $BIN (cold: about 15 minutes on 2 cores); go output in $LOG"
  [[ -x "$BIN/etcd" ]] || build_etcd
  [[ -x "$BIN/helm" ]] || build_helm
  local b
  for b in "${K8S_CMDS[@]}"; do [[ -x "$BIN/$b" ]] || { build_k8s; break; }; done
  echo "$PINS" >"$STAMP"
  build_kueue
  log "built in $((SECONDS - start))s"
  echo "$BIN"
}

case "${1:-}" in
  build) build ;;
  bin-dir) echo "$BIN" ;;
  versions) echo "$PINS kueue=$KUEUE_VERSION" ;;
  kueue-dir) echo "$KUEUE" ;;
  up)
    build >/dev/null
    cd "$(dirname "${BASH_SOURCE[0]}")/.."
    exec "${PYTHON:-.venv/bin/python}" -m tests.cluster
    ;;
  *) echo "usage: $0 build|bin-dir|versions|kueue-dir|up" >&2; exit 2 ;;
esac
