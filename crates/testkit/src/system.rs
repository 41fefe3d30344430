//! Debian packages the project needs on the machine itself.
//!
//! Each need is a package name and a check of whether what it provides is already there
//! (a binary on `PATH`, a directory): a machine that has the tool from elsewhere (Docker
//! CE instead of `docker.io`, Node.js from NodeSource) is left alone. When something is
//! missing and we run as root, the packages are installed with apt-get, the command
//! printed first; otherwise the error names every missing package and the command that
//! installs them.

use std::process::Command;

use crate::{HarnessError, Result};

/// One Debian package and whether what we need from it is present.
#[derive(Debug, Clone)]
pub struct Need {
    /// The Debian package that provides it.
    pub package: &'static str,
    /// True when it is already there (from this package or from elsewhere).
    pub present: bool,
}

impl Need {
    /// A need checked by a predicate run now.
    pub fn check(package: &'static str, present: impl FnOnce() -> bool) -> Self {
        Self {
            package,
            present: present(),
        }
    }
}

/// True when we run as root (apt-get can install).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The packages of `needs` that are missing, each once, in order.
pub fn missing(needs: &[Need]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for need in needs.iter().filter(|n| !n.present) {
        if !out.contains(&need.package) {
            out.push(need.package);
        }
    }
    out
}

/// Installs whatever `needs` lacks (as root), or fails naming all of it (otherwise).
pub fn ensure(needs: &[Need], say: &mut dyn FnMut(&str)) -> Result<()> {
    let missing = missing(needs);
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() {
        return Err(missing_error(&missing));
    }
    let list = missing.join(" ");
    say(&format!(
        "installing Debian packages (running as root): apt-get install -y --no-install-recommends {list}"
    ));
    apt(&["update", "-q"])?;
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend(missing.iter().copied());
    apt(&args)?;
    say(&format!("installed: {list}"));
    Ok(())
}

fn missing_error(missing: &[&str]) -> HarnessError {
    let list = missing.join(" ");
    HarnessError::Missing {
        what: format!("Debian packages: {list}"),
        fix: format!("sudo apt-get update && sudo apt-get install -y {list}"),
    }
}

fn apt(args: &[&str]) -> Result<()> {
    let status = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map_err(HarnessError::io("running apt-get"))?;
    if status.success() {
        Ok(())
    } else {
        Err(HarnessError::Command {
            what: format!("apt-get {}", args.join(" ")),
            detail: format!("{status} (its output is above)"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absent_packages_are_missing_and_each_once() {
        let needs = [
            Need::check("prometheus", || false),
            Need::check("maven", || true),
            Need::check("prometheus", || false),
            Need::check("chromium", || false),
        ];
        assert_eq!(missing(&needs), vec!["prometheus", "chromium"]);
    }

    #[test]
    fn nothing_missing_needs_no_root_and_no_apt() {
        let needs = [Need::check("maven", || true)];
        ensure(&needs, &mut |line| panic!("nothing to say, got {line}")).expect("nothing to do");
    }

    #[test]
    fn the_error_names_every_missing_package_and_the_install_command() {
        let msg = missing_error(&["prometheus", "chromium"]).to_string();
        assert!(
            msg.contains("missing prerequisite: Debian packages: prometheus chromium"),
            "{msg}"
        );
        assert!(
            msg.contains("sudo apt-get update && sudo apt-get install -y prometheus chromium"),
            "{msg}"
        );
    }
}
