//! The kprov binary: parse the command line, run, turn the outcome into an exit code
//! (0 ok, 1 error, 2 changes with --detailed-exitcode, 130 interrupted).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use kprov::cli::{self, CliError, Outcome};

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    // KPROV_LOG chooses; the SDK's wire logs stay off without KPROV_LOG_WIRE (see cli::logging).
    let directives =
        cli::logging::directives(std::env::var("KPROV_LOG").ok().as_deref(), cli::logging::wire_from_env());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(directives))
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(cli::run(args)) {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Changes) => ExitCode::from(2),
        Ok(Outcome::Interrupted) => ExitCode::from(130),
        Err(e @ CliError::Interrupted(_)) => {
            report(&e);
            ExitCode::from(130)
        }
        Err(e) => {
            report(&e);
            ExitCode::from(1)
        }
    }
}

fn report(e: &CliError) {
    match e {
        // Located configuration errors: a source snippet on a terminal, the plain
        // `file:line:col: message` otherwise.
        CliError::Config(c) if std::io::stderr().is_terminal() => {
            let mut out = String::new();
            match miette::GraphicalReportHandler::new().render_report(&mut out, c) {
                Ok(()) => eprintln!("{out}"),
                Err(_) => eprintln!("Error: {e}"),
            }
        }
        CliError::Failed(_) => {}
        _ => eprintln!("Error: {e}"),
    }
}
