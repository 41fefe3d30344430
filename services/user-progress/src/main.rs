//! user-progress binary: config → telemetry → App::build → run → flush.

use user_progress::{App, Config, Deps, SERVICE};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::load(std::env::args(), std::env::vars())?;
    let telemetry = lf_telemetry::init(SERVICE, &config.telemetry, std::env::vars())?;
    let deps = Deps {
        api_listener: config.server.bind().await?,
        admin_listener: config.admin.bind().await?,
        pool: lf_db::connect(&config.database).await?,
    };
    let app = App::build(&config, deps)?;
    tracing::info!(api = %app.api_addr()?, admin = %app.admin_addr()?, "{SERVICE} listening");
    app.run_until_stopped(lf_http::shutdown_signal()).await?;
    telemetry.shutdown();
    Ok(())
}
