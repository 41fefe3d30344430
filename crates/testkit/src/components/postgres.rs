//! PostgreSQL from the Debian package: own data directory, own port, password auth
//! (scram-sha-256) with a password made per run, so that what a real deployment has to keep
//! out of its logs exists here too. [`Transport::Tls`] serves TLS only, with a CA and a
//! certificate made at start ([`crate::pki`]), and hands out `sslmode=verify-full` URLs.

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

/// How clients reach the server over TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Plaintext (`sslmode=disable` URLs): tools and per-crate tests.
    Plain,
    /// TLS only: `pg_hba.conf` has `hostssl` lines and no `host` line, so a plaintext
    /// connection is refused; URLs carry `sslmode=verify-full` and the run's CA.
    Tls,
}

/// Days the run's certificates are valid: a stack never lives that long.
const CERT_DAYS: u32 = 7;

/// A running PostgreSQL server.
#[derive(Debug)]
pub struct Postgres {
    process: ManagedProcess,
    port: u16,
    bin: PathBuf,
    password: String,
    /// The CA that signed the server's certificate, in [`Transport::Tls`].
    ca: Option<PathBuf>,
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
        Self::spawn_with(run, tools, Transport::Plain)
    }

    /// Like [`Postgres::spawn`], reached over `transport`.
    pub fn spawn_with(run: &mut RunDir, tools: &Toolchain, transport: Transport) -> Result<Self> {
        let port = free_port()?;
        let dir = run.subdir("postgres")?;
        let data = dir.join("data");
        let as_root = nix::unistd::geteuid().is_root();
        let run_as = as_root.then(|| SERVER_USER.to_owned());
        if as_root {
            give_to_server_user(&dir)?;
        }
        let password = uuid::Uuid::new_v4().simple().to_string();
        // initdb reads the superuser's password from a file; it is removed right after.
        let password_file = dir.join("initdb-password");
        std::fs::write(&password_file, &password).map_err(HarnessError::io(format!(
            "writing {}",
            password_file.display()
        )))?;
        if as_root {
            give_to_server_user(&password_file)?;
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
        let tls = match transport {
            Transport::Plain => None,
            Transport::Tls => Some(server_tls(&dir, as_root)?),
        };
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
        if let Some(tls) = &tls {
            spec = spec.args(tls.server_settings());
        }
        spec.run_as = run_as;
        // SIGINT is PostgreSQL's "fast shutdown": roll back and stop now.
        spec.stop_signal = Signal::SIGINT;
        spec.cwd = Some(dir.clone());
        let process = run.spawn(spec)?;
        Ok(Self {
            port,
            bin: tools.postgres_bin.clone(),
            process,
            password,
            ca: tls.map(|t| t.ca),
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

    /// Connection URL for database `db` as the superuser (its password included): with
    /// `sslmode=verify-full` and the run's CA in [`Transport::Tls`].
    pub fn url(&self, db: &str) -> String {
        self.url_as("postgres", &self.password, db)
    }

    /// Like [`Postgres::url`] for another role.
    pub fn url_as(&self, user: &str, password: &str, db: &str) -> String {
        let base = format!("postgres://{user}:{password}@127.0.0.1:{}/{db}", self.port);
        match &self.ca {
            Some(ca) => format!("{base}?sslmode=verify-full&sslrootcert={}", ca.display()),
            None => format!("{base}?sslmode=disable"),
        }
    }

    /// The same URL with `sslmode=disable`: refused by a [`Transport::Tls`] server.
    pub fn plaintext_url(&self, db: &str) -> String {
        format!("{}?sslmode=disable", self.base_url(db))
    }

    fn base_url(&self, db: &str) -> String {
        format!(
            "postgres://postgres:{}@127.0.0.1:{}/{db}",
            self.password, self.port
        )
    }

    /// The CA that signed the server's certificate ([`Transport::Tls`] only).
    pub fn ca(&self) -> Option<&std::path::Path> {
        self.ca.as_deref()
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

/// Makes `path` the server user's: PostgreSQL will not run as root, so when we are root
/// its data directory, its password file and its TLS key must be that user's.
fn give_to_server_user(path: &std::path::Path) -> Result<()> {
    let user = nix::unistd::User::from_name(SERVER_USER)
        .ok()
        .flatten()
        .ok_or_else(|| HarnessError::Missing {
            what: "the `postgres` system user (PostgreSQL will not run as root)".into(),
            fix: "apt-get install -y postgresql".into(),
        })?;
    nix::unistd::chown(path, Some(user.uid), Some(user.gid)).map_err(|e| HarnessError::Command {
        what: format!("chown {}", path.display()),
        detail: e.to_string(),
    })
}

/// The files of [`Transport::Tls`].
struct ServerTls {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    hba: PathBuf,
}

impl ServerTls {
    fn server_settings(&self) -> Vec<String> {
        [
            "ssl=on".to_owned(),
            format!("ssl_cert_file={}", self.cert.display()),
            format!("ssl_key_file={}", self.key.display()),
            format!("hba_file={}", self.hba.display()),
        ]
        .into_iter()
        .flat_map(|setting| ["-c".to_owned(), setting])
        .collect()
    }
}

/// A CA, the server's certificate for the names clients use (127.0.0.1, localhost), and a
/// `pg_hba.conf` that accepts TCP only over TLS. PostgreSQL refuses a key others can read,
/// so the key is the server user's, mode 0600.
fn server_tls(dir: &std::path::Path, as_root: bool) -> Result<ServerTls> {
    let tls = dir.join("tls");
    std::fs::create_dir_all(&tls)
        .map_err(HarnessError::io(format!("creating {}", tls.display())))?;
    crate::pki::ca(&tls, "ca", "learnflow-postgres-test-ca", CERT_DAYS)?;
    crate::pki::sign(
        &tls,
        &crate::pki::Leaf {
            name: "server",
            subject: "/CN=localhost".into(),
            ca: "ca",
            server: true,
            client: false,
            sans: vec!["IP:127.0.0.1".into(), "DNS:localhost".into()],
        },
        CERT_DAYS,
    )?;
    let key = tls.join("server.key");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(HarnessError::io(format!("chmod {}", key.display())))?;
    if as_root {
        give_to_server_user(&key)?;
    }
    let hba = tls.join("pg_hba.conf");
    std::fs::write(
        &hba,
        "# TLS mode: local socket for the server's own tools, TCP only over TLS.\n\
         local   all all              scram-sha-256\n\
         hostssl all all 127.0.0.1/32 scram-sha-256\n",
    )
    .map_err(HarnessError::io(format!("writing {}", hba.display())))?;
    Ok(ServerTls {
        ca: tls.join("ca.crt"),
        cert: tls.join("server.crt"),
        key,
        hba,
    })
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
