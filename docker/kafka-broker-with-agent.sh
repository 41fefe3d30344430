#!/bin/sh
# Entrypoint of learnflow/kafka (docker/Dockerfile, SERVICE=kafka): the broker, and only the
# broker, loads the Prometheus JMX exporter agent when LEARNFLOW_JMX_EXPORTER_PORT is set.
# KAFKA_OPTS in the container's environment would reach every JVM started there — a
# `kafka-topics.sh` run through `docker exec` or `kubectl exec` too — and that second agent
# fails to bind the port the broker's already holds, taking the tool down with it.
set -e
if [ -n "${LEARNFLOW_JMX_EXPORTER_PORT:-}" ]; then
  KAFKA_OPTS="${KAFKA_OPTS:+$KAFKA_OPTS }-javaagent:/opt/jmx-exporter/jmx_prometheus_javaagent.jar=${LEARNFLOW_JMX_EXPORTER_PORT}:/opt/jmx-exporter/kafka.yaml"
  export KAFKA_OPTS
fi
# The base image's own start command, whether it was its ENTRYPOINT or its CMD.
[ "$#" -gt 0 ] || set -- /etc/kafka/docker/run
exec "$@"
