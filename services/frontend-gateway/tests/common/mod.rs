//! Shared by the gateway's HTTP tests: a gateway on free ports in front of a fake sidecar.

use std::sync::Arc;

use frontend_gateway::{App, Config, Deps};
use lf_dapr::fake::FakeSidecar;

/// What `App::build` takes: free loopback ports and `sidecar`.
pub async fn deps(sidecar: FakeSidecar) -> Deps {
    Deps {
        listeners: lf_http::Listeners::loopback().await.expect("bind"),
        dapr: Arc::new(sidecar),
    }
}

/// Starts a gateway that checks tokens against `secret`, configured by `extra_env`, in front
/// of `sidecar`; returns its API base URL.
pub async fn spawn_gateway(
    sidecar: FakeSidecar,
    secret: &str,
    extra_env: &[(&str, &str)],
) -> String {
    spawn_gateway_with_admin(sidecar, secret, extra_env).await.0
}

/// [`spawn_gateway`], returning the API and the admin base URLs.
pub async fn spawn_gateway_with_admin(
    sidecar: FakeSidecar,
    secret: &str,
    extra_env: &[(&str, &str)],
) -> (String, String) {
    let mut env = vec![
        ("LEARNFLOW_AUTH__JWT_SECRET".to_owned(), secret.to_owned()),
        (
            "LEARNFLOW_TELEMETRY__LOG_FILTER".to_owned(),
            "warn".to_owned(),
        ),
    ];
    env.extend(
        extra_env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let config = Config::load(Vec::new(), env).expect("config");
    let app = App::build(&config, deps(sidecar).await).expect("app");
    let base = format!("http://{}", app.api_addr().expect("addr"));
    let admin = format!("http://{}", app.admin_addr().expect("admin addr"));
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    (base, admin)
}
