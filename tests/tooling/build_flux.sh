#!/usr/bin/env bash
# Builds Flux's source-controller and kustomize-controller from their Go modules, for the
# side-by-side GitOps benchmark (tests/bench/flux_compare.py). Test tooling only: nothing
# at run time uses them, and none of Flux's code enters this repo.
#
#   build_flux.sh            # prints nothing on stdout; logs on stderr
#   build_flux.sh --print    # also prints `bin <controller> <version> <path>` and
#                            # `crd <path>` lines on stdout
#
# As tests/tooling/build_argo_rollouts.sh: one wrapper module per controller in the cache
# requires the controller's module and copies every `replace` line of its go.mod (a
# dependency's replaces are ignored by the main module), except those to a relative path
# (`./api`: the wrapper takes the `api` submodule at the version the controller requires).
# The main packages are at each module's root. Their go.mod declares `go 1.27.0`, newer
# than the Go installed here, so the build asks for a newer toolchain by GOTOOLCHAIN
# (fetched once from the Go module proxy). Built under `nice -n 19`: the machine is shared.
#
# Output: $ROLLOUTS_CACHE/bin/flux-<controller>-<version>/<controller> (default
# ~/.cache/rollouts), with a `.done` stamp: a second run is instant. The CRDs are the
# modules' own config/crd/bases/*.yaml in Go's module cache.
set -euo pipefail

# v1.10.x needs github.com/fluxcd/pkg/{masktoken,spiffe,apis/crypto}, which the Go module
# proxy reachable here does not serve (403 "This module version is not available").
FLUX_SOURCE_VERSION=${FLUX_SOURCE_VERSION:-v1.9.6}
FLUX_KUSTOMIZE_VERSION=${FLUX_KUSTOMIZE_VERSION:-v1.9.6}
# source-controller v1.9.6 requires github.com/fluxcd/pkg/artifact v0.18.3, which that proxy
# refuses too; v0.18.0 (same minor, served) stands in. One replace line per `;`.
FLUX_SOURCE_REPLACES=${FLUX_SOURCE_REPLACES-github.com/fluxcd/pkg/artifact => github.com/fluxcd/pkg/artifact v0.18.0}
FLUX_KUSTOMIZE_REPLACES=${FLUX_KUSTOMIZE_REPLACES-}
FLUX_GOTOOLCHAIN=${FLUX_GOTOOLCHAIN:-go1.27.3}

CACHE=${ROLLOUTS_CACHE:-$HOME/.cache/rollouts}
export GOTOOLCHAIN=$FLUX_GOTOOLCHAIN CGO_ENABLED=0 GOFLAGS=-mod=mod
# Go's own module and build caches stay shared (~/go/pkg/mod, ~/.cache/go-build).

log() { printf '[build-flux] %s\n' "$*" >&2; }
command -v go >/dev/null 2>&1 || { echo "build-flux: Go is not installed; install Go >= 1.26 and retry" >&2; exit 3; }

# build CONTROLLER VERSION EXTRA_REPLACES: the binary into
# $CACHE/bin/flux-CONTROLLER-VERSION/CONTROLLER.
build() {
  local controller=$1 version=$2 extra=$3
  local module=github.com/fluxcd/$controller
  local out="$CACHE/bin/flux-$controller-$version"
  if [ -f "$out/.done" ]; then
    log "$controller $version cached in $out"
    return 0
  fi
  local start dir gomod go_line replaces
  start=$(date +%s)
  dir="$CACHE/build/flux-$controller-$version"
  rm -rf "$dir"; mkdir -p "$dir"
  log "$controller $version with $FLUX_GOTOOLCHAIN (wrapper module: $dir)"
  gomod=$(cd "$dir" && go mod download -json "$module@$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [ -f "$gomod" ] || { echo "build-flux: no go.mod downloaded for $module@$version" >&2; exit 1; }
  go_line=$(awk '$1 == "go" {print $2; exit}' "$gomod")
  # Every replace directive, in either form, but those whose target is a local path.
  replaces=$(awk '
    /^replace[ \t]*\($/ { block = 1; next }
    block && /^\)/      { block = 0; next }
    block && NF         { sub(/^[ \t]+/, ""); print "replace " $0; next }
    /^replace[ \t]+[^(]/ { print }
  ' "$gomod" | awk '{ split($0, side, "=>"); if (side[2] !~ /^[ \t]*\.\.?\//) print }')
  {
    echo "module rollouts.local/tools/flux-$controller"
    echo
    echo "go $go_line"
    echo
    echo "require $module $version"
    echo
    printf '%s\n' "$replaces"
    [ -z "$extra" ] || printf '%s\n' "$extra" | tr ';' '\n' | sed 's/^[ \t]*/replace /'
  } > "$dir/go.mod"
  [ -z "$extra" ] || log "extra replace: $extra"
  log "copied $(printf '%s\n' "$replaces" | grep -c . || true) replace lines from $module's go.mod (go $go_line)"
  (cd "$dir" && go get "$module@$version" >/dev/null)
  mkdir -p "$out.tmp"
  (cd "$dir" && nice -n 19 go build -trimpath -ldflags "-s -w" -o "$out.tmp/$controller" "$module")
  rm -rf "$out"; mv "$out.tmp" "$out"; touch "$out/.done"
  log "$controller $version built in $(( $(date +%s) - start ))s: $out/$controller"
}

build source-controller "$FLUX_SOURCE_VERSION" "$FLUX_SOURCE_REPLACES"
build kustomize-controller "$FLUX_KUSTOMIZE_VERSION" "$FLUX_KUSTOMIZE_REPLACES"

if [ "${1:-}" = "--print" ]; then
  # For tests/bench/flux_compare.py: `bin <controller> <version> <path>`, `crd <path>`.
  for pair in "source-controller $FLUX_SOURCE_VERSION" "kustomize-controller $FLUX_KUSTOMIZE_VERSION"; do
    set -- $pair
    echo "bin $1 $2 $CACHE/bin/flux-$1-$2/$1"
    src=$(cd "$CACHE" && go mod download -json "github.com/fluxcd/$1@$2" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
    for crd in "$src"/config/crd/bases/*.yaml; do echo "crd $crd"; done
  done
fi
