#!/usr/bin/env bash
# Drives the LearnFlow HPAs through load phases and records `kubectl get hpa` every 15 s,
# to hold the paper numbers of docs/scaling.md against a real cluster (minikube).
#
# Needs: the chart installed (e.g. `skaffold run` on a minikube context, which uses
# values-minikube.yaml), metrics-server (`minikube addons enable metrics-server`), kubectl.
#
#   deploy/minikube-hpa-watch.sh                         # default phases, CSV under target/
#   PHASES="normal:600:1 20x:600:20 idle:900:0" NORMAL_RATE=50 deploy/minikube-hpa-watch.sh
#
# Settings (environment):
#   NAMESPACE      namespace of the release                      [learnflow]
#   RELEASE        Helm release name                             [learnflow]
#   NORMAL_RATE    lessons/s of "normal" load (docs/scaling.md)  [50]
#   PHASES         space-separated name:seconds:multiplier; the rate of a phase is
#                  multiplier x NORMAL_RATE, 0 = no load          [idle:120:0 normal:300:1 5x:300:5 20x:300:20 idle:900:0]
#   LEARNERS       learners the load is spread over              [64]
#   INTERVAL       seconds between samples                       [15, the HPA sync period]
#   LOADGEN_IMAGE  learnflow/loadgen image; default: the release's, which the chart
#                  records on the gateway Deployment (learnflow.dev/loadgen-image)
#   OUT            CSV file                                      [target/learnflow/hpa-watch-<time>.csv]
#   ALLOW_ANY_CONTEXT=1  run against a context other than minikube or learnflow (the
#                  context of this machine's cluster, `cargo xtask cluster up`)
#
# Each loaded phase is one Kubernetes Job running learnflow-load against the gateway's
# Service, with the JWT secret the gateway uses (read from its Secret by the kubelet, never
# by this script). The Jobs carry no release labels, so the chart's NetworkPolicies do not
# select them; the gateway's API port takes traffic from anywhere in the cluster.
# CSV columns: time_utc,elapsed_s,phase,offered_rate,hpa,min,max,current_replicas,
#              desired_replicas,cpu_utilization_pct,cpu_target_pct
# A plain `kubectl get hpa` log goes beside it (<OUT>.log).
set -euo pipefail

NAMESPACE=${NAMESPACE:-learnflow}
RELEASE=${RELEASE:-learnflow}
NORMAL_RATE=${NORMAL_RATE:-50}
PHASES=${PHASES:-"idle:120:0 normal:300:1 5x:300:5 20x:300:20 idle:900:0"}
LEARNERS=${LEARNERS:-64}
INTERVAL=${INTERVAL:-15}
RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-target/learnflow/hpa-watch-${RUN_ID}.csv}
STATE=$(mktemp -d)
SAMPLER_PID=""

die() { echo "error: $*" >&2; exit 1; }
kc() { kubectl --namespace "$NAMESPACE" "$@"; }

cleanup() {
  if [[ -n "$SAMPLER_PID" ]]; then kill "$SAMPLER_PID" 2>/dev/null || true; fi
  kc delete job -l "learnflow.dev/hpa-watch=${RUN_ID}" --ignore-not-found >/dev/null 2>&1 || true
  rm -rf "$STATE"
}
trap cleanup EXIT

command -v kubectl >/dev/null || die "kubectl is not on PATH"
context=$(kubectl config current-context 2>/dev/null) || die "no current kubectl context"
if [[ "$context" != "minikube" && "$context" != "learnflow" && "${ALLOW_ANY_CONTEXT:-}" != "1" ]]; then
  die "current context is '$context', not minikube or learnflow (ALLOW_ANY_CONTEXT=1 to go ahead)"
fi
kubectl get --raw /apis/metrics.k8s.io/v1beta1 >/dev/null 2>&1 \
  || die "the metrics API is missing: minikube addons enable metrics-server"

selector="app.kubernetes.io/instance=${RELEASE},app.kubernetes.io/component=frontend-gateway"
gateway=$(kc get deploy -l "$selector" -o jsonpath='{.items[0].metadata.name}' 2>/dev/null) \
  || die "no frontend-gateway Deployment of release '$RELEASE' in namespace '$NAMESPACE'"
[[ -n "$gateway" ]] || die "no frontend-gateway Deployment of release '$RELEASE' in namespace '$NAMESPACE'"
container='{.spec.template.spec.containers[?(@.name=="frontend-gateway")]'
secret_name=$(kc get deploy "$gateway" -o jsonpath="${container}.env[?(@.name==\"LEARNFLOW_AUTH__JWT_SECRET\")].valueFrom.secretKeyRef.name}")
secret_key=$(kc get deploy "$gateway" -o jsonpath="${container}.env[?(@.name==\"LEARNFLOW_AUTH__JWT_SECRET\")].valueFrom.secretKeyRef.key}")
[[ -n "$secret_name" && -n "$secret_key" ]] || die "the gateway takes its JWT secret from no Secret"
service=$(kc get svc -l "$selector" -o jsonpath='{.items[0].metadata.name}')
port=$(kc get svc "$service" -o jsonpath='{.spec.ports[0].port}')
# The chart records its loadgen image (what skaffold built and pushed, by digest, or
# loadgen.image) on the gateway's Deployment.
image=${LOADGEN_IMAGE:-$(kc get deploy "$gateway" -o jsonpath='{.metadata.annotations.learnflow\.dev/loadgen-image}')}
[[ -n "$image" ]] || die "the gateway Deployment has no learnflow.dev/loadgen-image annotation (chart too old?): set LOADGEN_IMAGE"

mkdir -p "$(dirname "$OUT")"
echo "time_utc,elapsed_s,phase,offered_rate,hpa,min,max,current_replicas,desired_replicas,cpu_utilization_pct,cpu_target_pct" > "$OUT"
set_phase() {  # label rate; atomically, the sampler reads it concurrently
  echo "$1 $2" > "$STATE/phase.new" && mv "$STATE/phase.new" "$STATE/phase"
}
set_phase 0-starting 0
start=$(date +%s)

# One line per HPA: name,min,max,current,desired,utilisation,target (ContainerResource or
# Resource metric, whichever the HPA has).
hpa_rows='{range .items[*]}{.metadata.name},{.spec.minReplicas},{.spec.maxReplicas},{.status.currentReplicas},{.status.desiredReplicas},{.status.currentMetrics[0].containerResource.current.averageUtilization}{.status.currentMetrics[0].resource.current.averageUtilization},{.spec.metrics[0].containerResource.target.averageUtilization}{.spec.metrics[0].resource.target.averageUtilization}{"\n"}{end}'

sample() {
  while true; do
    local now elapsed phase rate
    now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    elapsed=$(( $(date +%s) - start ))
    read -r phase rate < "$STATE/phase"
    kc get hpa -o jsonpath="$hpa_rows" 2>/dev/null \
      | while IFS= read -r row; do
          [[ -n "$row" ]] && echo "${now},${elapsed},${phase},${rate},${row}"
        done >> "$OUT" || true
    { echo "--- ${now} (+${elapsed}s) ${phase} ${rate}/s"; kc get hpa 2>&1 || true; } >> "${OUT}.log"
    sleep "$INTERVAL"
  done
}
sample &
SAMPLER_PID=$!

load_job() {  # name rate seconds
  kc apply -f - >/dev/null <<EOF
apiVersion: batch/v1
kind: Job
metadata:
  name: $1
  labels:
    app.kubernetes.io/name: learnflow-hpa-watch
    learnflow.dev/hpa-watch: "${RUN_ID}"
spec:
  backoffLimit: 0
  ttlSecondsAfterFinished: 600
  template:
    metadata:
      labels:
        app.kubernetes.io/name: learnflow-hpa-watch
        learnflow.dev/hpa-watch: "${RUN_ID}"
    spec:
      restartPolicy: Never
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
      containers:
        - name: loadgen
          image: "${image}"
          imagePullPolicy: IfNotPresent
          env:
            - name: JWT_SECRET
              valueFrom:
                secretKeyRef: {name: "${secret_name}", key: "${secret_key}"}
          # \$(JWT_SECRET) is expanded by the kubelet from the env above.
          args: ["--gateway", "http://${service}:${port}", "--secret", "\$(JWT_SECRET)",
                 "--rate", "$2", "--duration", "$3", "--learners", "${LEARNERS}"]
          resources:
            requests: {cpu: 100m, memory: 32Mi}
            limits: {cpu: "1", memory: 128Mi}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
EOF
}

n=0
i=0
for phase in $PHASES; do
  i=$((i + 1))
  IFS=: read -r name seconds multiplier <<< "$phase"
  [[ "$seconds" =~ ^[0-9]+$ && "$multiplier" =~ ^[0-9]+([.][0-9]+)?$ ]] \
    || die "bad phase '$phase' (name:seconds:multiplier)"
  rate=$(awk -v m="$multiplier" -v r="$NORMAL_RATE" 'BEGIN { printf "%g", m * r }')
  set_phase "${i}-${name}" "$rate"
  echo "phase $name: ${rate} lessons/s for ${seconds} s"
  if [[ "$rate" == "0" ]]; then
    sleep "$seconds"
  else
    n=$((n + 1))
    job="learnflow-hpa-load-${RUN_ID,,}-${n}"
    load_job "$job" "$rate" "$seconds"
    # The Job runs for `seconds` once its pod starts; allow a minute for scheduling.
    kc wait --for=condition=complete "job/$job" --timeout="$((seconds + 60))s" >/dev/null \
      || echo "warning: load job $job did not complete in time (kubectl -n $NAMESPACE logs job/$job)" >&2
    kc logs "job/$job" --tail=2 2>/dev/null | sed 's/^/  /' || true
  fi
done

echo "samples: $OUT (and ${OUT}.log)"
# Replicas of each HPA at the end of each phase.
awk -F, 'NR > 1 { last[$3 "\t" $5] = $8; if (!(($3 "\t" $5) in seen)) { seen[$3 "\t" $5] = 1; order[++k] = $3 "\t" $5 } }
         END { for (i = 1; i <= k; i++) printf "  %-8s %-40s %s replicas\n", substr(order[i], 1, index(order[i], "\t") - 1), substr(order[i], index(order[i], "\t") + 1), last[order[i]] }' "$OUT"
