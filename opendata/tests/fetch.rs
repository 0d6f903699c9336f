//! `garonne data fetch` against a local HTTP/1.1 server that serves the shared reference copies
//! of the Toulouse open-data files under the portal's export URLs.
//!
//! The server is written here on a tokio `TcpListener` (127.0.0.1, port 0) so that each test
//! can make it misbehave the way real servers do: drop a connection mid-body, ignore `Range`,
//! answer 404, never answer, or send no `Content-Length`. Every request is logged (path, query,
//! `Range`) so the tests can check what the client asked. No network beyond 127.0.0.1.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use garonne_opendata::fetch::{
    FetchError, FetchOptions, FetchSummary, Manifest, fetch, manifest::sha256_file,
};
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const STATIONS: &str = "stations-meteo-en-place";
const QUARTIERS: &str = "quartiers-de-democratie-locale";
const GRANDS_QUARTIERS: &str = "recensement-population-2015-grands-quartiers-population";
const COMMUNES: &str = "communes";
const COMPANS: &str = "42-station-meteo-toulouse-parc-compans-cafarelli";

/// Dataset id, export format, shared file, local file: what the server has.
const SERVED: [(&str, &str, &str, &str); 5] = [
    (
        STATIONS,
        "json",
        "stations-meteo-en-place.json",
        "stations-meteo-en-place.json",
    ),
    (
        QUARTIERS,
        "geojson",
        "quartiers-de-democratie-locale.geojson",
        "quartiers-de-democratie-locale.geojson",
    ),
    (
        GRANDS_QUARTIERS,
        "geojson",
        "grands-quartiers-2015-population.geojson",
        "grands-quartiers-2015-population.geojson",
    ),
    (
        COMMUNES,
        "geojson",
        "communes-toulouse-metropole.geojson",
        "communes-toulouse-metropole.geojson",
    ),
    (
        COMPANS,
        "json",
        "station-42-compans-caffarelli-records-2025-11-24.json",
        "readings/42-station-meteo-toulouse-parc-compans-cafarelli.json",
    ),
];

/// The longest any single fetch may take in these tests.
const FETCH_LIMIT: Duration = Duration::from_secs(30);

// ------------------------------------------------------------------------------------------
// The test server.

/// How the server behaves.
#[derive(Debug, Clone)]
struct Behaviour {
    /// Answer `Range: bytes=N-` with 206 (else ignore it and send 200 with everything).
    ranges: bool,
    /// On the first request for this dataset, send the headers for the whole body, then only
    /// this many bytes of it, then close the connection.
    drop_first: Option<(&'static str, usize)>,
    /// Datasets answered with 404 although the server has their file.
    missing: Vec<&'static str>,
    /// Read requests and never answer.
    stall: bool,
    /// Send no Content-Length: the body ends when the connection closes.
    no_length: bool,
}

impl Default for Behaviour {
    fn default() -> Behaviour {
        Behaviour {
            ranges: true,
            drop_first: None,
            missing: Vec::new(),
            stall: false,
            no_length: false,
        }
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Logged {
    dataset: String,
    format: String,
    query: Option<String>,
    range: Option<String>,
    status: u16,
}

struct Server {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Logged>>>,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    async fn start(behaviour: Behaviour) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(State {
            behaviour,
            log: Arc::clone(&log),
            dropped: Mutex::new(false),
        });
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = Arc::clone(&state);
                connections.spawn(async move {
                    // A connection that misbehaves only fails its own request.
                    let _ = serve(stream, &state).await;
                });
            }
        });
        Server { addr, log, task }
    }

    fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> Vec<Logged> {
        self.log.lock().unwrap().clone()
    }

    fn requests_for(&self, dataset: &str) -> Vec<Logged> {
        self.requests()
            .into_iter()
            .filter(|r| r.dataset == dataset)
            .collect()
    }
}

struct State {
    behaviour: Behaviour,
    log: Arc<Mutex<Vec<Logged>>>,
    dropped: Mutex<bool>,
}

/// Reads the request head: the request line and headers, up to 16 KiB, within 5 s.
async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            let n = stream.read(&mut buffer).await.ok()?;
            if n == 0 {
                return None;
            }
            head.extend_from_slice(&buffer[..n]);
        }
        Some(())
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .ok()??;
    String::from_utf8(head).ok()
}

async fn serve(mut stream: TcpStream, state: &State) -> std::io::Result<()> {
    let Some(head) = read_head(&mut stream).await else {
        return Ok(());
    };
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let range = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("range"))
        .map(|(_, value)| value.trim().to_owned());
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query.to_owned())),
        None => (target, None),
    };
    let (dataset, format) = path
        .strip_prefix("/api/explore/v2.1/catalog/datasets/")
        .and_then(|rest| rest.split_once("/exports/"))
        .map(|(d, f)| (d.to_owned(), f.to_owned()))
        .unwrap_or_default();

    let behaviour = &state.behaviour;
    if behaviour.stall {
        log(state, &dataset, &format, &query, &range, 0);
        // Never answer; the client's read timeout must end this. (Bounded all the same.)
        tokio::time::sleep(Duration::from_secs(60)).await;
        return Ok(());
    }

    let file = SERVED
        .iter()
        .find(|(id, f, _, _)| *id == dataset && *f == format)
        .filter(|(id, ..)| !behaviour.missing.contains(id))
        .map(|(_, _, shared, _)| garonne_testkit::open_data_file(shared));
    let (Some(file), "GET") = (file, method) else {
        log(state, &dataset, &format, &query, &range, 404);
        let body = br#"{"error_code":"NotFound","message":"Unknown dataset"}"#;
        let head = format!(
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        return stream.shutdown().await;
    };

    let bytes = tokio::fs::read(&file).await?;
    let total = bytes.len();
    let offset = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok());
    let (status, body, extra) = match offset {
        Some(offset) if behaviour.ranges && offset < total => (
            206,
            &bytes[offset..],
            format!("Content-Range: bytes {offset}-{}/{total}\r\n", total - 1),
        ),
        Some(_) if behaviour.ranges => (
            416,
            &bytes[..0],
            format!("Content-Range: bytes */{total}\r\n"),
        ),
        _ => (200, &bytes[..], String::new()),
    };
    log(state, &dataset, &format, &query, &range, status);
    let reason = match status {
        200 => "OK",
        206 => "Partial Content",
        _ => "Range Not Satisfiable",
    };
    let length = if behaviour.no_length {
        String::new()
    } else {
        format!("Content-Length: {}\r\n", body.len())
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n{length}{extra}Connection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await?;

    let drop_now = match behaviour.drop_first {
        Some((id, n)) if id == dataset => {
            let mut dropped = state.dropped.lock().unwrap();
            let first = !*dropped;
            *dropped = true;
            first.then_some(n)
        }
        _ => None,
    };
    match drop_now {
        Some(n) => {
            stream.write_all(&body[..n.min(body.len())]).await?;
            stream.flush().await?;
            // Closing with bytes still announced: the client sees the body break off.
        }
        None => stream.write_all(body).await?,
    }
    stream.shutdown().await
}

fn log(
    state: &State,
    dataset: &str,
    format: &str,
    query: &Option<String>,
    range: &Option<String>,
    status: u16,
) {
    state.log.lock().unwrap().push(Logged {
        dataset: dataset.to_owned(),
        format: format.to_owned(),
        query: query.clone(),
        range: range.clone(),
        status,
    });
}

// ------------------------------------------------------------------------------------------
// Helpers.

fn options(server: &Server, data_dir: &Path) -> FetchOptions {
    let mut o = FetchOptions::new(data_dir);
    o.base_url = server.base_url();
    o.from = Some("2025-11-24".parse().unwrap());
    o.to = Some("2025-11-26".parse().unwrap());
    o.progress = false;
    o.connect_timeout = Duration::from_secs(2);
    o.read_timeout = Duration::from_secs(5);
    o.retry_delay = Duration::from_millis(10);
    o
}

/// A portal that behaves as the default [`Behaviour`] changed by `adjust`, an empty data
/// folder, and the options that fetch `datasets` from the one into the other.
async fn portal(
    adjust: impl FnOnce(&mut Behaviour),
    datasets: &[&str],
) -> (Server, TempDir, FetchOptions) {
    let mut behaviour = Behaviour::default();
    adjust(&mut behaviour);
    let server = Server::start(behaviour).await;
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(&server, dir.path());
    o.datasets = only(datasets);
    (server, dir, o)
}

/// The portal's first answer for the Compans readings breaks off after 10,000 bytes.
fn cut_compans(behaviour: &mut Behaviour) {
    behaviour.drop_first = Some((COMPANS, 10_000));
}

/// [`portal`] with [`cut_compans`], fetching the Compans readings in one attempt: the first run
/// fails and leaves a partial file.
async fn compans_cut_once() -> (Server, TempDir, FetchOptions) {
    let (server, dir, mut o) = portal(cut_compans, &[COMPANS]).await;
    o.attempts = 1;
    (server, dir, o)
}

/// Runs a fetch of one dataset that must complete, its download resumed from byte
/// `resumed_from` (0: from the start).
async fn run_whole(options: &FetchOptions, resumed_from: u64) {
    let summary = run(options).await.unwrap();
    assert!(summary.is_complete(), "{summary}");
    assert_eq!(summary.downloaded[0].resumed_from, resumed_from);
}

/// Runs a fetch that must fail, within 5 s; returns why.
async fn run_failing_fast(options: &FetchOptions) -> FetchError {
    let started = Instant::now();
    let error = run(options).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    error
}

fn only(ids: &[&str]) -> Option<Vec<String>> {
    Some(ids.iter().map(|s| (*s).to_owned()).collect())
}

async fn run(options: &FetchOptions) -> Result<FetchSummary, FetchError> {
    tokio::time::timeout(FETCH_LIMIT, fetch(options))
        .await
        .expect("fetch finished in time")
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn shared_bytes(shared_name: &str) -> Vec<u8> {
    std::fs::read(garonne_testkit::open_data_file(shared_name)).unwrap()
}

/// The Compans readings are in `dir` whole, and no partial download is left.
fn assert_compans_whole(dir: &Path) {
    assert_files_identical(dir, &[COMPANS]);
    assert!(partial_files(dir).is_empty());
}

/// Every served file is in `dir`, byte for byte, and in the manifest with its SHA-256.
fn assert_files_identical(dir: &Path, which: &[&str]) {
    let manifest = Manifest::load(dir).unwrap();
    for (id, _, shared, local) in SERVED.iter().filter(|(id, ..)| which.contains(id)) {
        let expected = shared_bytes(shared);
        let got = std::fs::read(dir.join(local)).unwrap();
        assert!(got == expected, "{local} differs from the shared {shared}");
        let entry = manifest.entry(id).unwrap();
        assert_eq!(entry.file, *local);
        assert_eq!(entry.bytes, expected.len() as u64, "{id}");
        assert_eq!(entry.sha256, sha256_hex(&expected), "{id}");
        assert!(
            entry.url.contains(&format!("/datasets/{id}/exports/")),
            "{}",
            entry.url
        );
    }
}

/// Files left under `dir` whose name ends in `.part` or `.part.meta`.
fn partial_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().contains(".part") {
                found.push(path);
            }
        }
    }
    found
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

const ALL_SERVED: [&str; 5] = [STATIONS, QUARTIERS, GRANDS_QUARTIERS, COMMUNES, COMPANS];

// ------------------------------------------------------------------------------------------
// The tests.

#[tokio::test]
async fn full_fetch_writes_identical_files_and_reports_missing_readings() {
    let server = Server::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let summary = run(&options(&server, dir.path())).await.unwrap();

    let downloaded: HashSet<_> = summary.downloaded.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(downloaded, HashSet::from(ALL_SERVED));
    assert_files_identical(dir.path(), &ALL_SERVED);
    for file in &summary.downloaded {
        let (bytes, sha) = sha256_file(&dir.path().join(&file.file)).unwrap();
        assert_eq!((file.bytes, &file.sha256), (bytes, &sha));
        assert_eq!(file.resumed_from, 0);
    }

    // The other 48 station datasets are not on this server: reported, not fatal.
    assert!(!summary.is_complete());
    assert_eq!(summary.failed.len(), 48);
    for failure in &summary.failed {
        assert!(failure.id.contains("-station-meteo-"), "{}", failure.id);
        match &failure.error {
            FetchError::Status { id, url, status } => {
                assert_eq!(id, &failure.id);
                assert_eq!(status.as_u16(), 404);
                assert!(
                    url.contains(&format!("/datasets/{id}/exports/json?where=")),
                    "{url}"
                );
            }
            other => panic!("{}: unexpected error {other:?}", failure.id),
        }
        let text = failure.error.to_string();
        assert!(
            text.starts_with(&format!(
                "dataset {}: the server answered 404 Not Found for http://",
                failure.id
            )),
            "{text}"
        );
    }
    let report = summary.to_string();
    assert!(report.starts_with("5 downloaded ("), "{report}");
    assert!(
        report.contains(", 0 already up to date, 48 failed, in "),
        "{report}"
    );
    assert!(
        report.contains("readings from 2025-11-24 to 2025-11-26 (UTC, 2025-11-26 excluded)"),
        "{report}"
    );
    assert!(
        report.contains("data © Toulouse Métropole, licence ODbL-1.0"),
        "{report}"
    );
    assert_eq!(report.matches("\nfailed: dataset ").count(), 48, "{report}");

    // Every dataset asked exactly once; nothing half-written left behind.
    assert_eq!(server.requests().len(), 53);
    assert!(
        partial_files(dir.path()).is_empty(),
        "{:?}",
        partial_files(dir.path())
    );
    let manifest = Manifest::load(dir.path()).unwrap();
    assert_eq!(manifest.datasets.len(), 5);
}

#[tokio::test]
async fn readings_queries_carry_the_date_window_and_other_exports_none() {
    let datasets = [
        COMMUNES,
        COMPANS,
        "38-station-meteo-toulouse-parc-jardin-des-plantes",
    ];
    let (server, _dir, mut o) = portal(|_| (), &datasets).await;
    o.from = Some("2025-11-20".parse().unwrap());
    o.to = Some("2025-11-25".parse().unwrap());
    let summary = run(&o).await.unwrap();
    assert_eq!(summary.downloaded.len(), 2);

    let communes = server.requests_for(COMMUNES);
    assert_eq!(
        (communes[0].format.as_str(), communes[0].query.as_deref()),
        ("geojson", None)
    );

    let compans = &server.requests_for(COMPANS)[0];
    assert_eq!(compans.format, "json");
    let query = compans.query.as_deref().unwrap();
    assert!(
        !query.contains(' ') && !query.contains('\''),
        "not URL-encoded: {query}"
    );
    assert_eq!(
        query_pairs(query),
        [
            (
                "where".to_owned(),
                "heure_utc >= date'2025-11-20' and heure_utc < date'2025-11-25'".to_owned()
            ),
            ("order_by".to_owned(), "heure_utc".to_owned()),
            ("timezone".to_owned(), "UTC".to_owned()),
        ]
    );

    // A LIFE station filters on its own UTC time field (it has no heure_utc).
    let life = &server.requests_for("38-station-meteo-toulouse-parc-jardin-des-plantes")[0];
    let pairs = query_pairs(life.query.as_deref().unwrap());
    assert_eq!(
        pairs[0].1,
        "datetime_fuseau >= date'2025-11-20' and datetime_fuseau < date'2025-11-25'"
    );
}

#[tokio::test]
async fn second_run_skips_what_matches_the_manifest() {
    let (server, dir, mut o) = portal(|_| (), &ALL_SERVED).await;
    let first = run(&o).await.unwrap();
    assert!(first.is_complete());
    assert_eq!(first.downloaded.len(), 5);
    let manifest_before = Manifest::load(dir.path()).unwrap();

    // Same window: nothing asked of the server, everything skipped.
    let second = run(&o).await.unwrap();
    assert!(second.is_complete());
    assert!(second.downloaded.is_empty());
    let skipped: HashSet<_> = second.skipped.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(skipped, HashSet::from(ALL_SERVED));
    assert!(
        second
            .to_string()
            .starts_with("0 downloaded (0 B), 5 already up to date, 0 failed")
    );
    assert_eq!(server.requests().len(), 5);
    assert_eq!(Manifest::load(dir.path()).unwrap(), manifest_before);

    // A file changed on disk no longer matches its entry: downloaded again, and only it.
    let tampered = dir.path().join("communes-toulouse-metropole.geojson");
    let mut bytes = std::fs::read(&tampered).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&tampered, &bytes).unwrap();
    let third = run(&o).await.unwrap();
    let ids: Vec<_> = third.downloaded.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, [COMMUNES]);
    assert_eq!(third.skipped.len(), 4);
    assert_files_identical(dir.path(), &ALL_SERVED);

    // Another date window is another URL: the readings are fetched again, nothing else.
    o.to = Some("2025-11-27".parse().unwrap());
    let fourth = run(&o).await.unwrap();
    let ids: Vec<_> = fourth.downloaded.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, [COMPANS]);
    assert!(
        Manifest::load(dir.path())
            .unwrap()
            .entry(COMPANS)
            .unwrap()
            .url
            .contains("2025-11-27")
    );

    // --force downloads everything again.
    o.force = true;
    let fifth = run(&o).await.unwrap();
    assert_eq!(fifth.downloaded.len(), 5);
    assert!(fifth.skipped.is_empty());
    assert_eq!(server.requests().len(), 5 + 1 + 1 + 5);
}

#[tokio::test]
async fn interrupted_download_resumes_with_a_range_request() {
    let (server, dir, o) = portal(cut_compans, &[COMPANS]).await;
    run_whole(&o, 10_000).await;
    let requests = server.requests_for(COMPANS);
    let ranges: Vec<_> = requests
        .iter()
        .map(|r| (r.range.as_deref(), r.status))
        .collect();
    assert_eq!(ranges, [(None, 200), (Some("bytes=10000-"), 206)]);
    assert_compans_whole(dir.path());
}

#[tokio::test]
async fn interrupted_download_resumes_on_the_next_run() {
    let (server, dir, o) = compans_cut_once().await;

    // The first run loses the connection: a reported failure, a partial file, no final file.
    let first = run(&o).await.unwrap();
    assert!(!first.is_complete());
    assert!(
        matches!(first.failed[0].error, FetchError::Transfer { .. }),
        "{first}"
    );
    assert!(first.to_string().contains(&format!(
        "failed: dataset {COMPANS}: the download from http://"
    )));
    let local = dir.path().join(SERVED[4].3);
    assert!(!local.exists());
    let part = PathBuf::from(format!("{}.part", local.display()));
    assert_eq!(std::fs::metadata(&part).unwrap().len(), 10_000);
    assert!(Manifest::load(dir.path()).unwrap().entry(COMPANS).is_none());

    // The next run asks only for the rest.
    run_whole(&o, 10_000).await;
    let ranges: Vec<_> = server
        .requests_for(COMPANS)
        .iter()
        .map(|r| r.range.clone())
        .collect();
    assert_eq!(ranges, [None, Some("bytes=10000-".to_owned())]);
    assert_compans_whole(dir.path());
}

#[tokio::test]
async fn a_partial_file_from_another_date_window_is_not_resumed() {
    let (server, dir, mut o) = compans_cut_once().await;
    assert!(!run(&o).await.unwrap().is_complete());

    // Its bytes belong to the 24–26 November export, not to this one.
    o.from = Some("2025-11-23".parse().unwrap());
    run_whole(&o, 0).await;
    let last = server.requests_for(COMPANS).pop().unwrap();
    assert_eq!((last.range, last.status), (None, 200));
    assert_files_identical(dir.path(), &[COMPANS]);
}

#[tokio::test]
async fn a_server_that_ignores_range_still_gives_a_correct_file() {
    let (server, dir, o) = portal(
        |b| {
            cut_compans(b);
            b.ranges = false;
        },
        &[COMPANS],
    )
    .await;
    run_whole(&o, 0).await;
    let requests: Vec<_> = server
        .requests_for(COMPANS)
        .iter()
        .map(|r| (r.range.clone(), r.status))
        .collect();
    assert_eq!(
        requests,
        [(None, 200), (Some("bytes=10000-".to_owned()), 200)]
    );
    assert_files_identical(dir.path(), &[COMPANS]);
}

#[tokio::test]
async fn a_body_without_content_length_is_streamed_whole() {
    let (_server, dir, o) = portal(|b| b.no_length = true, &[COMMUNES, COMPANS]).await;
    let summary = run(&o).await.unwrap();
    assert!(summary.is_complete(), "{summary}");
    assert_files_identical(dir.path(), &[COMMUNES, COMPANS]);
}

#[tokio::test]
async fn a_missing_catalogue_or_polygon_layer_is_fatal() {
    let server = Server::start(Behaviour {
        missing: vec![QUARTIERS],
        ..Behaviour::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let error = run(&options(&server, dir.path())).await.unwrap_err();
    let expected_url = format!(
        "{}/api/explore/v2.1/catalog/datasets/{QUARTIERS}/exports/geojson",
        server.base_url()
    );
    assert!(
        matches!(&error, FetchError::Status { id, url, status } if id == QUARTIERS && *url == expected_url && status.as_u16() == 404),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!("dataset {QUARTIERS}: the server answered 404 Not Found for {expected_url}")
    );
    // It stopped there: the station catalogue came before it, no readings were asked.
    let asked: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.dataset.clone())
        .collect();
    assert_eq!(asked, [STATIONS, QUARTIERS]);
    assert!(dir.path().join("stations-meteo-en-place.json").exists());
}

#[tokio::test]
async fn an_unreachable_host_fails_fast_with_one_line() {
    // A port that was just free on 127.0.0.1 and is closed again: connection refused.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut o = FetchOptions::new(dir.path().join("data"));
    o.base_url = format!("http://127.0.0.1:{closed}");
    o.progress = false;
    o.connect_timeout = Duration::from_secs(2);

    let error = run_failing_fast(&o).await;
    assert!(matches!(error, FetchError::Unreachable { .. }), "{error:?}");
    let line = error.to_string();
    assert_eq!(
        line,
        format!(
            "cannot reach 127.0.0.1:{closed}: no network? Copy the open-data files into {} yourself, \
             or point --data-dir / GARONNE_DATA_DIR at a folder that has them",
            dir.path().join("data").display()
        )
    );
    assert!(
        std::error::Error::source(&error).is_some(),
        "the connection error is the source"
    );
    assert!(!line.contains('\n'));
}

#[tokio::test]
async fn a_stalled_server_hits_the_read_timeout() {
    let (server, _dir, mut o) = portal(|b| b.stall = true, &[STATIONS]).await;
    o.read_timeout = Duration::from_millis(500);
    o.attempts = 2;

    let error = run_failing_fast(&o).await;
    assert!(
        matches!(&error, FetchError::Transfer { id, url, .. } if id == STATIONS && url.ends_with("/exports/json")),
        "{error:?}"
    );
    assert_eq!(server.requests().len(), 2, "retried once");
}

#[tokio::test]
async fn bad_options_are_refused_before_any_request() {
    let server = Server::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();

    let mut o = options(&server, dir.path());
    o.from = Some("2025-11-26".parse().unwrap());
    let error = run(&o).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "empty date window: --from 2025-11-26 must be before --to 2025-11-26 (the --to day is excluded)"
    );

    let mut o = options(&server, dir.path());
    o.datasets = only(&["01-station-meteo-nowhere"]);
    assert!(matches!(
        run(&o).await,
        Err(FetchError::UnknownDataset { .. })
    ));

    let mut o = options(&server, dir.path());
    o.base_url = "data.toulouse-metropole.fr".into();
    assert!(matches!(run(&o).await, Err(FetchError::BaseUrl { .. })));

    assert!(server.requests().is_empty());
}
