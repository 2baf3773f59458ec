#!/usr/bin/env bash
# Builds the real Argo Rollouts controller from its Go module, for the hand-over test
# (tests/integration/test_argo_handover.py). Test tooling only: nothing at run time
# uses it, and none of Argo's code enters this repo.
#
#   build_argo_rollouts.sh
#
# A wrapper module in the cache requires github.com/argoproj/argo-rollouts and copies
# every `replace` line of that module's go.mod (it pins k8s.io/* that way, and a
# dependency's replaces are ignored by the main module). Argo's go.mod declares
# `go 1.26.10`, newer than the Go installed here, so the build asks for a newer
# toolchain by GOTOOLCHAIN (fetched once from the Go module proxy).
#
# Output: $ROLLOUTS_CACHE/bin/argo-rollouts-<version>/rollouts-controller (default
# ~/.cache/rollouts), with a `.done` stamp: a second run is instant.
set -euo pipefail

ARGO_ROLLOUTS_VERSION=${ARGO_ROLLOUTS_VERSION:-v1.10.2}
ARGO_GOTOOLCHAIN=${ARGO_GOTOOLCHAIN:-go1.27.3}
MODULE=github.com/argoproj/argo-rollouts
PACKAGE=$MODULE/cmd/rollouts-controller

CACHE=${ROLLOUTS_CACHE:-$HOME/.cache/rollouts}
export GOTOOLCHAIN=$ARGO_GOTOOLCHAIN CGO_ENABLED=0 GOFLAGS=-mod=mod
# Go's own module and build caches stay shared (~/go/pkg/mod, ~/.cache/go-build),
# as in rollouts/devcluster/build_tools.sh.

log() { printf '[build-argo-rollouts] %s\n' "$*" >&2; }

out="$CACHE/bin/argo-rollouts-$ARGO_ROLLOUTS_VERSION"
if [ -f "$out/.done" ]; then
  log "argo-rollouts $ARGO_ROLLOUTS_VERSION cached in $out"
  exit 0
fi
command -v go >/dev/null 2>&1 || { echo "build-argo-rollouts: Go is not installed; install Go >= 1.26 and retry" >&2; exit 3; }

start=$(date +%s)
dir="$CACHE/build/argo-rollouts-$ARGO_ROLLOUTS_VERSION"
rm -rf "$dir"; mkdir -p "$dir"
log "argo-rollouts $ARGO_ROLLOUTS_VERSION with $ARGO_GOTOOLCHAIN (wrapper module: $dir)"

gomod=$(cd "$dir" && go mod download -json "$MODULE@$ARGO_ROLLOUTS_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
[ -f "$gomod" ] || { echo "build-argo-rollouts: no go.mod downloaded for $MODULE@$ARGO_ROLLOUTS_VERSION" >&2; exit 1; }
go_line=$(awk '$1 == "go" {print $2; exit}' "$gomod")

# Every replace directive, in either form: `replace a => b v` or a `replace ( ... )` block.
replaces=$(awk '
  /^replace[ \t]*\($/ { block = 1; next }
  block && /^\)/      { block = 0; next }
  block && NF         { sub(/^[ \t]+/, ""); print "replace " $0; next }
  /^replace[ \t]+[^(]/ { print }
' "$gomod")
[ -n "$replaces" ] || { echo "build-argo-rollouts: found no replace lines in $gomod" >&2; exit 1; }

{
  echo "module rollouts.local/tools/argo-rollouts"
  echo
  echo "go $go_line"
  echo
  echo "require $MODULE $ARGO_ROLLOUTS_VERSION"
  echo
  printf '%s\n' "$replaces"
} > "$dir/go.mod"
log "copied $(printf '%s\n' "$replaces" | wc -l) replace lines from $MODULE's go.mod (go $go_line)"

(cd "$dir" && go get "$MODULE@$ARGO_ROLLOUTS_VERSION" >/dev/null)
mkdir -p "$out.tmp"
(cd "$dir" && go build -trimpath -ldflags "-s -w -X $MODULE/utils/version.version=${ARGO_ROLLOUTS_VERSION#v}" \
  -o "$out.tmp/rollouts-controller" "$PACKAGE")
rm -rf "$out"; mv "$out.tmp" "$out"; touch "$out/.done"
log "argo-rollouts $ARGO_ROLLOUTS_VERSION built in $(( $(date +%s) - start ))s: $out/rollouts-controller"
