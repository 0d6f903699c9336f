//! `garonne simulate`: flags to [`garonne_simulator::simulate::SimulateConfig`], and the summary.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use garonne_service::config::MqttConfig;
use garonne_service::data_dir::DataDir;
use garonne_simulator::fleet::{Fault, FleetConfig};
use garonne_simulator::simulate::{self, SimulateConfig, Summary};
use rumqttc::QoS;

use crate::mqtt_args::MqttArgs;

/// The flags of `garonne simulate`.
#[derive(Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    mqtt: MqttArgs,
    /// Folder with the open-data files (`garonne data fetch` fills it).
    #[arg(long, env = "GARONNE_DATA_DIR", default_value = DataDir::DEFAULT)]
    data_dir: PathBuf,
    /// Fleets to simulate, comma-separated: weather, bikes, river, or one the data folder
    /// describes in fleets/NAME.toml (docs/simulation.md). Default: every fleet whose files are
    /// in the data folder.
    #[arg(long, value_delimiter = ',')]
    fleet: Vec<String>,
    /// Simulated seconds per real second (60: a minute of data per second).
    #[arg(long, default_value_t = FleetConfig::default().speed)]
    speed: f64,
    /// Virtual sensors added per neighbourhood.
    #[arg(long, default_value_t = FleetConfig::default().density)]
    density: u32,
    /// Readings per second of each sensor, from 0.00111 (one per 15 minutes) to 100.
    #[arg(long, default_value_t = FleetConfig::default().rate_hz)]
    rate: f64,
    /// Stop after this long, e.g. 20s, 15m, 2h (default: until Ctrl-C).
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Seed of every random choice: the same seed gives the same fleet.
    #[arg(long, default_value_t = FleetConfig::default().seed)]
    seed: u64,
    /// Probability that a reading is spoiled by a fault (sentinel, dropout, malformed,
    /// duplicate, late), e.g. 0.05.
    #[arg(long, default_value_t = FleetConfig::default().faults)]
    faults: f64,
    /// Keep the data's own times instead of rebasing them onto now.
    #[arg(long)]
    no_rebase: bool,
    /// Polygons for virtual sensors (default: the data folder's quartiers de démocratie locale).
    #[arg(long)]
    neighbourhoods: Option<PathBuf>,
    /// MQTT QoS of readings: 0 or 1.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    qos: u8,
}

/// Runs the simulation until the duration ends or Ctrl-C, then prints the summary.
pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let mut mqtt = MqttConfig::default();
    args.mqtt.apply(&mut mqtt)?;
    let config = SimulateConfig {
        mqtt,
        data_dir: args.data_dir,
        neighbourhoods: args.neighbourhoods,
        fleet: FleetConfig {
            speed: args.speed,
            rate_hz: args.rate,
            density: args.density,
            seed: args.seed,
            faults: args.faults,
            rebase: !args.no_rebase,
        },
        duration: args.duration,
        qos: if args.qos == 0 {
            QoS::AtMostOnce
        } else {
            QoS::AtLeastOnce
        },
        progress: true,
    };
    let shutdown = crate::shutdown_on_signal();
    eprintln!(
        "simulating the fleets of {} on {}",
        config.data_dir.display(),
        config.mqtt.broker
    );
    let chosen = (!args.fleet.is_empty()).then_some(args.fleet.as_slice());
    let summary = simulate::run_fleets(config, chosen, shutdown).await?;
    print_summary(&summary);
    Ok(())
}

fn print_summary(s: &Summary) {
    let secs = s.elapsed.as_secs_f64();
    println!(
        "published {} messages from {} sensors in {secs:.1} s ({:.0} msg/s)",
        s.published,
        s.sensors,
        s.published as f64 / secs.max(1e-9)
    );
    let fleets: Vec<String> = s
        .fleets
        .iter()
        .map(|(name, sensors)| format!("{name} ({sensors} sensors)"))
        .collect();
    println!("fleets: {}", fleets.join(", "));
    println!(
        "readings: {} ({} replayed, {} estimated), {} moments without data",
        s.fleet.readings, s.fleet.replayed, s.fleet.estimated, s.fleet.no_data
    );
    if s.fleet.faults.iter().any(|n| *n > 0) {
        let faults: Vec<String> = Fault::ALL
            .iter()
            .map(|f| format!("{} {}", s.fleet.faults[f.index()], f.name()))
            .collect();
        println!("faults injected: {}", faults.join(", "));
    }
    println!(
        "broker: {} connection errors; {}",
        s.connection_errors,
        if s.delivered {
            "every message delivered"
        } else {
            "NOT every message was confirmed delivered"
        }
    );
}
