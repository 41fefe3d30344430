//! The environment each service process starts with.

use super::*;

pub(super) fn service_env(
    def: &ServiceDef,
    dapr: Option<&DaprPorts>,
    postgres: &Postgres,
    kafka: &Kafka,
    jaeger: &Jaeger,
    secrets: &StackSecrets,
    options: &StackOptions,
) -> Vec<(String, String)> {
    let mut env = vec![
        (
            "LEARNFLOW_TELEMETRY__LOG_FILTER".to_owned(),
            "info".to_owned(),
        ),
        ("OTEL_SERVICE_NAME".to_owned(), def.name.to_owned()),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
            format!("http://{}", jaeger.otlp_http_endpoint()),
        ),
        (
            "OTEL_TRACES_SAMPLER_ARG".to_owned(),
            options.sampling_rate.clone(),
        ),
    ];
    if let Some(ports) = dapr {
        env.push(("LEARNFLOW_DAPR__HTTP_PORT".into(), ports.http.to_string()));
        env.push((
            "LEARNFLOW_DAPR__API_TOKEN".into(),
            secrets.dapr_api_token.clone(),
        ));
        let app_token = secrets.app_token(def.name);
        if !app_token.is_empty() {
            env.push(("LEARNFLOW_DAPR__APP_TOKEN".into(), app_token));
        }
    }
    if let Some(db) = def.database {
        env.push(("LEARNFLOW_DATABASE__URL".into(), postgres.url(db)));
    }
    if def.name == "kafka-monitor" {
        env.push(("LEARNFLOW_KAFKA__BROKERS".into(), kafka.bootstrap()));
        env.push(("LEARNFLOW_KAFKA__POLL_INTERVAL_SECS".into(), "2".into()));
    }
    if def.name == "frontend-gateway" {
        env.push((
            "LEARNFLOW_AUTH__JWT_SECRET".into(),
            secrets.jwt_secret.clone(),
        ));
        // A dev stack: the learner page may sign in through `POST /dev/token`.
        env.push(("LEARNFLOW_DEV__ENABLED".into(), "true".into()));
        if !options.gateway_allowed_origins.is_empty() {
            env.push((
                "LEARNFLOW_CORS__ALLOWED_ORIGINS".into(),
                options.gateway_allowed_origins.join(","),
            ));
        }
    }
    env
}
