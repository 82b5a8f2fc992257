# Apache Kafka in KRaft mode (each node a combined broker + controller), jars from Maven Central.
# Sourced by tests/testenv.sh. One node by default; KAFKA_BROKERS=3 starts a three-node quorum.
#
#   install: $CACHE/kafka-$KAFKA_VERSION/lib/*.jar
#   up:      $STATE/kafka/node-<id>/{server.properties,data}, logs $STATE/kafka/*.log,
#            writes $STATE/kafka.env with KAFKA_BOOTSTRAP=127.0.0.1:<port>[,...]

kafka_home() { echo "$CACHE/kafka-$KAFKA_VERSION"; }

# The install is complete when its marker names exactly the pinned versions.
kafka_stamp() { echo "kafka=$KAFKA_VERSION tools=1 scala=$SCALA_VERSION log4j=$LOG4J_VERSION slf4j=$SLF4J_VERSION"; }

kafka_installed() { [ "$(cat "$(kafka_home)/.installed" 2>/dev/null)" = "$(kafka_stamp)" ]; }

kafka_install() {
  kafka_installed && return 0
  local home tmp
  home="$(kafka_home)"; tmp="$home.partial"
  rm -rf "$tmp"; mkdir -p "$tmp/lib"
  nice -n 10 mvn -q -B -f "$TESTENV_DIR/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$tmp/lib" -Dkafka.version="$KAFKA_VERSION" \
    -Dscala.version="$SCALA_VERSION" -Dlog4j.version="$LOG4J_VERSION" \
    -Dslf4j.version="$SLF4J_VERSION" >"$tmp/maven.log" 2>&1 \
    || { cat "$tmp/maven.log" >&2; die "maven could not fetch Kafka $KAFKA_VERSION"; }
  rm -f "$tmp/maven.log"; kafka_stamp >"$tmp/.installed"
  rm -rf "$home"; mv "$tmp" "$home"
}

# kafka_log4j2 LOGFILE: a Log4j2 configuration that writes everything at INFO to LOGFILE.
kafka_log4j2() {
  cat <<EOF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $1
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = info
logger.state.name = state.change.logger
logger.state.level = warn
EOF
}

# kafka_node_log ID: the broker log of node ID (kafka.log alone on a single node).
kafka_node_log() {
  if [ "$(cat "$STATE/kafka/brokers" 2>/dev/null || echo 1)" = 1 ]; then
    echo "$STATE/kafka/kafka.log"
  else
    echo "$STATE/kafka/kafka-$1.log"
  fi
}

# kafka_tls DIR: a CA and a broker certificate for 127.0.0.1 (PKCS12, password testenv-tls), for
# the SASL_SSL listener that distributed-mode tests authenticate against.
kafka_tls() {
  local d="$1"
  mkdir -p "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.pem" -days 3650 \
    -subj "/CN=skiff-testenv-ca" >"$d/openssl.log" 2>&1 \
    && openssl req -newkey rsa:2048 -nodes -keyout "$d/broker.key" -out "$d/broker.csr" \
      -subj "/CN=localhost" >>"$d/openssl.log" 2>&1 \
    && printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$d/san.ext" \
    && openssl x509 -req -in "$d/broker.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
      -out "$d/broker.pem" -days 3650 -extfile "$d/san.ext" >>"$d/openssl.log" 2>&1 \
    && openssl pkcs12 -export -in "$d/broker.pem" -inkey "$d/broker.key" -certfile "$d/ca.pem" \
      -out "$d/broker.p12" -passout pass:testenv-tls -name broker >>"$d/openssl.log" 2>&1 \
    || { cat "$d/openssl.log" >&2; die "creating the test broker's TLS certificates failed"; }
}

kafka_up() {
  kafka_installed || die "kafka is not installed: run \`make testenv\`"
  local n="${KAFKA_BROKERS:-1}" home dir id rf isr cluster_id voters="" bootstrap="" secure=""
  local proxied="" upstreams=""
  case "$n" in 1|3) ;; *) die "KAFKA_BROKERS must be 1 or 3, not '$n'" ;; esac
  home="$(kafka_home)"; dir="$STATE/kafka"
  kafka_down
  mkdir -p "$dir"; echo "$n" >"$dir/brokers"
  if [ "$n" = 1 ]; then rf=1; isr=1; else rf=3; isr=2; fi
  # PROXIED: a plain listener that advertises another port, where a test puts toxiproxy in front
  # of it, so every connection of a client bootstrapped there goes through the proxy.
  local -a ports cports sports pports aports
  for ((id = 1; id <= n; id++)); do
    ports[id]="$(free_port)"; cports[id]="$(free_port)"; sports[id]="$(free_port)"
    pports[id]="$(free_port)"; aports[id]="$(free_port)"
    voters+="${voters:+,}$id@127.0.0.1:${cports[id]}"
    bootstrap+="${bootstrap:+,}127.0.0.1:${ports[id]}"
    secure+="${secure:+,}127.0.0.1:${sports[id]}"
    proxied+="${proxied:+,}127.0.0.1:${aports[id]}"
    upstreams+="${upstreams:+,}127.0.0.1:${pports[id]}"
  done
  kafka_tls "$dir/tls"
  # Kafka cluster ids are 16 random bytes in URL-safe base64 without padding, not starting with '-'.
  cluster_id="$(python3 -c 'import base64,os
while True:
    s = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    if not s.startswith("-"): print(s); break')"
  for ((id = 1; id <= n; id++)); do
    local nd="$dir/node-$id"
    mkdir -p "$nd/data"
    # log.retention.ms=-1: the fixtures carry fixed create times from 2023, and a 7-day retention
    # let the broker delete them at its next retention check, in the middle of a test.
    cat >"$nd/server.properties" <<EOF
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:${ports[id]},SASL_SSL://127.0.0.1:${sports[id]},CONTROLLER://127.0.0.1:${cports[id]},PROXIED://127.0.0.1:${pports[id]}
advertised.listeners=PLAINTEXT://127.0.0.1:${ports[id]},SASL_SSL://127.0.0.1:${sports[id]},PROXIED://127.0.0.1:${aports[id]}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT,PROXIED:PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_skiff="skiff-secret";
ssl.keystore.type=PKCS12
ssl.keystore.location=$dir/tls/broker.p12
ssl.keystore.password=testenv-tls
ssl.key.password=testenv-tls
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$nd/data
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
group.initial.rebalance.delay.ms=0
offsets.topic.num.partitions=10
log.segment.bytes=67108864
log.retention.check.interval.ms=300000
log.retention.ms=-1
EOF
    kafka_log4j2 "$(kafka_node_log "$id")" >"$nd/log4j2.properties"
    java -Xmx256m -cp "$home/lib/*" -Dlog4j2.configurationFile="$nd/log4j2.properties" \
      kafka.tools.StorageTool format --ignore-formatted -t "$cluster_id" -c "$nd/server.properties" \
      --add-scram 'SCRAM-SHA-512=[name=skiff,password=skiff-secret]' \
      >"$dir/format-$id.log" 2>&1 || { cat "$dir/format-$id.log" >&2; die "formatting Kafka storage failed"; }
  done
  for ((id = 1; id <= n; id++)); do kafka_start_node "$id"; done
  for ((id = 1; id <= n; id++)); do
    kafka_wait_node "$id" || { kafka_down_keep_logs; die "kafka did not start (logs: $dir)"; }
  done
  cat >"$STATE/kafka.env" <<EOF
KAFKA_BOOTSTRAP=$bootstrap
KAFKA_SASL_SSL_BOOTSTRAP=$secure
KAFKA_CA_FILE=$dir/tls/ca.pem
KAFKA_SASL_USER=skiff
KAFKA_SASL_PASSWORD=skiff-secret
KAFKA_PROXIED_BOOTSTRAP=$proxied
KAFKA_PROXIED_UPSTREAMS=$upstreams
EOF
  log "kafka up: $bootstrap, SASL_SSL $secure ($n node(s), Kafka $KAFKA_VERSION)"
}

# Restarts every node on its own data, ports and certificates (a broker restart in the middle of
# a test): clients keep their bootstrap address and find the same topics and offsets.
kafka_restart() {
  kafka_status >/dev/null 2>&1 || die "kafka is not running: nothing to restart"
  local dir="$STATE/kafka" n id
  n="$(cat "$dir/brokers")"
  for ((id = 1; id <= n; id++)); do
    stop_pid "$dir/node-$id/pid"
    # The readiness check looks for the start line in the log: keep the old one aside.
    mv -f "$(kafka_node_log "$id")" "$(kafka_node_log "$id").before-restart" 2>/dev/null || true
    kafka_start_node "$id"
  done
  for ((id = 1; id <= n; id++)); do
    kafka_wait_node "$id" || die "kafka did not come back after the restart (logs: $dir)"
  done
  log "kafka restarted ($n node(s))"
}

# kafka_node_stop ID: stops one node (its data stays), as a crash of that broker would.
kafka_node_stop() {
  [ -f "$STATE/kafka/node-$1/pid" ] || die "kafka has no node $1"
  stop_pid "$STATE/kafka/node-$1/pid"
  log "kafka node $1 stopped"
}

# kafka_node_start ID: starts a stopped node again on its data and waits until it serves.
kafka_node_start() {
  [ -d "$STATE/kafka/node-$1" ] || die "kafka has no node $1"
  if pid_alive "$STATE/kafka/node-$1/pid" 2>/dev/null; then log "kafka node $1 is running"; return 0; fi
  mv -f "$(kafka_node_log "$1")" "$(kafka_node_log "$1").before-restart" 2>/dev/null || true
  kafka_start_node "$1"
  kafka_wait_node "$1" || die "kafka node $1 did not start (logs: $STATE/kafka)"
  log "kafka node $1 started"
}

# kafka_start_node ID: starts node ID of the formatted cluster in the background.
kafka_start_node() {
  local dir="$STATE/kafka" nd="$STATE/kafka/node-$1"
  start_bg "$nd/pid" "$dir/console-$1.log" java -Xmx768m -Xms256m \
    -Dlog4j2.configurationFile="$nd/log4j2.properties" -cp "$(kafka_home)/lib/*" \
    kafka.Kafka "$nd/server.properties"
}

# kafka_wait_node ID: waits until node ID serves its PLAINTEXT listener (read from its config).
kafka_wait_node() {
  local nd="$STATE/kafka/node-$1" port
  port="$(sed -n 's|^listeners=PLAINTEXT://127.0.0.1:\([0-9]*\),.*|\1|p' "$nd/server.properties")"
  wait_alive "$nd/pid" 90 "$(kafka_node_log "$1")" "kafka node $1" \
    kafka_node_ready "$(kafka_node_log "$1")" "$port"
}

# kafka_node_ready LOGFILE PORT: the node logged that it started and accepts connections.
kafka_node_ready() {
  grep -q 'Kafka Server started' "$1" 2>/dev/null || return 1
  python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$2"
}

# Stops every node, keeping their logs so a failed start can be read.
kafka_down_keep_logs() {
  local p
  for p in "$STATE"/kafka/node-*/pid; do [ -e "$p" ] && stop_pid "$p"; done
  rm -f "$STATE/kafka.env"
}

kafka_down() {
  kafka_down_keep_logs
  rm -rf "$STATE/kafka"
}

kafka_status() {
  [ -f "$STATE/kafka.env" ] || return 1
  local p found=0
  for p in "$STATE"/kafka/node-*/pid; do
    [ -e "$p" ] || continue
    pid_alive "$p" || return 1
    found=1
  done
  [ "$found" = 1 ]
}
