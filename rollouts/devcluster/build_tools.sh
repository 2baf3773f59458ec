#!/usr/bin/env bash
# Builds the local control plane's binaries from Go modules into a cache outside the repo.
#
#   build_tools.sh [tool...]     tools: kubernetes etcd kwok helm (default: all)
#
# Called by `rollouts dev build|up` (rollouts/devcluster/build.py), which passes the
# pinned versions from versions.py as environment variables.
#
# Each tool is built in its own wrapper module so minimal version selection never
# mixes their dependency graphs. A tool is rebuilt only when its pinned version
# changes: the output directory is named after the version and holds a `.done` stamp.
# Output: $ROLLOUTS_CACHE/bin/<tool>-<version>/ (default ~/.cache/rollouts).
set -euo pipefail

: "${KUBERNETES_VERSION:?set by rollouts/devcluster/versions.py}"
: "${ETCD_VERSION:?}" "${KWOK_VERSION:?}" "${HELM_VERSION:?}"

CACHE=${ROLLOUTS_CACHE:-$HOME/.cache/rollouts}
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
# Go's own module and build caches stay shared (~/go/pkg/mod, ~/.cache/go-build):
# both live outside the repo and survive between sessions on the same machine.

log() { printf '[build-tools] %s\n' "$*" >&2; }

need_go() {
  command -v go >/dev/null 2>&1 || { echo "build-tools: Go is not installed; install Go >= 1.26 (https://go.dev/doc/install) and retry" >&2; exit 3; }
}

wrapper() { # wrapper NAME -> prints a fresh wrapper module dir
  local dir="$CACHE/build/$1"
  rm -rf "$dir"; mkdir -p "$dir"
  printf '%s' "$dir"
}

stamp_ok() { [ -f "$1/.done" ]; }

build_kubernetes() {
  local out="$CACHE/bin/kubernetes-$KUBERNETES_VERSION"
  stamp_ok "$out" && { log "kubernetes $KUBERNETES_VERSION cached in $out"; return; }
  need_go
  local dir minor staging_version
  dir=$(wrapper "kubernetes-$KUBERNETES_VERSION")
  minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
  staging_version="v0.${KUBERNETES_VERSION#v1.}"
  log "kubernetes $KUBERNETES_VERSION (staging modules $staging_version)"
  # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with
  # ./staging paths, which a dependency's replaces cannot do: name the real versions.
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "module rollouts.local/tools/kubernetes"
    echo
    echo "go 1.26"
    echo
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    echo
    # The staging modules are exactly those replaced with a ./staging/ path.
    grep -E '=> \./staging/' "$gomod" | awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}' | sort -u
  } > "$dir/go.mod"
  local pkg=k8s.io/kubernetes/cmd
  (cd "$dir" && go get "k8s.io/kubernetes@$KUBERNETES_VERSION" >/dev/null)
  local commit date ldf=""
  commit=$(printf '%040d' 0)
  date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf="$ldf -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ldf="$ldf -X $p.gitTreeState=clean -X $p.buildDate=$date -X $p.gitCommit=$commit"
  done
  mkdir -p "$out.tmp"
  (cd "$dir" && go build -trimpath -ldflags "-s -w $ldf" -o "$out.tmp/" \
    $pkg/kube-apiserver $pkg/kube-controller-manager $pkg/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
  rm -rf "$out"; mv "$out.tmp" "$out"; touch "$out/.done"
}

build_simple() { # build_simple NAME MODULE VERSION PACKAGE BINARY
  local name=$1 module=$2 version=$3 package=$4 binary=$5
  local out="$CACHE/bin/$name-$version"
  stamp_ok "$out" && { log "$name $version cached in $out"; return; }
  need_go
  local dir; dir=$(wrapper "$name-$version")
  log "$name $version"
  printf 'module rollouts.local/tools/%s\n\ngo 1.26\n' "$name" > "$dir/go.mod"
  (cd "$dir" && go get "$module@$version" >/dev/null)
  mkdir -p "$out.tmp"
  (cd "$dir" && go build -trimpath -ldflags "-s -w $6" -o "$out.tmp/$binary" "$package")
  rm -rf "$out"; mv "$out.tmp" "$out"; touch "$out/.done"
}

build_etcd() {
  build_simple etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" go.etcd.io/etcd/server/v3 etcd ""
}
build_kwok() {
  build_simple kwok sigs.k8s.io/kwok "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok kwok \
    "-X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION"
}
build_helm() {
  build_simple helm helm.sh/helm/v3 "$HELM_VERSION" helm.sh/helm/v3/cmd/helm helm \
    "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
}

tools=("$@"); [ ${#tools[@]} -eq 0 ] && tools=(etcd kwok kubernetes helm)
for t in "${tools[@]}"; do
  case "$t" in
    kubernetes|etcd|kwok|helm) start=$(date +%s); "build_$t"; log "$t done in $(( $(date +%s) - start ))s" ;;
    *) echo "build-tools: unknown tool '$t' (choose from kubernetes etcd kwok helm)" >&2; exit 2 ;;
  esac
done
