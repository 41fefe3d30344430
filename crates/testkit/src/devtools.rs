//! Tools the checks need beyond the running stack: Helm (offline chart checks), a Python
//! virtualenv (deploy validation, schemathesis), Node modules (the browser test) and the
//! system Chromium.
//!
//! Helm is built from the Go module proxy into a versioned cache directory; the venv and
//! the Node modules live in cache directories keyed by a hash of their lock files
//! (`tests/python-requirements.txt`, `tests/browser/package-lock.json`), so changing a
//! pin provisions afresh and nothing lands in the repository.

use std::path::{Path, PathBuf};

use crate::paths::{cache_dir, repo_root};
use crate::tools::{DONE_MARKER, system_binary, which};
use crate::{HarnessError, Result, versions};

/// Lock file of the Python tools.
pub const PYTHON_REQUIREMENTS: &str = "tests/python-requirements.txt";
/// Lock file of the Node tools.
pub const NODE_LOCK: &str = "tests/browser/package-lock.json";

/// Locations of the provisioned developer tools.
#[derive(Debug, Clone)]
pub struct DevTools {
    /// The `helm` binary.
    pub helm: PathBuf,
    /// The venv's `bin/` directory (`python`, `pytest`, `schemathesis`, `kubernetes-validate`).
    pub python_bin: PathBuf,
    /// The `node_modules` directory holding `playwright-core`.
    pub node_modules: PathBuf,
    /// The system Chromium.
    pub chromium: PathBuf,
    /// The `node` launcher.
    pub node: PathBuf,
}

impl DevTools {
    /// Finds every tool, or names the first one missing and how to get it.
    pub fn locate() -> Result<Self> {
        let helm = done(&helm_dir(), "helm", "Helm")?;
        let python_bin = done(&python_dir()?, "venv/bin", "the Python tools venv")?;
        let node_modules = done(&node_dir()?, "node_modules", "the Node tools")?;
        Ok(Self {
            helm,
            python_bin,
            node_modules,
            chromium: chromium()?,
            node: system_binary("node", "apt-get install -y nodejs npm")?,
        })
    }

    /// A program from the Python tools venv (`python`, `pytest`, `schemathesis`, …).
    pub fn python_tool(&self, name: &str) -> PathBuf {
        self.python_bin.join(name)
    }
}

fn done(dir: &Path, inner: &str, what: &str) -> Result<PathBuf> {
    let path = dir.join(inner);
    if dir.join(DONE_MARKER).exists() && path.exists() {
        Ok(path)
    } else {
        Err(HarnessError::Missing {
            what: format!("{what} (expected at {})", path.display()),
            fix: "cargo xtask deps".into(),
        })
    }
}

/// The system Chromium (Debian's `chromium` package).
pub fn chromium() -> Result<PathBuf> {
    which("chromium").ok_or_else(|| HarnessError::Missing {
        what: "`chromium` (Debian's headless-capable Chromium, for the browser test)".into(),
        fix: "apt-get update && apt-get install -y chromium".into(),
    })
}

/// Directory of provisioned Helm.
pub fn helm_dir() -> PathBuf {
    cache_dir().join(format!("helm-{}", versions::HELM))
}

/// Directory of the Python tools venv, keyed by the requirements' content.
pub fn python_dir() -> Result<PathBuf> {
    Ok(cache_dir().join(format!(
        "python-tools-{}",
        content_key(PYTHON_REQUIREMENTS)?
    )))
}

/// Directory of the Node tools, keyed by the lock file's content.
pub fn node_dir() -> Result<PathBuf> {
    Ok(cache_dir().join(format!("node-tools-{}", content_key(NODE_LOCK)?)))
}

/// A short stable key for a repository file's content (FNV-1a, 64 bit).
fn content_key(relative: &str) -> Result<String> {
    let path = repo_root().join(relative);
    let bytes =
        std::fs::read(&path).map_err(HarnessError::io(format!("reading {}", path.display())))?;
    Ok(bytes_key(&bytes))
}

/// A short stable key for some bytes (FNV-1a, 64 bit).
pub(crate) fn bytes_key(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::content_key;

    #[test]
    fn lock_file_keys_are_stable_and_distinct() {
        let python = content_key(super::PYTHON_REQUIREMENTS).expect("requirements exist");
        let node = content_key(super::NODE_LOCK).expect("lock exists");
        assert_eq!(python.len(), 16);
        assert_eq!(
            python,
            content_key(super::PYTHON_REQUIREMENTS).expect("again")
        );
        assert_ne!(python, node);
    }
}
