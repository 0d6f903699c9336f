//! `garonne up` (and `garonne` alone, so `cargo run --release`): the whole pipeline in one
//! process. An embedded MQTT broker, the simulated Toulouse fleets, realtime, the historian into
//! the embedded store and the web server, each the same library entry point its own command
//! runs, talking to the others through the broker and the store only (docs/architecture.md).

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use garonne_opendata::fetch::{
    DEFAULT_BASE_URL, FetchError, FetchOptions, essential_missing, fetch,
};
use garonne_opendata::starter;
use garonne_service::config::{MqttConfig, ServiceConfig};
use garonne_service::data_dir::DataDir;
use garonne_service::host::Session;
use garonne_simulator::fleet::FleetConfig;
use garonne_simulator::simulate::SimulateConfig;
use rumqttc::QoS;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long the services have, all together, to stop and save their state after Ctrl-C.
const STOP_WITHIN: Duration = Duration::from_secs(5);

/// The flags of `garonne up`.
#[derive(Args)]
pub struct UpArgs {
    /// Folder with the open-data files; they are downloaded into it when missing.
    #[arg(long, env = "GARONNE_DATA_DIR", default_value = DataDir::DEFAULT)]
    data_dir: PathBuf,
    /// Folder for what the pipeline keeps: the history store, the historian's spool, the
    /// realtime snapshot.
    #[arg(long, env = "GARONNE_STATE_DIR", default_value = DataDir::DEFAULT)]
    state_dir: PathBuf,
    /// Address of the embedded MQTT broker (Pi agents and mosquitto_sub connect here). Beyond
    /// loopback it needs GARONNE_MQTT_USERNAME and GARONNE_MQTT_PASSWORD, which every client
    /// then logs in with (the services of this process too).
    #[arg(long, env = "GARONNE_MQTT_ADDR", default_value = "127.0.0.1:1883")]
    mqtt: SocketAddr,
    /// Address of the web server.
    #[arg(long, env = "GARONNE_HTTP_ADDR", default_value_t = web().http_addr)]
    http: SocketAddr,
    /// Address of realtime's /healthz, /readyz and /metrics.
    #[arg(
        long,
        env = "GARONNE_REALTIME_METRICS_ADDR",
        default_value_t = garonne_realtime::Config::default().metrics_addr
    )]
    realtime_metrics: SocketAddr,
    /// Address of the historian's /healthz, /readyz and /metrics.
    #[arg(
        long,
        env = "GARONNE_HISTORIAN_METRICS_ADDR",
        default_value_t = garonne_historian::Config::default().metrics_addr
    )]
    historian_metrics: SocketAddr,
    /// Virtual sensors the simulator adds per neighbourhood.
    #[arg(long, default_value_t = 2)]
    density: u32,
    /// Readings per second of each simulated sensor.
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// No simulated fleet: only what real sensors publish to the embedded broker.
    #[arg(long)]
    no_simulator: bool,
    /// Leave out realtime's shipped alert rules (data/alerts.toml: the river above 3.5 m).
    #[arg(long)]
    no_default_alerts: bool,
    /// The built front-end (`cd frontend && npm ci && npm run build`).
    #[arg(long, env = "GARONNE_STATIC_DIR", default_value_os_t = web().static_dir)]
    static_dir: PathBuf,
    /// Grafana's base URL, for the map's "open in Grafana" links.
    #[arg(long, env = "GARONNE_GRAFANA_URL")]
    grafana_url: Option<String>,
    /// Where missing open data is downloaded from (the Opendatasoft portal).
    #[arg(long, env = "GARONNE_OPENDATA_URL", default_value = DEFAULT_BASE_URL)]
    opendata_url: String,
    /// When the data folder lacks the open data and the portal cannot be reached, stop with
    /// an error instead of starting on the starter dataset built into garonne.
    #[arg(long, env = "GARONNE_NO_STARTER")]
    no_starter: bool,
}

/// The web server's defaults, which the flags of `up` take theirs from.
fn web() -> garonne_server::Config {
    garonne_server::Config::default()
}

impl UpArgs {
    /// The open-data folder, whose `profiles/` is the default profiles folder.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }
}

/// Runs everything until Ctrl-C or SIGTERM.
pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    // Every client of this process logs in with the login from the environment, if any; one
    // with a password: the embedded broker then asks every client for it.
    let credentials = crate::mqtt_args::credentials_from_env()?;
    let login = credentials.clone().filter(|l| !l.password().is_empty());
    check_addresses(&args, login.is_some())?;
    ensure_open_data(&args.data_dir, &args.opendata_url, !args.no_starter).await?;
    ensure_front_end(&args.static_dir);
    std::fs::create_dir_all(&args.state_dir).with_context(|| {
        format!(
            "cannot create the state folder {}: give a writable one with --state-dir",
            args.state_dir.display()
        )
    })?;

    // The persistent sessions of this process's services: nobody else may take them over.
    let ids = MqttConfig {
        credentials: credentials.clone(),
        ..MqttConfig::default()
    };
    let reserved = ["realtime", "historian", "simulator"]
        .map(|service| ids.client_id(service, Session::Persistent));
    let embedded = crate::broker::start(args.mqtt, login, reserved.into()).await?;
    // The services of this process connect to the broker directly, not through its front.
    let mqtt = MqttConfig {
        broker: format!("mqtt://{}", embedded.local)
            .parse()
            .context("the embedded broker's address")?,
        credentials,
        ..MqttConfig::default()
    };
    let shutdown = crate::shutdown_on_signal();
    let mut services = Services::new();
    spawn_pipeline(&args, &mqtt, &shutdown, &mut services);
    if !args.no_simulator {
        spawn_simulator(&args, &mqtt, &shutdown, &mut services);
    }
    println!(
        "Garonne is running: the map on http://{}/ , MQTT (3.1.1 and 5) on mqtt://{} (Ctrl-C \
         stops everything)",
        args.http, args.mqtt
    );
    stop_together(services, &shutdown, &args.state_dir).await
}

/// The services `garonne up` runs, each ending with its name and how it ended.
type Services = JoinSet<(&'static str, anyhow::Result<()>)>;

/// Starts realtime, the historian (into the embedded store) and the web server.
fn spawn_pipeline(
    args: &UpArgs,
    mqtt: &MqttConfig,
    shutdown: &CancellationToken,
    services: &mut Services,
) {
    let (data, state) = (DataDir::new(&args.data_dir), DataDir::new(&args.state_dir));
    let realtime = garonne_realtime::Config {
        metrics_addr: args.realtime_metrics,
        mqtt: mqtt.clone(),
        // The shipped alert rules run unless turned off (a high river level).
        default_alerts: !args.no_default_alerts,
        ..garonne_realtime::Config::in_folders(&data, &state)
    };
    let token = shutdown.clone();
    services.spawn(async move {
        let result = garonne_realtime::run(realtime, token).await;
        ("realtime", result.map(drop).map_err(Into::into))
    });

    let historian = garonne_historian::config::Config {
        metrics_addr: args.historian_metrics,
        mqtt: mqtt.clone(),
        ..garonne_historian::config::Config::in_folder(&state)
    };
    let token = shutdown.clone();
    services.spawn(async move {
        let credentials = garonne_store::Credentials::default();
        let result = garonne_historian::run(historian, credentials, token).await;
        ("historian", result.map(drop).map_err(Into::into))
    });

    let server = garonne_server::Config {
        http_addr: args.http,
        static_dir: args.static_dir.clone(),
        grafana_url: args.grafana_url.clone(),
        mqtt: mqtt.clone(),
        store: garonne_store::StoreConfig::embedded(state.history()),
        // The embedded broker publishes no $SYS topics (and refuses a subscription to one).
        broker_stats: false,
        ..garonne_server::Config::in_folder(&data)
    };
    let token = shutdown.clone();
    services.spawn(async move {
        let credentials = garonne_store::Credentials::default();
        let result = garonne_server::run(server, credentials, token).await;
        ("web server", result.map(drop).map_err(Into::into))
    });
}

/// Starts the simulated fleets.
fn spawn_simulator(
    args: &UpArgs,
    mqtt: &MqttConfig,
    shutdown: &CancellationToken,
    services: &mut Services,
) {
    let simulate = SimulateConfig {
        mqtt: mqtt.clone(),
        data_dir: args.data_dir.clone(),
        neighbourhoods: Some(DataDir::new(&args.data_dir).polygons()),
        fleet: FleetConfig {
            density: args.density,
            rate_hz: args.rate,
            ..FleetConfig::default()
        },
        duration: None,
        qos: QoS::AtLeastOnce,
        progress: false,
    };
    let token = shutdown.clone();
    services.spawn(async move {
        // Every fleet whose files are in the data folder: weather always, bikes and the river
        // when their open-data files are there (`garonne simulate --fleet` chooses).
        let result = garonne_simulator::simulate::run_fleets(simulate, None, token).await;
        ("simulator", result.map(drop).map_err(Into::into))
    });
}

/// Waits for the first service to end (with an error, or at shutdown), then stops the others
/// within [`STOP_WITHIN`]; the first error wins.
async fn stop_together(
    mut services: Services,
    shutdown: &CancellationToken,
    state_dir: &std::path::Path,
) -> anyhow::Result<()> {
    let mut failure = None;
    if let Some(ended) = services.join_next().await {
        failure = failed(ended);
        shutdown.cancel();
    }
    let stopping = Instant::now();
    let rest = tokio::time::timeout(STOP_WITHIN, async {
        while let Some(ended) = services.join_next().await {
            failure = failure.take().or(failed(ended));
        }
    })
    .await;
    if rest.is_err() {
        eprintln!(
            "some services did not stop within {} s; stopping anyway",
            STOP_WITHIN.as_secs()
        );
    } else {
        eprintln!(
            "stopped in {:.1} s, state saved in {}",
            stopping.elapsed().as_secs_f64(),
            state_dir.display()
        );
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The error of a service that ended with one.
fn failed(
    ended: Result<(&'static str, anyhow::Result<()>), tokio::task::JoinError>,
) -> Option<anyhow::Error> {
    match ended {
        Ok((_, Ok(()))) => None,
        Ok((name, Err(e))) => Some(e.context(format!("the {name} stopped"))),
        Err(e) => Some(anyhow::anyhow!("a service crashed: {e}")),
    }
}

/// The broker on loopback unless it has a `login`, and every address free.
fn check_addresses(args: &UpArgs, login: bool) -> anyhow::Result<()> {
    if !args.mqtt.ip().is_loopback() && !login {
        bail!(
            "the embedded broker listens beyond loopback ({}) only with a password: set {} and \
             {} (every client then logs in with them, the Pi agents too), or keep the broker on \
             127.0.0.1; for a password per sensor and an ACL, use the docker compose deployment",
            args.mqtt,
            crate::mqtt_args::USERNAME_VAR,
            crate::mqtt_args::PASSWORD_VAR
        );
    }
    for (addr, what, flag) in [
        (args.mqtt, "MQTT broker", "--mqtt"),
        (args.http, "web server", "--http"),
        (
            args.realtime_metrics,
            "realtime metrics",
            "--realtime-metrics",
        ),
        (
            args.historian_metrics,
            "historian metrics",
            "--historian-metrics",
        ),
    ] {
        if let Err(e) = TcpListener::bind(addr) {
            bail!(
                "the {what}'s address {addr} is not free ({e}); is another Garonne or MQTT \
                 broker running? Stop it, or choose another address with {flag}"
            );
        }
    }
    Ok(())
}

/// The open data is there, or is downloaded; with the portal out of reach, the starter dataset
/// built in (when `use_starter`), said in one line; otherwise one line says how to provide it.
async fn ensure_open_data(dir: &Path, base_url: &str, use_starter: bool) -> anyhow::Result<()> {
    if essential_missing(dir).is_empty() {
        return Ok(());
    }
    eprintln!(
        "the open data is not in {}: downloading it (garonne data fetch)",
        dir.display()
    );
    let mut options = FetchOptions::new(dir);
    options.base_url = base_url.to_owned();
    let fetched = fetch(&options).await;
    if essential_missing(dir).is_empty() {
        return Ok(());
    }
    if use_starter && matches!(fetched, Err(FetchError::Unreachable { .. })) {
        starter::write(dir)?;
        eprintln!(
            "the open-data portal cannot be reached: starting on the starter dataset built into \
             garonne (20 quartiers, the station catalogue, readings of 23-27 November 2025), \
             written to {}; `garonne data fetch` brings the full, current data",
            dir.display()
        );
        return Ok(());
    }
    let why = match fetched {
        Ok(summary) => summary.to_string().lines().last().unwrap_or("").to_owned(),
        Err(e) => e.to_string(),
    };
    bail!(
        "the open data is not in {} and could not be downloaded ({why}): run `garonne data \
         fetch` where there is internet, or point --data-dir (or GARONNE_DATA_DIR) at a folder \
         that holds it",
        dir.display()
    )
}

/// The map's pages are built, or built now from `frontend/` when npm is there (once: the build
/// stays in `frontend/dist`). Without npm the server still runs, and its page says how to build
/// them.
fn ensure_front_end(static_dir: &Path) {
    if static_dir.join("app.js").is_file() {
        return;
    }
    let Some(frontend) = static_dir
        .parent()
        .filter(|dir| dir.join("package.json").is_file())
    else {
        eprintln!(
            "the map's pages are not in {}: build them with `cd frontend && npm ci && npm run \
             build`, or give their folder with --static-dir",
            static_dir.display()
        );
        return;
    };
    eprintln!(
        "building the map's pages once (npm ci && npm run build in {})",
        frontend.display()
    );
    let built = ["ci --no-audit --no-fund", "run build"].iter().all(|args| {
        std::process::Command::new("npm")
            .args(args.split(' '))
            .current_dir(frontend)
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    });
    if !built {
        eprintln!(
            "could not build the map's pages (is Node.js 20 or later with npm installed?): the \
             API and live events work; the page says how to build them"
        );
    }
}
