//! The base images every image here starts from: `debian:bookworm-slim` made with
//! debootstrap and `docker import`, and `rust:<toolchain>-bookworm` on top of it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::*;
use crate::paths::{cache_dir, repo_root};
use crate::{HarnessError, Result, versions};

use super::standins::{copy_tree, stand_in_context};

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

pub(super) fn pulled(engine: &Engine, reference: &str, say: &mut dyn FnMut(&str)) -> bool {
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
