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
//! ADR 0012 says why these pieces and what each costs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::paths::{cache_dir, repo_root};
use crate::process::{ManagedProcess, ProcessSpec};
use crate::provision::{self, Outcome};
use crate::system::Need;
use crate::tools::{self, alertmanager_dir, daprd_dir, jaeger_dir, kafka_dir, which};
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

/// The Rust toolchain `rust-toolchain.toml` pins (`1.95.0`), read from that file.
pub fn pinned_toolchain() -> Result<String> {
    let path = repo_root().join("rust-toolchain.toml");
    let text = std::fs::read_to_string(&path)
        .map_err(HarnessError::io(format!("reading {}", path.display())))?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("channel"))
        .filter_map(|rest| rest.trim().strip_prefix('='))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .next()
        .ok_or_else(|| HarnessError::Command {
            what: "reading the toolchain channel".into(),
            detail: format!("no `channel = \"…\"` in {}", path.display()),
        })
}

/// The Debian base every image here starts from, under the official image's name.
pub const BASE_IMAGE: &str = "debian:bookworm-slim";

/// Name of the Rust build image `docker/Dockerfile` uses by default.
pub fn rust_image() -> Result<String> {
    Ok(format!("rust:{}-bookworm", pinned_toolchain()?))
}

/// Makes the base image and the Rust build image when the engine lacks them.
pub fn ensure_base_images(engine: &Engine, say: &mut dyn FnMut(&str)) -> Result<()> {
    if !engine.has_image(BASE_IMAGE) && !pulled(engine, BASE_IMAGE, say) {
        import_debian_base(engine, say)?;
    }
    let rust = rust_image()?;
    if !engine.has_image(&rust) && !pulled(engine, &rust, say) {
        build_rust_image(engine, &rust, say)?;
    }
    Ok(())
}

fn pulled(engine: &Engine, reference: &str, say: &mut dyn FnMut(&str)) -> bool {
    let ok = engine
        .docker()
        .args(["pull", "--quiet", reference])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        say(&format!("{reference}: no registry answers; making it here"));
    }
    ok
}

/// debootstrap (minbase) of the pinned suite from Debian's archive, trimmed as the
/// official slim image is (no manuals, docs but copyrights, locales, apt lists), then
/// `docker import`.
fn import_debian_base(engine: &Engine, say: &mut dyn FnMut(&str)) -> Result<()> {
    crate::system::ensure(&engine_needs(), say)?;
    let started = Instant::now();
    let rootfs = cache_dir().join("build").join("debian-rootfs");
    let _ = std::fs::remove_dir_all(&rootfs);
    std::fs::create_dir_all(rootfs.parent().unwrap_or(&rootfs))
        .map_err(HarnessError::io("creating the rootfs directory"))?;
    let mut debootstrap = Command::new(tools::system_binary(
        "debootstrap",
        "apt-get install -y debootstrap",
    )?);
    debootstrap
        .args(["--variant=minbase", versions::DEBIAN_SUITE])
        .arg(&rootfs)
        .arg(versions::DEBIAN_MIRROR);
    provision::run_with_heartbeat(
        &format!("debootstrap --variant=minbase {}", versions::DEBIAN_SUITE),
        &mut debootstrap,
        "debootstrap",
        say,
    )?;
    let trim = format!(
        r#"set -e
cd "{root}"
cat > etc/apt/sources.list <<EOF
deb {mirror} {suite} main
deb {mirror} {suite}-updates main
deb {security} {suite}-security main
EOF
# As the official slim image: later package installs leave no docs, manuals or locales.
cat > etc/dpkg/dpkg.cfg.d/slim <<EOF
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
echo 'APT::Install-Recommends "false";' > etc/apt/apt.conf.d/no-recommends
rm -rf var/cache/apt/archives/*.deb var/lib/apt/lists/* var/log/*.log usr/share/man/* usr/share/info/*
find usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete
find usr/share/locale -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {{}} +
"#,
        root = rootfs.display(),
        mirror = versions::DEBIAN_MIRROR,
        security = versions::DEBIAN_SECURITY_MIRROR,
        suite = versions::DEBIAN_SUITE,
    );
    crate::components::run_command(
        "trimming the base rootfs",
        Command::new("sh").arg("-c").arg(trim),
    )?;
    let import = format!(
        "tar -C '{}' -c . | docker import -c 'CMD [\"bash\"]' -m 'debootstrap --variant=minbase {} (LearnFlow stand-in)' - {BASE_IMAGE}",
        rootfs.display(),
        versions::DEBIAN_SUITE
    );
    crate::components::run_command(
        "docker import of the base rootfs",
        Command::new("sh")
            .arg("-c")
            .arg(import)
            .env("DOCKER_HOST", engine.host()),
    )?;
    let _ = std::fs::remove_dir_all(&rootfs);
    say(&format!(
        "{BASE_IMAGE}: made in {:.0} s ({} MB)",
        started.elapsed().as_secs_f64(),
        engine.image_size(BASE_IMAGE)? / 1_000_000
    ));
    Ok(())
}

/// The base image + the host's pinned toolchain (bin, lib, libexec, etc: not its docs).
fn build_rust_image(engine: &Engine, reference: &str, say: &mut dyn FnMut(&str)) -> Result<()> {
    let started = Instant::now();
    let sysroot = crate::components::run_command(
        "rustc --print sysroot",
        Command::new("rustc")
            .current_dir(repo_root())
            .args(["--print", "sysroot"]),
    )?;
    let sysroot = PathBuf::from(sysroot.trim());
    let channel = pinned_toolchain()?;
    let version = crate::components::run_command(
        "rustc --version",
        Command::new(sysroot.join("bin/rustc")).arg("--version"),
    )?;
    if !version.starts_with(&format!("rustc {channel} ")) {
        return Err(HarnessError::Command {
            what: "finding the pinned Rust toolchain".into(),
            detail: format!("rust-toolchain.toml pins {channel}, the sysroot has {version}"),
        });
    }
    let context = stand_in_context("rust")?;
    let toolchain = context.join("toolchain");
    std::fs::create_dir_all(&toolchain).map_err(HarnessError::io("creating toolchain dir"))?;
    for part in ["bin", "lib", "libexec", "etc"] {
        let from = sysroot.join(part);
        if from.exists() {
            copy_tree(&from, &toolchain)?;
        }
    }
    copy_local_ca(&context)?;
    engine.build(
        reference,
        &context.join("Dockerfile"),
        &context,
        &[("TOOLCHAIN", format!("{channel}-x86_64-unknown-linux-gnu"))],
        say,
    )?;
    let _ = std::fs::remove_dir_all(&context);
    say(&format!(
        "{reference}: built in {:.0} s ({} MB)",
        started.elapsed().as_secs_f64(),
        engine.image_size(reference)? / 1_000_000
    ));
    Ok(())
}

/// The host's own additions to its certificate store, for the Rust image (see its
/// Dockerfile): an empty directory on most machines.
fn copy_local_ca(context: &Path) -> Result<()> {
    let dir = context.join("local-ca");
    std::fs::create_dir_all(&dir).map_err(HarnessError::io("creating local-ca"))?;
    if let Ok(entries) = std::fs::read_dir("/usr/local/share/ca-certificates") {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "crt") {
                std::fs::copy(&path, dir.join(entry.file_name()))
                    .map_err(HarnessError::io(format!("copying {}", path.display())))?;
            }
        }
    }
    Ok(())
}

/// A fresh build context holding `docker/standins/<name>/`.
fn stand_in_context(name: &str) -> Result<PathBuf> {
    let context = cache_dir().join("build").join(format!("standin-{name}"));
    let _ = std::fs::remove_dir_all(&context);
    std::fs::create_dir_all(context.parent().unwrap_or(&context))
        .map_err(HarnessError::io("creating the build directory"))?;
    crate::components::run_command(
        "copying the stand-in recipe",
        Command::new("cp")
            .arg("-r")
            .arg(repo_root().join("docker/standins").join(name))
            .arg(&context),
    )?;
    Ok(context)
}

fn copy_tree(from: &Path, into: &Path) -> Result<()> {
    crate::components::run_command(
        &format!("copying {}", from.display()),
        Command::new("cp").arg("-a").arg(from).arg(into),
    )
    .map(|_| ())
}

/// One third-party image and its stand-in recipe.
#[derive(Debug, Clone, Copy)]
pub struct StandIn {
    /// The image reference the compose files use.
    pub reference: &'static str,
    /// Its recipe directory under `docker/standins/`.
    pub recipe: &'static str,
}

/// Every third-party image the compose files run, with its stand-in. Grafana has none:
/// it is neither in Debian nor buildable here (docker/README.md).
pub const STAND_INS: &[StandIn] = &[
    StandIn {
        reference: "postgres:15.20-bookworm",
        recipe: "postgres",
    },
    StandIn {
        reference: "apache/kafka:4.1.2",
        recipe: "kafka",
    },
    StandIn {
        reference: "daprio/daprd:1.18.3",
        recipe: "daprd",
    },
    StandIn {
        reference: "prom/prometheus:v3.13.1",
        recipe: "prometheus",
    },
    StandIn {
        reference: "jaegertracing/jaeger:2.13.0",
        recipe: "jaeger",
    },
    StandIn {
        reference: "prom/alertmanager:v0.31.1",
        recipe: "alertmanager",
    },
    StandIn {
        reference: "prometheuscommunity/postgres-exporter:v0.11.1",
        recipe: "postgres-exporter",
    },
];

/// Third-party images the compose files name that no stand-in replaces.
pub const WITHOUT_STAND_IN: &[&str] = &["grafana/grafana:13.1.0"];

/// Pulls each third-party image, or builds its stand-in when no registry answers.
/// Returns the references that are stand-ins.
pub fn ensure_third_party_images(
    engine: &Engine,
    say: &mut dyn FnMut(&str),
) -> Result<Vec<&'static str>> {
    let all: Vec<&str> = STAND_INS.iter().map(|s| s.reference).collect();
    ensure_images(engine, &all, say)
}

/// [`ensure_third_party_images`] for some of them only (`references` must each have a
/// stand-in in [`STAND_INS`]): the cluster runs Kafka and PostgreSQL but none of the rest.
pub fn ensure_images(
    engine: &Engine,
    references: &[&str],
    say: &mut dyn FnMut(&str),
) -> Result<Vec<&'static str>> {
    if let Some(unknown) = references
        .iter()
        .find(|r| !STAND_INS.iter().any(|s| s.reference == **r))
    {
        return Err(HarnessError::Command {
            what: "choosing third-party images".into(),
            detail: format!("{unknown} has no stand-in recipe"),
        });
    }
    ensure_base_images(engine, say)?;
    let mut stand_ins = Vec::new();
    for image in STAND_INS
        .iter()
        .filter(|s| references.contains(&s.reference))
    {
        let key = recipe_key(image)?;
        if engine.has_image(image.reference) {
            // A real image (pulled, or the user's own) is never replaced.
            if label(engine, image.reference, "io.learnflow.stand-in").is_none() {
                continue;
            }
            if label(engine, image.reference, "io.learnflow.stand-in.recipe").as_deref()
                == Some(key.as_str())
            {
                stand_ins.push(image.reference);
                continue;
            }
            say(&format!(
                "{}: its stand-in recipe or artefacts changed; rebuilding",
                image.reference
            ));
        } else if pulled(engine, image.reference, say) {
            continue;
        }
        build_stand_in(engine, image, &key, say)?;
        stand_ins.push(image.reference);
    }
    Ok(stand_ins)
}

/// A label of an image, if it has it.
fn label(engine: &Engine, reference: &str, name: &str) -> Option<String> {
    engine
        .run(
            "docker image inspect",
            &[
                "image",
                "inspect",
                "--format",
                &format!("{{{{index .Config.Labels \"{name}\"}}}}"),
                reference,
            ],
        )
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty() && v != "<no value>")
}

/// What a stand-in is made of: its recipe files and the provisioned artefact it copies
/// (whose cache directory name carries its version). A change to either rebuilds it.
fn recipe_key(image: &StandIn) -> Result<String> {
    let dir = repo_root().join("docker/standins").join(image.recipe);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(HarnessError::io(format!("reading {}", dir.display())))?
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut bytes = Vec::new();
    for file in files {
        bytes.extend(
            file.file_name()
                .map(|n| n.as_encoded_bytes().to_vec())
                .unwrap_or_default(),
        );
        bytes.extend(
            std::fs::read(&file)
                .map_err(HarnessError::io(format!("reading {}", file.display())))?,
        );
    }
    if let Some(artefact) = artefact_dir(image.recipe) {
        bytes.extend(artefact.display().to_string().into_bytes());
    }
    Ok(crate::devtools::bytes_key(&bytes))
}

/// The provisioned directory whose content a stand-in copies.
fn artefact_dir(recipe: &str) -> Option<PathBuf> {
    match recipe {
        "daprd" => Some(daprd_dir()),
        "jaeger" => Some(jaeger_dir()),
        "alertmanager" => Some(alertmanager_dir()),
        "kafka" => Some(kafka_dir()),
        _ => None,
    }
}

fn build_stand_in(
    engine: &Engine,
    image: &StandIn,
    key: &str,
    say: &mut dyn FnMut(&str),
) -> Result<()> {
    let started = Instant::now();
    let context = stand_in_context(image.recipe)?;
    let artefact = |path: PathBuf| -> Result<PathBuf> {
        if path.exists() {
            Ok(path)
        } else {
            Err(HarnessError::Missing {
                what: format!("{} (for the {} stand-in)", path.display(), image.reference),
                fix: "cargo xtask deps".into(),
            })
        }
    };
    match image.recipe {
        "daprd" => copy_tree(&artefact(daprd_dir().join("daprd"))?, &context)?,
        "jaeger" => copy_tree(&artefact(jaeger_dir().join("jaeger"))?, &context)?,
        "alertmanager" => {
            for binary in ["alertmanager", "amtool"] {
                copy_tree(&artefact(alertmanager_dir().join(binary))?, &context)?;
            }
        }
        "kafka" => copy_tree(&artefact(kafka_dir().join("libs"))?, &context)?,
        _ => {}
    }
    // Marks it as ours, so a later run knows the image is a stand-in (not the real one)
    // and which recipe made it.
    let dockerfile = context.join("Dockerfile");
    let mut text = std::fs::read_to_string(&dockerfile)
        .map_err(HarnessError::io("reading the stand-in Dockerfile"))?;
    text.push_str(&format!(
        "\nLABEL io.learnflow.stand-in=\"true\" io.learnflow.stand-in.for=\"{}\" \
         io.learnflow.stand-in.recipe=\"{key}\"\n",
        image.reference
    ));
    std::fs::write(&dockerfile, text)
        .map_err(HarnessError::io("writing the stand-in Dockerfile"))?;
    engine.build(image.reference, &dockerfile, &context, &[], say)?;
    let _ = std::fs::remove_dir_all(&context);
    say(&format!(
        "{} (stand-in): built in {:.0} s ({} MB)",
        image.reference,
        started.elapsed().as_secs_f64(),
        engine.image_size(image.reference)? / 1_000_000
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_without_a_stand_in_recipe_is_refused_before_any_build() {
        let unreachable = Engine {
            host: "unix:///nonexistent/docker.sock".into(),
            daemon: None,
        };
        let refused = ensure_images(&unreachable, &["grafana/grafana:13.1.0"], &mut |_| {})
            .expect_err("grafana has no stand-in");
        assert!(
            refused.to_string().contains("grafana/grafana:13.1.0"),
            "{refused}"
        );
    }

    /// Every third-party image the compose files run (`image:` not built from
    /// docker/Dockerfile) or docker/Dockerfile starts from (`ARG *_IMAGE=` defaults).
    fn third_party_images() -> Vec<String> {
        let dir = repo_root().join("docker");
        let mut images = Vec::new();
        for file in [
            "compose.yaml",
            "compose.observability.yaml",
            "compose.load.yaml",
        ] {
            let text = std::fs::read_to_string(dir.join(file)).expect("compose file");
            for line in text.lines() {
                if let Some(image) = line.trim().strip_prefix("image:") {
                    let image = image.trim().trim_matches('"');
                    if !image.starts_with("learnflow/") {
                        images.push(image.to_owned());
                    }
                }
            }
        }
        let dockerfile = std::fs::read_to_string(dir.join("Dockerfile")).expect("Dockerfile");
        for line in dockerfile.lines() {
            if let Some((name, image)) = line.strip_prefix("ARG ").and_then(|a| a.split_once('='))
                && name.ends_with("_IMAGE")
            {
                images.push(image.trim().to_owned());
            }
        }
        images
    }

    #[test]
    fn every_third_party_image_of_compose_and_the_dockerfile_can_be_made_here_or_is_named() {
        let images = third_party_images();
        assert!(images.len() >= 8, "found {images:?}");
        let base_images = [BASE_IMAGE.to_owned(), rust_image().expect("rust image")];
        for image in &images {
            let covered = STAND_INS.iter().any(|s| s.reference == image)
                || WITHOUT_STAND_IN.contains(&image.as_str())
                || base_images.contains(image);
            assert!(
                covered,
                "{image} has no stand-in recipe and is not listed without one"
            );
        }
        for stand_in in STAND_INS {
            assert!(
                images.iter().any(|i| i == stand_in.reference),
                "{} has a stand-in but neither compose nor the Dockerfile uses it (stale pin?)",
                stand_in.reference
            );
            assert!(
                repo_root()
                    .join("docker/standins")
                    .join(stand_in.recipe)
                    .join("Dockerfile")
                    .is_file(),
                "{} has no docker/standins/{}/Dockerfile",
                stand_in.reference,
                stand_in.recipe
            );
        }
    }

    #[test]
    fn versions_compare_by_major_and_minor() {
        assert_eq!(major_minor("20.10.24+dfsg1"), Some((20, 10)));
        assert_eq!(major_minor("v5.6.0"), Some((5, 6)));
        assert_eq!(major_minor("2.16.0-desktop.1"), Some((2, 16)));
        assert!(major_minor("2.16.0").is_some_and(|v| v < MIN_COMPOSE));
        assert!(major_minor("19.03.15").is_some_and(|v| v < MIN_ENGINE));
        assert_eq!(major_minor("dev"), None);
    }

    #[test]
    fn a_stand_in_key_follows_its_recipe_and_artefact() {
        let keys: Vec<String> = STAND_INS
            .iter()
            .map(|s| recipe_key(s).expect("key"))
            .collect();
        assert_eq!(keys[0], recipe_key(&STAND_INS[0]).expect("key"), "stable");
        let distinct: std::collections::BTreeSet<&String> = keys.iter().collect();
        assert_eq!(distinct.len(), keys.len(), "each recipe has its own key");
        // The artefact's versioned directory is part of the key: a new Kafka is a new image.
        assert!(artefact_dir("kafka").is_some_and(|d| d == kafka_dir()));
        assert!(artefact_dir("daprd").is_some_and(|d| d == daprd_dir()));
        assert!(artefact_dir("postgres").is_none());
    }

    #[test]
    fn the_daprd_stand_in_is_the_version_we_build() {
        let daprd = STAND_INS
            .iter()
            .find(|s| s.recipe == "daprd")
            .expect("daprd");
        assert_eq!(daprd.reference, format!("daprio/daprd:{}", versions::DAPR));
    }

    #[test]
    fn the_pinned_toolchain_is_read_from_rust_toolchain_toml() {
        let channel = pinned_toolchain().expect("channel");
        assert!(channel.split('.').count() == 3, "{channel}");
        assert_eq!(
            rust_image().expect("image"),
            format!("rust:{channel}-bookworm")
        );
    }

    /// docker/fresh-sources.sh, run the way the Dockerfile runs it, in a scratch source tree.
    struct SourceTree {
        root: PathBuf,
    }

    impl SourceTree {
        fn new() -> Self {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_nanos();
            let root = std::env::temp_dir()
                .join(format!("learnflow-fresh-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(root.join("src")).expect("scratch tree");
            std::fs::create_dir_all(root.join("target")).expect("scratch target");
            Self { root }
        }

        fn write(&self, file: &str, text: &str) {
            std::fs::write(self.root.join(file), text).expect("write");
        }

        /// Gives a file an mtime long before any build: a checkout made earlier.
        fn age(&self, file: &str) {
            let status = Command::new("touch")
                .args(["-m", "-d", "@1000000"])
                .arg(self.root.join(file))
                .status()
                .expect("touch");
            assert!(status.success());
        }

        fn script(&self, mode: &str) {
            self.script_for(mode, "gateway");
        }

        /// The script as the Dockerfile runs it for `package` (one profile).
        fn script_for(&self, mode: &str, package: &str) {
            let output = Command::new("sh")
                .arg(repo_root().join("docker/fresh-sources.sh"))
                .args([
                    mode,
                    &format!("target/sources/{package}.sha256"),
                    "target/sources/last.sha256",
                ])
                .current_dir(&self.root)
                .output()
                .expect("sh");
            assert!(
                output.status.success(),
                "fresh-sources.sh {mode}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }

        /// Whether cargo would take the file as changed by a build started `since`.
        fn newer_than(&self, file: &str, since: std::time::SystemTime) -> bool {
            std::fs::metadata(self.root.join(file))
                .and_then(|m| m.modified())
                .expect("mtime")
                >= since
        }
    }

    impl Drop for SourceTree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }

    #[test]
    fn a_changed_source_is_rebuilt_even_when_its_mtime_is_older_than_the_last_build() {
        let tree = SourceTree::new();
        tree.write("src/http.rs", "pub fn new() {}");
        tree.write("src/gateway.rs", "fn main() { new(); }");
        tree.age("src/http.rs");
        tree.age("src/gateway.rs");
        let first = std::time::SystemTime::now() - Duration::from_secs(1);
        tree.script("prepare");
        assert!(
            tree.newer_than("src/http.rs", first) && tree.newer_than("src/gateway.rs", first),
            "no manifest yet: nothing in target/ is known, every file must look new"
        );
        tree.script("record");

        // Another checkout with a changed crate whose files are older than that build.
        tree.write("src/http.rs", "pub fn new() {} pub fn new_public_edge() {}");
        tree.age("src/http.rs");
        let second = std::time::SystemTime::now() - Duration::from_secs(1);
        tree.script("prepare");
        assert!(
            tree.newer_than("src/http.rs", second),
            "changed content must look newer than the last build"
        );
        assert!(
            !tree.newer_than("src/gateway.rs", second),
            "unchanged content must not force a rebuild"
        );

        // The build failed (no record): the change is still pending on the next try.
        tree.age("src/http.rs");
        let third = std::time::SystemTime::now() - Duration::from_secs(1);
        tree.script("prepare");
        assert!(
            tree.newer_than("src/http.rs", third),
            "pending until recorded"
        );
        tree.script("record");

        tree.age("src/http.rs");
        let fourth = std::time::SystemTime::now() - Duration::from_secs(1);
        tree.script("prepare");
        assert!(!tree.newer_than("src/http.rs", fourth), "recorded: fresh");
    }

    #[test]
    fn an_edit_recorded_by_another_package_build_is_still_rebuilt_for_its_own() {
        let tree = SourceTree::new();
        tree.write("src/http.rs", "pub fn new() {}");
        tree.write("src/agent.rs", "fn main() {}");
        for package in ["gateway", "agent"] {
            tree.script_for("prepare", package);
            tree.script_for("record", package);
        }
        // skaffold dev: course-agent edited, then the gateway's image built first.
        tree.write("src/agent.rs", "fn main() { println!(); }");
        tree.age("src/agent.rs");
        tree.script_for("prepare", "gateway");
        tree.script_for("record", "gateway");
        tree.age("src/agent.rs");
        let since = std::time::SystemTime::now() - Duration::from_secs(1);
        tree.script_for("prepare", "agent");
        assert!(
            tree.newer_than("src/agent.rs", since),
            "the agent was last built before the edit: it must be rebuilt"
        );
        assert!(
            !tree.newer_than("src/http.rs", since),
            "nothing else changed"
        );
    }

    #[test]
    fn a_shared_crate_built_from_other_content_since_is_rebuilt() {
        let tree = SourceTree::new();
        tree.write("src/http.rs", "pub fn new() {}");
        tree.script_for("prepare", "agent");
        tree.script_for("record", "agent");
        // Another checkout with a different shared crate builds the gateway in between ...
        tree.write("src/http.rs", "pub fn old() {}");
        tree.script_for("prepare", "gateway");
        tree.script_for("record", "gateway");
        // ... and this checkout builds the agent again with the content it last built.
        tree.write("src/http.rs", "pub fn new() {}");
        tree.age("src/http.rs");
        let since = std::time::SystemTime::now() - Duration::from_secs(1);
        tree.script_for("prepare", "agent");
        assert!(
            tree.newer_than("src/http.rs", since),
            "the shared crate in target/ was compiled from the other content"
        );
    }
}
