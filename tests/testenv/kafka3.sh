# A second Apache Kafka cluster of three KRaft nodes (replication factor 3, min ISR 2) beside the
# default one, for tests that stop a partition's leader. Sourced by tests/testenv.sh. It is the
# `kafka` component run with its own state folder ($STATE/kafka3) and KAFKA_BROKERS=3.
#
#   up:   writes $STATE/kafka3.env (the same keys as kafka.env)
#   stop-node kafka3 ID / start-node kafka3 ID: stop or start one node (ids 1 to 3)

kafka3_state() { echo "$STATE/kafka3"; }

# kafka3_run ARGS...: tests/testenv.sh ARGS against the three-node cluster's state.
kafka3_run() {
  SKIFF_TESTENV_STATE="$(kafka3_state)" KAFKA_BROKERS=3 bash "$TESTENV_DIR/../testenv.sh" "$@"
}

kafka3_install() { kafka_install; }

kafka3_up() {
  kafka3_run up kafka || die "the three-node Kafka cluster did not start"
  cp "$(kafka3_state)/kafka.env" "$STATE/kafka3.env"
  log "kafka3 up: $(sed -n 's/^KAFKA_BOOTSTRAP=//p' "$STATE/kafka3.env") (3 nodes)"
}

kafka3_down() {
  if [ -d "$(kafka3_state)" ]; then kafka3_run down kafka || true; fi
  rm -rf "$(kafka3_state)" "$STATE/kafka3.env"
}

kafka3_status() {
  [ -f "$STATE/kafka3.env" ] && kafka3_run status 2>/dev/null | grep -qx "kafka: up"
}
