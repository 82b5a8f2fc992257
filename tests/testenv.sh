#!/usr/bin/env bash
# The test environment: installs, starts, checks and stops the real servers that integration
# tests, benchmarks and the demo talk to, on loopback only.
#
#   tests/testenv.sh install [component...]   download/build into the cache (by version)
#   tests/testenv.sh up [component...]        start (idempotent); writes target/testenv/<c>.env
#   tests/testenv.sh down [component...]      stop and delete the servers' data
#   tests/testenv.sh restart kafka            stop and start again on the same data and ports
#   tests/testenv.sh stop-node kafka3 ID      stop one node of the three-node cluster
#   tests/testenv.sh start-node kafka3 ID     start it again and wait until it serves
#   tests/testenv.sh status                   what is running
#   tests/testenv.sh env [component...]       print KEY=VALUE lines of running components
#   tests/testenv.sh logs <component>         print the tail of a component's log
#
# Components: kafka s3 connect k8s helm toxiproxy kafka3 schemathesis fuzz (default for install: all; for up:
# kafka s3). kafka3 is a second, three-node Kafka cluster (replication factor 3, min ISR 2);
# KAFKA_BROKERS=3 makes `up kafka` itself start three nodes.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/testenv/lib.sh"
ALL_COMPONENTS=(kafka s3 connect k8s helm toxiproxy kafka3 schemathesis fuzz)
for c in "${ALL_COMPONENTS[@]}"; do
  # shellcheck source=/dev/null
  if [ -f "$TESTENV_DIR/$c.sh" ]; then . "$TESTENV_DIR/$c.sh"; fi
done

cmd="${1:-status}"; shift || true
comps=("$@")
case "$cmd" in
  install)
    [ ${#comps[@]} -gt 0 ] || comps=("${ALL_COMPONENTS[@]}")
    for c in "${comps[@]}"; do log "installing $c"; "${c}_install"; done ;;
  up)
    [ ${#comps[@]} -gt 0 ] || comps=(kafka s3)
    for c in "${comps[@]}"; do
      if "${c}_status" >/dev/null 2>&1; then continue; fi
      "${c}_up"
    done ;;
  down)
    [ ${#comps[@]} -gt 0 ] || comps=("${ALL_COMPONENTS[@]}")
    # Stop in reverse order of dependence.
    for ((i=${#comps[@]}-1; i>=0; i--)); do "${comps[$i]}_down" || true; done ;;
  restart)
    [ "${comps[*]:-}" = kafka ] || die "only kafka can be restarted (tests/testenv.sh restart kafka)"
    kafka_restart ;;
  stop-node|start-node)
    [ "${#comps[@]}" = 2 ] || die "usage: tests/testenv.sh $cmd kafka|kafka3 ID"
    case "${comps[0]}" in
      kafka) "kafka_node_${cmd%-node}" "${comps[1]}" ;;
      kafka3) kafka3_run "$cmd" kafka "${comps[1]}" ;;
      *) die "$cmd works on kafka or kafka3, not '${comps[0]}'" ;;
    esac ;;
  status)
    for c in "${ALL_COMPONENTS[@]}"; do
      if "${c}_status" >/dev/null 2>&1; then echo "$c: up"; else echo "$c: down"; fi
    done ;;
  env)
    [ ${#comps[@]} -gt 0 ] || comps=("${ALL_COMPONENTS[@]}")
    for c in "${comps[@]}"; do [ -f "$STATE/$c.env" ] && cat "$STATE/$c.env"; done; true ;;
  logs)
    for c in "${comps[@]}"; do tail -n 60 "$STATE/$c/"*.log 2>/dev/null || true; done ;;
  *) die "unknown command '$cmd' (install, up, down, restart, status, env, logs)" ;;
esac
