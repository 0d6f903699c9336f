//! `garonne`: the one command line of the platform. It composes the crates' entry points and
//! owns no pipeline logic (see docs/architecture.md).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod broker;
mod data_cmd;
mod export_cmd;
mod historian_cmd;
mod mqtt_args;
mod neighbourhood_args;
mod payload_cmd;
mod pi_cmd;
mod profile;
mod profile_dbc;
mod profile_doc;
mod profile_publish;
mod realtime_cmd;
mod replay_cmd;
mod serve_cmd;
mod service_args;
mod simulate_cmd;
mod store_args;
mod up_cmd;

/// Garonne: live neighbourhood maps from a city's sensors.
#[derive(Parser)]
#[command(name = "garonne", version, about)]
struct Cli {
    /// A folder of profiles (`*.toml`) to load beside the built-in ones, for every command;
    /// default: `profiles/` in the data folder, if it exists.
    #[arg(long, global = true, env = "GARONNE_PROFILES_DIR", value_name = "DIR")]
    profiles: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Everything in one process (what `garonne` alone runs): an embedded MQTT broker, the
    /// simulated Toulouse fleets, realtime, the historian into the embedded store, and the map
    /// on http://127.0.0.1:8080/.
    Up(up_cmd::UpArgs),
    /// Check payloads against the spec, or print its JSON Schema.
    Payload {
        #[command(subcommand)]
        action: payload_cmd::PayloadCommand,
    },
    /// Write a profile template, or check a profile file (issue 14).
    Profile {
        #[command(subcommand)]
        action: profile::ProfileCommand,
    },
    /// Replay open-data files as live fleets over MQTT: the Toulouse weather stations, the
    /// VélôToulouse bike stations, the Garonne's gauges, or any file a fleet description names.
    Simulate(simulate_cmd::SimulateArgs),
    /// The Raspberry Pi sensor agent: real sensors (BME280, BH1750, PIR, DS18B20) over MQTT.
    Pi(pi_cmd::PiArgs),
    /// Place every reading in its neighbourhood and publish windowed aggregates, rolling
    /// statistics, alerts and error reports over MQTT.
    Realtime(realtime_cmd::RealtimeArgs),
    /// Store readings, aggregates, alerts and statuses in InfluxDB or the embedded store,
    /// losing nothing when the database, the broker or the historian goes away.
    Historian(historian_cmd::HistorianArgs),
    /// The web server: the live neighbourhood map, its JSON API and live events, history from
    /// the store, and the payload validator page.
    Serve(serve_cmd::ServeArgs),
    /// Publish stored readings again over MQTT (a session, or a time range of any sensors) at
    /// 1× or N× on a virtual clock, marked `source: replay`, as if they were live.
    Replay(replay_cmd::ReplayArgs),
    /// Write stored readings (a session, or a time range of chosen sensors and quantities) to
    /// a CSV or Parquet file, for simulations and spreadsheets.
    Export(export_cmd::ExportArgs),
    /// Download the open-data files.
    Data {
        #[command(subcommand)]
        action: data_cmd::DataCommand,
    },
}

fn main() -> ExitCode {
    // `garonne` alone is `garonne up`: `cargo run --release` shows the live map.
    let mut argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.len() == 1 {
        argv.push("up".into());
    }
    let cli = Cli::parse_from(argv);
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GARONNE_LOG")
                // The embedded broker (rumqttd) logs every connection, and clients gone at
                // shutdown as errors: GARONNE_LOG=info,rumqttd=info shows them.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rumqttd=off")),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = profile::load_folder(cli.profiles.as_deref(), cli.command.data_dir()) {
        eprintln!("error: {e:#}");
        return ExitCode::from(2);
    }
    match cli.command {
        Command::Up(args) => exit(runtime().and_then(|rt| rt.block_on(up_cmd::run(args)))),
        Command::Payload { action } => payload_cmd::run(action),
        Command::Profile { action } => profile::run(action),
        Command::Simulate(args) => {
            exit(runtime().and_then(|rt| rt.block_on(simulate_cmd::run(args))))
        }
        Command::Realtime(args) => {
            exit(runtime().and_then(|rt| rt.block_on(realtime_cmd::run(args))))
        }
        Command::Historian(args) => {
            exit(runtime().and_then(|rt| rt.block_on(historian_cmd::run(args))))
        }
        Command::Serve(args) => exit(runtime().and_then(|rt| rt.block_on(serve_cmd::run(args)))),
        Command::Pi(args) => exit(runtime().and_then(|rt| rt.block_on(pi_cmd::run(args)))),
        Command::Export(args) => exit(runtime().and_then(|rt| rt.block_on(export_cmd::run(args)))),
        Command::Replay(args) => exit(runtime().and_then(|rt| rt.block_on(replay_cmd::run(args)))),
        Command::Data { action } => {
            exit(runtime().and_then(|rt| rt.block_on(data_cmd::run(action))))
        }
    }
}

impl Command {
    /// The data folder a command was given (`--data-dir`, `GARONNE_DATA_DIR`), whose
    /// `profiles/` is the default profiles folder; `None` for a command without one.
    fn data_dir(&self) -> Option<&std::path::Path> {
        match self {
            Command::Up(args) => Some(args.data_dir()),
            Command::Realtime(args) => Some(args.data_dir()),
            Command::Historian(args) => Some(args.data_dir()),
            Command::Serve(args) => Some(args.data_dir()),
            _ => None,
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Prints an error as one chain ("error: a: b: c") and maps it to exit code 1.
fn exit(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A token cancelled on Ctrl-C or SIGTERM: the `shutdown` every service's `run` takes.
pub(crate) fn shutdown_on_signal() -> tokio_util::sync::CancellationToken {
    let shutdown = tokio_util::sync::CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        on_signal.cancel();
    });
    shutdown
}

/// Resolves on Ctrl-C or SIGTERM.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
