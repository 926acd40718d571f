//! The `dga-lite` command line: parses the flags (`cli/args.rs`), runs the command
//! (`cli/<command>.rs`, each calling the library), and turns an error into a message and an
//! exit code.

mod cli;

use clap::CommandFactory;
use std::process::ExitCode;

fn main() -> ExitCode {
    let matches = cli::args::Cli::command().get_matches();
    match cli::run(&matches) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stopped reading (`dga-lite predict ... | head`) is not an error.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", message(&error));
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes on one line. Library errors often name their cause in their own
/// message already ("cannot read model m: No such file or directory"); a cause is added only
/// when the message does not hold it yet.
fn message(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}
