//! Harness errors: each says what failed and what to do about it.

use std::path::PathBuf;
use std::time::Duration;

/// What went wrong while provisioning or running the stack.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A system prerequisite or provisioned component is missing.
    #[error("missing prerequisite: {what}\n  install it with: {fix}")]
    Missing {
        /// What is missing.
        what: String,
        /// The command that installs it.
        fix: String,
    },
    /// A component did not become ready in time.
    #[error(
        "{component} did not become ready within {waited:?} ({reason})\n  log: {log}\n--- last lines of its log ---\n{tail}"
    )]
    NotReady {
        /// Which component.
        component: String,
        /// How long we waited.
        waited: Duration,
        /// The last readiness-check failure or the process's exit.
        reason: String,
        /// Its log file.
        log: PathBuf,
        /// The end of its log.
        tail: String,
    },
    /// A port the caller asked for is taken.
    #[error("port {port} for {what} is already in use; free it or choose another")]
    PortBusy {
        /// The port.
        port: u16,
        /// What wanted it.
        what: String,
    },
    /// A command the harness ran failed.
    #[error("{what} failed: {detail}")]
    Command {
        /// What was being done.
        what: String,
        /// Exit status and output.
        detail: String,
    },
    /// A filesystem or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl HarnessError {
    /// An I/O error with context.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}
