//! `cargo xtask sqlx-prepare`: regenerate the committed sqlx offline query data (`.sqlx/`).
//!
//! Starts a PostgreSQL through the harness, applies every service's migrations to
//! one scratch database (their tables do not collide), and rebuilds the
//! query-macro users online with `SQLX_OFFLINE_DIR` pointing at `.sqlx/`, which
//! makes the macros write their query data there. No sqlx-cli needed.

use std::process::Command;

use lf_testkit::components::RunDir;
use lf_testkit::components::postgres::Postgres;
use lf_testkit::paths::repo_root;
use lf_testkit::tools::Toolchain;

/// Services whose queries are checked at compile time.
const MACRO_USERS: &[&str] = &["course-agent", "user-progress"];

pub fn prepare() -> Result<(), String> {
    let tools = Toolchain::locate().map_err(|e| e.to_string())?;
    let mut run = RunDir::create("sqlx-prepare", false).map_err(|e| e.to_string())?;
    let postgres = Postgres::start(&mut run, &tools).map_err(|e| e.to_string())?;
    postgres
        .create_database("sqlx_prepare")
        .map_err(|e| e.to_string())?;
    for service in MACRO_USERS {
        let dir = repo_root()
            .join("services")
            .join(service)
            .join("migrations");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        files.sort();
        for file in files {
            let sql = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
            crate::say(&format!("applying {}", file.display()));
            postgres
                .psql("sqlx_prepare", &sql)
                .map_err(|e| e.to_string())?;
        }
    }
    let out = repo_root().join(".sqlx");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut clean = Command::new(&cargo);
    clean.current_dir(repo_root()).arg("clean");
    for s in MACRO_USERS {
        clean.args(["-p", s]);
    }
    clean.status().map_err(|e| e.to_string())?;
    let mut check = Command::new(&cargo);
    check
        .current_dir(repo_root())
        .args(["check", "--all-targets"])
        .env("DATABASE_URL", postgres.url("sqlx_prepare"))
        .env("SQLX_OFFLINE", "false")
        .env("SQLX_OFFLINE_DIR", &out);
    for s in MACRO_USERS {
        check.args(["-p", s]);
    }
    let status = check.status().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!(
            "cargo check with a live database failed ({status})"
        ));
    }
    let count = std::fs::read_dir(&out).map(|d| d.count()).unwrap_or(0);
    crate::say(&format!("wrote {count} query files to {}", out.display()));
    Ok(())
}
