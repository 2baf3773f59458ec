#!/usr/bin/env bash
# Builds Traefik v3 from its Go module, as the real data plane of the real-traffic
# test (tests/integration/test_real_traffic.py): HTTP requests go through it to the
# canary and stable pods by the HTTPRoute weights our Gateway API router writes.
# Test tooling only: nothing at run time uses it, and none of Traefik's code enters
# this repo.
#
#   build_traefik.sh
#
# A wrapper module in the cache requires github.com/traefik/traefik/v3 and copies
# every `replace` and `exclude` line of that module's go.mod (a dependency's replaces
# and excludes are ignored by the main module; Traefik pins forks of gorilla/mux and
# go-http-auth that way). v3.6 is the default: v3.7 replaces
# github.com/traefik/traefik/dynamic/ext by a directory of its own repository that is
# a nested module, so it is not in the module zip, and the proxy does not serve that
# module either; the build fails there with a clear message.
#
# Output: $ROLLOUTS_CACHE/bin/traefik-<version>/traefik (default ~/.cache/rollouts),
# the standard-channel Gateway API CRDs of the gateway-api module it was built with in
# crds/ beside it, and a `.done` stamp: a second run is instant. A cold build took
# 25 minutes here on 2 cores shared with other test runs (most of it compiling).
set -euo pipefail

TRAEFIK_VERSION=${TRAEFIK_VERSION:-v3.6.12}
MODULE=github.com/traefik/traefik/v3
PACKAGE=$MODULE/cmd/traefik

CACHE=${ROLLOUTS_CACHE:-$HOME/.cache/rollouts}
export CGO_ENABLED=0 GOFLAGS=-mod=mod
# Go's own module and build caches stay shared (~/go/pkg/mod, ~/.cache/go-build),
# as in rollouts/devcluster/build_tools.sh.

log() { printf '[build-traefik] %s\n' "$*" >&2; }

out="$CACHE/bin/traefik-$TRAEFIK_VERSION"
if [ -f "$out/.done" ]; then
  log "traefik $TRAEFIK_VERSION cached in $out"
  exit 0
fi
command -v go >/dev/null 2>&1 || { echo "build-traefik: Go is not installed; install Go >= 1.25 and retry" >&2; exit 3; }

start=$(date +%s)
dir="$CACHE/build/traefik-$TRAEFIK_VERSION"
rm -rf "$dir"; mkdir -p "$dir"
log "traefik $TRAEFIK_VERSION (wrapper module: $dir)"

gomod=$(cd "$dir" && go mod download -json "$MODULE@$TRAEFIK_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
[ -f "$gomod" ] || { echo "build-traefik: no go.mod downloaded for $MODULE@$TRAEFIK_VERSION" >&2; exit 1; }
go_line=$(awk '$1 == "go" {print $2; exit}' "$gomod")

# Every replace and exclude directive, single-line or in a `( ... )` block.
directives=$(awk '
  /^(replace|exclude)[ \t]*\($/ { block = $1; next }
  block && /^\)/                { block = ""; next }
  block && NF && !/^[ \t]*\/\// { sub(/^[ \t]+/, ""); print block " " $0; next }
  /^(replace|exclude)[ \t]+[^(]/ { print }
' "$gomod")
if printf '%s\n' "$directives" | grep -q '=> *\.'; then
  echo "build-traefik: $MODULE@$TRAEFIK_VERSION replaces a module by a directory of its own repository:" >&2
  printf '%s\n' "$directives" | grep '=> *\.' >&2
  echo "build-traefik: that directory is not in the module zip; use TRAEFIK_VERSION=v3.6.12" >&2
  exit 1
fi

{
  echo "module rollouts.local/tools/traefik"
  echo
  echo "go $go_line"
  echo
  echo "require $MODULE $TRAEFIK_VERSION"
  echo
  printf '%s\n' "$directives"
} > "$dir/go.mod"
log "copied $(printf '%s\n' "$directives" | grep -c .) replace/exclude lines from $MODULE's go.mod (go $go_line)"

(cd "$dir" && go get "$MODULE@$TRAEFIK_VERSION" >/dev/null)
mkdir -p "$out.tmp"
(cd "$dir" && go build -trimpath -ldflags "-s -w -X $MODULE/pkg/version.Version=${TRAEFIK_VERSION#v}" \
  -o "$out.tmp/traefik" "$PACKAGE")
# Traefik's Gateway provider also watches GRPCRoutes, ReferenceGrants and
# BackendTLSPolicies: their CRDs come from the gateway-api module it was built with.
gateway_api=$(cd "$dir" && go list -m -f '{{.Dir}}' sigs.k8s.io/gateway-api)
mkdir -p "$out.tmp/crds"
cp "$gateway_api"/config/crd/standard/*.yaml "$out.tmp/crds/"
chmod -R u+w "$out.tmp/crds"
rm -rf "$out"; mv "$out.tmp" "$out"; touch "$out/.done"
log "traefik $TRAEFIK_VERSION built in $(( $(date +%s) - start ))s: $out/traefik"
