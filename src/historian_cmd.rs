//! `garonne historian`: flags over the configuration file, then [`garonne_historian::run`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use garonne_historian::config::Config;
use garonne_store::StoreConfig;

use crate::store_args::{StoreArgs, influx_credentials};

/// The flags of `garonne historian`. Each one overrides the configuration file. Secrets come
/// from the environment only: INFLUX_TOKEN (v2), INFLUX_USERNAME and INFLUX_PASSWORD (v1).
#[derive(Args)]
pub struct HistorianArgs {
    /// Configuration file (TOML; see `--print-default-config`).
    #[arg(long, env = "GARONNE_HISTORIAN_CONFIG")]
    config: Option<PathBuf>,
    /// Print the default configuration and exit.
    #[arg(long)]
    print_default_config: bool,
    /// The MQTT broker.
    #[arg(long, env = "GARONNE_BROKER")]
    broker: Option<String>,
    /// Data folder: default home of the spool and of the embedded store.
    #[arg(long, env = "GARONNE_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
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
    /// MQTT client id (fixed, so the broker keeps the session across restarts).
    #[arg(long)]
    client_id: Option<String>,
    /// Topic prefix.
    #[arg(long, env = "GARONNE_TOPIC_PREFIX")]
    prefix: Option<String>,
}

/// Runs the historian until Ctrl-C or SIGTERM, then prints what it did.
pub async fn run(args: HistorianArgs) -> anyhow::Result<()> {
    if args.print_default_config {
        print!("{}", Config::default_toml());
        return Ok(());
    }
    let config = config(args)?;
    let shutdown = crate::shutdown_on_signal();
    let s = garonne_historian::run(config, influx_credentials(), shutdown).await?;
    eprintln!(
        "historian stopped: {} messages received, {} points written, {} messages skipped, \
         {} points refused by the store, {} messages left in the spool for the next start",
        s.received, s.points_written, s.skipped, s.rejected_points, s.spool_left
    );
    Ok(())
}

fn config(args: HistorianArgs) -> anyhow::Result<Config> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config {
            spool_dir: args.data_dir.join("historian-spool"),
            store: StoreConfig::embedded(args.data_dir.join("history.sqlite")),
            ..Config::default()
        },
    };
    if let Some(v) = args.broker {
        config.broker = v;
    }
    config.store = args.store.apply(config.store);
    if let Some(v) = args.spool_dir {
        config.spool_dir = v;
    }
    if let Some(v) = args.shared_group {
        config.shared_group = Some(v);
    }
    if let Some(v) = args.batch_points {
        config.batch_points = v;
    }
    if let Some(v) = args.flush_interval {
        config.flush_interval_ms = u64::try_from(v.as_millis()).unwrap_or(u64::MAX);
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
    config.validate()?;
    Ok(config)
}
