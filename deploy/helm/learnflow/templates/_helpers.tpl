{{/*
Shared helpers of the learnflow chart. Per-service templates (frontend-gateway.yaml, …) call
these with a dict: {"ctx": $, "svc": "<app id>", "key": "<values key>"}.
*/}}

{{- define "learnflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "learnflow.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of one component's objects: <fullname>-<app id>. */}}
{{- define "learnflow.componentName" -}}
{{- printf "%s-%s" (include "learnflow.fullname" .ctx) .svc | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "learnflow.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "learnflow.labels" -}}
helm.sh/chart: {{ include "learnflow.chart" . }}
app.kubernetes.io/name: {{ include "learnflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: learnflow
{{- end -}}

{{/* Selector of every pod of this release. */}}
{{- define "learnflow.releaseSelector" -}}
app.kubernetes.io/name: {{ include "learnflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Selector of one component's pods ({"ctx", "svc"}). */}}
{{- define "learnflow.selectorLabels" -}}
{{ include "learnflow.releaseSelector" .ctx }}
app.kubernetes.io/component: {{ .svc }}
{{- end -}}

{{/* Labels of one component's objects ({"ctx", "svc"}). */}}
{{- define "learnflow.componentLabels" -}}
{{ include "learnflow.labels" .ctx }}
app.kubernetes.io/component: {{ .svc }}
{{- end -}}

{{/* Image reference of a component: "<repository>:<tag>", tag defaulting to appVersion. */}}
{{- define "learnflow.image" -}}
{{- $img := .image -}}
{{- $tag := default .ctx.Values.image.tag $img.tag | default .ctx.Chart.AppVersion -}}
{{- $repo := $img.repository -}}
{{- if .ctx.Values.image.registry -}}
{{- $repo = printf "%s/%s" .ctx.Values.image.registry $repo -}}
{{- end -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}

{{/* ---------- Secrets ---------- */}}

{{/* Secret holding database URLs and the JWT secret. */}}
{{- define "learnflow.appSecretName" -}}
{{- default (printf "%s-app" (include "learnflow.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* Secret with key `token` that daprd requires from apps (dapr.io/api-token-secret). */}}
{{- define "learnflow.daprApiTokenSecretName" -}}
{{- default (printf "%s-dapr-api-token" (include "learnflow.fullname" .)) .Values.secrets.existingDaprApiTokenSecret -}}
{{- end -}}

{{/* The services a sidecar calls (invocations, deliveries): each has its own app token. */}}
{{- define "learnflow.calledBySidecar" -}}
{{- if has . (list "course-agent" "user-progress") }}true{{ end -}}
{{- end -}}

{{/*
Secret with key `token` that one service's daprd presents to it (dapr.io/app-token-secret),
({"ctx", "svc"}): secrets.existing<Service>AppTokenSecret, or the chart's own.
*/}}
{{- define "learnflow.appTokenSecretName" -}}
{{- $key := .svc | camelcase | untitle -}}
{{- $existing := index .ctx.Values.secrets (printf "existing%sAppTokenSecret" (.svc | camelcase)) -}}
{{- default (printf "%s-%s-app-token" (include "learnflow.fullname" .ctx) .svc) $existing -}}
{{- end -}}

{{/* ---------- Data stores ---------- */}}

{{/* Kafka bootstrap servers, "host:port[,host:port]". */}}
{{- define "learnflow.kafkaBrokers" -}}
{{- $k := .Values.kafka.inCluster -}}
{{- if or $k.enabled $k.deploy -}}
{{- printf "%s.%s.svc.cluster.local:%d" $k.serviceName .Release.Namespace (int $k.port) -}}
{{- else -}}
{{- required "kafka.brokers is required: the bootstrap servers of an external Kafka (\"host:port,host:port\"), or set kafka.inCluster.enabled=true for a Kafka in this namespace (kafka.inCluster.deploy=true to have the chart run one)" .Values.kafka.brokers -}}
{{- end -}}
{{- end -}}

{{/* Distinct ports of the Kafka bootstrap servers, as a YAML list (for egress rules). */}}
{{- define "learnflow.kafkaPorts" -}}
{{- $ports := list -}}
{{- range $b := splitList "," (include "learnflow.kafkaBrokers" .) -}}
{{- $p := regexFind "[0-9]+$" (trim $b) | default "9092" -}}
{{- $ports = append $ports (int $p) -}}
{{- end -}}
{{- toYaml (uniq $ports) -}}
{{- end -}}

{{- define "learnflow.postgresHost" -}}
{{- $p := .Values.postgresql.inCluster -}}
{{- if or $p.enabled $p.deploy -}}
{{- printf "%s.%s.svc.cluster.local" $p.serviceName .Release.Namespace -}}
{{- else -}}
{{- required "postgresql.host is required: the host of an external PostgreSQL, or set postgresql.inCluster.enabled=true for a PostgreSQL in this namespace (postgresql.inCluster.deploy=true to have the chart run one)" .Values.postgresql.host -}}
{{- end -}}
{{- end -}}

{{/* Pod security context of a data store the chart runs ({"uid": <the image's user>}): the
official images run as that user, so only the id differs from ours. fsGroup makes a fresh
volume writable for it; OnRootMismatch keeps the kubelet from re-adding group write to every
file at each mount, which PostgreSQL refuses on its data directory. */}}
{{- define "learnflow.storePodSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Image reference of a data store ({"ctx", "image"}): pinned tag, chart registry prefix. */}}
{{- define "learnflow.storeImage" -}}
{{- include "learnflow.image" (dict "ctx" .ctx "image" (dict "repository" .image.repository "tag" (required "a data store's image.tag is required (pinned)" .image.tag))) -}}
{{- end -}}

{{/* postgres:// URL of one database ({"ctx", "db"}); the password is percent-encoded. */}}
{{- define "learnflow.databaseUrl" -}}
{{- $v := .ctx.Values -}}
{{- $pw := required "secrets.databasePassword is required (or name a Secret you manage in secrets.existingSecret, with keys course-agent-database-url, user-progress-database-url and jwt-secret)" $v.secrets.databasePassword -}}
{{- /* QueryEscape turns a space into "+", which is literal in userinfo: use %20. A literal "+" is already %2B. */ -}}
{{- $enc := urlquery $pw | replace "+" "%20" -}}
{{- printf "postgres://%s:%s@%s:%d/%s?sslmode=%s" (urlquery $v.postgresql.user) $enc (include "learnflow.postgresHost" .ctx) (int $v.postgresql.port) .db $v.postgresql.sslMode -}}
{{- if include "learnflow.postgresVerifies" .ctx -}}
{{- printf "&sslrootcert=%s" (include "learnflow.postgresCaPath" .ctx) -}}
{{- end -}}
{{- end -}}

{{/* Non-empty when the services verify PostgreSQL's certificate (sslMode verify-ca or verify-full): they need the CA of postgresql.tls.caSecret. */}}
{{- define "learnflow.postgresVerifies" -}}
{{- $pg := .Values.postgresql -}}
{{- if has $pg.sslMode (list "verify-ca" "verify-full") -}}
{{- $_ := required (printf "postgresql.tls.caSecret is required with postgresql.sslMode=%s: the name of a Secret holding the CA bundle that signed PostgreSQL's certificate under key postgresql.tls.caKey (kubectl create secret generic postgresql-ca --from-file=ca.crt=…); on a dev cluster without TLS, sslMode=disable with allowInsecureSslMode=true" $pg.sslMode) $pg.tls.caSecret -}}
true
{{- end -}}
{{- end -}}

{{/* Where course-agent and user-progress find PostgreSQL's CA bundle. */}}
{{- define "learnflow.postgresCaPath" -}}
/etc/learnflow/postgresql-ca/ca.crt
{{- end -}}

{{/* ---------- Dapr ---------- */}}

{{/*
What the chart substitutes for the native stack's environment in deploy/dapr/*.yaml: both the
${NAME} placeholders that standalone daprd expands and the `envRef: NAME` component metadata.
Rendered as a YAML map NAME -> value.
*/}}
{{- define "learnflow.daprEnv" -}}
LEARNFLOW_KAFKA_BROKERS: {{ include "learnflow.kafkaBrokers" . | quote }}
LEARNFLOW_KAFKA_VERSION: {{ .Values.kafka.version | quote }}
LEARNFLOW_OTLP_ENDPOINT: {{ include "learnflow.otlpEndpoint" . | quote }}
LEARNFLOW_TRACE_SAMPLING: {{ .Values.tracing.samplingRate | quote }}
{{- end -}}

{{/*
The Dapr documents of deploy/dapr (symlinked as files/dapr), each with the ${NAME} placeholders
replaced: a YAML list of objects. Values are JSON-escaped, so any string is safe inside the
double-quoted scalars the placeholders sit in.
*/}}
{{- define "learnflow.daprSources" -}}
{{- $env := include "learnflow.daprEnv" . | fromYaml -}}
{{- $docs := list -}}
{{- range $path, $_ := .Files.Glob "files/dapr/*.{yaml,yml}" -}}
{{- range $text := regexSplit "(?m)^---[ \t]*$" ($.Files.Get $path) -1 -}}
{{- range $name, $value := $env -}}
{{- $escaped := toJson (toString $value) | trimPrefix "\"" | trimSuffix "\"" -}}
{{- $text = replace (printf "${%s}" $name) $escaped $text -}}
{{- end -}}
{{- $obj := fromYaml $text -}}
{{- if hasKey $obj "Error" -}}
{{- fail (printf "%s is not valid YAML: %s" $path $obj.Error) -}}
{{- end -}}
{{- if $obj.kind -}}
{{- $docs = append $docs (dict "path" $path "obj" $obj) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml $docs -}}
{{- end -}}

{{/* Consumer group of user-progress's Kafka subscription: the component's consumerGroup or
consumerID when set, else Dapr's default, the app id. */}}
{{- define "learnflow.userProgressConsumerGroup" -}}
{{- $group := "user-progress" -}}
{{- range $d := include "learnflow.daprSources" . | fromYamlArray -}}
{{- if and (eq $d.obj.kind "Component") (eq $d.obj.spec.type "pubsub.kafka") -}}
{{- range $m := $d.obj.spec.metadata -}}
{{- if and (has $m.name (list "consumerID" "consumerGroup")) (hasKey $m "value") -}}
{{- $group = $m.value -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $group -}}
{{- end -}}

{{/* Topic user-progress subscribes to, from the declarative Subscription scoped to it. */}}
{{- define "learnflow.userProgressTopic" -}}
{{- $topic := "" -}}
{{- range $d := include "learnflow.daprSources" . | fromYamlArray -}}
{{- if and (eq $d.obj.kind "Subscription") (has "user-progress" ($d.obj.scopes | default list)) (not $topic) -}}
{{- $topic = $d.obj.spec.topic -}}
{{- end -}}
{{- end -}}
{{- required "no Subscription scoped to user-progress in deploy/dapr" $topic -}}
{{- end -}}

{{/* Every topic the Subscriptions in deploy/dapr use (topic and dead-letter topic), sorted:
what an in-cluster Kafka must have. */}}
{{- define "learnflow.subscribedTopics" -}}
{{- $topics := list -}}
{{- range $d := include "learnflow.daprSources" . | fromYamlArray -}}
{{- if eq $d.obj.kind "Subscription" -}}
{{- $topics = append $topics $d.obj.spec.topic -}}
{{- with $d.obj.spec.deadLetterTopic -}}
{{- $topics = append $topics . -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml ($topics | uniq | sortAlpha) -}}
{{- end -}}

{{/* Name of the Dapr Configuration every sidecar uses (from deploy/dapr). */}}
{{- define "learnflow.daprConfigName" -}}
{{- $name := "" -}}
{{- range $d := include "learnflow.daprSources" . | fromYamlArray -}}
{{- if eq $d.obj.kind "Configuration" -}}
{{- $name = $d.obj.metadata.name -}}
{{- end -}}
{{- end -}}
{{- required "no Dapr Configuration in deploy/dapr" $name -}}
{{- end -}}

{{/*
Dapr sidecar annotations of one component ({"ctx", "svc", "key"}). Every value is quoted:
annotation values must be strings.
*/}}
{{- define "learnflow.daprAnnotations" -}}
{{- $v := .ctx.Values -}}
{{- $c := index $v .key -}}
{{- $res := $v.dapr.sidecar.resources -}}
{{- if $c.daprSidecarResources -}}
{{- $res = mergeOverwrite (deepCopy $res) $c.daprSidecarResources -}}
{{- end -}}
dapr.io/enabled: "true"
dapr.io/app-id: {{ .svc | quote }}
dapr.io/app-port: {{ $c.ports.api | toString | quote }}
dapr.io/app-protocol: "http"
dapr.io/config: {{ include "learnflow.daprConfigName" .ctx | quote }}
dapr.io/enable-metrics: "true"
dapr.io/metrics-port: {{ $v.dapr.metricsPort | toString | quote }}
dapr.io/sidecar-cpu-request: {{ $res.requests.cpu | toString | quote }}
dapr.io/sidecar-memory-request: {{ $res.requests.memory | toString | quote }}
dapr.io/sidecar-cpu-limit: {{ $res.limits.cpu | toString | quote }}
dapr.io/sidecar-memory-limit: {{ $res.limits.memory | toString | quote }}
dapr.io/api-token-secret: {{ include "learnflow.daprApiTokenSecretName" .ctx | quote }}
{{- if include "learnflow.calledBySidecar" .svc }}
dapr.io/app-token-secret: {{ include "learnflow.appTokenSecretName" . | quote }}
{{- end }}
dapr.io/log-level: {{ $v.dapr.logLevel | quote }}
dapr.io/log-as-json: "true"
dapr.io/graceful-shutdown-seconds: {{ $v.dapr.gracefulShutdownSeconds | toString | quote }}
dapr.io/disable-builtin-k8s-secret-store: "true"
{{- /* The gateway serves health on its admin port only, and its sidecar delivers nothing
to it, so daprd has no app health to watch there. */}}
{{- if and $v.dapr.appHealthCheck.enabled (ne .svc "frontend-gateway") }}
dapr.io/enable-app-health-check: "true"
dapr.io/app-health-check-path: "/healthz"
dapr.io/app-health-probe-interval: {{ $v.dapr.appHealthCheck.probeIntervalSeconds | toString | quote }}
dapr.io/app-health-probe-timeout: {{ $v.dapr.appHealthCheck.probeTimeoutMilliseconds | toString | quote }}
dapr.io/app-health-threshold: {{ $v.dapr.appHealthCheck.threshold | toString | quote }}
{{- end }}
{{- end -}}

{{/* ---------- Scaling ---------- */}}

{{/* "true" when an HPA owns the component's replica count ({"ctx", "svc", "key"}). */}}
{{- define "learnflow.hpaEnabled" -}}
{{- $v := .ctx.Values -}}
{{- $c := index $v .key -}}
{{- if and $v.autoscaling.enabled ($c.autoscaling).enabled (not (and (eq .svc "user-progress") $v.keda.enabled)) -}}
true
{{- end -}}
{{- end -}}

{{/* "true" when something (HPA or KEDA) owns the replica count: then no spec.replicas. */}}
{{- define "learnflow.replicasOwned" -}}
{{- if or (include "learnflow.hpaEnabled" .) (and (eq .svc "user-progress") .ctx.Values.keda.enabled) -}}
true
{{- end -}}
{{- end -}}

{{/* ---------- Workloads ---------- */}}

{{- define "learnflow.serviceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "learnflow.componentName" . }}
  labels:
    {{- include "learnflow.componentLabels" . | nindent 4 }}
automountServiceAccountToken: false
{{- end -}}

{{/* Pod-level security context required of every LearnFlow pod. */}}
{{- define "learnflow.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "learnflow.containerSecurityContext" -}}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* Env entries every service gets: listen addresses and telemetry. */}}
{{- define "learnflow.commonEnv" -}}
{{- $v := .ctx.Values -}}
{{- $c := index $v .key -}}
- name: LEARNFLOW_SERVER__HOST
  value: "0.0.0.0"
- name: LEARNFLOW_SERVER__PORT
  value: {{ $c.ports.api | toString | quote }}
- name: LEARNFLOW_ADMIN__HOST
  value: "0.0.0.0"
- name: LEARNFLOW_ADMIN__PORT
  value: {{ $c.ports.admin | toString | quote }}
- name: LEARNFLOW_TELEMETRY__LOG_FILTER
  value: {{ $c.logFilter | default $v.logFilter | quote }}
- name: OTEL_SERVICE_NAME
  value: {{ .svc | quote }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ $v.tracing.samplingRate | quote }}
{{- with include "learnflow.otlpEndpoint" .ctx }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ printf "http://%s" . | quote }}
{{- end }}
{{- end -}}

{{/*
Env entries of a service beside a sidecar ({"ctx", "svc"}): where daprd listens, the Dapr
API token, and the service's own app token when its sidecar calls it.
*/}}
{{- define "learnflow.daprEnv.app" -}}
- name: LEARNFLOW_DAPR__HTTP_PORT
  value: "3500"
- name: LEARNFLOW_DAPR__API_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "learnflow.daprApiTokenSecretName" .ctx }}
      key: token
{{- if include "learnflow.calledBySidecar" .svc }}
- name: LEARNFLOW_DAPR__APP_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "learnflow.appTokenSecretName" . }}
      key: token
{{- end }}
{{- end -}}

{{/* User-supplied extra env (a map NAME -> value) of a component. */}}
{{- define "learnflow.extraEnv" -}}
{{- $c := index .ctx.Values .key -}}
{{- range $name, $value := $c.env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/*
Deployment of one component ({"ctx", "svc", "key", "env": <YAML list of extra env>,
"sidecar": bool}). No spec.replicas when an HPA or ScaledObject owns the count: every
upgrade would reset it otherwise.
*/}}
{{- define "learnflow.deployment" -}}
{{- $v := .ctx.Values -}}
{{- $c := index $v .key -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "learnflow.componentName" . }}
  labels:
    {{- include "learnflow.componentLabels" . | nindent 4 }}
  {{- with .annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- if not (include "learnflow.replicasOwned" .) }}
  replicas: {{ $c.replicas }}
  {{- end }}
  revisionHistoryLimit: 3
  selector:
    matchLabels:
      {{- include "learnflow.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "learnflow.componentLabels" . | nindent 8 }}
      annotations:
        {{- if .sidecar }}
        {{- include "learnflow.daprAnnotations" . | nindent 8 }}
        {{- end }}
        {{- /* Roll pods when a chart-managed secret changes. */}}
        checksum/secrets: {{ include (print .ctx.Template.BasePath "/secrets.yaml") .ctx | sha256sum | quote }}
        {{- with $c.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "learnflow.componentName" . }}
      automountServiceAccountToken: false
      {{- with $v.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- include "learnflow.podSecurityContext" . | nindent 8 }}
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
      containers:
        - name: {{ .svc }}
          image: {{ include "learnflow.image" (dict "ctx" .ctx "image" $c.image) | quote }}
          imagePullPolicy: {{ $v.image.pullPolicy }}
          ports:
            - name: http
              containerPort: {{ $c.ports.api }}
              protocol: TCP
            - name: metrics
              containerPort: {{ $c.ports.admin }}
              protocol: TCP
          env:
            {{- include "learnflow.commonEnv" . | nindent 12 }}
            {{- if .sidecar }}
            {{- include "learnflow.daprEnv.app" . | nindent 12 }}
            {{- end }}
            {{- with .env }}
            {{- . | nindent 12 }}
            {{- end }}
            {{- include "learnflow.extraEnv" . | indent 12 }}
          startupProbe:
            httpGet:
              path: /healthz
              port: metrics
            periodSeconds: {{ $v.probes.startup.periodSeconds }}
            failureThreshold: {{ $v.probes.startup.failureThreshold }}
          livenessProbe:
            httpGet:
              path: /healthz
              port: metrics
            periodSeconds: {{ $v.probes.liveness.periodSeconds }}
            timeoutSeconds: {{ $v.probes.liveness.timeoutSeconds }}
            failureThreshold: {{ $v.probes.liveness.failureThreshold }}
          readinessProbe:
            httpGet:
              path: /readyz
              port: metrics
            periodSeconds: {{ $v.probes.readiness.periodSeconds }}
            timeoutSeconds: {{ $v.probes.readiness.timeoutSeconds }}
            failureThreshold: {{ $v.probes.readiness.failureThreshold }}
          resources:
            {{- toYaml $c.resources | nindent 12 }}
          securityContext:
            {{- include "learnflow.containerSecurityContext" . | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if and .database (include "learnflow.postgresVerifies" .ctx) }}
            - name: postgresql-ca
              mountPath: {{ include "learnflow.postgresCaPath" .ctx | dir }}
              readOnly: true
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
        {{- if and .database (include "learnflow.postgresVerifies" .ctx) }}
        - name: postgresql-ca
          secret:
            secretName: {{ $v.postgresql.tls.caSecret }}
            items:
              - key: {{ $v.postgresql.tls.caKey }}
                path: {{ include "learnflow.postgresCaPath" .ctx | base }}
        {{- end }}
      {{- with $c.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $c.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $c.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}

{{/* Service of one component ({"ctx", "svc", "key", "api": bool}). Internal services expose
only `metrics`: their API is reached through daprd, never directly. */}}
{{- define "learnflow.service" -}}
{{- $c := index .ctx.Values .key -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "learnflow.componentName" . }}
  labels:
    {{- include "learnflow.componentLabels" . | nindent 4 }}
spec:
  type: {{ ($c.service).type | default "ClusterIP" }}
  selector:
    {{- include "learnflow.selectorLabels" . | nindent 4 }}
  ports:
    {{- if .api }}
    - name: http
      port: {{ ($c.service).port | default $c.ports.api }}
      targetPort: http
      protocol: TCP
    {{- end }}
    - name: metrics
      port: {{ $c.ports.admin }}
      targetPort: metrics
      protocol: TCP
{{- end -}}

{{/* HPA on the app container's CPU ({"ctx", "svc", "key"}). ContainerResource, because the
pod's utilisation would be dominated by daprd. */}}
{{- define "learnflow.hpa" -}}
{{- $c := index .ctx.Values .key -}}
{{- $a := $c.autoscaling -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "learnflow.componentName" . }}
  labels:
    {{- include "learnflow.componentLabels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "learnflow.componentName" . }}
  minReplicas: {{ $a.minReplicas }}
  maxReplicas: {{ $a.maxReplicas }}
  metrics:
    - type: ContainerResource
      containerResource:
        name: cpu
        container: {{ .svc }}
        target:
          type: Utilization
          averageUtilization: {{ $a.targetCPUUtilizationPercentage }}
  behavior:
    {{- toYaml $a.behavior | nindent 4 }}
{{- end -}}

{{- define "learnflow.pdb" -}}
{{- $c := index .ctx.Values .key -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "learnflow.componentName" . }}
  labels:
    {{- include "learnflow.componentLabels" . | nindent 4 }}
spec:
  maxUnavailable: {{ .ctx.Values.podDisruptionBudgets.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "learnflow.selectorLabels" . | nindent 6 }}
{{- end -}}

{{/*
Where apps and daprd send traces (OTLP/HTTP host:port): the Jaeger the chart runs
(tracing.jaeger.deploy), else tracing.otlpEndpoint; empty: nowhere. Both set is an error.
*/}}
{{- define "learnflow.otlpEndpoint" -}}
{{- $t := .Values.tracing -}}
{{- if $t.jaeger.deploy -}}
{{- if $t.otlpEndpoint -}}
{{- fail "tracing.otlpEndpoint and tracing.jaeger.deploy both name a trace backend: set one" -}}
{{- end -}}
{{- printf "%s.%s.svc.cluster.local:4318" (include "learnflow.componentName" (dict "ctx" . "svc" "jaeger")) .Release.Namespace -}}
{{- else -}}
{{- $t.otlpEndpoint -}}
{{- end -}}
{{- end -}}
