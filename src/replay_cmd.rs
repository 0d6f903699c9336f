//! `garonne replay`: flags to [`garonne_simulator::replay`], the state file, the summary.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use garonne_service::config::MqttConfig;
use garonne_simulator::replay::{self, ReplayConfig, ReplayState, Speed, Summary, Times};
use garonne_store::config::StoreConfig;
use garonne_store::readings::{Cursor, Scan, StoredReadings};

use crate::export_cmd::RangeArgs;
use crate::mqtt_args::MqttArgs;
use crate::store_args::{StoreArgs, influx_credentials};

/// Which times replayed readings carry, on the command line.
#[derive(Clone, Copy, ValueEnum)]
enum TimesArg {
    /// The stored times (realtime then counts only what is still within its windows).
    Original,
    /// Shifted to now: each reading carries the instant it is published (N times denser at N×).
    Now,
}

/// The flags of `garonne replay`.
#[derive(Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    range: RangeArgs,
    /// Seconds of data per second: 1 (as it happened), 10, 0.5... or max (as fast as the broker
    /// takes it; with --times original only).
    #[arg(long, default_value = "1")]
    speed: Speed,
    /// Which times the readings carry.
    #[arg(long, value_enum, default_value = "now")]
    times: TimesArg,
    /// Go on from where an interrupted replay of the same range stopped (its state file).
    #[arg(long)]
    resume: bool,
    /// The state file, written when the replay is interrupted (Ctrl-C), read by --resume.
    #[arg(long, default_value = "garonne-replay.state.json")]
    state: PathBuf,
    #[command(flatten)]
    mqtt: MqttArgs,
    #[command(flatten)]
    store: StoreArgs,
}

/// Replays the range until its end or Ctrl-C, then prints the summary (and how to resume).
pub async fn run(args: ReplayArgs) -> anyhow::Result<()> {
    if args.speed == Speed::Max && matches!(args.times, TimesArg::Now) {
        anyhow::bail!(
            "--speed max needs --times original: shifted to now, every reading would carry the \
             same instant (choose a speed such as 100, or keep the original times)\n\
             conseil : --speed max demande --times original (ou choisissez une vitesse, 100 par exemple)"
        );
    }
    let mut mqtt = MqttConfig::default();
    args.mqtt.apply(&mut mqtt)?;
    let store = args.store.apply(StoreConfig::default());
    let readings = StoredReadings::open(&store, influx_credentials()).await?;
    let scan = args.range.scan(&readings).await?;
    let resume = if args.resume {
        Some(resume_point(&args.state, &scan)?)
    } else {
        None
    };
    let config = ReplayConfig {
        mqtt,
        speed: args.speed,
        times: match args.times {
            TimesArg::Original => Times::Original,
            TimesArg::Now => Times::Now,
        },
        // Each sensor's place and kind from the store, whichever it is (the embedded store's
        // newest, InfluxDB's last within the range); one without is published at 0° N 0° E.
        places: replay::places(readings.places(&scan).await?),
        progress: true,
        state: Some(args.state.clone()),
    };
    eprintln!(
        "replaying {} to {} from the {} store on {} at {}",
        scan.from,
        scan.to,
        store.kind(),
        config.mqtt.broker,
        match config.speed {
            Speed::Times(n) => format!("{n}×"),
            Speed::Max => "full speed".to_owned(),
        }
    );
    let shutdown = crate::shutdown_on_signal();
    let summary = replay::replay(&readings, scan, resume, &config, shutdown).await?;
    print_summary(&summary, &args.state);
    if summary.stopped_at.is_none() {
        // Done: nothing is left to resume.
        let _ = std::fs::remove_file(&args.state);
    }
    if !summary.delivered {
        anyhow::bail!("the broker did not acknowledge every message (QoS 1) within 30 s");
    }
    Ok(())
}

/// Where `--resume` starts: the cursor of the state file, which must be of the same scan.
fn resume_point(path: &std::path::Path, scan: &Scan) -> anyhow::Result<Cursor> {
    let state = ReplayState::load(path).map_err(anyhow::Error::msg)?;
    let Some(state) = state else {
        anyhow::bail!(
            "no replay to resume: {} does not exist (a replay writes it when interrupted); run \
             without --resume\nconseil : aucun rejeu à reprendre ; relancez sans --resume",
            path.display()
        );
    };
    if !state.is_of(scan) {
        anyhow::bail!(
            "{} is the state of another replay ({} to {}, sensors {:?}): give the same --from, \
             --to, --sensor and --quantity, or run without --resume",
            path.display(),
            state.from,
            state.to,
            state.sensors
        );
    }
    Ok(Cursor::parse(&state.cursor)?)
}

fn print_summary(s: &Summary, state: &std::path::Path) {
    let secs = s.elapsed.as_secs_f64();
    println!(
        "replayed {} readings ({} samples) in {} messages in {secs:.1} s ({:.0} readings/s)",
        s.readings,
        s.samples,
        s.messages,
        s.readings as f64 / secs.max(1e-9)
    );
    if s.unknown_quantities > 0 {
        println!(
            "{} samples of quantities this Garonne does not know were left out: load their \
             profile (--profiles DIR)",
            s.unknown_quantities
        );
    }
    if s.unplaced > 0 {
        println!(
            "{} sensors have no stored location: published at 0° N 0° E",
            s.unplaced
        );
    }
    if let Some(cursor) = &s.stopped_at {
        println!(
            "interrupted at {}: run the same command with --resume to go on (state in {})\n\
             interrompu : relancez la même commande avec --resume pour continuer",
            garonne_store::export::rfc3339_ns(cursor.time_ns),
            state.display()
        );
    }
}
