# The Apache Kafka Connect peer: a real distributed-mode worker of the same Kafka version, which
# compatibility tests and benchmarks compare Skiff against. Sourced by tests/testenv.sh.
#
#   install: $CACHE/connect-$KAFKA_VERSION/lib/*.jar (runtime, JSON converter, Log4j2) and
#            $CACHE/connect-$KAFKA_VERSION/plugins/connect-file/ (the FileStream connectors)
#   up:      needs kafka up; config and logs in $STATE/connect/, writes $STATE/connect.env with
#            CONNECT_URL, CONNECT_GROUP_ID and the three internal topic names (unique per start)

connect_home() { echo "$CACHE/connect-$KAFKA_VERSION"; }

connect_stamp() { echo "kafka=$KAFKA_VERSION log4j=$LOG4J_VERSION slf4j=$SLF4J_VERSION"; }

connect_installed() { [ "$(cat "$(connect_home)/.installed" 2>/dev/null)" = "$(connect_stamp)" ]; }

connect_install() {
  connect_installed && return 0
  local home tmp
  home="$(connect_home)"; tmp="$home.partial"
  rm -rf "$tmp"; mkdir -p "$tmp/lib" "$tmp/plugins/connect-file"
  nice -n 10 mvn -q -B -f "$TESTENV_DIR/connect/pom.xml" \
    dependency:copy-dependencies -DoutputDirectory="$tmp/lib" -Dkafka.version="$KAFKA_VERSION" \
    -Dlog4j.version="$LOG4J_VERSION" -Dslf4j.version="$SLF4J_VERSION" >"$tmp/maven.log" 2>&1 \
    || { cat "$tmp/maven.log" >&2; die "maven could not fetch Kafka Connect $KAFKA_VERSION"; }
  # connect-file needs only connect-api, which the worker provides: the jar alone is the plugin.
  nice -n 10 mvn -q -B -f "$TESTENV_DIR/connect/pom.xml" dependency:copy \
    -Dartifact="org.apache.kafka:connect-file:$KAFKA_VERSION" \
    -DoutputDirectory="$tmp/plugins/connect-file" >>"$tmp/maven.log" 2>&1 \
    || { cat "$tmp/maven.log" >&2; die "maven could not fetch connect-file $KAFKA_VERSION"; }
  rm -f "$tmp/maven.log"; connect_stamp >"$tmp/.installed"
  rm -rf "$home"; mv "$tmp" "$home"
}

connect_up() {
  connect_installed || die "connect is not installed: run \`make testenv\`"
  kafka_status || die "connect needs kafka: run \`tests/testenv.sh up kafka\` first"
  local home dir port group bootstrap
  home="$(connect_home)"; dir="$STATE/connect"
  connect_down
  mkdir -p "$dir"
  bootstrap="$(sed -n 's/^KAFKA_BOOTSTRAP=//p' "$STATE/kafka.env")"
  port="$(free_port)"
  group="testenv-connect-$(python3 -c 'import secrets; print(secrets.token_hex(4))')"
  # Replication factor -1 takes the broker's default, which kafka.sh sets to its node count.
  # Every plugin here ships ServiceLoader manifests; the reflective scan would add ~8 s per start.
  cat >"$dir/worker.properties" <<EOF
bootstrap.servers=$bootstrap
group.id=$group
config.storage.topic=$group-configs
offset.storage.topic=$group-offsets
status.storage.topic=$group-status
config.storage.replication.factor=-1
offset.storage.replication.factor=-1
status.storage.replication.factor=-1
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
offset.flush.interval.ms=5000
listeners=http://127.0.0.1:$port
rest.advertised.host.name=127.0.0.1
rest.advertised.port=$port
plugin.path=$home/plugins
plugin.discovery=service_load
EOF
  kafka_log4j2 "$dir/connect.log" >"$dir/log4j2.properties"
  cat >>"$dir/log4j2.properties" <<EOF
logger.reflections.name = org.reflections
logger.reflections.level = error
EOF
  start_bg "$dir/pid" "$dir/console.log" java -Xmx512m -Xms128m \
    -Dlog4j2.configurationFile="$dir/log4j2.properties" -cp "$home/lib/*" \
    org.apache.kafka.connect.cli.ConnectDistributed "$dir/worker.properties"
  # /connector-plugins answers once REST is up; /health turns 200 once the worker joined its group.
  wait_alive "$dir/pid" 120 "$dir/connect.log" "connect" connect_ready "http://127.0.0.1:$port" \
    || { stop_pid "$dir/pid"; die "the Connect peer did not start (logs: $dir)"; }
  cat >"$STATE/connect.env" <<EOF
CONNECT_URL=http://127.0.0.1:$port
CONNECT_GROUP_ID=$group
CONNECT_CONFIG_TOPIC=$group-configs
CONNECT_OFFSET_TOPIC=$group-offsets
CONNECT_STATUS_TOPIC=$group-status
CONNECT_HOME=$home
EOF
  log "connect up: http://127.0.0.1:$port (group $group, Kafka Connect $KAFKA_VERSION)"
}

# connect_ready URL: the worker answers both probes with 200.
connect_ready() {
  curl -fsS -m 2 -o /dev/null "$1/connector-plugins" && curl -fsS -m 2 -o /dev/null "$1/health"
}

connect_down() {
  stop_pid "$STATE/connect/pid"
  rm -f "$STATE/connect.env"
  rm -rf "$STATE/connect"
}

# Up only while it runs against the Kafka that runs now (a restarted Kafka has new ports).
connect_status() {
  [ -f "$STATE/connect.env" ] && pid_alive "$STATE/connect/pid" && kafka_status || return 1
  grep -qxF "bootstrap.servers=$(sed -n 's/^KAFKA_BOOTSTRAP=//p' "$STATE/kafka.env")" \
    "$STATE/connect/worker.properties"
}
