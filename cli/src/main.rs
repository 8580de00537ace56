//! The `cartkin` command line (a face of the library: it lives in its own crate so that a
//! library user compiles no argument parser).

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// CAR-T cell therapy kinetics for B-ALL: simulations and virtual trials.
#[derive(Parser, Debug)]
#[command(name = "cartkin", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The built-in models, one line each: name, version, states.
    Models,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Models => {
            for m in cartkin::model::builtin() {
                println!("{:<10} v{:<4} {} states: {}", m.name, m.version, m.states.len(), m.states.join(", "));
            }
        }
    }
    ExitCode::SUCCESS
}
