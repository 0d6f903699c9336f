//! `garonne realtime`: flags over the configuration file, then [`garonne_realtime::run`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use garonne_realtime::Config;

use crate::neighbourhood_args::NeighbourhoodArgs;

/// The flags of `garonne realtime`. Each one overrides the configuration file.
#[derive(Args)]
pub struct RealtimeArgs {
    /// Configuration file (TOML; see `--print-default-config`).
    #[arg(long, env = "GARONNE_REALTIME_CONFIG")]
    config: Option<PathBuf>,
    /// Print the default configuration and exit.
    #[arg(long)]
    print_default_config: bool,
    /// The MQTT broker.
    #[arg(long, env = "GARONNE_BROKER")]
    broker: Option<String>,
    /// Data folder: default home of the polygons and of the snapshot.
    #[arg(long, env = "GARONNE_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    #[command(flatten)]
    neighbourhoods: NeighbourhoodArgs,
    /// Window length, e.g. 15m.
    #[arg(long, value_parser = humantime::parse_duration)]
    window: Option<Duration>,
    /// How often aggregates are published, e.g. 5s.
    #[arg(long, value_parser = humantime::parse_duration)]
    emit_every: Option<Duration>,
    /// How long after its end a window still accepts readings, e.g. 2m.
    #[arg(long, value_parser = humantime::parse_duration)]
    lateness: Option<Duration>,
    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, env = "GARONNE_REALTIME_METRICS_ADDR")]
    metrics_addr: Option<SocketAddr>,
    /// MQTT client id (fixed, so the broker keeps the session across restarts).
    #[arg(long)]
    client_id: Option<String>,
    /// Topic prefix.
    #[arg(long, env = "GARONNE_TOPIC_PREFIX")]
    prefix: Option<String>,
    /// Where the state is saved at shutdown; default: realtime-snapshot.json in the data
    /// folder.
    #[arg(long)]
    snapshot: Option<PathBuf>,
    /// Do not save or restore the state.
    #[arg(long, conflicts_with = "snapshot")]
    no_snapshot: bool,
}

/// Runs realtime until Ctrl-C or SIGTERM, then prints what it did.
pub async fn run(args: RealtimeArgs) -> anyhow::Result<()> {
    if args.print_default_config {
        print!("{}", Config::default_toml());
        return Ok(());
    }
    let config = config(args)?;
    let shutdown = crate::shutdown_on_signal();
    let summary = garonne_realtime::run(config, shutdown).await?;
    let c = &summary.counters;
    eprintln!(
        "realtime stopped: {} messages, {} readings folded, {} refused, {} late, {} outside, \
         {} aggregates published",
        c.messages,
        c.readings,
        c.rejected.iter().sum::<u64>() - c.rejected(garonne_payload::Rule::Late),
        c.rejected(garonne_payload::Rule::Late),
        c.outside,
        c.aggregates
    );
    Ok(())
}

fn config(args: RealtimeArgs) -> anyhow::Result<Config> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config {
            neighbourhoods: args.data_dir.join("quartiers-de-democratie-locale.geojson"),
            snapshot: Some(args.data_dir.join("realtime-snapshot.json")),
            ..Config::default()
        },
    };
    let secs = |d: Duration, what: &str| {
        u32::try_from(d.as_secs())
            .map_err(|_| anyhow::anyhow!("--{what} is too long: give at most a few days"))
    };
    if let Some(v) = args.broker {
        config.broker = v;
    }
    args.neighbourhoods.apply(
        &mut config.neighbourhoods,
        &mut config.id_property,
        &mut config.name_property,
    );
    if let Some(v) = args.window {
        config.window_secs = secs(v, "window")?;
    }
    if let Some(v) = args.emit_every {
        config.emit_every_ms = u64::try_from(v.as_millis()).unwrap_or(u64::MAX);
    }
    if let Some(v) = args.lateness {
        config.lateness_secs = secs(v, "lateness")?;
    }
    if let Some(v) = args.metrics_addr {
        config.metrics_addr = v;
    }
    if let Some(v) = args.client_id {
        config.client_id = v;
    }
    if let Some(v) = args.prefix {
        config.topic_prefix = v;
    }
    if let Some(v) = args.snapshot {
        config.snapshot = Some(v);
    }
    if args.no_snapshot {
        config.snapshot = None;
    }
    config.validate()?;
    Ok(config)
}
