#!/usr/bin/env bash
# Starts (and stops) the real servers the tests use, in parallel: Apache
# Kafka (kafka.sh) and a search node (search.sh). `start` prints the export
# lines of both env files for .ci/run to eval; `stop` stops both.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

# The servers run on Java 17+ from Maven Central jars.
need() {
  command -v java >/dev/null && command -v mvn >/dev/null && return
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless maven >/dev/null
}

case "${1:-}" in
start)
  need
  out=$(mktemp -d)
  bash "$here/kafka.sh" start >"$out/kafka.env" 2>"$out/kafka.log" & k=$!
  bash "$here/search.sh" start >"$out/search.env" 2>"$out/search.log" & s=$!
  ok=0
  wait $k || { ok=1; echo "kafka.sh start failed:" >&2; }
  wait $s || { ok=1; echo "search.sh start failed:" >&2; }
  cat "$out/kafka.log" "$out/search.log" >&2
  [[ $ok == 0 ]] || exit 1
  cat "$out/kafka.env" "$out/search.env"
  rm -rf "$out"
  ;;
stop)
  bash "$here/kafka.sh" stop || true
  bash "$here/search.sh" stop || true
  ;;
*)
  echo "usage: $0 start|stop" >&2; exit 2
  ;;
esac
