//! `garonne serve`: flags over the configuration file, then [`garonne_server::run`].

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use garonne_server::{Config, StoreConfig};

use crate::neighbourhood_args::NeighbourhoodArgs;
use crate::store_args::{StoreArgs, influx_credentials};

/// The flags of `garonne serve`. Each one overrides the configuration file. Secrets come from
/// the environment only: INFLUX_TOKEN (v2), INFLUX_USERNAME and INFLUX_PASSWORD (v1).
#[derive(Args)]
pub struct ServeArgs {
    /// Configuration file (TOML; see `--print-default-config`).
    #[arg(long, env = "GARONNE_SERVER_CONFIG")]
    config: Option<PathBuf>,
    /// Print the default configuration and exit.
    #[arg(long)]
    print_default_config: bool,
    /// The MQTT broker.
    #[arg(long, env = "GARONNE_BROKER")]
    broker: Option<String>,
    /// Address of the web server (pages, API, events, /healthz, /readyz, /metrics);
    /// default 127.0.0.1:8080.
    #[arg(long, env = "GARONNE_HTTP_ADDR")]
    http: Option<SocketAddr>,
    /// Data folder: default home of the polygons and of the embedded store.
    #[arg(long, env = "GARONNE_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    #[command(flatten)]
    neighbourhoods: NeighbourhoodArgs,
    /// Grafana's base URL, for the "open in Grafana" links.
    #[arg(long, env = "GARONNE_GRAFANA_URL")]
    grafana_url: Option<String>,
    /// Base-map tile URL template, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png
    /// (none by default: the map works offline).
    #[arg(long, env = "GARONNE_TILES_URL")]
    tiles_url: Option<String>,
    /// The built front-end (default frontend/dist).
    #[arg(long)]
    static_dir: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArgs,
    /// MQTT client id (default: unique to the process).
    #[arg(long)]
    client_id: Option<String>,
    /// Topic prefix.
    #[arg(long, env = "GARONNE_TOPIC_PREFIX")]
    prefix: Option<String>,
}

/// Runs the web server until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    if args.print_default_config {
        print!("{}", Config::default_toml());
        return Ok(());
    }
    let config = config(args)?;
    let shutdown = crate::shutdown_on_signal();
    let addr = config.http_addr;
    eprintln!("Garonne map on http://{addr}/");
    let summary = garonne_server::run(config, influx_credentials(), shutdown).await?;
    eprintln!(
        "server stopped: {} messages applied, {} sensors known",
        summary.counters.applied.iter().sum::<u64>(),
        summary.sensors
    );
    Ok(())
}

fn config(args: ServeArgs) -> anyhow::Result<Config> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config {
            neighbourhoods: args.data_dir.join("quartiers-de-democratie-locale.geojson"),
            store: StoreConfig::embedded(args.data_dir.join("history.sqlite")),
            ..Config::default()
        },
    };
    if let Some(v) = args.broker {
        config.broker = v;
    }
    if let Some(v) = args.http {
        config.http_addr = v;
    }
    args.neighbourhoods.apply(
        &mut config.neighbourhoods,
        &mut config.id_property,
        &mut config.name_property,
    );
    if let Some(v) = args.grafana_url {
        config.grafana_url = Some(v);
    }
    if let Some(v) = args.tiles_url {
        config.tiles_url = Some(v);
    }
    if let Some(v) = args.static_dir {
        config.static_dir = v;
    }
    config.store = args.store.apply(config.store);
    if let Some(v) = args.client_id {
        config.client_id = Some(v);
    }
    if let Some(v) = args.prefix {
        config.topic_prefix = v;
    }
    config.validate()?;
    Ok(config)
}
