//! `GET /api/export`: stored readings as a CSV or Parquet download (the telemetry page's export
//! button), the same files as `garonne export` ([`garonne_store::export`]).
//!
//! Parameters: those of `/api/readings` (`sensor`, repeatable and required; `quantity`,
//! repeatable; `from`, `to`, RFC 3339) and `format=csv|parquet`. A session is its `from` and
//! `to` (`/api/sessions` gives them; `to` is excluded, so one nanosecond after its end).
//!
//! Design: the body is streamed. The first page is read before answering, so an export with no
//! readings at all is a 404 with a JSON error, not an empty file; then a task reads the next
//! pages and writes them through the format's writer into chunks of [`CHUNK_BYTES`], sent on a
//! channel of [`CHANNEL_CHUNKS`]: a slow client slows the reads down (back-pressure), memory
//! stays at a page and a Parquet row group whatever the range, and a client that goes away
//! stops the task. A store that fails half-way cuts the body (the client sees an incomplete
//! download) and is logged.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use garonne_payload::Timestamp;
use garonne_store::export::{ExportError, ExportWriter, Format, rfc3339_ns};
use garonne_store::history::HistoryError;
use garonne_store::readings::{Cursor, DEFAULT_PAGE, Page, Pages, Readings, Sample, Scan};
use tokio::sync::mpsc;

use crate::app::App;
use crate::error::ApiError;
use crate::history::HistorySource;
use crate::readings::{ReadingsRequest, page, parse_readings};

/// Bytes of the export sent to the client at a time.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// Chunks waiting for the client at most.
const CHANNEL_CHUNKS: usize = 4;

/// An `/api/export` request.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRequest {
    /// What to export.
    pub scan: Scan,
    /// The file format.
    pub format: Format,
}

/// Turns the parameters of `/api/export` into a request; `now` sets the default range (as
/// `/api/readings`: the 10 minutes before `to`).
///
/// # Errors
///
/// [`ApiError`] 400 saying what to change.
pub fn parse_export(
    params: &[(String, String)],
    now: Timestamp,
) -> Result<ExportRequest, ApiError> {
    let mut format = None;
    let mut rest = Vec::with_capacity(params.len());
    for (name, value) in params {
        match name.as_str() {
            "format" if format.is_some() => {
                return Err(ApiError::bad_request("give format once"));
            }
            "format" => {
                format = Some(Format::from_name(value).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "format \"{value}\" is not one: use csv or parquet"
                    ))
                })?);
            }
            "limit" | "after" => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter \"{name}\": an export is every reading of the range; use \
                     sensor, quantity, from, to, format"
                )));
            }
            _ => rest.push((name.clone(), value.clone())),
        }
    }
    let format =
        format.ok_or_else(|| ApiError::bad_request("give format=csv or format=parquet"))?;
    let ReadingsRequest { scan, .. } = parse_readings(&rest, now)?;
    Ok(ExportRequest { scan, format })
}

/// `GET /api/export`: the readings of the range as a file download (see the module doc).
pub async fn export(
    State(app): State<Arc<App>>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let params = crate::api::query_params(params)?;
    let request = parse_export(&params, crate::api::now())?;
    let source = Source(app.history());
    let mut pages = Pages::new(&source, request.scan.clone(), DEFAULT_PAGE);
    let first = match pages.next().await {
        Some(Ok(samples)) => samples,
        Some(Err(HistoryError::Invalid(message))) => return Err(ApiError::bad_request(message)),
        Some(Err(HistoryError::Unavailable(message))) => {
            return Err(ApiError::unavailable(format!(
                "readings are not available: {message}"
            )));
        }
        None => {
            return Err(ApiError::not_found(format!(
                "no stored readings of {} from {} to {}: check the sensor ids (/api/sensors), \
                 the quantity names and the range (/api/sessions)",
                request.scan.sensors.join(", "),
                request.scan.from,
                request.scan.to
            )));
        }
    };
    let filename = filename(&request);
    let after = pages.position().cloned();
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    let format = request.format;
    tokio::spawn(async move {
        if let Err(error) = stream(&app, request, first, after, &tx).await {
            tracing::warn!(error = %garonne_payload::report::Chain(&error), "export cut short");
            let _ = tx.send(Err(std::io::Error::other(error))).await;
        }
    });
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// The download's file name: `garonne-SENSOR-FROM.EXT` (the first sensor; times without `:`).
fn filename(request: &ExportRequest) -> String {
    let sensor = request
        .scan
        .sensors
        .first()
        .map_or("readings", String::as_str);
    let from = i64::try_from(request.scan.from.unix_nanos()).unwrap_or_default();
    let from: String = rfc3339_ns(from)
        .chars()
        .take(19)
        .map(|c| if c == ':' { '-' } else { c })
        .collect();
    format!("garonne-{sensor}-{from}.{}", request.format.extension())
}

/// Writes `first` and the pages after `after` through the format's writer, sending the bytes
/// on `tx` a chunk at a time; returns early, without error, when the client is gone.
async fn stream(
    app: &App,
    request: ExportRequest,
    first: Vec<Sample>,
    after: Option<Cursor>,
    tx: &mpsc::Sender<std::io::Result<Bytes>>,
) -> Result<(), ExportError> {
    let buffer = Shared::default();
    let mut writer = ExportWriter::new(request.format, buffer.clone())?;
    for sample in &first {
        writer.write(sample)?;
    }
    let source = Source(app.history());
    let mut pages = Pages::new(&source, request.scan, DEFAULT_PAGE);
    if let Some(cursor) = after {
        pages = pages.resume(cursor);
    }
    loop {
        if !buffer.send(tx, CHUNK_BYTES).await {
            return Ok(());
        }
        let Some(page) = pages.next().await else {
            break;
        };
        for sample in page.map_err(ExportError::Store)? {
            writer.write(&sample)?;
        }
    }
    writer.finish()?;
    buffer.send(tx, 1).await;
    Ok(())
}

/// The history store as raw readings, for [`Pages`].
struct Source<'a>(&'a HistorySource);

impl Readings for Source<'_> {
    async fn page(
        &self,
        scan: &Scan,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page, HistoryError> {
        let request = ReadingsRequest {
            scan: scan.clone(),
            limit,
            after: after.cloned(),
        };
        page(self.0, &request).await
    }
}

/// The bytes the writer wrote and the client has not had yet.
#[derive(Debug, Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Shared {
    /// Sends what is held, in chunks of `chunk` bytes at least (what is less stays for the
    /// next call; 1: everything); `false` when the client is gone.
    async fn send(&self, tx: &mpsc::Sender<std::io::Result<Bytes>>, chunk: usize) -> bool {
        loop {
            let bytes = {
                let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
                if held.is_empty() || held.len() < chunk {
                    return true;
                }
                Bytes::from(std::mem::take(&mut *held))
            };
            if tx.send(Ok(bytes)).await.is_err() {
                return false;
            }
        }
    }
}

impl Write for Shared {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{Request, StatusCode};
    use garonne_store::point::{Field, Point};
    use garonne_store::{Store, embedded::EmbeddedStore, embedded::Retention};
    use tokio_util::sync::CancellationToken;
    use tower::ServiceExt;

    use super::*;
    use crate::config::Config;

    /// One square neighbourhood: the app needs polygons.
    const SQUARE: &str = r#"{"type":"FeatureCollection","features":[{"type":"Feature",
        "properties":{"code":"a","label":"A"},"geometry":{"type":"Polygon",
        "coordinates":[[[0,0],[1,0],[1,1],[0,1],[0,0]]]}}]}"#;

    /// An app whose history is the embedded store at `path`.
    fn app(path: &std::path::Path) -> Arc<App> {
        let areas = garonne_neighbourhoods::Neighbourhoods::from_slice(
            SQUARE.as_bytes(),
            "square",
            &garonne_neighbourhoods::Properties::new("code", "label"),
        )
        .expect("polygons");
        App::new(
            &Config::default(),
            &areas,
            HistorySource::embedded(path.to_owned()),
            CancellationToken::new(),
        )
    }

    async fn get(app: Arc<App>, uri: &str) -> (StatusCode, String, String) {
        let response = crate::app::router(app)
            .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
            .await
            .expect("answer");
        let status = response.status();
        let disposition = response
            .headers()
            .get(header::CONTENT_DISPOSITION)
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .unwrap_or_default();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (
            status,
            disposition,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    #[tokio::test]
    async fn a_range_longer_than_a_page_downloads_whole_and_an_empty_one_is_404() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("h.sqlite");
        let mut store = EmbeddedStore::open(&path, Retention::default())
            .await
            .expect("store");
        // 6,000 readings of two quantities: 12,000 values, more than a page.
        let t0: i64 = 1_764_000_000_000_000_000;
        let points: Vec<Point> = (0..6000)
            .map(|i| Point {
                measurement: "reading",
                tags: vec![
                    ("sensor", "car-1".to_owned()),
                    ("source", "device".to_owned()),
                ],
                fields: vec![
                    ("temperature", Field::Float(i as f64)),
                    ("motion", Field::Float((i % 2) as f64)),
                ],
                time_ns: t0 + i * 10_000_001,
            })
            .collect();
        store.write(&points).await.expect("written");
        store.close().await.expect("closed");
        let from = rfc3339_ns(t0);
        let to = rfc3339_ns(t0 + 6000 * 10_000_001);
        let (status, disposition, csv) = get(
            app(&path),
            &format!("/api/export?sensor=car-1&from={from}&to={to}&format=csv"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{csv}");
        assert_eq!(
            disposition,
            "attachment; filename=\"garonne-car-1-2025-11-24T16-00-00.csv\""
        );
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 12_001);
        assert_eq!(lines[0], "time,sensor,quantity,value,unit");
        assert_eq!(lines[1], "2025-11-24T16:00:00.000000000Z,car-1,motion,0,");
        assert_eq!(
            lines[12_000],
            format!(
                "{},car-1,temperature,5999,°C",
                rfc3339_ns(t0 + 5999 * 10_000_001)
            )
        );

        let (status, _, error) = get(
            app(&path),
            &format!("/api/export?sensor=car-9&from={from}&to={to}&format=parquet"),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(error.contains("no stored readings of car-9"), "{error}");
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_format_is_required_and_checked() {
        let now = Timestamp::new(1_800_000_000, 0).expect("time");
        let ok = parse_export(&params(&[("sensor", "car-1"), ("format", "parquet")]), now)
            .expect("valid");
        assert_eq!(ok.format, Format::Parquet);
        assert_eq!(ok.scan.sensors, ["car-1"]);
        for (bad, says) in [
            (&[("sensor", "car-1")][..], "give format=csv"),
            (
                &[("sensor", "car-1"), ("format", "xlsx")][..],
                "use csv or parquet",
            ),
            (
                &[("sensor", "car-1"), ("format", "csv"), ("limit", "5")][..],
                "an export is every reading of the range",
            ),
        ] {
            let e = parse_export(&params(bad), now).expect_err("refused");
            assert!(format!("{e:?}").contains(says), "{e:?}");
        }
    }
}
