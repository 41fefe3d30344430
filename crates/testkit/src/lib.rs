//! The native stack harness, shared by `cargo xtask` and the end-to-end tests.
//!
//! Layout:
//! - [`paths`] and [`versions`]: where things live (repo, cache outside the
//!   repo, per-run directories) and which third-party versions are pinned;
//! - [`tools`]: finds provisioned components and system prerequisites, naming
//!   the command that installs whatever is missing;
//! - [`system`]: Debian packages the machine needs, installed when we run as root;
//! - [`cluster`]: a real single-node Kubernetes built from source, with CoreDNS,
//!   metrics-server and Dapr's control plane (`cargo xtask cluster`, ADR 0013);
//! - [`containers`]: the Docker Engine, its CLI plugins (compose, buildx) and every image
//!   the compose stack runs, made here: base images and stand-ins for third-party ones;
//! - [`provision`]: builds or downloads the pinned components into the cache
//!   (`cargo xtask deps`);
//! - [`devtools`]: Helm, the Python tools venv, Node modules and Chromium that the
//!   deploy checks, API fuzzing and the browser test use;
//! - [`schemas`]: the CRD, compose and skaffold JSON schemas the deploy checks
//!   validate against, from pinned Go modules;
//! - [`process`]: a managed child process with its own log file that can be
//!   stopped, killed, frozen, resumed and restarted, and never outlives its owner;
//! - [`pki`]: CA and leaf certificates made with openssl (the cluster's, PostgreSQL's TLS);
//! - [`wait`]: readiness polling with a deadline, and a tiny HTTP/1.0 getter;
//! - [`components`]: PostgreSQL, Kafka, daprd, Prometheus, Jaeger and service
//!   processes, each on free loopback ports in its own directory;
//! - [`stack`]: the whole LearnFlow stack, and the JSON description
//!   `cargo xtask up --detach` writes.
//!
//! Everything here is synchronous on purpose: components are child processes
//! tied to the thread that started them (they get SIGKILL if it dies), so start
//! them from a long-lived thread such as a test's own thread.

pub mod cluster;
pub mod components;
pub mod containers;
pub mod devtools;
pub mod error;
pub mod paths;
pub mod pki;
pub mod process;
pub mod provision;
pub mod schemas;
pub mod stack;
pub mod system;
pub mod tools;
pub mod versions;
pub mod wait;

pub use error::HarnessError;

/// Result type of the harness.
pub type Result<T, E = HarnessError> = std::result::Result<T, E>;
