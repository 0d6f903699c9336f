//! `garonne`: the one command line of the platform. It composes the crates' entry points and
//! owns no pipeline logic (see ARCHITECTURE §3).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod payload_cmd;

/// Garonne: live neighbourhood maps from a city's sensors.
#[derive(Parser)]
#[command(name = "garonne", version, about, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check payloads against the spec, or print its JSON Schema.
    Payload {
        #[command(subcommand)]
        action: payload_cmd::PayloadCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Payload { action } => payload_cmd::run(action),
    }
}
