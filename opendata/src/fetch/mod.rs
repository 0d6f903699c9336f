//! `garonne data fetch`: downloading Toulouse's open-data files into the data directory,
//! resumably, with a manifest of what is there.
//!
//! The datasets are listed in `data/datasets.toml` (compiled in, see [`Catalogue`]), in three
//! families ([`Family`], [`FetchOptions::families`]):
//! - `weather`: the weather-station catalogue, three neighbourhood polygon layers, and the
//!   readings of every weather station, asked of Toulouse Métropole's portal (Opendatasoft
//!   Explore API v2.1 export endpoint);
//! - `bikes`: VélôToulouse's stations and their availability, an export of the same portal;
//! - `river`: the Garonne's gauges and their daily maximum heights, asked of Hub'Eau's
//!   hydrometry API page by page and written in the formats `data/fleets/river.toml` reads
//!   (see `hubeau`).
//!
//! The station catalogue and the polygons are needed by everything downstream, so failing to
//! get one of them stops the run; any other dataset that fails is reported in the
//! [`FetchSummary`] and the others carry on. A host that cannot be reached at all stops the run
//! at once with one line that says what to do instead ([`FetchError::Unreachable`]).
//!
//! Every file is streamed into `FILE.part` and renamed when complete; an interrupted download
//! resumes with an HTTP `Range` request (next attempt or next run). `DATA_DIR/manifest.json`
//! records each file's URL, size and SHA-256, and a later run skips a dataset whose file still
//! matches its entry, unless [`FetchOptions::force`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), garonne_opendata::fetch::FetchError> {
//! use garonne_opendata::fetch::{FetchOptions, fetch};
//!
//! let mut options = FetchOptions::new("data");
//! options.from = Some("2025-11-24".parse().expect("a date"));
//! options.to = Some("2025-11-26".parse().expect("a date"));
//! let summary = fetch(&options).await?;
//! println!("{summary}");
//! if !summary.is_complete() {
//!     std::process::exit(1);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//! - [`catalogue`]: `data/datasets.toml`, parsed and checked; export URLs.
//! - [`date`]: `YYYY-MM-DD` days in UTC and the readings' date window.
//! - [`manifest`]: `DATA_DIR/manifest.json`, sizes and SHA-256 of the files.
//! - `download`: one resumable, streamed download with retries.
//! - `hubeau`: Hub'Eau's paged answers, resumable page by page, converted.
//! - `progress`: the terminal progress bars.

pub mod catalogue;
pub mod date;
mod download;
mod hubeau;
pub mod manifest;
mod progress;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use garonne_payload::report::Chain;
use garonne_payload::time::Timestamp;
use indicatif::HumanBytes;
use reqwest::{StatusCode, Url};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

/// The files nothing starts without: the weather-station catalogue (the simulator's fleet) and
/// the quartiers (the neighbourhoods of realtime and of the map).
pub const ESSENTIAL_FILES: [&str; 2] = [
    "stations-meteo-en-place.json",
    "quartiers-de-democratie-locale.geojson",
];

/// Which of [`ESSENTIAL_FILES`] `data_dir` lacks.
pub fn essential_missing(data_dir: &Path) -> Vec<&'static str> {
    ESSENTIAL_FILES
        .into_iter()
        .filter(|file| !data_dir.join(file).is_file())
        .collect()
}

/// The files `family` needs that `data_dir` lacks, what `--if-missing` looks at: for the
/// weather, [`ESSENTIAL_FILES`] (its readings depend on the dates asked); for the bikes and
/// the river, every file of the family in the catalogue.
pub fn family_missing(data_dir: &Path, family: Family) -> Result<Vec<String>, FetchError> {
    if family == Family::Weather {
        return Ok(essential_missing(data_dir)
            .into_iter()
            .map(str::to_owned)
            .collect());
    }
    let catalogue = Catalogue::embedded().map_err(FetchError::Catalogue)?;
    Ok(catalogue
        .files_of(family)
        .into_iter()
        .filter(|file| !data_dir.join(file).is_file())
        .map(str::to_owned)
        .collect())
}

pub use catalogue::{
    Catalogue, CatalogueError, Credit, Dataset, ExportFormat, Family, UnknownFamily,
};
pub use date::{DEFAULT_WINDOW_DAYS, Date, DateError, DateWindow, EmptyWindow};
pub use hubeau::HEIGHTS_HEADER;
pub use manifest::{MANIFEST_FILE, Manifest, ManifestEntry};

use download::{Context, Downloaded, with_suffix};
use progress::Bars;

/// The Toulouse Métropole open-data portal.
pub const DEFAULT_BASE_URL: &str = "https://data.toulouse-metropole.fr";

/// The default data directory (docs/architecture.md); the repository git-ignores everything in it
/// but `datasets.toml` and `README.md`.
pub const DEFAULT_DATA_DIR: &str = "data";

/// What to download, where, and how patiently.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// The data directory; created if missing. Files go where `data/datasets.toml` says,
    /// relative to it, and the manifest is `DATA_DIR/manifest.json`.
    pub data_dir: PathBuf,
    /// The portal, default [`DEFAULT_BASE_URL`]; tests point it at a local server.
    pub base_url: String,
    /// The first day of readings (UTC, included); default [`DEFAULT_WINDOW_DAYS`] days before `to`.
    pub from: Option<Date>,
    /// The day after the last day of readings (UTC, excluded); default today.
    pub to: Option<Date>,
    /// Only these dataset ids (see `data/datasets.toml`), whatever their family; `None` for
    /// every dataset of [`FetchOptions::families`].
    pub datasets: Option<Vec<String>>,
    /// The families to download when [`FetchOptions::datasets`] is `None`. Default: the
    /// weather only, what `garonne up` needs to start; `garonne data fetch` asks for all
    /// ([`Family::ALL`]).
    pub families: Vec<Family>,
    /// Hub'Eau's base URL for the river family; `None`: the catalogue's
    /// (`https://hubeau.eaufrance.fr`). Tests point it at a local server.
    pub hubeau_url: Option<String>,
    /// Download even the files that match the manifest, and drop partial files.
    pub force: bool,
    /// Draw progress bars on stderr (only when it is a terminal).
    pub progress: bool,
    /// Readings downloads run at once, at least 1. The other datasets go one by one, first.
    pub concurrency: usize,
    /// The longest wait for a TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// The longest wait for each read from the server: the response head, then every chunk.
    pub read_timeout: Duration,
    /// Attempts per download when a transfer breaks off or the server is briefly unavailable
    /// (502, 503, 504, 429); at least 1. Each attempt resumes where the last one stopped.
    pub attempts: u32,
    /// The wait before the second attempt, doubled for each next one (at most 30 s).
    pub retry_delay: Duration,
}

impl FetchOptions {
    /// The defaults, writing into `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> FetchOptions {
        FetchOptions {
            data_dir: data_dir.into(),
            base_url: DEFAULT_BASE_URL.to_owned(),
            from: None,
            to: None,
            datasets: None,
            families: vec![Family::Weather],
            hubeau_url: None,
            force: false,
            progress: true,
            concurrency: 4,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            attempts: 3,
            retry_delay: Duration::from_secs(1),
        }
    }
}

impl Default for FetchOptions {
    fn default() -> FetchOptions {
        FetchOptions::new(DEFAULT_DATA_DIR)
    }
}

/// Why `fetch` stopped, or why one dataset failed (in [`FetchSummary::failed`]).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The portal's host cannot be reached (no network, DNS failure, refused, timed out).
    #[error(
        "cannot reach {host}: no network? Copy the open-data files into {} yourself, or point --data-dir / GARONNE_DATA_DIR at a folder that has them",
        data_dir.display()
    )]
    Unreachable {
        /// The host (and port) tried.
        host: String,
        /// The data directory, where the files are expected.
        data_dir: PathBuf,
        /// The connection error.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("dataset {id}: the server answered {status} for {url}")]
    Status {
        /// The dataset.
        id: String,
        /// The URL asked.
        url: String,
        /// The status.
        status: StatusCode,
    },
    /// The transfer broke off, or timed out, on every attempt.
    #[error("dataset {id}: the download from {url} failed")]
    Transfer {
        /// The dataset.
        id: String,
        /// The URL asked.
        url: String,
        /// The transfer error.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered, but not with what the API sends (Hub'Eau's JSON pages).
    #[error("dataset {id}: the answer from {url} is not usable: {why}")]
    BadResponse {
        /// The dataset.
        id: String,
        /// The URL asked.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// The server closed the body before the length it announced.
    #[error("dataset {id}: the download from {url} ended at byte {received} of {expected}")]
    Truncated {
        /// The dataset.
        id: String,
        /// The URL asked.
        url: String,
        /// The bytes on disk.
        received: u64,
        /// The bytes announced.
        expected: u64,
    },
    /// A file or directory could not be read or written.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done (`write`, `create directory`...).
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// `--from` is not before `--to`.
    #[error(transparent)]
    EmptyWindow(#[from] EmptyWindow),
    /// A dataset id that `data/datasets.toml` does not list.
    #[error("unknown dataset {id:?}: data/datasets.toml lists no dataset with that id")]
    UnknownDataset {
        /// The id asked for.
        id: String,
    },
    /// The base URL is not an http or https URL.
    #[error(
        "invalid base URL {url:?}: expected an http:// or https:// URL such as {DEFAULT_BASE_URL}"
    )]
    BaseUrl {
        /// The URL given.
        url: String,
    },
    /// The HTTP client cannot be built (TLS set-up).
    #[error("cannot set up the HTTP client")]
    Client(#[source] reqwest::Error),
    /// The compiled-in catalogue is invalid (a build that skipped the tests).
    #[error("the dataset catalogue compiled in from data/datasets.toml is invalid")]
    Catalogue(#[source] CatalogueError),
    /// A download task panicked or was cancelled.
    #[error("a download task stopped unexpectedly")]
    Task(#[source] tokio::task::JoinError),
}

impl FetchError {
    fn io(action: &'static str, path: &Path, source: io::Error) -> FetchError {
        FetchError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }
}

/// What a `fetch` run did.
#[derive(Debug)]
pub struct FetchSummary {
    /// The data directory.
    pub data_dir: PathBuf,
    /// The readings' date window.
    pub window: DateWindow,
    /// The files downloaded, in catalogue order for the station catalogue and polygons, then
    /// in completion order.
    pub downloaded: Vec<FetchedFile>,
    /// The datasets skipped because their file matches the manifest.
    pub skipped: Vec<SkippedDataset>,
    /// The datasets that failed (readings, bikes, river); the run went on without them.
    pub failed: Vec<FailedDataset>,
    /// The licence and attribution of each family asked for, in [`Family::ALL`] order.
    pub credits: Vec<(Family, Credit)>,
}

/// A file downloaded by this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedFile {
    /// The dataset id.
    pub id: String,
    /// The file, relative to the data directory.
    pub file: String,
    /// The URL.
    pub url: String,
    /// The size.
    pub bytes: u64,
    /// The SHA-256, lower-case hex.
    pub sha256: String,
    /// Bytes kept from an earlier interrupted download (0 when downloaded from the start).
    pub resumed_from: u64,
}

/// A dataset whose file was already there, matching the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedDataset {
    /// The dataset id.
    pub id: String,
    /// The file, relative to the data directory.
    pub file: String,
    /// Its size.
    pub bytes: u64,
}

/// A dataset that could not be downloaded (not the station catalogue or a polygon layer).
#[derive(Debug)]
pub struct FailedDataset {
    /// The dataset id.
    pub id: String,
    /// Why.
    pub error: FetchError,
}

impl FetchSummary {
    /// Whether every dataset asked for is now in the data directory (nothing failed).
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
    }

    /// The bytes downloaded by this run.
    pub fn downloaded_bytes(&self) -> u64 {
        self.downloaded
            .iter()
            .map(|f| f.bytes - f.resumed_from)
            .sum()
    }
}

impl fmt::Display for FetchSummary {
    /// A few lines for a person: counts, the window, then one line per failure.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} downloaded ({}), {} already up to date, {} failed, in {}",
            self.downloaded.len(),
            HumanBytes(self.downloaded_bytes()),
            self.skipped.len(),
            self.failed.len(),
            self.data_dir.display()
        )?;
        write!(f, "\nreadings from {}", self.window)?;
        for failure in &self.failed {
            write!(f, "\nfailed: {}", Chain(&failure.error))?;
        }
        for (family, credit) in &self.credits {
            write!(
                f,
                "\ndata {}, licence {}",
                credit.attribution, credit.licence
            )?;
            if *family != Family::Weather {
                write!(f, " ({family})")?;
            }
        }
        Ok(())
    }
}

/// What happened to one dataset.
enum Outcome {
    Downloaded(FetchedFile),
    Skipped(SkippedDataset),
}

/// Everything one export's download needs, owned so that it can run in a task.
struct Job {
    dataset: Dataset,
    url: Url,
    recorded: Option<ManifestEntry>,
}

/// One download of the pool: a portal export, or Hub'Eau's pages.
enum Task {
    Export(Job),
    Paged(hubeau::PagedJob, Option<ManifestEntry>),
}

/// Downloads the datasets of `data/datasets.toml` into `options.data_dir` (see the module
/// docs). Returns the summary, including the datasets that failed, which the caller should
/// report and turn into a non-zero exit ([`FetchSummary::is_complete`]). Returns an error when
/// nothing sensible can go on: a host is unreachable, the station catalogue or a polygon layer
/// failed, the data directory cannot be written, or the options are wrong.
pub async fn fetch(options: &FetchOptions) -> Result<FetchSummary, FetchError> {
    let catalogue = Catalogue::embedded().map_err(FetchError::Catalogue)?;
    let window = DateWindow::resolve(options.from, options.to, Date::today())?;
    let selection = select(&catalogue, options.datasets.as_deref(), &options.families)?;
    let base = parse_base_url(&options.base_url)?;
    let river = catalogue.river.as_ref();
    let hubeau_text = options
        .hubeau_url
        .clone()
        .or_else(|| river.map(|r| r.base_url.clone()))
        .unwrap_or_default();
    let hubeau_base = if selection.river.is_empty() {
        None
    } else {
        Some(parse_base_url(&hubeau_text)?)
    };

    let data_dir = options.data_dir.clone();
    create_dir(&data_dir).await?;
    let mut manifest = match Manifest::load(&data_dir) {
        Ok(manifest) => manifest,
        Err(error) => {
            warn!(error = %Chain(&error), "ignoring the manifest: every file will be downloaded again");
            Manifest::default()
        }
    };

    let client = reqwest::Client::builder()
        .user_agent(concat!(
            "garonne/",
            env!("CARGO_PKG_VERSION"),
            " (garonne data fetch)"
        ))
        .connect_timeout(options.connect_timeout)
        .read_timeout(options.read_timeout)
        .build()
        .map_err(FetchError::Client)?;
    let ctx = Arc::new(Context {
        client: client.clone(),
        data_dir: data_dir.clone(),
        host: host_of(&base),
        attempts: options.attempts.max(1),
        retry_delay: options.retry_delay,
    });
    let hubeau_ctx = Arc::new(Context {
        client,
        data_dir: data_dir.clone(),
        host: hubeau_base.as_ref().map(host_of).unwrap_or_default(),
        attempts: options.attempts.max(1),
        retry_delay: options.retry_delay,
    });
    let bars = Arc::new(Bars::new(options.progress));

    let mut jobs = Vec::with_capacity(selection.exports.len());
    for dataset in &selection.exports {
        let url = dataset.export_url(base.as_str(), window);
        let url = Url::parse(&url).map_err(|_| FetchError::BaseUrl {
            url: options.base_url.clone(),
        })?;
        if let Some(parent) = data_dir.join(&dataset.file).parent() {
            create_dir(parent).await?;
        }
        let recorded = manifest.entry(&dataset.id).cloned();
        jobs.push(Job {
            dataset: (*dataset).clone(),
            url,
            recorded,
        });
    }
    let fatal_ids: Vec<&str> = catalogue
        .datasets
        .iter()
        .filter(|d| !d.readings)
        .map(|d| d.id.as_str())
        .collect();
    let (fatal, others): (Vec<Job>, Vec<Job>) = jobs
        .into_iter()
        .partition(|j| fatal_ids.contains(&j.dataset.id.as_str()));
    let mut pool: Vec<Task> = others.into_iter().map(Task::Export).collect();
    if let (Some(river), Some(hubeau_base)) = (river, &hubeau_base) {
        for which in &selection.river {
            let job = match *which {
                RiverPart::Stations => hubeau::stations_job(river, hubeau_base)?,
                RiverPart::Heights => hubeau::heights_job(river, hubeau_base, window)?,
            };
            if let Some(parent) = data_dir.join(&job.file).parent() {
                create_dir(parent).await?;
            }
            let recorded = manifest.entry(&job.id).cloned();
            pool.push(Task::Paged(job, recorded));
        }
    }
    info!(
        datasets = fatal.len() + pool.len(),
        %window,
        data_dir = %data_dir.display(),
        "fetching open data"
    );

    let mut summary = FetchSummary {
        data_dir: data_dir.clone(),
        window,
        downloaded: Vec::new(),
        skipped: Vec::new(),
        failed: Vec::new(),
        credits: selection
            .families
            .iter()
            .filter_map(|f| catalogue.credit(*f).map(|c| (*f, c)))
            .collect(),
    };

    // The station catalogue and the polygons first, one by one: any failure is fatal.
    for job in fatal {
        let outcome = run_job(&ctx, &bars, job, options.force).await?;
        record(&mut summary, &mut manifest, &data_dir, outcome).await?;
    }

    // Then the rest, a few at a time; a failure is reported, an unreachable host is fatal.
    // Design: dropping the JoinSet on an early return aborts the downloads still running;
    // their partial files stay and resume next time.
    let mut pending = pool.into_iter();
    let mut running = JoinSet::new();
    let concurrency = options.concurrency.max(1);
    loop {
        while running.len() < concurrency {
            let Some(task) = pending.next() else { break };
            let (bars, force) = (Arc::clone(&bars), options.force);
            match task {
                Task::Export(job) => {
                    let ctx = Arc::clone(&ctx);
                    let id = job.dataset.id.clone();
                    running.spawn(async move { (id, run_job(&ctx, &bars, job, force).await) });
                }
                Task::Paged(job, recorded) => {
                    let ctx = Arc::clone(&hubeau_ctx);
                    let id = job.id.clone();
                    running.spawn(async move {
                        (id, run_paged(&ctx, &bars, job, recorded, force).await)
                    });
                }
            }
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        match joined.map_err(FetchError::Task)? {
            (_, Ok(outcome)) => record(&mut summary, &mut manifest, &data_dir, outcome).await?,
            (_, Err(error @ (FetchError::Unreachable { .. } | FetchError::Io { .. }))) => {
                return Err(error);
            }
            (id, Err(error)) => {
                warn!(dataset = %id, error = %Chain(&error), "dataset not downloaded");
                summary.failed.push(FailedDataset { id, error });
            }
        }
    }
    summary.failed.sort_by(|a, b| a.id.cmp(&b.id));
    info!(
        downloaded = summary.downloaded.len(),
        skipped = summary.skipped.len(),
        failed = summary.failed.len(),
        "open data fetched"
    );
    Ok(summary)
}

/// `host` or `host:port` of a base URL, for the "cannot reach" line.
fn host_of(url: &Url) -> String {
    match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    }
}

/// One of the river family's two datasets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RiverPart {
    Stations,
    Heights,
}

/// What a run downloads.
#[derive(Debug)]
struct Selection<'c> {
    /// The portal's exports (weather, bikes), in catalogue order.
    exports: Vec<&'c Dataset>,
    /// The river's datasets asked for.
    river: Vec<RiverPart>,
    /// The families concerned, in [`Family::ALL`] order.
    families: Vec<Family>,
}

/// The datasets asked for, in catalogue order: the ids given (any family), else every
/// dataset of `families`.
fn select<'c>(
    catalogue: &'c Catalogue,
    ids: Option<&[String]>,
    families: &[Family],
) -> Result<Selection<'c>, FetchError> {
    if let Some(unknown) = ids
        .unwrap_or_default()
        .iter()
        .find(|id| catalogue.family_of(id).is_none())
    {
        return Err(FetchError::UnknownDataset {
            id: unknown.clone(),
        });
    }
    let wanted = |family: Family, id: &str| match ids {
        Some(ids) => ids.iter().any(|i| i == id),
        None => families.contains(&family),
    };
    let mut exports: Vec<&Dataset> = catalogue
        .datasets
        .iter()
        .filter(|d| wanted(Family::Weather, &d.id))
        .collect();
    if let Some(bikes) = &catalogue.bikes {
        exports.extend(
            bikes
                .datasets
                .iter()
                .filter(|d| wanted(Family::Bikes, &d.id)),
        );
    }
    let mut river = Vec::new();
    if let Some(r) = &catalogue.river {
        if wanted(Family::River, &r.stations.id) {
            river.push(RiverPart::Stations);
        }
        if wanted(Family::River, &r.heights.id) {
            river.push(RiverPart::Heights);
        }
    }
    let families = Family::ALL
        .into_iter()
        .filter(|f| match ids {
            Some(ids) => ids.iter().any(|id| catalogue.family_of(id) == Some(*f)),
            None => families.contains(f),
        })
        .collect();
    Ok(Selection {
        exports,
        river,
        families,
    })
}

fn parse_base_url(text: &str) -> Result<Url, FetchError> {
    let error = || FetchError::BaseUrl {
        url: text.to_owned(),
    };
    let url = Url::parse(text.trim_end_matches('/')).map_err(|_| error())?;
    let ok = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some_and(|h| !h.is_empty())
        && url.query().is_none()
        && url.fragment().is_none();
    if ok { Ok(url) } else { Err(error()) }
}

async fn create_dir(path: &Path) -> Result<(), FetchError> {
    tokio::fs::create_dir_all(path)
        .await
        .map_err(|source| FetchError::io("create directory", path, source))
}

/// The dataset's entry when its file is still the one recorded for `url`: skip it.
async fn unchanged(
    ctx: &Context,
    id: &str,
    file: &str,
    url: &Url,
    recorded: Option<ManifestEntry>,
) -> Result<Option<SkippedDataset>, FetchError> {
    let Some(entry) = recorded.filter(|e| e.url == url.as_str() && e.file == file) else {
        return Ok(None);
    };
    let path = ctx.data_dir.join(file);
    let data_dir = ctx.data_dir.clone();
    let check = entry.clone();
    let same = tokio::task::spawn_blocking(move || check.matches_file(&data_dir))
        .await
        .map_err(FetchError::Task)?
        .map_err(|source| FetchError::io("read", &path, source))?;
    Ok(same.then(|| SkippedDataset {
        id: id.to_owned(),
        file: file.to_owned(),
        bytes: entry.bytes,
    }))
}

/// Removes a dataset's partial download (`--force`).
async fn drop_partial(path: &Path) -> Result<(), FetchError> {
    download::remove_partial(
        &with_suffix(path, ".part"),
        &with_suffix(path, ".part.meta"),
    )
    .await
}

/// The outcome of a download attempt, with its line under the progress bars.
fn finished(
    bar: &progress::Bar,
    id: String,
    file: String,
    url: &Url,
    result: Result<Downloaded, FetchError>,
) -> Result<Outcome, FetchError> {
    match result {
        Ok(Downloaded {
            bytes,
            sha256,
            resumed_from,
        }) => {
            bar.done(bytes);
            debug!(dataset = %id, bytes, resumed_from, "downloaded");
            Ok(Outcome::Downloaded(FetchedFile {
                id,
                file,
                url: url.to_string(),
                bytes,
                sha256,
                resumed_from,
            }))
        }
        Err(error) => {
            bar.failed(&error.to_string());
            Err(error)
        }
    }
}

/// Skips or downloads one export.
async fn run_job(ctx: &Context, bars: &Bars, job: Job, force: bool) -> Result<Outcome, FetchError> {
    let Job {
        dataset,
        url,
        recorded,
    } = job;
    let path = ctx.data_dir.join(&dataset.file);
    if force {
        drop_partial(&path).await?;
    } else if let Some(skipped) = unchanged(ctx, &dataset.id, &dataset.file, &url, recorded).await?
    {
        debug!(dataset = %dataset.id, "up to date, skipped");
        return Ok(Outcome::Skipped(skipped));
    }
    let bar = bars.bar(&dataset.id);
    let result = download::download(ctx, &dataset.id, &url, &path, &bar).await;
    finished(&bar, dataset.id, dataset.file, &url, result)
}

/// Skips or downloads one of Hub'Eau's paged datasets.
async fn run_paged(
    ctx: &Context,
    bars: &Bars,
    job: hubeau::PagedJob,
    recorded: Option<ManifestEntry>,
    force: bool,
) -> Result<Outcome, FetchError> {
    let path = ctx.data_dir.join(&job.file);
    if force {
        drop_partial(&path).await?;
    } else if let Some(skipped) =
        unchanged(ctx, &job.id, &job.file, &job.identity, recorded).await?
    {
        debug!(dataset = %job.id, "up to date, skipped");
        return Ok(Outcome::Skipped(skipped));
    }
    let bar = bars.bar(&job.id);
    let result = hubeau::download_pages(ctx, &job, &path, &bar).await;
    finished(&bar, job.id, job.file, &job.identity, result)
}

/// Adds an outcome to the summary and, for a download, to the manifest on disk.
async fn record(
    summary: &mut FetchSummary,
    manifest: &mut Manifest,
    data_dir: &Path,
    outcome: Outcome,
) -> Result<(), FetchError> {
    match outcome {
        Outcome::Skipped(skipped) => summary.skipped.push(skipped),
        Outcome::Downloaded(file) => {
            manifest.upsert(ManifestEntry {
                id: file.id.clone(),
                url: file.url.clone(),
                file: file.file.clone(),
                bytes: file.bytes,
                sha256: file.sha256.clone(),
                fetched_at: now(),
            });
            let snapshot = manifest.clone();
            let dir = data_dir.to_owned();
            tokio::task::spawn_blocking(move || snapshot.save(&dir))
                .await
                .map_err(FetchError::Task)?
                .map_err(|source| FetchError::io("write", &data_dir.join(MANIFEST_FILE), source))?;
            summary.downloaded.push(file);
        }
    }
    Ok(())
}

/// Now, to the second.
fn now() -> Timestamp {
    let t = Timestamp::now();
    Timestamp::new(t.unix_secs(), 0).unwrap_or(t)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked() {
        assert_eq!(
            parse_base_url("https://data.toulouse-metropole.fr/")
                .unwrap()
                .as_str(),
            "https://data.toulouse-metropole.fr/"
        );
        assert!(parse_base_url("http://127.0.0.1:8080").is_ok());
        for bad in [
            "",
            "data.toulouse-metropole.fr",
            "ftp://x",
            "http://x/?a=1",
            "file:///tmp",
        ] {
            assert!(
                matches!(parse_base_url(bad), Err(FetchError::BaseUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn selection_keeps_catalogue_order_and_refuses_unknown_ids() {
        let c = Catalogue::embedded().unwrap();
        let ids = vec!["communes".to_owned(), "stations-meteo-en-place".to_owned()];
        let got: Vec<_> = select(&c, Some(&ids), &[])
            .unwrap()
            .exports
            .iter()
            .map(|d| d.id.as_str())
            .collect();
        assert_eq!(got, ["stations-meteo-en-place", "communes"]);
        let err = select(&c, Some(&["nope".to_owned()]), &Family::ALL).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown dataset \"nope\": data/datasets.toml lists no dataset with that id"
        );
        assert_eq!(
            select(&c, None, &[Family::Weather]).unwrap().exports.len(),
            c.datasets.len()
        );
    }

    #[test]
    fn chain_joins_causes_on_one_line() {
        let error = FetchError::io("write", Path::new("/x"), io::Error::other("disk full"));
        assert_eq!(Chain(&error).to_string(), "cannot write /x: disk full");
    }
}
