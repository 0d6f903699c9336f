//! `garonne historian`: flags over the configuration file, then [`garonne_historian::run`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use garonne_historian::config::{Config, ServiceConfig};

use crate::service_args::{ServiceArgs, set};
use crate::store_args::{StoreArgs, influx_credentials};

/// The flags of `garonne historian`. Each one overrides the configuration file. Secrets come
/// from the environment only: INFLUX_TOKEN (v2), INFLUX_USERNAME and INFLUX_PASSWORD (v1).
#[derive(Args)]
pub struct HistorianArgs {
    /// Configuration file (TOML; see `--print-default-config`).
    #[arg(long, env = "GARONNE_HISTORIAN_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    service: ServiceArgs,
    #[command(flatten)]
    store: StoreArgs,
    /// Spool directory (default: historian-spool in the data folder).
    #[arg(long)]
    spool_dir: Option<PathBuf>,
    /// Share the stream with the other historians of this group ($share/NAME/...).
    #[arg(long)]
    shared_group: Option<String>,
    /// Most points in one write.
    #[arg(long)]
    batch_points: Option<usize>,
    /// Longest wait for a batch to fill, e.g. 1s.
    #[arg(long, value_parser = humantime::parse_duration)]
    flush_interval: Option<Duration>,
    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, env = "GARONNE_HISTORIAN_METRICS_ADDR")]
    metrics_addr: Option<SocketAddr>,
}

impl HistorianArgs {
    /// The data folder, whose `profiles/` is the default profiles folder.
    pub fn data_dir(&self) -> &std::path::Path {
        self.service.data_dir()
    }
}

/// Runs the historian until Ctrl-C or SIGTERM, then prints what it did.
pub async fn run(args: HistorianArgs) -> anyhow::Result<()> {
    let Some(config) = config(args)? else {
        return Ok(());
    };
    let shutdown = crate::shutdown_on_signal();
    let s = garonne_historian::run(config, influx_credentials(), shutdown).await?;
    eprintln!(
        "historian stopped: {} messages received, {} points written, {} messages skipped, \
         {} points refused by the store, {} messages left in the spool for the next start",
        s.received, s.points_written, s.skipped, s.rejected_points, s.spool_left
    );
    Ok(())
}

/// The historian's configuration, flags over it; `None`: the defaults were printed.
fn config(args: HistorianArgs) -> anyhow::Result<Option<Config>> {
    let Some(mut config) = args.service.read::<Config>(args.config.as_deref())? else {
        return Ok(None);
    };
    config.store = args.store.apply(config.store);
    set(&mut config.spool_dir, args.spool_dir);
    set(&mut config.shared_group, args.shared_group.map(Some));
    set(&mut config.batch_points, args.batch_points);
    let flush_ms = args.flush_interval.map(|v| v.as_millis());
    set(
        &mut config.flush_interval_ms,
        flush_ms.map(|ms| u64::try_from(ms).unwrap_or(u64::MAX)),
    );
    set(&mut config.metrics_addr, args.metrics_addr);
    config.validate()?;
    Ok(Some(config))
}
