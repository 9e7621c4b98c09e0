#!/usr/bin/env bash
# Builds the Go-module test peers (each its own module under test/services, so
# the product's go.mod holds only what the product runs) and caches the
# binaries under ~/.cache/sophos-connect-ci keyed by the module's go.sum, so a
# warm CI run does not build them again. Prints the export lines:
#   OTELCOL_BIN   an OpenTelemetry Collector (test/services/otelcol: the otlp
#                 receiver and the file exporter, collector release v0.165.0)
#   WEED_BIN      SeaweedFS (test/services/seaweedfs), whose S3 gateway the
#                 s3 sink's tests use: built from a trimmed copy (trim/: the
#                 master, volume, filer and S3 commands and `weed s3stack`,
#                 without the other filer stores, cloud SDKs, FUSE, sftp,
#                 message queue and admin UI): 874 packages of 1739, about
#                 60 % of the full build's CPU (see sinks/s3/README.md)
#
#   gobuild.sh otelcol|seaweedfs   build one (idempotent), print its export line
#   gobuild.sh all                 build both in parallel
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${SOPHOS_CONNECT_CI_CACHE:-$HOME/.cache/sophos-connect-ci}"

# build NAME VAR PKG [MODFILE]: go build PKG in module $here/NAME into the
# cache (with -modfile MODFILE when given).
build() {
  local name=$1 var=$2 pkg=$3 modfile=${4:-}
  # (the key covers the module's go.mod, go.sum and its own sources)
  local key; key=$( (cd "$here/$name" && cat go.mod go.sum $(find . -name '*.go' -o -name '*.go.txt' | sort) 2>/dev/null || true) | sha256sum | cut -c1-16)
  local dir="$cache/$name-$key" bin="$cache/$name-$key/$name"
  if [[ ! -x $bin ]]; then
    local start=$SECONDS
    mkdir -p "$dir"
    local flags=()
    if [[ -n $modfile ]]; then
      modfile=$("$modfile") # a step that writes the modfile and prints its path
      flags=(-modfile "$modfile" -ldflags "-s -w")
    fi
    (cd "$here/$name" && GOWORK=off GOFLAGS=-mod=readonly go build -trimpath "${flags[@]}" -o "$bin.tmp" "$pkg")
    [[ -z $modfile ]] || rm -rf "$(dirname "$modfile")"
    mv "$bin.tmp" "$bin"
    echo "$name: built in $((SECONDS - start))s" >&2
  fi
  echo "export $var=$bin"
}

# trimmed_seaweedfs writes the trimmed SeaweedFS copy and its go.mod (see
# test/services/seaweedfs/trim) and prints the go.mod's path. The module's
# go.sum holds exactly what that build loads (`go mod tidy` would add the
# tests' dependencies of all of SeaweedFS): after changing the pin, rebuild
# it with an empty go.sum in the printed directory and
#   GOFLAGS=-mod=mod GOSUMDB=off go list -modfile DIR/go.mod -deps github.com/seaweedfs/seaweedfs/weed
# then copy DIR/go.sum plus SeaweedFS's own two lines.
trimmed_seaweedfs() {
  local out="${TMPDIR:-/tmp}/sophos-connect-seaweedfs-$$"
  (cd "$here/seaweedfs" && GOWORK=off GOFLAGS=-mod=readonly go run ./trim "$out")
}

# one_release checks that every OpenTelemetry Collector module is of one
# release (core v0.165.0 / stable v1.71.0, contrib v0.165.0): mixing
# releases builds but breaks at run time.
one_release() {
  local bad
  bad=$(cd "$here/otelcol" && GOWORK=off go list -m all | awk '
    $1 ~ /^go.opentelemetry.io\/collector/ && $2 != "v0.165.0" && $2 != "v1.71.0" {print}
    $1 ~ /^github.com\/open-telemetry\/opentelemetry-collector-contrib\// && $2 != "v0.165.0" {print}')
  if [[ -n $bad ]]; then
    echo "test/services/otelcol mixes collector releases:" >&2
    echo "$bad" >&2
    return 1
  fi
}

case "${1:-}" in
otelcol) one_release && build otelcol OTELCOL_BIN . ;;
seaweedfs) build seaweedfs WEED_BIN github.com/seaweedfs/seaweedfs/weed trimmed_seaweedfs ;;
all)
  out=$(mktemp -d)
  "$0" otelcol >"$out/o" & o=$!
  "$0" seaweedfs >"$out/s" & s=$!
  ok=0
  wait $o || ok=1
  wait $s || ok=1
  cat "$out/o" "$out/s"
  rm -rf "$out"
  exit $ok
  ;;
*) echo "usage: $0 otelcol|seaweedfs|all" >&2; exit 2 ;;
esac
