//! frontend-gateway binary: the shared service skeleton ([`lf_service::main`]) around
//! [`frontend_gateway::FrontendGateway`].

fn main() -> std::process::ExitCode {
    lf_service::main::<frontend_gateway::FrontendGateway>()
}
