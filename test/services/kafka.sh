#!/usr/bin/env bash
# A real Apache Kafka broker for the tests: one KRaft node (broker+controller)
# on loopback, from the Maven Central jars (test/services/kafka/pom.xml; cached
# in ~/.m2). Listeners:
#   PLAINTEXT  127.0.0.1:$KAFKA_BROKERS       ANONYMOUS is a super user
#   SASL_SSL   127.0.0.1:$KAFKA_SASL_BROKERS  SCRAM-SHA-256/512 users, ACLs on
#   BADADV     127.0.0.1:$KAFKA_BAD_ADVERTISED_BROKERS  PLAINTEXT that advertises
#              a dead port (a wrong advertised.listeners)
# auto.create.topics.enable=false (as on MSK and Confluent Cloud). A second
# node, the same but with auto.create.topics.enable=true (the Apache default),
# serves $KAFKA_AUTOCREATE_BROKERS / $KAFKA_AUTOCREATE_SASL_BROKERS.
#
#   kafka.sh start    start (idempotent), wait until it serves, write the env file
#   kafka.sh stop     stop it (keeps nothing: the next start formats afresh)
#   kafka.sh restart  stop and start the auto-create node (data and ports kept),
#                     for outage tests: the main node, which other tests may be
#                     using at the same time, keeps running
#   kafka.sh env      print the env file (source it: KAFKA_BROKERS, ...)
#
# Users (created with kafka-storage format --add-scram), all but admin limited
# to topics prefixed "sasl-" by ACLs (kafka-acls):
#   admin     SCRAM-SHA-512  super user
#   writer    SCRAM-SHA-256 and -512  DESCRIBE, WRITE, CREATE
#   nowrite   SCRAM-SHA-512  DESCRIBE only
#   nocreate  SCRAM-SHA-512  DESCRIBE, WRITE (no CREATE)
#   unicode   SCRAM-SHA-256  DESCRIBE, WRITE; a non-ASCII password that
#             SASLprep would change (Kafka does no SASLprep)
# Needs java (17+) and mvn. KAFKA_DIR (default /tmp/sophos-connect-kafka)
# holds the config, data, logs and the env file.
set -euo pipefail
# Java reads its arguments (the unicode user's password) in the locale's charset.
export LC_ALL=C.UTF-8
here="$(cd "$(dirname "$0")" && pwd)"
root="${KAFKA_DIR:-/tmp/sophos-connect-kafka}"
envfile="$root/kafka.env"
# node NAME points dir and pidfile at one of the two nodes.
node() { dir="$root/$1"; pidfile="$dir/kafka.pid"; nodeenv="$dir/node.env"; }

# free_ports N prints N distinct loopback ports that were free a moment ago
# (held open together, so none repeats).
free_ports() {
  python3 -c 'import socket,sys
ss=[socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1",0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}

running() { [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

# classpath resolves the pom once (jars cached in ~/.m2, the list beside them).
classpath() {
  local cp; cp="$HOME/.m2/sophos-connect-kafka-$(md5sum <"$here/kafka/pom.xml" | cut -c1-12).classpath"
  if [[ ! -s $cp ]]; then
    (cd "$here/kafka" && mvn -q -B dependency:build-classpath -Dmdep.outputFile="$cp") >&2
  fi
  cat "$cp"
}

jrun() { java -Xmx256m -Dlog4j2.configurationFile="$here/kafka/log4j2.yaml" -Dkafka.logs.dir="$dir/logs" -cp "$(classpath)" "$@"; }

# admin runs a Kafka CLI tool against the PLAINTEXT listener.
admin() { jrun "$@" --bootstrap-server "127.0.0.1:$plain" >>"$dir/logs/tools.log" 2>&1; }

# configure NAME AUTOCREATE PREFIX writes the node's config, TLS store and
# formatted log dir, and its part of the env file (variables named PREFIX...).
configure() {
  node "$1"; local autocreate=$2 prefix=$3
  rm -rf "$dir"; mkdir -p "$dir/logs" "$dir/data" "$dir/tls"
  read -r plain sasl ctrl bad dead <<<"$(free_ports 5)"
  pass=kafka-test-store
  # A self-signed certificate for 127.0.0.1/localhost; its PEM is the tests' CA.
  keytool -genkeypair -noprompt -keyalg RSA -keysize 2048 -validity 30 -alias broker \
    -dname CN=localhost -ext SAN=ip:127.0.0.1,dns:localhost -ext BC=ca:true \
    -keystore "$dir/tls/broker.p12" -storetype PKCS12 -storepass "$pass" -keypass "$pass" 2>/dev/null
  keytool -exportcert -rfc -alias broker -keystore "$dir/tls/broker.p12" -storepass "$pass" >"$dir/tls/ca.pem" 2>/dev/null
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$ctrl
listeners=PLAINTEXT://127.0.0.1:$plain,SASL_SSL://127.0.0.1:$sasl,CONTROLLER://127.0.0.1:$ctrl,BADADV://127.0.0.1:$bad
advertised.listeners=PLAINTEXT://127.0.0.1:$plain,SASL_SSL://127.0.0.1:$sasl,BADADV://127.0.0.1:$dead
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT,BADADV:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=3
default.replication.factor=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
auto.create.topics.enable=$autocreate
group.initial.rebalance.delay.ms=0
message.max.bytes=1048588
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PKCS12
ssl.keystore.location=$dir/tls/broker.p12
ssl.keystore.password=$pass
ssl.key.password=$pass
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS;User:admin
PROPS
  jrun kafka.tools.StorageTool format -t "$(jrun kafka.tools.StorageTool random-uuid 2>/dev/null)" \
    -c "$dir/server.properties" \
    --add-scram 'SCRAM-SHA-512=[name=admin,password=admin-secret]' \
    --add-scram 'SCRAM-SHA-256=[name=writer,password=writer-secret]' \
    --add-scram 'SCRAM-SHA-512=[name=writer,password=writer-secret]' \
    --add-scram 'SCRAM-SHA-512=[name=nowrite,password=nowrite-secret]' \
    --add-scram 'SCRAM-SHA-512=[name=nocreate,password=nocreate-secret]' \
    --add-scram 'SCRAM-SHA-256=[name=unicode,password=Grüße-ﬁx-Ⅸ]' \
    >"$dir/logs/format.log" 2>&1 || { cat "$dir/logs/format.log" >&2; exit 1; }
  echo "$plain" >"$dir/plain.port"
  cat >"$nodeenv" <<ENV
export ${prefix}BROKERS=127.0.0.1:$plain
export ${prefix}SASL_BROKERS=127.0.0.1:$sasl
export ${prefix}CA_FILE=$dir/tls/ca.pem
export ${prefix}BAD_ADVERTISED_BROKERS=127.0.0.1:$bad
ENV
}

# launch NAME starts a configured node and waits until it serves.
launch() {
  node "$1"
  plain=$(cat "$dir/plain.port")
  # a fresh log: "started" must be this run's
  mv -f "$dir/logs/server.log" "$dir/logs/server.log.1" 2>/dev/null || true
  nohup java -Xms256m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$here/kafka/log4j2.yaml" -Dkafka.logs.dir="$dir/logs" \
    -cp "$(classpath)" kafka.Kafka "$dir/server.properties" >>"$dir/logs/stdout.log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 120); do
    if ! running; then tail -n 30 "$dir/logs/server.log" "$dir/logs/stdout.log" >&2; echo "kafka: broker exited" >&2; exit 1; fi
    if grep -q "Kafka Server started" "$dir/logs/server.log" 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  echo "kafka: broker did not start within 60s" >&2; tail -n 30 "$dir/logs/server.log" >&2; exit 1
}

# acls NAME grants the users their rights on the "sasl-" topics.
acls() {
  node "$1"; plain=$(cat "$dir/plain.port")
  local p=(--topic sasl- --resource-pattern-type prefixed) acl=org.apache.kafka.tools.AclCommand
  admin $acl --add --allow-principal User:writer --operation Describe --operation Write --operation Create "${p[@]}"
  admin $acl --add --allow-principal User:nocreate --allow-principal User:unicode --operation Describe --operation Write "${p[@]}"
  admin $acl --add --allow-principal User:nowrite --operation Describe "${p[@]}"
}

# up NAME AUTOCREATE PREFIX configures, starts and grants one node.
up() { configure "$@"; launch "$1"; acls "$1"; }

# stop NAME stops one node.
stop() {
  node "$1"
  if running; then
    local pid; pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    # the ports are free only once it is gone
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  fi
  rm -f "$pidfile"
}

case "${1:-}" in
start)
  if [[ -f $envfile ]] && (node main; running) && (node autocreate; running); then cat "$envfile"; exit 0; fi
  command -v java >/dev/null || { echo "kafka: java not found (apt-get install openjdk-17-jre-headless)" >&2; exit 1; }
  t0=$SECONDS
  rm -rf "$root"; mkdir -p "$root"
  classpath >/dev/null
  up main false KAFKA_ & a=$!
  up autocreate true KAFKA_AUTOCREATE_ & b=$!
  wait $a && wait $b || { echo "kafka: start failed; logs in $root/*/logs" >&2; exit 1; }
  { echo "# written by test/services/kafka.sh; source it"
    cat "$root/main/node.env" "$root/autocreate/node.env"
    cat <<ENV
export KAFKA_ADMIN_USER=admin KAFKA_ADMIN_PASSWORD=admin-secret
export KAFKA_SCRAM_USERS='admin:admin-secret writer:writer-secret nowrite:nowrite-secret nocreate:nocreate-secret unicode:Grüße-ﬁx-Ⅸ'
export KAFKA_SASL_TOPIC_PREFIX=sasl-
export KAFKA_RESTART_CMD='KAFKA_DIR=$root bash $here/kafka.sh restart'
export KAFKA_RESTART_BROKERS=$(sed -n 's/^export KAFKA_AUTOCREATE_BROKERS=//p' "$root/autocreate/node.env")
ENV
  } >"$envfile"
  echo "kafka: brokers up in $((SECONDS - t0))s; env in $envfile" >&2
  cat "$envfile"
  ;;
restart)
  stop autocreate
  launch autocreate
  ;;
stop)
  stop main
  stop autocreate
  rm -rf "$root"
  ;;
env)
  cat "$envfile"
  ;;
*)
  echo "usage: $0 start|stop|restart|env" >&2; exit 2
  ;;
esac
