//! PostgreSQL from the Debian package: own data directory, own port, password auth
//! (scram-sha-256) with a password made per run, so that what a real deployment has to keep
//! out of its logs exists here too.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::{RunDir, run_command};
use crate::process::{ManagedProcess, ProcessSpec};
use crate::tools::Toolchain;
use crate::wait::{free_port, until_ready};
use crate::{HarnessError, Result};

/// The user PostgreSQL runs as when we are root.
const SERVER_USER: &str = "postgres";

/// A running PostgreSQL server.
#[derive(Debug)]
pub struct Postgres {
    process: ManagedProcess,
    port: u16,
    bin: PathBuf,
    password: String,
}

impl Postgres {
    /// Initialises a cluster in the run directory and starts it on a free port.
    pub fn start(run: &mut RunDir, tools: &Toolchain) -> Result<Self> {
        let mut pg = Self::spawn(run, tools)?;
        pg.wait_ready()?;
        Ok(pg)
    }

    /// Like [`Postgres::start`] without waiting for readiness.
    pub fn spawn(run: &mut RunDir, tools: &Toolchain) -> Result<Self> {
        let port = free_port()?;
        let dir = run.subdir("postgres")?;
        let data = dir.join("data");
        let as_root = nix::unistd::geteuid().is_root();
        let run_as = as_root.then(|| SERVER_USER.to_owned());
        if as_root {
            let user = nix::unistd::User::from_name(SERVER_USER)
                .ok()
                .flatten()
                .ok_or_else(|| HarnessError::Missing {
                    what: "the `postgres` system user (PostgreSQL will not run as root)".into(),
                    fix: "apt-get install -y postgresql".into(),
                })?;
            nix::unistd::chown(&dir, Some(user.uid), Some(user.gid)).map_err(|e| {
                HarnessError::Command {
                    what: format!("chown {}", dir.display()),
                    detail: e.to_string(),
                }
            })?;
        }
        let password = uuid::Uuid::new_v4().simple().to_string();
        // initdb reads the superuser's password from a file; it is removed right after.
        let password_file = dir.join("initdb-password");
        std::fs::write(&password_file, &password).map_err(HarnessError::io(format!(
            "writing {}",
            password_file.display()
        )))?;
        if let Some(user) = as_root
            .then(|| nix::unistd::User::from_name(SERVER_USER).ok().flatten())
            .flatten()
        {
            nix::unistd::chown(&password_file, Some(user.uid), Some(user.gid)).map_err(|e| {
                HarnessError::Command {
                    what: format!("chown {}", password_file.display()),
                    detail: e.to_string(),
                }
            })?;
        }
        let mut initdb = Command::new("setpriv");
        if as_root {
            initdb.args([
                "--reuid",
                SERVER_USER,
                "--regid",
                SERVER_USER,
                "--clear-groups",
            ]);
        }
        initdb
            .arg("--")
            .arg(tools.postgres_bin.join("initdb"))
            .args([
                "-U",
                "postgres",
                "-A",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ])
            .arg(format!("--pwfile={}", password_file.display()))
            .arg("-D")
            .arg(&data);
        let initialised = run_command("initdb", &mut initdb);
        let _ = std::fs::remove_file(&password_file);
        initialised?;
        let mut spec = ProcessSpec::new(
            "postgres",
            tools.postgres_bin.join("postgres"),
            dir.join("postgres.log"),
        )
        .args(["-D".into(), data.into_os_string()])
        .args(["-p".to_owned(), port.to_string()])
        .args([
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            &format!("unix_socket_directories={}", dir.display()),
            "-c",
            "max_connections=300",
            "-c",
            "shared_buffers=128MB",
            "-c",
            "log_min_messages=warning",
        ]);
        spec.run_as = run_as;
        // SIGINT is PostgreSQL's "fast shutdown": roll back and stop now.
        spec.stop_signal = Signal::SIGINT;
        spec.detached = run.detached();
        spec.cwd = Some(dir.clone());
        let process = ManagedProcess::spawn(spec)?;
        run.track(process.pid())?;
        Ok(Self {
            port,
            bin: tools.postgres_bin.clone(),
            process,
            password,
        })
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Connection URL for database `db` as the superuser (its password included).
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://postgres:{}@127.0.0.1:{}/{db}",
            self.password, self.port
        )
    }

    /// The superuser's password (made for this run).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// Runs SQL through `psql` against `db`; returns its unaligned output.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String> {
        run_command(
            "psql",
            Command::new(self.bin.join("psql"))
                .env("PGPASSWORD", &self.password)
                .args([
                    "-X",
                    "-q",
                    "-A",
                    "-t",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                ])
                .args(["-p", &self.port.to_string(), "-d", db, "-c", sql]),
        )
        .map(|s| s.trim().to_owned())
    }

    /// Creates database `name`.
    pub fn create_database(&self, name: &str) -> Result<()> {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""))
            .map(|_| ())
    }

    /// Stops and starts the server (same data, same port) and waits until it answers again.
    pub fn restart(&mut self) -> Result<()> {
        self.process.restart(Duration::from_secs(20))?;
        self.wait_ready()
    }

    /// Waits until it answers.
    pub fn wait_ready(&mut self) -> Result<()> {
        let isready = self.bin.join("pg_isready");
        let port = self.port;
        until_ready(&mut self.process, Duration::from_secs(30), || {
            pg_isready(&isready, port)
        })
    }

    /// The underlying process, for chaos (stop, kill, freeze).
    pub fn process(&mut self) -> &mut ManagedProcess {
        &mut self.process
    }
}

fn pg_isready(bin: &std::path::Path, port: u16) -> std::result::Result<(), String> {
    let out = Command::new(bin)
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "postgres",
            "-t",
            "2",
        ])
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}
