//! A local image registry on loopback: the Distribution registry (`registry`, Go module
//! `github.com/distribution/distribution/v3`), built into the cache like every tool.
//!
//! Images made here are pushed to it and installed from it like from any registry
//! (`image.registry=127.0.0.1:<port>` in the chart; skaffold's `--default-repo`). The
//! cluster's containerd pulls from it over plain HTTP on loopback, the Docker Engine treats
//! `127.0.0.0/8` as an insecure registry by default, so no TLS is involved. Its storage
//! lives in the cache, so pushed layers survive between runs.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::containers::Engine;
use crate::paths::cache_dir;
use crate::process::{ManagedProcess, ProcessSpec};
use crate::provision::{self, Outcome};
use crate::wait::{http_status_is, until_ready};
use crate::{HarnessError, Result, versions};

/// The port the registry listens on when none is asked for.
pub const DEFAULT_PORT: u16 = 5000;

/// Directory of the provisioned registry binary.
pub fn registry_dir() -> PathBuf {
    cache_dir().join(format!("registry-{}", versions::DISTRIBUTION))
}

/// Builds the registry with `go install` (its go.mod has no replace directives).
pub fn ensure_registry(say: &mut dyn FnMut(&str)) -> Result<Outcome> {
    provision::ensure(
        "registry",
        versions::DISTRIBUTION,
        &registry_dir(),
        say,
        |dir, say| {
            let go = provision::check_go()?;
            let modcache = provision::go_env(&go, "GOMODCACHE")?;
            let before = provision::disk_usage(&modcache);
            let mut cmd = Command::new(&go);
            cmd.env("GOBIN", dir)
                .env("CGO_ENABLED", "0")
                .args(["install", "-trimpath", "-ldflags", "-s -w"])
                .arg(format!(
                    "github.com/distribution/distribution/v3/cmd/registry@{}",
                    versions::DISTRIBUTION
                ));
            provision::run_with_heartbeat("registry: go install", &mut cmd, "registry", say)?;
            Ok((
                dir.join("registry"),
                Some(provision::disk_usage(&modcache).saturating_sub(before)),
            ))
        },
    )
}

/// A running registry.
#[derive(Debug)]
pub struct Registry {
    process: ManagedProcess,
    port: u16,
}

impl Registry {
    /// Starts the registry on `127.0.0.1:<port>` with its storage in the cache. A
    /// `detached` one outlives this handle (see [`Registry::detach`]).
    pub fn start(port: u16, detached: bool) -> Result<Self> {
        let root = cache_dir().join("registry");
        let storage = root.join("data");
        std::fs::create_dir_all(&storage)
            .map_err(HarnessError::io("creating the registry's storage"))?;
        let config = root.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "# Written by the LearnFlow harness (lf_testkit::registry).\n\
                 version: 0.1\n\
                 log:\n  level: warn\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: 127.0.0.1:{port}\n",
                storage.display()
            ),
        )
        .map_err(HarnessError::io("writing the registry config"))?;
        let binary = registry_dir().join("registry");
        if !binary.is_file() {
            return Err(HarnessError::Missing {
                what: format!("the image registry ({})", binary.display()),
                fix: "cargo xtask deps".into(),
            });
        }
        crate::wait::require_port(port, "the image registry")?;
        let mut spec = ProcessSpec::new("registry", &binary, root.join("registry.log"))
            .args(["serve".to_owned(), config.display().to_string()]);
        spec.detached = detached;
        let mut process = ManagedProcess::spawn(spec)?;
        until_ready(&mut process, Duration::from_secs(20), || {
            http_status_is(port, "/v2/", 200)
        })?;
        Ok(Self { process, port })
    }

    /// `127.0.0.1:<port>`, the registry part of image references.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Leaves a detached registry running; returns its pid.
    pub fn detach(self) -> u32 {
        self.process.detach()
    }

    /// Tags `image` (e.g. `learnflow/course-agent:dev`) as `<address>/<image>` and pushes
    /// it; returns the pushed reference.
    pub fn push(&self, engine: &Engine, image: &str) -> Result<String> {
        let target = format!("{}/{image}", self.address());
        engine.run("docker tag", &["tag", image, &target])?;
        engine.run(
            &format!("docker push {target}"),
            &["push", "--quiet", &target],
        )?;
        Ok(target)
    }
}
