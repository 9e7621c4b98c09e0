#!/usr/bin/env bash
# A real search node for the elasticsearch and opensearch sinks' tests.
#
# No Elasticsearch 8 node can be assembled from Maven Central: the server jar
# (org.elasticsearch:elasticsearch), transport-netty4 (org.elasticsearch.plugin)
# and x-pack-core are published, but not the modules a node needs for the
# sink's features — lang-painless, ingest-common, data-streams (x-pack),
# mapper-extras, aggregations (neither under org.elasticsearch.plugin nor
# org.elasticsearch.module; org.codelibs's copies stop at 7.10). So this runs
# OpenSearch 2.19 (Apache-2.0, published whole): the server on the classpath
# and its modules (transport-netty4, lang-painless, ingest-common,
# analysis-common, mapper-extras) each in modules/<name>, as the distribution
# lays them out; single node, security off, loopback, heap 512 MiB.
#
#   search.sh start   start (idempotent), wait for a green/yellow cluster, write the env file
#   search.sh stop    stop it and remove its directory
#   search.sh env     print the env file: OPENSEARCH_URL, ELASTICSEARCH_URL (the same node;
#                     the elasticsearch sink's tests add the X-Elastic-Product header the
#                     v8 client requires through a proxy), SEARCH_DISTRIBUTION=opensearch
# Needs java (17) and mvn; SEARCH_DIR (default /tmp/sophos-connect-search).
set -euo pipefail
export LC_ALL=C.UTF-8
here="$(cd "$(dirname "$0")" && pwd)"
home="${SEARCH_DIR:-/tmp/sophos-connect-search}"
envfile="$home/search.env"
pidfile="$home/search.pid"
version=2.19.6
modules="transport-netty4 lang-painless ingest-common analysis-common mapper-extras"

running() { [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
# free_ports N prints N distinct loopback ports that were free a moment ago.
free_ports() {
  python3 -c 'import socket,sys
ss=[socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1",0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}

# classpath [PROFILE] resolves the pom (or one module's profile) once; the
# lists are kept beside the jars in ~/.m2.
classpath() {
  local cp; cp="$HOME/.m2/sophos-connect-search-$(md5sum <"$here/search/pom.xml" | cut -c1-12)-${1:-server}.classpath"
  if [[ ! -s $cp ]]; then
    (cd "$here/search" && mvn -q -B ${1:+-P$1} dependency:build-classpath -Dmdep.outputFile="$cp") >&2
  fi
  cat "$cp"
}

# module NAME CLASSNAME [EXTENDS] installs one module: its own jars (those not
# already on the server's classpath), a descriptor and its security policy.
module() {
  local name=$1 class=$2 ext=${3:-} d="$home/modules/$1"
  mkdir -p "$d"
  local server; server=$(classpath | tr ':' '\n')
  { classpath "$name" | tr ':' '\n'; echo; } | while read -r jar; do
    [[ -z $jar ]] || grep -qxF "$jar" <<<"$server" || cp "$jar" "$d/"
  done
  cat >"$d/plugin-descriptor.properties" <<PROPS
description=$name (module, from Maven Central)
version=$version
name=$name
classname=$class
java.version=11
opensearch.version=$version
extended.plugins=$ext
has.native.controller=false
PROPS
  case $name in
  transport-netty4) cat >"$d/plugin-security.policy" <<'POLICY'
grant {
  permission java.io.FilePermission "/proc/sys/net/core/somaxconn", "read";
  permission java.net.SocketPermission "*", "accept,connect";
  permission java.lang.RuntimePermission "*", "setContextClassLoader";
  permission java.lang.RuntimePermission "getClassLoader";
  permission java.util.PropertyPermission "sun.nio.ch.bugLevel", "write";
};
POLICY
  ;;
  lang-painless) cat >"$d/plugin-security.policy" <<'POLICY'
grant {
  permission java.lang.RuntimePermission "createClassLoader";
  permission java.lang.RuntimePermission "getClassLoader";
};
POLICY
  ;;
  esac
}

configure() {
  rm -rf "$home"; mkdir -p "$home"/{config,data,logs,plugins,modules,tmp}
  read -r http transport <<<"$(free_ports 2)"
  cp "$here/search/log4j2.properties" "$home/config/"
  cat >"$home/config/opensearch.yml" <<YML
cluster.name: sophos-connect-test
node.name: node-1
path.data: $home/data
path.logs: $home/logs
network.host: 127.0.0.1
http.port: $http
transport.port: $transport
discovery.type: single-node
cluster.routing.allocation.disk.threshold_enabled: false
action.auto_create_index: true
YML
  module transport-netty4 org.opensearch.transport.Netty4Plugin
  module lang-painless org.opensearch.painless.PainlessPlugin
  module ingest-common org.opensearch.ingest.common.IngestCommonPlugin lang-painless
  module analysis-common org.opensearch.analysis.common.CommonAnalysisPlugin lang-painless
  module mapper-extras org.opensearch.index.mapper.MapperExtrasPlugin
  cat >"$envfile" <<ENV
# written by test/services/search.sh; source it
export OPENSEARCH_URL=http://127.0.0.1:$http
export ELASTICSEARCH_URL=http://127.0.0.1:$http
export SEARCH_DISTRIBUTION=opensearch
ENV
}

# launch starts the node with JNA's native library out of reach: OpenSearch
# refuses to run as root (CI's user), and it can only tell through JNA.
# Without it the node skips the native extras (mlockall, seccomp) that a
# loopback test node does not need.
launch() {
  # shellcheck disable=SC1090
  source "$envfile"
  nohup java -Xms512m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss1m \
    -Djava.awt.headless=true -Dfile.encoding=UTF-8 -XX:-OmitStackTraceInFastThrow \
    -Dio.netty.noUnsafe=true -Dio.netty.noKeySetOptimization=true -Dio.netty.recycler.maxCapacityPerThread=0 \
    -Dlog4j.shutdownHookEnabled=false -Dlog4j2.disable.jmx=true -Dlog4j2.formatMsgNoLookups=true \
    -Djava.locale.providers=SPI,COMPAT -Djava.io.tmpdir="$home/tmp" \
    -Dopensearch.path.home="$home" -Dopensearch.path.conf="$home/config" \
    -Dopensearch.distribution.type=tar -Dopensearch.bundled_jdk=false \
    -Djna.nosys=true -Djna.nounpack=true -Djna.boot.library.path="$home/no-native" \
    -cp "$(classpath)" org.opensearch.bootstrap.OpenSearch >"$home/logs/stdout.log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 240); do
    if ! running; then tail -n 40 "$home/logs/stdout.log" "$home/logs/sophos-connect-test.log" >&2 || true; echo "search: node exited" >&2; exit 1; fi
    if curl -fsS "$OPENSEARCH_URL/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "search: node did not start within 120s" >&2; tail -n 40 "$home/logs/sophos-connect-test.log" >&2 || true; exit 1
}

stop() {
  if running; then
    local pid; pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  fi
  rm -f "$pidfile"
}

case "${1:-}" in
start)
  if running; then cat "$envfile"; exit 0; fi
  command -v java >/dev/null || { echo "search: java not found (apt-get install openjdk-17-jre-headless)" >&2; exit 1; }
  t0=$SECONDS
  configure
  launch
  echo "search: OpenSearch $version up in $((SECONDS - t0))s at $OPENSEARCH_URL (pid $(cat "$pidfile"))" >&2
  cat "$envfile"
  ;;
stop)
  stop
  rm -rf "$home"
  ;;
env)
  cat "$envfile"
  ;;
*)
  echo "usage: $0 start|stop|env" >&2; exit 2
  ;;
esac
