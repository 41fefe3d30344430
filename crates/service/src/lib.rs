//! The skeleton every LearnFlow service shares, so that a service's own code is only its
//! settings, dependencies, routes, state and tasks.
//!
//! Parts:
//! - [`Config`]: the listeners and telemetry settings every service has, with the
//!   service's own [`ServiceSettings`] beside them (`config.dapr` reads through to them);
//!   loaded as defaults → file → `LEARNFLOW_*` environment ([`Config::load`]);
//! - [`Service`]: what a service supplies: its name, settings, dependencies, how `main`
//!   opens them ([`Service::connect`]) and how they are wired ([`Service::build`]);
//! - [`App`]: a built service: its addresses, then serving until stopped and stopping
//!   its background tasks;
//! - [`main`]: config → telemetry → dependencies → `App::build` → run → flush, and the
//!   error with its causes on stderr when any step fails.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::process::ExitCode;

use lf_http::{Background, ListenConfig, Listeners, Servers};
use lf_telemetry::TelemetryConfig;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// A boxed error, for what `main` reports.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A service's own settings (every section but `[server]`, `[admin]` and `[telemetry]`).
pub trait ServiceSettings: DeserializeOwned {
    /// The service's embedded defaults (`include_str!("config.default.toml")`).
    const DEFAULTS: &'static str;
}

/// All settings of a service: the sections every service has, and its own.
#[derive(Debug, Clone, Deserialize)]
pub struct Config<S> {
    /// The API listener.
    pub server: ListenConfig,
    /// The admin listener (`/metrics`, health).
    pub admin: ListenConfig,
    /// Logging.
    pub telemetry: TelemetryConfig,
    /// The service's own sections.
    #[serde(flatten)]
    pub service: S,
}

impl<S: ServiceSettings> Config<S> {
    /// Loads defaults, the file named by `--config`/`LEARNFLOW_CONFIG`, and the environment.
    pub fn load(
        args: impl IntoIterator<Item = String>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, lf_config::ConfigError> {
        lf_config::load_from_args(S::DEFAULTS, args, env)
    }
}

impl<S> Deref for Config<S> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.service
    }
}

impl<S> DerefMut for Config<S> {
    fn deref_mut(&mut self) -> &mut S {
        &mut self.service
    }
}

/// What a service is wired from: the servers of its two listeners and its background tasks.
#[derive(Debug)]
pub struct Parts {
    /// The API and admin servers.
    pub servers: Servers,
    /// Tasks stopped and awaited after the servers have drained.
    pub background: Background,
}

/// A LearnFlow service: what it needs and how it is wired.
pub trait Service: Sized + 'static {
    /// The Dapr app id and telemetry service name.
    const NAME: &'static str;
    /// Its own settings.
    type Settings: ServiceSettings;
    /// What [`Service::build`] takes: listeners, pools, ports; tests hand in their own.
    type Deps;
    /// Why it cannot start.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Opens the real dependencies (`main` only).
    fn connect(
        config: &Config<Self::Settings>,
        listeners: Listeners,
    ) -> impl Future<Output = Result<Self::Deps, BoxError>> + Send;

    /// Wires routes, state, background tasks and readiness.
    fn build(config: &Config<Self::Settings>, deps: Self::Deps) -> Result<Parts, Self::Error>;
}

/// A built service.
pub struct App<S> {
    parts: Parts,
    service: PhantomData<fn() -> S>,
}

impl<S> fmt::Debug for App<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App").field("parts", &self.parts).finish()
    }
}

impl<S: Service> App<S> {
    /// Wires the service from `deps` ([`Service::build`]).
    pub fn build(config: &Config<S::Settings>, deps: S::Deps) -> Result<Self, S::Error> {
        Ok(Self {
            parts: S::build(config, deps)?,
            service: PhantomData,
        })
    }

    /// Address of the API listener.
    pub fn api_addr(&self) -> std::io::Result<SocketAddr> {
        self.parts.servers.api_addr()
    }

    /// Address of the admin listener.
    pub fn admin_addr(&self) -> std::io::Result<SocketAddr> {
        self.parts.servers.admin_addr()
    }

    /// Serves until `shutdown` resolves and the servers have drained, then stops the
    /// background tasks and waits for them: each finishes the unit of work it is in
    /// (see [`Background`]).
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let result = self.parts.servers.run_until(shutdown).await;
        self.parts
            .background
            .stop(lf_http::background::STOP_GRACE)
            .await;
        result
    }
}

/// A service's `main`: config → telemetry → dependencies → [`App::build`] → serve until
/// SIGTERM or Ctrl-C → flush telemetry. A failing step is printed with its causes and
/// the process exits 1.
pub fn main<S: Service>() -> ExitCode {
    let outcome = tokio::runtime::Runtime::new()
        .map_err(BoxError::from)
        .and_then(|runtime| runtime.block_on(run::<S>()));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let chain = lf_http::error::Chain(e.as_ref()).to_string();
            tracing::error!(error = %chain, "{} stopped", S::NAME);
            eprintln!("{}: {chain}", S::NAME);
            ExitCode::FAILURE
        }
    }
}

async fn run<S: Service>() -> Result<(), BoxError> {
    let config = Config::<S::Settings>::load(std::env::args(), std::env::vars())?;
    let telemetry = lf_telemetry::init(S::NAME, &config.telemetry, std::env::vars())?;
    let listeners = Listeners::bind(&config.server, &config.admin).await?;
    let deps = S::connect(&config, listeners).await?;
    let app = App::<S>::build(&config, deps)?;
    tracing::info!(api = %app.api_addr()?, admin = %app.admin_addr()?, "{} listening", S::NAME);
    app.run_until_stopped(lf_http::shutdown_signal()).await?;
    telemetry.shutdown();
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use lf_http::Readiness;

    use super::*;

    /// A service with one setting of its own and one background task.
    struct Probe;

    #[derive(Debug, Clone, Deserialize)]
    struct ProbeSettings {
        probe: ProbeSection,
    }

    #[derive(Debug, Clone, Deserialize)]
    struct ProbeSection {
        unit_of_work_ms: u64,
    }

    impl ServiceSettings for ProbeSettings {
        const DEFAULTS: &'static str = "
            [server]
            host = '127.0.0.1'
            port = 0
            [admin]
            host = '127.0.0.1'
            port = 0
            [telemetry]
            log_filter = 'info'
            log_format = 'json'
            [probe]
            unit_of_work_ms = 50
        ";
    }

    struct ProbeDeps {
        listeners: Listeners,
        finished: Arc<AtomicBool>,
    }

    impl Service for Probe {
        const NAME: &'static str = "probe";
        type Settings = ProbeSettings;
        type Deps = ProbeDeps;
        type Error = std::convert::Infallible;

        async fn connect(_: &Config<ProbeSettings>, _: Listeners) -> Result<ProbeDeps, BoxError> {
            Err("tests hand in their own".into())
        }

        fn build(config: &Config<ProbeSettings>, deps: ProbeDeps) -> Result<Parts, Self::Error> {
            let background = Background::new();
            let unit = Duration::from_millis(config.probe.unit_of_work_ms);
            let finished = deps.finished;
            // One unit of work that outlasts the stop signal: it must be awaited.
            background.spawn(|stop| async move {
                stop.cancelled().await;
                tokio::time::sleep(unit).await;
                finished.store(true, Ordering::Release);
            });
            let servers = Servers::new(deps.listeners, axum::Router::new(), Readiness::new());
            Ok(Parts {
                servers,
                background,
            })
        }
    }

    fn load(env: &[(&str, &str)]) -> Result<Config<ProbeSettings>, lf_config::ConfigError> {
        Config::load(
            Vec::new(),
            env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
    }

    #[test]
    fn shared_and_own_sections_load_and_take_the_environment() {
        let config = load(&[
            ("LEARNFLOW_SERVER__PORT", "8123"),
            ("LEARNFLOW_PROBE__UNIT_OF_WORK_MS", "7"),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.server.port, 8123);
        assert_eq!(config.admin.port, 0);
        // Read through to the service's own settings.
        assert_eq!(config.probe.unit_of_work_ms, 7);
        let wrong_type = load(&[("LEARNFLOW_PROBE__UNIT_OF_WORK_MS", "soon")]);
        assert!(
            matches!(wrong_type, Err(lf_config::ConfigError::EnvType { .. })),
            "{wrong_type:?}"
        );
        let unknown = load(&[("LEARNFLOW_PROBES__UNIT_OF_WORK_MS", "1")]);
        assert!(
            matches!(unknown, Err(lf_config::ConfigError::UnknownSetting { .. })),
            "{unknown:?}"
        );
    }

    #[tokio::test]
    async fn stopping_waits_for_the_unit_of_work_in_progress() {
        let config = load(&[]).unwrap_or_else(|e| panic!("{e}"));
        let finished = Arc::new(AtomicBool::new(false));
        let deps = ProbeDeps {
            listeners: Listeners::loopback()
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            finished: finished.clone(),
        };
        let Ok(app) = App::<Probe>::build(&config, deps);
        let admin = app.admin_addr().unwrap_or_else(|e| panic!("{e}"));
        let stop = Arc::new(tokio::sync::Notify::new());
        let stopped = stop.clone();
        let running = tokio::spawn(app.run_until_stopped(async move { stopped.notified().await }));
        let health = get_healthz(admin).await;
        assert!(health.starts_with("HTTP/1.1 200"), "{health}");
        stop.notify_one();
        running
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            finished.load(Ordering::Acquire),
            "run_until_stopped returned before the background task finished"
        );
    }

    /// `GET /healthz` over a raw socket (no HTTP client needed for one request).
    async fn get_healthz(addr: SocketAddr) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        answer
    }
}
