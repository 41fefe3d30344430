//! kafka-monitor binary: the shared service skeleton ([`lf_service::main`]) around
//! [`kafka_monitor::KafkaMonitor`].

fn main() -> std::process::ExitCode {
    lf_service::main::<kafka_monitor::KafkaMonitor>()
}
