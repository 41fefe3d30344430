//! Containers: the Docker Engine, its CLI plugins, and every image the compose stack runs,
//! all made on this machine (no image registry is assumed to be reachable).
//!
//! - [`engine_needs`]: Debian's `docker.io` (dockerd, containerd, runc) and `debootstrap`,
//!   installed when root like every other Debian package ([`crate::system`]);
//! - [`ensure_plugins`]: Docker Compose and buildx, built from their Go modules into the
//!   cache and linked into `~/.docker/cli-plugins` where the docker CLI looks for them;
//! - [`Engine`]: a running engine — the one `DOCKER_HOST` or the default socket answers
//!   on, or a `dockerd` we start with its data root in the cache (and stop again);
//! - [`ensure_base_images`]: `debian:bookworm-slim` made with debootstrap from Debian's
//!   archive and `docker import`, and `rust:<toolchain>-bookworm` = that base + the
//!   toolchain the host's rustup installed for `rust-toolchain.toml`;
//! - [`ensure_third_party_images`]: each third-party image the compose files name, pulled
//!   when a registry answers, else a stand-in built from `docker/standins/<name>` under
//!   the same name and tag from Debian packages and the binaries `cargo xtask deps`
//!   provisions.
//!
//! The engine and the plugins live here; the base images in `base`, the stand-ins in
//! `standins`. ADR 0012 says why these pieces and what each costs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::paths::cache_dir;
use crate::process::{ManagedProcess, ProcessSpec};
use crate::provision::{self, Outcome};
use crate::system::Need;
use crate::tools::{
    self, alertmanager_dir, daprd_dir, jaeger_dir, kafka_dir, victorialogs_dir, which,
};
use crate::{HarnessError, Result, versions};

/// The oldest Docker Engine the compose files work with (API 1.41, BuildKit cache mounts).
pub const MIN_ENGINE: (u32, u32) = (20, 10);
/// The oldest Docker Compose they work with (`depends_on.restart`).
pub const MIN_COMPOSE: (u32, u32) = (2, 17);

/// `major.minor` of a version string such as `20.10.24+dfsg1` or `v5.6.0`.
pub fn major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version
        .trim()
        .trim_start_matches('v')
        .split(['.', '+', '-']);
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The default engine socket, used when `DOCKER_HOST` is unset.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// The Debian packages containers need, each checked by what it provides.
pub fn engine_needs() -> Vec<Need> {
    vec![
        Need::check("docker.io", || {
            which("dockerd").is_some() && which("docker").is_some()
        }),
        Need::check("debootstrap", || which("debootstrap").is_some()),
    ]
}

/// Directory of the provisioned CLI plugins.
pub fn plugins_dir() -> PathBuf {
    cache_dir().join(format!(
        "docker-plugins-compose-{}-buildx-{}",
        versions::COMPOSE,
        versions::BUILDX
    ))
}

/// Builds Docker Compose and buildx from their Go modules (pinned in [`versions`]) and
/// links them into `~/.docker/cli-plugins`.
///
/// Both go.mod files carry directives (`exclude`, `replace`) that `go install` refuses,
/// so each is built inside a copy of its downloaded module, as daprd is.
pub fn ensure_plugins(say: &mut dyn FnMut(&str)) -> Result<Outcome> {
    let outcome = provision::ensure(
        "docker-plugins",
        &format!(
            "compose {} + buildx {}",
            versions::COMPOSE,
            versions::BUILDX
        ),
        &plugins_dir(),
        say,
        |dir, say| {
            let go = provision::check_go()?;
            let modcache = provision::go_env(&go, "GOMODCACHE")?;
            let before = provision::disk_usage(&modcache);
            let builds = [
                (
                    "github.com/docker/compose/v5",
                    versions::COMPOSE,
                    "./cmd",
                    "docker-compose",
                    format!(
                        "-s -w -X github.com/docker/compose/v5/internal.Version={}",
                        versions::COMPOSE
                    ),
                ),
                (
                    "github.com/docker/buildx",
                    versions::BUILDX,
                    "./cmd/buildx",
                    "docker-buildx",
                    format!(
                        "-s -w -X github.com/docker/buildx/version.Version={} \
                         -X github.com/docker/buildx/version.Package=github.com/docker/buildx",
                        versions::BUILDX
                    ),
                ),
            ];
            for (module, version, package, binary, ldflags) in builds {
                let src = provision::module_source(&go, module, version, binary, say)?;
                let mut cmd = Command::new(&go);
                cmd.current_dir(&src)
                    .env("CGO_ENABLED", "0")
                    .env("GOFLAGS", "-mod=mod -buildvcs=false")
                    .args(["build", "-trimpath", "-ldflags", &ldflags, "-o"])
                    .arg(dir.join(binary))
                    .arg(package);
                provision::run_with_heartbeat(
                    &format!("{binary}: go build {package}"),
                    &mut cmd,
                    binary,
                    say,
                )?;
                let _ = std::fs::remove_dir_all(&src);
            }
            Ok((
                dir.to_owned(),
                Some(provision::disk_usage(&modcache).saturating_sub(before)),
            ))
        },
    )?;
    link_plugins(say)?;
    Ok(outcome)
}

/// Where the docker CLI looks for a user's plugins.
fn user_plugins_dir() -> PathBuf {
    std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default()
                .join(".docker")
        })
        .join("cli-plugins")
}

fn link_plugins(say: &mut dyn FnMut(&str)) -> Result<()> {
    let target_dir = user_plugins_dir();
    std::fs::create_dir_all(&target_dir).map_err(HarnessError::io(format!(
        "creating {}",
        target_dir.display()
    )))?;
    for binary in ["docker-compose", "docker-buildx"] {
        let ours = plugins_dir().join(binary);
        let link = target_dir.join(binary);
        let replace = match std::fs::read_link(&link) {
            Ok(existing) if existing == ours => continue,
            // A link to an older version of ours, or a dangling one.
            Ok(existing) => existing.starts_with(cache_dir()) || !link.exists(),
            Err(_) => !link.exists(),
        };
        if !replace {
            // Another copy of the plugin that is not ours: a user's own install wins.
            say(&format!(
                "{} exists and is not ours: using it instead of {}",
                link.display(),
                ours.display()
            ));
            continue;
        }
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&ours, &link)
            .map_err(HarnessError::io(format!("linking {}", link.display())))?;
        say(&format!("linked {} -> {}", link.display(), ours.display()));
    }
    Ok(())
}

/// A Docker Engine we can talk to.
#[derive(Debug)]
pub struct Engine {
    host: String,
    daemon: Option<ManagedProcess>,
}

impl Engine {
    /// Connects to the engine `DOCKER_HOST` (or the default socket) names; when none
    /// answers, starts `dockerd` there (root only) with its data in the cache. A started
    /// engine stops when this value is dropped, unless [`Engine::detach`] is called.
    pub fn ensure(say: &mut dyn FnMut(&str)) -> Result<Self> {
        let host =
            std::env::var("DOCKER_HOST").unwrap_or_else(|_| format!("unix://{DEFAULT_SOCKET}"));
        let mut engine = Self { host, daemon: None };
        if let Ok(version) = engine.server_version() {
            say(&format!("Docker Engine {version} at {}", engine.host));
            engine.check_versions()?;
            return Ok(engine);
        }
        let Some(socket) = engine.host.strip_prefix("unix://").map(PathBuf::from) else {
            return Err(HarnessError::Missing {
                what: format!("a Docker Engine answering at DOCKER_HOST={}", engine.host),
                fix: "start that engine, or unset DOCKER_HOST to let the harness start one".into(),
            });
        };
        if !crate::system::is_root() {
            return Err(HarnessError::Missing {
                what: format!("a running Docker Engine at {}", engine.host),
                fix: "start dockerd (as root: cargo xtask engine start)".into(),
            });
        }
        crate::system::ensure(&engine_needs(), say)?;
        let dockerd = tools::system_binary("dockerd", "apt-get install -y docker.io")?;
        let root = cache_dir().join("docker");
        let data = root.join("data");
        std::fs::create_dir_all(&data)
            .map_err(HarnessError::io("creating the engine's data root"))?;
        if socket.exists() {
            // A socket nobody answers on is what a killed engine leaves behind.
            let _ = std::fs::remove_file(&socket);
        }
        say(&format!(
            "starting dockerd (data root {}, socket {})",
            data.display(),
            socket.display()
        ));
        let mut spec = ProcessSpec::new("dockerd", &dockerd, root.join("dockerd.log")).args([
            "--data-root".to_owned(),
            data.display().to_string(),
            "--pidfile".to_owned(),
            root.join("dockerd.pid").display().to_string(),
            "-H".to_owned(),
            engine.host.clone(),
        ]);
        // The engine outlives a single command when started for the user; a test that
        // starts it stops it again by dropping the handle.
        spec.detached = true;
        spec.stop_signal = nix::sys::signal::Signal::SIGTERM;
        engine.daemon = Some(ManagedProcess::spawn(spec)?);
        let started = Instant::now();
        loop {
            match engine.server_version() {
                Ok(version) => {
                    say(&format!(
                        "Docker Engine {version} ready in {:.1} s",
                        started.elapsed().as_secs_f64()
                    ));
                    engine.check_versions()?;
                    return Ok(engine);
                }
                Err(e) if started.elapsed() > Duration::from_secs(60) => {
                    let log = root.join("dockerd.log");
                    return Err(HarnessError::NotReady {
                        component: "dockerd".into(),
                        waited: started.elapsed(),
                        reason: e.to_string(),
                        tail: crate::process::log_tail(&log, 20),
                        log,
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(250)),
            }
        }
    }

    /// Fails when the engine or the compose plugin is older than the compose files need
    /// (a missing plugin is left to `ensure_plugins`).
    pub fn check_versions(&self) -> Result<()> {
        let too_old = |what: &str, found: &str, min: (u32, u32)| HarnessError::Missing {
            what: format!("{what} >= {}.{} (found {found})", min.0, min.1),
            fix: "upgrade it (docker/README.md lists the minimum versions)".into(),
        };
        let engine = self.server_version()?;
        if major_minor(&engine).is_none_or(|v| v < MIN_ENGINE) {
            return Err(too_old("Docker Engine", &engine, MIN_ENGINE));
        }
        if let Ok(compose) = self.run("docker compose version", &["compose", "version", "--short"])
            && major_minor(&compose).is_none_or(|v| v < MIN_COMPOSE)
        {
            return Err(too_old("Docker Compose", compose.trim(), MIN_COMPOSE));
        }
        Ok(())
    }

    /// True when this handle started the engine.
    pub fn started_here(&self) -> bool {
        self.daemon.is_some()
    }

    /// Leaves a started engine running; returns its pid.
    pub fn detach(mut self) -> Option<u32> {
        self.daemon.take().map(ManagedProcess::detach)
    }

    /// The `DOCKER_HOST` value of this engine.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// A `docker` command aimed at this engine.
    pub fn docker(&self) -> Command {
        let mut cmd = Command::new("docker");
        cmd.env("DOCKER_HOST", &self.host);
        cmd
    }

    /// Runs `docker <args>`, failing with its output.
    pub fn run(&self, what: &str, args: &[&str]) -> Result<String> {
        crate::components::run_command(what, self.docker().args(args))
    }

    /// The engine's version, if it answers.
    pub fn server_version(&self) -> Result<String> {
        Ok(self
            .run(
                "docker version",
                &["version", "--format", "{{.Server.Version}}"],
            )?
            .trim()
            .to_owned())
    }

    /// True when the image is in the engine's store.
    pub fn has_image(&self, reference: &str) -> bool {
        self.docker()
            .args(["image", "inspect", "--format", "{{.Id}}", reference])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// Uncompressed size of an image in bytes.
    pub fn image_size(&self, reference: &str) -> Result<u64> {
        let out = self.run(
            "docker image inspect",
            &["image", "inspect", "--format", "{{.Size}}", reference],
        )?;
        out.trim().parse().map_err(|_| HarnessError::Command {
            what: format!("reading the size of {reference}"),
            detail: out,
        })
    }

    /// `docker buildx build --load` of `context` with `dockerfile`, tagged `reference`.
    pub fn build(
        &self,
        reference: &str,
        dockerfile: &Path,
        context: &Path,
        build_args: &[(&str, String)],
        say: &mut dyn FnMut(&str),
    ) -> Result<()> {
        let mut cmd = self.docker();
        cmd.args([
            "buildx",
            "build",
            "--load",
            "--progress=plain",
            "-t",
            reference,
            "-f",
        ])
        .arg(dockerfile);
        for (key, value) in build_args {
            cmd.arg("--build-arg").arg(format!("{key}={value}"));
        }
        cmd.arg(context);
        let log = format!("image-{}", reference.replace(['/', ':'], "_"));
        provision::run_with_heartbeat(&format!("docker build {reference}"), &mut cmd, &log, say)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            // dockerd stops its containers and its containerd on SIGTERM.
            daemon.stop(Duration::from_secs(30));
        }
    }
}

mod base;
mod standins;
pub use base::{BASE_IMAGE, ensure_base_images, pinned_toolchain, rust_image};
pub use standins::{
    STAND_INS, StandIn, WITHOUT_STAND_IN, ensure_images, ensure_third_party_images,
};

#[cfg(test)]
mod tests;
