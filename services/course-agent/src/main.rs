//! course-agent binary: the shared service skeleton ([`lf_service::main`]) around
//! [`course_agent::CourseAgent`].

fn main() -> std::process::ExitCode {
    lf_service::main::<course_agent::CourseAgent>()
}
