//! The river family: Hub'Eau's hydrometry API v2, asked page by page, written in the formats
//! `data/fleets/river.toml` reads.
//!
//! Two datasets (`[river]` in `data/datasets.toml`):
//! - the station referential, `GET /api/v2/hydrometrie/referentiel/stations?bbox=…&format=json`,
//!   written as a GeoJSON FeatureCollection (a Point at `longitude_station`,
//!   `latitude_station`; the record's other fields as properties, `code_station` among them);
//! - a daily elaborated quantity of the gauges, `GET /api/v2/hydrometrie/obs_elab?code_entite=…
//!   &grandeur_hydro_elab=HIXnJ&date_debut_obs_elab=…&date_fin_obs_elab=…`, written as the
//!   `;`-separated `date_observation;code_station;hauteur` with heights as `517 [mm]` (Hub'Eau
//!   gives heights in millimetres), the reference copy's format.
//!
//! Hub'Eau answers `{"count": …, "next": URL or null, "data": [records]}`, with status 206 while
//! more pages follow and 200 on the last one (both are taken); the client follows `next` as
//! given, whatever the paging (`page` or `cursor`), but only on the same host. The history is
//! asked in spans of `chunk_days` days so that no request pages past the 20,000 records
//! Hub'Eau lets a request reach. These shapes are from Hub'Eau's documentation and public
//! clients; no live answer could be read while writing this, so a changed shape is reported
//! as [`FetchError::BadResponse`] naming the URL and what was missing, never written.
//!
//! Resuming: the converted rows go to `FILE.part` page by page, and `FILE.part.meta` records
//! after each page which span and which `next` page come next and how long `FILE.part` was
//! then. An interrupted run (a broken page after its retries, a killed process) resumes at
//! that page, next attempt or next run, as long as the dataset's whole-history URL (kept in
//! the manifest) is the same. The file appears, with its header, only once every page is in.

use std::io;
use std::path::{Path, PathBuf};

use garonne_payload::report::Chain;
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::fs::{self, OpenOptions};
use tokio::io::AsyncWriteExt;
use tracing::{debug, warn};

use super::FetchError;
use super::catalogue::{HubeauFamily, encode_query_value};
use super::date::{Date, DateWindow};
use super::download::{
    Context, Downloaded, MAX_RETRY_DELAY, is_transient, remove_partial, with_suffix,
};
use super::manifest::sha256_file;
use super::progress::Bar;

/// Where the hydrometry endpoints live, below the API's base URL.
const HYDROMETRY_PATH: &str = "/api/v2/hydrometrie";

/// The most pages one span may take: a `next` chain longer than this is a server loop.
const MAX_PAGES_PER_SPAN: usize = 10_000;

/// The header of the heights file, as in the reference copy.
pub const HEIGHTS_HEADER: &str = "date_observation;code_station;hauteur";

/// What a dataset's pages become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Output {
    /// A GeoJSON FeatureCollection of the station records.
    StationsGeojson,
    /// `date_observation;code_station;hauteur` rows.
    HeightsCsv,
}

/// One paged dataset: the requests that start each span, and where the rows go.
#[derive(Debug, Clone)]
pub(crate) struct PagedJob {
    /// The dataset id.
    pub id: String,
    /// The file, relative to the data directory.
    pub file: String,
    /// The whole dataset as one URL: what the manifest records and a resume must match.
    pub identity: Url,
    /// The first page of each span, in order.
    pub spans: Vec<Url>,
    /// What the pages become.
    pub output: Output,
}

/// The station referential in the family's box.
pub(crate) fn stations_job(river: &HubeauFamily, base: &Url) -> Result<PagedJob, FetchError> {
    let [a, b, c, d] = river.stations.bbox;
    let query = format!(
        "bbox={}&format=json&size={}",
        encode_query_value(&format!("{a},{b},{c},{d}")),
        river.page_size
    );
    let url = endpoint(base, "referentiel/stations", &query)?;
    Ok(PagedJob {
        id: river.stations.id.clone(),
        file: river.stations.file.clone(),
        identity: url.clone(),
        spans: vec![url],
        output: Output::StationsGeojson,
    })
}

/// The gauges' daily values from the history's first day to `window.to` (excluded), in spans.
pub(crate) fn heights_job(
    river: &HubeauFamily,
    base: &Url,
    window: DateWindow,
) -> Result<PagedJob, FetchError> {
    let from = river.history_from().map_err(FetchError::Catalogue)?;
    let query = |first: Date, end: Date| {
        format!(
            "code_entite={}&grandeur_hydro_elab={}&date_debut_obs_elab={first}&date_fin_obs_elab={}&size={}",
            encode_query_value(&river.gauges.join(",")),
            encode_query_value(&river.heights.grandeur),
            end.add_days(-1),
            river.page_size
        )
    };
    let identity = endpoint(base, "obs_elab", &query(from, window.to))?;
    let mut spans = Vec::new();
    let mut first = from;
    while first < window.to {
        let end = first.add_days(i64::from(river.chunk_days)).min(window.to);
        spans.push(endpoint(base, "obs_elab", &query(first, end))?);
        first = end;
    }
    Ok(PagedJob {
        id: river.heights.id.clone(),
        file: river.heights.file.clone(),
        identity,
        spans,
        output: Output::HeightsCsv,
    })
}

fn endpoint(base: &Url, path: &str, query: &str) -> Result<Url, FetchError> {
    let text = format!(
        "{}{HYDROMETRY_PATH}/{path}?{query}",
        base.as_str().trim_end_matches('/')
    );
    Url::parse(&text).map_err(|_| FetchError::BaseUrl {
        url: base.to_string(),
    })
}

/// Where a paged download stands, kept next to `FILE.part` as `FILE.part.meta`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct PagedState {
    /// [`PagedJob::identity`].
    identity: String,
    /// The span in progress.
    span: usize,
    /// The next page of that span; `None`: its first page.
    next: Option<String>,
    /// The length of `FILE.part` after the last complete page.
    bytes: u64,
    /// Pages done so far, all spans.
    pages: u64,
}

/// One page as Hub'Eau sends it.
#[derive(Debug, Deserialize)]
struct Page {
    #[serde(default)]
    next: Option<String>,
    data: Vec<Map<String, Value>>,
}

/// Downloads every page of `job` into `path` (see the module docs); returns the bytes of the
/// written file and how many bytes of converted rows were kept from an earlier run.
pub(crate) async fn download_pages(
    ctx: &Context,
    job: &PagedJob,
    path: &Path,
    bar: &Bar,
) -> Result<Downloaded, FetchError> {
    let part = with_suffix(path, ".part");
    let meta = with_suffix(path, ".part.meta");
    let mut state = resume_state(job, &part, &meta).await?;
    let resumed_from = state.bytes;
    if state.pages > 0 {
        debug!(dataset = %job.id, pages = state.pages, "resuming paged download");
    }
    let mut file = OpenOptions::new()
        .append(true)
        .open(&part)
        .await
        .map_err(|source| FetchError::io("write", &part, source))?;
    bar.start(0, None);

    while let Some(first) = job.spans.get(state.span) {
        let url = match &state.next {
            Some(next) => {
                Url::parse(next).map_err(|_| bad(job, first, "a next link that is not a URL"))?
            }
            None => first.clone(),
        };
        let page = get_page(ctx, job, &url, bar).await?;
        let lines = convert(job, &url, &page.data)?;
        file.write_all(lines.as_bytes())
            .await
            .map_err(|source| FetchError::io("write", &part, source))?;
        file.flush()
            .await
            .map_err(|source| FetchError::io("write", &part, source))?;
        state.bytes += lines.len() as u64;
        state.pages += 1;
        state.next = match page.next.filter(|n| !n.is_empty()) {
            Some(next) => Some(checked_next(job, &url, &next, state.pages)?),
            None => None,
        };
        if state.next.is_none() {
            state.span += 1;
        }
        write_state(&meta, &state).await?;
    }
    file.sync_all()
        .await
        .map_err(|source| FetchError::io("write", &part, source))?;
    drop(file);

    finish(job.output, &part, path).await?;
    remove_partial(&part, &meta).await?;
    let hash_path = path.to_owned();
    let (bytes, sha256) = tokio::task::spawn_blocking(move || sha256_file(&hash_path))
        .await
        .map_err(FetchError::Task)?
        .map_err(|source| FetchError::io("read", path, source))?;
    Ok(Downloaded {
        bytes,
        sha256,
        resumed_from,
    })
}

/// The state to go on from: the recorded one when it is this dataset's (the partial file cut
/// back to its last complete page), else a fresh start with an empty partial file.
async fn resume_state(job: &PagedJob, part: &Path, meta: &Path) -> Result<PagedState, FetchError> {
    let recorded: Option<PagedState> = match fs::read(meta).await {
        Ok(text) => serde_json::from_slice(&text).ok(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(source) => return Err(FetchError::io("read", meta, source)),
    };
    let size = match fs::metadata(part).await {
        Ok(m) => Some(m.len()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(source) => return Err(FetchError::io("read", part, source)),
    };
    if let (Some(state), Some(size)) = (recorded, size)
        && state.identity == job.identity.as_str()
        && state.bytes <= size
    {
        let file = OpenOptions::new()
            .write(true)
            .open(part)
            .await
            .map_err(|source| FetchError::io("write", part, source))?;
        file.set_len(state.bytes)
            .await
            .map_err(|source| FetchError::io("write", part, source))?;
        return Ok(state);
    }
    remove_partial(part, meta).await?;
    fs::write(part, b"")
        .await
        .map_err(|source| FetchError::io("write", part, source))?;
    let state = PagedState {
        identity: job.identity.to_string(),
        span: 0,
        next: None,
        bytes: 0,
        pages: 0,
    };
    write_state(meta, &state).await?;
    Ok(state)
}

async fn write_state(meta: &Path, state: &PagedState) -> Result<(), FetchError> {
    let text = serde_json::to_vec(state)
        .map_err(|e| FetchError::io("write", meta, io::Error::other(e)))?;
    let tmp = with_suffix(meta, ".tmp");
    fs::write(&tmp, text)
        .await
        .map_err(|source| FetchError::io("write", &tmp, source))?;
    fs::rename(&tmp, meta)
        .await
        .map_err(|source| FetchError::io("write", meta, source))
}

/// A `next` link to follow: on the page's own origin, and not the page itself.
fn checked_next(job: &PagedJob, url: &Url, next: &str, pages: u64) -> Result<String, FetchError> {
    let parsed = Url::parse(next).map_err(|_| bad(job, url, "a next link that is not a URL"))?;
    if parsed.origin() != url.origin() {
        return Err(bad(job, url, "a next link to another host"));
    }
    if parsed == *url || pages > (MAX_PAGES_PER_SPAN as u64) * (job.spans.len() as u64) {
        return Err(bad(job, url, "next links that never end"));
    }
    Ok(parsed.to_string())
}

/// One page, retried as the exports are (broken transfers, 429, 502-504).
async fn get_page(ctx: &Context, job: &PagedJob, url: &Url, bar: &Bar) -> Result<Page, FetchError> {
    let mut attempt = 1;
    let mut delay = ctx.retry_delay;
    loop {
        let error = match get_page_once(ctx, job, url).await {
            Ok((page, len)) => {
                bar.advance(len);
                return Ok(page);
            }
            Err((error, true)) if attempt < ctx.attempts => error,
            Err((error, _)) => return Err(error),
        };
        warn!(
            dataset = %job.id,
            attempt,
            error = %Chain(&error),
            "page interrupted, retrying in {delay:?}"
        );
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_RETRY_DELAY);
        attempt += 1;
    }
}

/// One request for one page; the error says whether another attempt may help.
async fn get_page_once(
    ctx: &Context,
    job: &PagedJob,
    url: &Url,
) -> Result<(Page, u64), (FetchError, bool)> {
    let transfer = |source: reqwest::Error| FetchError::Transfer {
        id: job.id.clone(),
        url: url.to_string(),
        source: source.without_url(),
    };
    let response = match ctx.client.get(url.clone()).send().await {
        Ok(response) => response,
        Err(source) if source.is_connect() => {
            return Err((
                FetchError::Unreachable {
                    host: ctx.host.clone(),
                    data_dir: ctx.data_dir.clone(),
                    source: source.without_url(),
                },
                false,
            ));
        }
        Err(source) => return Err((transfer(source), true)),
    };
    let status = response.status();
    if !matches!(status, StatusCode::OK | StatusCode::PARTIAL_CONTENT) {
        let error = FetchError::Status {
            id: job.id.clone(),
            url: url.to_string(),
            status,
        };
        return Err((error, is_transient(status)));
    }
    let body = response.bytes().await.map_err(|e| (transfer(e), true))?;
    let page: Page = serde_json::from_slice(&body).map_err(|e| {
        let why = format!("not Hub'Eau's JSON ({e})");
        (bad(job, url, &why), false)
    })?;
    Ok((page, body.len() as u64))
}

fn bad(job: &PagedJob, url: &Url, why: &str) -> FetchError {
    FetchError::BadResponse {
        id: job.id.clone(),
        url: url.to_string(),
        why: why.to_owned(),
    }
}

/// A page's records as lines of the partial file: a GeoJSON Feature per line, or CSV rows.
fn convert(
    job: &PagedJob,
    url: &Url,
    records: &[Map<String, Value>],
) -> Result<String, FetchError> {
    let mut out = String::new();
    for (i, record) in records.iter().enumerate() {
        let line = match job.output {
            Output::StationsGeojson => feature(record),
            Output::HeightsCsv => height_row(record)
                .map_err(|why| bad(job, url, &format!("record {} of the page: {why}", i + 1)))?,
        };
        out.push_str(&line);
        out.push('\n');
    }
    Ok(out)
}

/// A station record as one GeoJSON Feature (no geometry without both coordinates).
fn feature(record: &Map<String, Value>) -> String {
    let coordinate = |key: &str| record.get(key).and_then(Value::as_f64);
    let geometry = match (
        coordinate("longitude_station"),
        coordinate("latitude_station"),
    ) {
        (Some(lon), Some(lat)) => serde_json::json!({"type": "Point", "coordinates": [lon, lat]}),
        _ => Value::Null,
    };
    let mut properties = record.clone();
    properties.remove("geometry");
    serde_json::json!({"type": "Feature", "properties": properties, "geometry": geometry})
        .to_string()
}

/// An `obs_elab` record as `date;code;value [mm]`; an empty value when Hub'Eau gives none
/// (the fleet loader counts such rows).
fn height_row(record: &Map<String, Value>) -> Result<String, String> {
    let code = record
        .get("code_station")
        .or_else(|| record.get("code_entite"))
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_alphanumeric()))
        .ok_or("no code_station")?;
    let date = record
        .get("date_obs_elab")
        .and_then(Value::as_str)
        .and_then(|d| d.get(..10))
        .filter(|d| d.parse::<Date>().is_ok())
        .ok_or("no date_obs_elab of the form YYYY-MM-DD")?;
    let value = match record.get("resultat_obs_elab") {
        None | Some(Value::Null) => String::new(),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(v) if v.fract() == 0.0 => format!("{v:.0} [mm]"),
            Some(v) => format!("{v} [mm]"),
            None => return Err("a resultat_obs_elab that is not a number".into()),
        },
        Some(_) => return Err("a resultat_obs_elab that is not a number".into()),
    };
    Ok(format!("{date};{code};{value}"))
}

/// Writes the final file from the partial one: the header, then the lines.
async fn finish(output: Output, part: &Path, path: &Path) -> Result<(), FetchError> {
    let body = fs::read_to_string(part)
        .await
        .map_err(|source| FetchError::io("read", part, source))?;
    let text = match output {
        Output::HeightsCsv => format!("{HEIGHTS_HEADER}\n{body}"),
        Output::StationsGeojson => {
            let features: Vec<&str> = body.lines().collect();
            format!(
                "{{\"type\": \"FeatureCollection\", \"features\": [\n{}\n]}}\n",
                features.join(",\n")
            )
        }
    };
    let tmp: PathBuf = with_suffix(path, ".tmp");
    fs::write(&tmp, text)
        .await
        .map_err(|source| FetchError::io("write", &tmp, source))?;
    fs::rename(&tmp, path)
        .await
        .map_err(|source| FetchError::io("rename into place", &tmp, source))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::fetch::Catalogue;

    fn record(text: &str) -> Map<String, Value> {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn heights_are_written_as_the_reference_copy_writes_them() {
        let row = |t| height_row(&record(t));
        assert_eq!(
            row(
                r#"{"code_station":"O200004001","date_obs_elab":"2023-01-01","resultat_obs_elab":517.0}"#
            ),
            Ok("2023-01-01;O200004001;517 [mm]".to_owned())
        );
        assert_eq!(
            row(
                r#"{"code_station":"O200004001","date_obs_elab":"2023-01-01T00:00:00Z","resultat_obs_elab":517.5}"#
            ),
            Ok("2023-01-01;O200004001;517.5 [mm]".to_owned())
        );
        assert_eq!(
            row(
                r#"{"code_station":"O200004001","date_obs_elab":"2023-01-01","resultat_obs_elab":null}"#
            ),
            Ok("2023-01-01;O200004001;".to_owned())
        );
        assert!(row(r#"{"date_obs_elab":"2023-01-01","resultat_obs_elab":1}"#).is_err());
        assert!(row(r#"{"code_station":"O2","date_obs_elab":"01/01/2023"}"#).is_err());
        assert!(
            row(r#"{"code_station":"O2","date_obs_elab":"2023-01-01","resultat_obs_elab":"1"}"#)
                .is_err()
        );
    }

    #[test]
    fn a_station_is_a_point_with_its_fields() {
        let f: Value = serde_json::from_str(&feature(&record(
            r#"{"code_station":"O200004001","longitude_station":1.44,"latitude_station":43.6,"geometry":{"x":1}}"#,
        )))
        .unwrap();
        assert_eq!(
            f["geometry"]["coordinates"],
            serde_json::json!([1.44, 43.6])
        );
        assert_eq!(f["properties"]["code_station"], "O200004001");
        assert!(f["properties"].get("geometry").is_none());
        let f: Value = serde_json::from_str(&feature(&record(r#"{"code_station":"X"}"#))).unwrap();
        assert!(f["geometry"].is_null());
    }

    #[test]
    fn the_history_is_asked_in_spans_that_end_before_to() {
        let river = Catalogue::embedded().unwrap().river.unwrap();
        let base = Url::parse("https://hubeau.eaufrance.fr").unwrap();
        let window =
            DateWindow::new("2025-11-24".parse().unwrap(), "2025-11-26".parse().unwrap()).unwrap();
        let job = heights_job(&river, &base, window).unwrap();
        assert_eq!(
            job.identity.as_str(),
            "https://hubeau.eaufrance.fr/api/v2/hydrometrie/obs_elab?code_entite=O200004001%2CO200008001\
             &grandeur_hydro_elab=HIXnJ&date_debut_obs_elab=1946-01-01&date_fin_obs_elab=2025-11-25&size=5000"
        );
        assert_eq!(job.spans.len(), 4);
        assert!(
            job.spans[0]
                .as_str()
                .contains("date_debut_obs_elab=1946-01-01&date_fin_obs_elab=1965-12-31&")
        );
        assert!(
            job.spans[1]
                .as_str()
                .contains("date_debut_obs_elab=1966-01-01&")
        );
        assert!(
            job.spans[3]
                .as_str()
                .contains("&date_fin_obs_elab=2025-11-25&")
        );
        let stations = stations_job(&river, &base).unwrap();
        assert_eq!(
            stations.identity.as_str(),
            "https://hubeau.eaufrance.fr/api/v2/hydrometrie/referentiel/stations?bbox=1.2%2C43.4%2C1.7%2C43.8&format=json&size=5000"
        );
    }
}
