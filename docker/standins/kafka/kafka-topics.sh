#!/usr/bin/env bash
# kafka-topics.sh of the Kafka stand-in, at the official image's path: TopicCommand (from the
# kafka-tools jar) on the libs classpath, with Kafka's launcher defaults for a tool —
# KAFKA_HEAP_OPTS (-Xmx256M), KAFKA_OPTS, and warnings only, on stderr (KAFKA_LOG4J_OPTS
# overrides; the config sits beside the entrypoint's, outside /opt/kafka/config, which a pod
# may mount over).
set -euo pipefail
base=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck disable=SC2086 # the *_OPTS variables are word lists by design
exec java ${KAFKA_HEAP_OPTS:--Xmx256M} -Djava.awt.headless=true \
  ${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=/etc/kafka/docker/tools-log4j2.yaml} \
  ${KAFKA_OPTS:-} -cp "$base/libs/*" org.apache.kafka.tools.TopicCommand "$@"
