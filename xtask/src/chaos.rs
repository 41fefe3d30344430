//! `cargo xtask chaos`: the full chaos suite; writes `docs/resilience.md`.
//!
//! It is the `chaos` end-to-end test run with `LEARNFLOW_CHAOS=full` (longer outages,
//! more load); `cargo xtask test` runs the same test in its reduced form.

pub fn run() -> Result<(), String> {
    crate::suite::run_full(
        "chaos",
        "LEARNFLOW_CHAOS",
        false,
        "the full chaos suite (docs/resilience.md)",
    )
}
