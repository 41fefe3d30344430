//! `learnflow-admin`: parse the command line, run the command, print its report.

use std::process::ExitCode;

fn main() -> ExitCode {
    let command = match learnflow_admin::Command::parse(std::env::args().skip(1), |name| {
        std::env::var(name).ok()
    }) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("learnflow-admin: {e}\n\n{}", learnflow_admin::USAGE);
            return ExitCode::from(2);
        }
    };
    match command.run() {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("learnflow-admin: {e}");
            ExitCode::FAILURE
        }
    }
}
