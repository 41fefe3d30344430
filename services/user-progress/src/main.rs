//! user-progress binary: the shared service skeleton ([`lf_service::main`]) around
//! [`user_progress::UserProgress`].

fn main() -> std::process::ExitCode {
    lf_service::main::<user_progress::UserProgress>()
}
