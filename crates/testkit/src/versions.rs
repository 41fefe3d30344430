//! Pinned versions of every third-party runtime component. Changing one here
//! re-provisions it into a new cache directory; see `docs/adr/` for why each is what it is.

/// daprd, built from the Go module `github.com/dapr/dapr`.
pub const DAPR: &str = "1.18.3";
/// `github.com/dapr/durabletask-go` version daprd is built against (the Go module
/// proxy reachable here does not serve v0.12.4, which v1.18.3 asks for; see ADR 0001).
pub const DAPR_DURABLETASK: &str = "v0.12.1";
/// Apache Kafka broker (KRaft), from Maven Central jars.
pub const KAFKA: &str = "4.1.2";
/// The Prometheus JMX exporter's java agent (Maven Central
/// `io.prometheus.jmx:jmx_prometheus_javaagent`) the Kafka broker runs with.
pub const JMX_EXPORTER: &str = "1.0.1";
/// Log4j 2 backend for the broker's logs.
pub const LOG4J: &str = "2.24.3";
/// Kafka protocol version Dapr's Kafka client (sarama) is told to speak; equal to the broker's minor.
pub const KAFKA_PROTOCOL: &str = "4.1.0";
/// Jaeger v2 (the `cmd/jaeger` binary), Go module `github.com/jaegertracing/jaeger` tag.
pub const JAEGER_MODULE: &str = "v1.76.0";
/// Alertmanager and amtool, Go module `github.com/prometheus/alertmanager` tag: the newest
/// release whose module still carries its web UI as Go source (later ones embed an npm-built
/// UI the module lacks), and new enough for `url_file` webhooks (Debian's 0.25 is not).
/// ADR 0026.
pub const ALERTMANAGER_MODULE: &str = "v0.31.1";
/// VictoriaLogs and vlagent, Go module `github.com/VictoriaMetrics/VictoriaLogs` tag: the
/// log store and its collector, Apache-2.0 (ADR 0030).
pub const VICTORIALOGS_MODULE: &str = "v1.52.2";
/// PostgreSQL major version (Debian package).
pub const POSTGRES_MAJOR: &str = "15";
/// Helm, built with `go install helm.sh/helm/v3/cmd/helm@<this>` for the offline chart checks.
pub const HELM: &str = "v3.21.4";

// Schemas of the offline deploy checks (ADR 0011): Go module tags the module proxy serves
// whose go.mod asks for no newer Go than MIN_GO (the Dapr CRDs come from `DAPR` above).
/// KEDA (`ScaledObject` CRD), Go module `github.com/kedacore/keda/v2` (v2.21.1 needs Go 1.27).
pub const KEDA_MODULE: &str = "v2.21.0";
/// prometheus-operator (`PodMonitor`, `ServiceMonitor`, `PrometheusRule` CRDs), Go module
/// `github.com/prometheus-operator/prometheus-operator`; the cluster builds its operator
/// and config reloader from the same tag.
pub const PROMETHEUS_OPERATOR_MODULE: &str = "v0.89.0";
/// Flux's helm-controller (`HelmRelease` CRD), Go module `github.com/fluxcd/helm-controller`
/// (v1.4.3: the newest the proxy serves here; v1.5.0 is refused).
pub const FLUX_HELM_CONTROLLER_MODULE: &str = "v1.4.3";
/// Flux's source-controller (`OCIRepository` CRD), Go module
/// `github.com/fluxcd/source-controller`: the v1.7 line helm-controller v1.4.3 goes with.
pub const FLUX_SOURCE_CONTROLLER_MODULE: &str = "v1.7.3";
/// The compose specification's JSON schema, embedded in Go module
/// `github.com/compose-spec/compose-go/v2` (v2.17.0 needs Go 1.26.11).
pub const COMPOSE_GO_MODULE: &str = "v2.16.2";
/// skaffold's `v4beta14` JSON schema, Go module `github.com/GoogleContainerTools/skaffold/v2`
/// (v2.16.1, the previous tag the proxy serves, stops at v4beta13).
pub const SKAFFOLD_MODULE: &str = "v2.19.0";

// Containers (ADR 0012).
/// Docker Compose, built from Go module `github.com/docker/compose/v5` (v5.7.x needs Go 1.27).
pub const COMPOSE: &str = "v5.6.0";
/// buildx (BuildKit client for `docker build` and compose), Go module `github.com/docker/buildx`.
pub const BUILDX: &str = "v0.38.2";
/// The Debian suite of the base image (`debian:bookworm-slim`).
pub const DEBIAN_SUITE: &str = "bookworm";
/// The Debian archive the base image is made from and installs from.
pub const DEBIAN_MIRROR: &str = "http://deb.debian.org/debian";
/// Debian's security archive.
pub const DEBIAN_SECURITY_MIRROR: &str = "http://deb.debian.org/debian-security";

// The single-node cluster (ADR 0013).
/// Kubernetes (apiserver, controller-manager, scheduler, kubelet, kube-proxy, kubectl), built
/// from Go module `k8s.io/kubernetes` against its published staging modules (`k8s.io/* v0.34.4`).
pub const KUBERNETES: &str = "v1.34.4";
/// CoreDNS, Go module `github.com/coredns/coredns`.
pub const COREDNS: &str = "v1.12.1";
/// metrics-server, Go module `sigs.k8s.io/metrics-server`.
pub const METRICS_SERVER: &str = "v0.8.0";
/// kube-state-metrics, Go module `k8s.io/kube-state-metrics/v2`: the Kubernetes objects'
/// state for the Kubernetes alerts and panels, as kube-prometheus-stack bundles it.
pub const KUBE_STATE_METRICS: &str = "v2.20.0";
/// The cluster's image registry: the Distribution registry, Go module
/// `github.com/distribution/distribution/v3` (`./cmd/registry`).
pub const REGISTRY: &str = "v3.1.2";
/// The cluster's Prometheus: Go module `github.com/prometheus/prometheus` at the tag of
/// the compose image's release (v3.13.1), built with Kubernetes service discovery only.
pub const PROMETHEUS_MODULE: &str = "v0.313.1";
/// minikube, for the README's "skaffold on minikube" recipe (not run here: ADR 0020).
pub const MINIKUBE: &str = "v1.37.0";
/// The newest Kubernetes [`MINIKUBE`] supports; a newer one makes it ask GitHub for it.
pub const MINIKUBE_KUBERNETES: &str = "v1.34.0";
/// The Prometheus release [`PROMETHEUS_MODULE`] is (the operator picks flags by it).
pub const PROMETHEUS: &str = "v3.13.1";
