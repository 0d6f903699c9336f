//! `garonne realtime`: flags over the configuration file, then [`garonne_realtime::run`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use garonne_realtime::config::{Config, ServiceConfig};

use crate::neighbourhood_args::NeighbourhoodArgs;
use crate::service_args::{ServiceArgs, set};

/// The flags of `garonne realtime`. Each one overrides the configuration file.
#[derive(Args)]
pub struct RealtimeArgs {
    /// Configuration file (TOML; see `--print-default-config`).
    #[arg(long, env = "GARONNE_REALTIME_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    service: ServiceArgs,
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
    /// Where the state is saved at shutdown; default: realtime-snapshot.json in the data
    /// folder.
    #[arg(long)]
    snapshot: Option<PathBuf>,
    /// Do not save or restore the state.
    #[arg(long, conflicts_with = "snapshot")]
    no_snapshot: bool,
    /// How often the state is saved while running, e.g. 1m: at most this much of the windows
    /// is lost to a crash.
    #[arg(long, value_parser = humantime::parse_duration)]
    snapshot_every: Option<Duration>,
    /// Leave out the shipped alert rules (data/alerts.toml: the river above 3.5 m); the
    /// configuration file's own still run.
    #[arg(long)]
    no_default_alerts: bool,
}

impl RealtimeArgs {
    /// The data folder, whose `profiles/` is the default profiles folder.
    pub fn data_dir(&self) -> &std::path::Path {
        self.service.data_dir()
    }
}

/// Runs realtime until Ctrl-C or SIGTERM, then prints what it did.
pub async fn run(args: RealtimeArgs) -> anyhow::Result<()> {
    let Some(config) = config(args)? else {
        return Ok(());
    };
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

/// Realtime's configuration, flags over it; `None`: `--print-default-config` printed it.
fn config(args: RealtimeArgs) -> anyhow::Result<Option<Config>> {
    let Some(mut config) = args.service.read::<Config>(args.config.as_deref())? else {
        return Ok(None);
    };
    let secs = |d: Duration, what: &str| {
        u32::try_from(d.as_secs())
            .map_err(|_| anyhow::anyhow!("--{what} is too long: give at most a few days"))
    };
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
    set(&mut config.metrics_addr, args.metrics_addr);
    set(&mut config.snapshot, args.snapshot.map(Some));
    if args.no_snapshot {
        config.snapshot = None;
    }
    if let Some(v) = args.snapshot_every {
        config.snapshot_every_secs = secs(v, "snapshot-every")?;
    }
    if args.no_default_alerts {
        config.default_alerts = false;
    }
    config.validate()?;
    Ok(Some(config))
}
