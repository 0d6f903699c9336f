//! `garonne serve`: flags over the configuration file, then [`garonne_server::run`].

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use garonne_server::config::{Config, ServiceConfig};

use crate::neighbourhood_args::NeighbourhoodArgs;
use crate::service_args::{ServiceArgs, set};
use crate::store_args::{StoreArgs, influx_credentials};

/// The flags of `garonne serve`. Each one overrides the configuration file. Secrets come from
/// the environment only: INFLUX_TOKEN (v2), INFLUX_USERNAME and INFLUX_PASSWORD (v1).
#[derive(Args)]
pub struct ServeArgs {
    /// Configuration file (TOML; see `--print-default-config`).
    #[arg(long, env = "GARONNE_SERVER_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    service: ServiceArgs,
    /// Address of the web server (pages, API, events, /healthz, /readyz, /metrics);
    /// default 127.0.0.1:8080.
    #[arg(long, env = "GARONNE_HTTP_ADDR")]
    http: Option<SocketAddr>,
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
}

impl ServeArgs {
    /// The data folder, whose `profiles/` is the default profiles folder.
    pub fn data_dir(&self) -> &std::path::Path {
        self.service.data_dir()
    }
}

/// Runs the web server until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let Some(config) = config(args)? else {
        return Ok(());
    };
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

/// The server's configuration, with the flags over it (`None` after --print-default-config).
fn config(args: ServeArgs) -> anyhow::Result<Option<Config>> {
    let Some(mut config) = args.service.read::<Config>(args.config.as_deref())? else {
        return Ok(None);
    };
    set(&mut config.http_addr, args.http);
    args.neighbourhoods.apply(
        &mut config.neighbourhoods,
        &mut config.id_property,
        &mut config.name_property,
    );
    set(&mut config.grafana_url, args.grafana_url.map(Some));
    set(&mut config.tiles_url, args.tiles_url.map(Some));
    set(&mut config.static_dir, args.static_dir);
    config.store = args.store.apply(config.store);
    config.validate()?;
    Ok(Some(config))
}
