//! `garonne data fetch` against a local HTTP/1.1 server that serves the shared reference copies
//! of the Toulouse open-data files under the portal's export URLs, a VélôToulouse export and
//! Hub'Eau's hydrometry pages written here (the bikes and river families).
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
    Family, FetchError, FetchOptions, FetchSummary, Manifest, family_missing, fetch,
    manifest::sha256_file,
};
use garonne_opendata::fleet::{FleetDescription, builtin, load_fleet};
use garonne_payload::{Quantity, Timestamp};
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
    /// Hub'Eau: the most records per page, whatever `size` asks.
    hubeau_page: usize,
    /// Hub'Eau: the first request for this `page` of `obs_elab` breaks off mid-body.
    cut_hubeau_page: Option<usize>,
    /// Hub'Eau: `obs_elab` answers 200 with a maintenance page instead of JSON.
    bad_hubeau: bool,
    /// Hub'Eau: the `next` links point at another host.
    foreign_next: bool,
}

impl Default for Behaviour {
    fn default() -> Behaviour {
        Behaviour {
            ranges: true,
            drop_first: None,
            missing: Vec::new(),
            stall: false,
            no_length: false,
            hubeau_page: 4,
            cut_hubeau_page: None,
            bad_hubeau: false,
            foreign_next: false,
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
            hubeau_cut: Mutex::new(false),
            addr,
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
    hubeau_cut: Mutex<bool>,
    addr: SocketAddr,
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
    if let Some(endpoint) = path.strip_prefix("/api/v2/hydrometrie/") {
        return serve_hubeau(stream, state, endpoint, query.unwrap_or_default()).await;
    }
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
    let bytes = match file {
        Some(file) => Some(tokio::fs::read(&file).await?),
        None if dataset == BIKES && format == "json" => Some(BIKES_EXPORT.as_bytes().to_vec()),
        None => None,
    };
    let (Some(bytes), "GET") = (bytes, method) else {
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
// The bikes and the river: what the server has, written here.

/// The portal's VélôToulouse dataset.
const BIKES: &str = "api-velo-toulouse-temps-reel";
const STATIONS_ID: &str = "hubeau-hydrometrie-stations";
const HEIGHTS_ID: &str = "hubeau-hydrometrie-hixnj";
const BIKES_FILE: &str = "velotoulouse-stations-realtime.json";
const RIVER_STATIONS_FILE: &str = "garonne-hydrometric-stations.geojson";
const HEIGHTS_FILE: &str = "garonne-toulouse-daily-max-water-height.csv";

/// Three stations as the portal's JSON export gives them (fields of the JCDecaux feed,
/// `position` as Opendatasoft's geo point, `last_update` as a datetime).
const BIKES_EXPORT: &str = r#"[
{"number": 55, "contract_name": "toulouse", "name": "00055 - SAINT-SERNIN - G. ARNOULT", "address": "2 RUE GATIEN ARNOULT", "position": {"lon": 1.4410035987262, "lat": 43.6089519604964}, "banking": true, "bonus": false, "status": "OPEN", "bike_stands": 15, "available_bike_stands": 11, "available_bikes": 4, "last_update": "2025-11-25T09:12:05+00:00"},
{"number": 195, "contract_name": "toulouse", "name": "00195 - LARROUSSE - RIEUX", "address": "FACE 15 RUE PIERRE LAROUSSE", "position": {"lon": 1.45907112459247, "lat": 43.5972354030358}, "banking": true, "bonus": false, "status": "OPEN", "bike_stands": 20, "available_bike_stands": 20, "available_bikes": 0, "last_update": "2025-11-25T09:10:41+00:00"},
{"number": 34, "contract_name": "toulouse", "name": "00034 - SAINT LAZARE", "address": "2 PETITE RUE SAINT LAZARE", "position": {"lon": 1.446076879873296, "lat": 43.609650036285025}, "banking": false, "bonus": false, "status": "OPEN", "bike_stands": 19, "available_bike_stands": 2, "available_bikes": 17, "last_update": "2025-11-25T09:11:59+00:00"}
]
"#;

/// Hub'Eau's station referential: the two gauges of river.toml and another river's.
fn hubeau_stations() -> Vec<serde_json::Value> {
    let station = |code: &str, name: &str, river: &str, lon: f64, lat: f64| {
        serde_json::json!({
            "code_site": &code[..8], "code_station": code, "libelle_station": name,
            "libelle_cours_eau": river, "en_service": true, "libelle_commune": "TOULOUSE",
            "longitude_station": lon, "latitude_station": lat,
            "geometry": {"type": "Point", "coordinates": [lon, lat]}
        })
    };
    vec![
        station(
            "O200004001",
            "La Garonne à Toulouse [Pont-Neuf]",
            "La Garonne",
            1.439964216,
            43.597961996,
        ),
        station(
            "O200008001",
            "La Garonne à Toulouse [St-Michel]",
            "La Garonne",
            1.4387,
            43.588,
        ),
        station(
            "O263001001",
            "Le Touch à Toulouse",
            "Le Touch",
            1.3896,
            43.6102,
        ),
    ]
}

/// `obs_elab` HIXnJ records: ten January days of each gauge (mm; St-Michel with halves).
fn hubeau_heights() -> Vec<(String, String, f64)> {
    let mut rows = Vec::new();
    for (code, base) in [("O200004001", 500.0), ("O200008001", 300.5)] {
        for day in 1..=10u32 {
            let scale = if base > 400.0 { 10.0 } else { 1.0 };
            rows.push((
                code.to_owned(),
                format!("2024-01-{day:02}"),
                base + scale * f64::from(day),
            ));
        }
    }
    rows
}

/// The heights file `garonne data fetch` must write from [`hubeau_heights`].
fn expected_heights_csv() -> String {
    let mut text = String::from("date_observation;code_station;hauteur\n");
    for (code, date, value) in hubeau_heights() {
        text.push_str(&format!("{date};{code};{value} [mm]\n"));
    }
    text
}

/// Answers Hub'Eau's two endpoints, paging by [`Behaviour::hubeau_page`] with `page` and a
/// `next` link, 206 while more pages follow.
async fn serve_hubeau(
    mut stream: TcpStream,
    state: &State,
    endpoint: &str,
    query: String,
) -> std::io::Result<()> {
    let pairs = query_pairs(&query);
    let param = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let records: Vec<serde_json::Value> = match endpoint {
        "referentiel/stations" => hubeau_stations(),
        "obs_elab" => {
            let codes = param("code_entite").unwrap_or_default();
            let (first, last) = (
                param("date_debut_obs_elab").unwrap_or_default(),
                param("date_fin_obs_elab").unwrap_or_default(),
            );
            hubeau_heights()
                .into_iter()
                .filter(|(code, date, _)| {
                    codes.split(',').any(|c| c == code) && *date >= first && *date <= last
                })
                .map(|(code, date, value)| {
                    serde_json::json!({
                        "code_site": &code[..8], "code_station": code, "date_obs_elab": date,
                        "resultat_obs_elab": value, "grandeur_hydro_elab": "HIXnJ",
                        "libelle_statut": "Donnée validée"
                    })
                })
                .collect()
        }
        _ => Vec::new(),
    };
    let page: usize = param("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let size = param("size")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(1000)
        .min(state.behaviour.hubeau_page);
    let start = (page - 1) * size;
    let data: Vec<_> = records.iter().skip(start).take(size).cloned().collect();
    let more = start + size < records.len();
    let next = more.then(|| {
        let rest: Vec<&str> = query
            .split('&')
            .filter(|p| !p.starts_with("page="))
            .collect();
        let host = if state.behaviour.foreign_next {
            "elsewhere.example:80".to_owned()
        } else {
            state.addr.to_string()
        };
        format!(
            "http://{host}/api/v2/hydrometrie/{endpoint}?{}&page={}",
            rest.join("&"),
            page + 1
        )
    });
    let status = if more { 206 } else { 200 };
    let mut body = serde_json::json!({
        "count": records.len(), "first": null, "prev": null, "next": next,
        "api_version": "2.0.1", "data": data
    })
    .to_string()
    .into_bytes();
    let mut content_type = "application/json";
    if state.behaviour.bad_hubeau && endpoint == "obs_elab" {
        body = b"<html><body>Maintenance en cours</body></html>".to_vec();
        content_type = "text/html";
    }
    log(
        state,
        endpoint,
        "",
        &Some(query.clone()),
        &None,
        if state.behaviour.bad_hubeau {
            200
        } else {
            status
        },
    );
    let reason = if status == 206 {
        "Partial Content"
    } else {
        "OK"
    };
    let status = if state.behaviour.bad_hubeau {
        200
    } else {
        status
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    let cut = endpoint == "obs_elab"
        && state.behaviour.cut_hubeau_page == Some(page)
        && !std::mem::replace(&mut *state.hubeau_cut.lock().unwrap(), true);
    if cut {
        stream.write_all(&body[..body.len() / 2]).await?;
        stream.flush().await?;
    } else {
        stream.write_all(&body).await?;
    }
    stream.shutdown().await
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

// ------------------------------------------------------------------------------------------
// The bikes and the river (issue 15).

/// [`portal`] for these datasets (any family), with Hub'Eau on the same local server.
async fn families_portal(
    adjust: impl FnOnce(&mut Behaviour),
    datasets: &[&str],
) -> (Server, TempDir, FetchOptions) {
    let (server, dir, mut o) = portal(adjust, datasets).await;
    o.hubeau_url = Some(server.base_url());
    (server, dir, o)
}

/// The requests to one Hub'Eau endpoint: their `page` (1 when absent) and date span.
fn hubeau_pages(server: &Server, endpoint: &str) -> Vec<(usize, String)> {
    server
        .requests_for(endpoint)
        .iter()
        .map(|r| {
            let pairs = query_pairs(r.query.as_deref().unwrap_or_default());
            let get = |key: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            (get("page").parse().unwrap_or(1), get("date_debut_obs_elab"))
        })
        .collect()
}

fn q(name: &str) -> Quantity {
    Quantity::from_name(name).unwrap()
}

#[tokio::test]
async fn families_river_pages_through_hubeau_into_the_files_river_toml_reads() {
    let (server, dir, mut o) = families_portal(|_| (), &[]).await;
    o.datasets = None;
    o.families = vec![Family::River];
    let summary = run(&o).await.unwrap();
    assert!(summary.is_complete(), "{summary}");
    let ids: HashSet<_> = summary.downloaded.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, HashSet::from([STATIONS_ID, HEIGHTS_ID]));
    let report = summary.to_string();
    assert!(
        report.ends_with("\ndata Hub'Eau — eaufrance, licence etalab-2.0 (river)"),
        "{report}"
    );
    assert!(!report.contains("Toulouse Métropole"), "{report}");

    // The history in four twenty-year spans; the one with data paged 4 records at a time
    // through the `next` links, 20 records in 5 pages.
    let pages = hubeau_pages(&server, "obs_elab");
    let spans: Vec<_> = pages.iter().map(|(_, from)| from.as_str()).collect();
    assert_eq!(
        spans,
        [
            "1946-01-01",
            "1966-01-01",
            "1986-01-01",
            "2006-01-01",
            "2006-01-01",
            "2006-01-01",
            "2006-01-01",
            "2006-01-01"
        ]
    );
    let numbers: Vec<_> = pages.iter().map(|(page, _)| *page).collect();
    assert_eq!(numbers, [1, 1, 1, 1, 2, 3, 4, 5]);
    let first = server.requests_for("obs_elab")[0].query.clone().unwrap();
    assert_eq!(
        query_pairs(&first),
        [
            ("code_entite".to_owned(), "O200004001,O200008001".to_owned()),
            ("grandeur_hydro_elab".to_owned(), "HIXnJ".to_owned()),
            ("date_debut_obs_elab".to_owned(), "1946-01-01".to_owned()),
            ("date_fin_obs_elab".to_owned(), "1965-12-31".to_owned()),
            ("size".to_owned(), "5000".to_owned()),
        ]
    );
    let stations_query = server.requests_for("referentiel/stations")[0]
        .query
        .clone()
        .unwrap();
    assert_eq!(
        query_pairs(&stations_query)[0],
        ("bbox".to_owned(), "1.2,43.4,1.7,43.8".to_owned())
    );

    // The files, in the reference copy's formats, and in the manifest.
    let heights = std::fs::read_to_string(dir.path().join(HEIGHTS_FILE)).unwrap();
    assert_eq!(heights, expected_heights_csv());
    let stations: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join(RIVER_STATIONS_FILE)).unwrap())
            .unwrap();
    assert_eq!(stations["type"], "FeatureCollection");
    let features = stations["features"].as_array().unwrap();
    assert_eq!(features.len(), 3);
    assert_eq!(features[0]["properties"]["code_station"], "O200004001");
    assert_eq!(
        features[0]["geometry"]["coordinates"],
        serde_json::json!([1.439964216, 43.597961996])
    );
    let manifest = Manifest::load(dir.path()).unwrap();
    let entry = manifest.entry(HEIGHTS_ID).unwrap();
    assert_eq!(entry.file, HEIGHTS_FILE);
    assert!(
        entry
            .url
            .contains("date_debut_obs_elab=1946-01-01&date_fin_obs_elab=2025-11-25"),
        "{}",
        entry.url
    );
    assert!(
        partial_files(dir.path()).is_empty(),
        "{:?}",
        partial_files(dir.path())
    );
    assert!(
        family_missing(dir.path(), Family::River)
            .unwrap()
            .is_empty()
    );

    // The shipped river fleet loads them: both gauges, every day, in metres.
    let river = builtin().into_iter().find(|d| d.name == "river").unwrap();
    let data = load_fleet(&river, dir.path()).unwrap();
    let ids: Vec<&str> = data.sensors.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["hydro-O200004001", "hydro-O200008001"]);
    assert_eq!(data.observations.len(), 20);
    let level = q("streamGauge");
    let first = &data.observations[0];
    // 2024-01-01 at midnight in Paris, 510 mm.
    assert_eq!(
        first.time,
        Timestamp::parse("2023-12-31T23:00:00Z").unwrap()
    );
    assert_eq!(first.quantities.get(level), Some(0.51));
    let last = data.observations.last().unwrap();
    assert_eq!(last.station_id, "hydro-O200008001");
    assert_eq!(last.quantities.get(level), Some(0.3105));

    // A second run asks nothing.
    let before = server.requests().len();
    let second = run(&o).await.unwrap();
    assert_eq!(second.skipped.len(), 2, "{second}");
    assert_eq!(server.requests().len(), before);
}

#[tokio::test]
async fn families_river_resumes_at_the_page_where_it_was_cut() {
    let (server, dir, mut o) =
        families_portal(|b| b.cut_hubeau_page = Some(3), &[HEIGHTS_ID]).await;
    o.attempts = 1;

    // The third page of the span with data breaks off: reported, two pages kept.
    let first = run(&o).await.unwrap();
    assert!(!first.is_complete());
    assert!(
        matches!(&first.failed[0].error, FetchError::Transfer { id, url, .. } if id == HEIGHTS_ID && url.contains("page=3")),
        "{first}"
    );
    assert!(!dir.path().join(HEIGHTS_FILE).exists());
    assert_eq!(partial_files(dir.path()).len(), 2);

    // The next run asks only from that page on.
    let second = run(&o).await.unwrap();
    assert!(second.is_complete(), "{second}");
    assert!(second.downloaded[0].resumed_from > 0);
    let numbers: Vec<_> = hubeau_pages(&server, "obs_elab")
        .iter()
        .map(|(p, _)| *p)
        .collect();
    assert_eq!(numbers, [1, 1, 1, 1, 2, 3, 3, 4, 5]);
    let heights = std::fs::read_to_string(dir.path().join(HEIGHTS_FILE)).unwrap();
    assert_eq!(heights, expected_heights_csv());
    assert!(partial_files(dir.path()).is_empty());

    // Within one run, the cut page is simply asked again.
    let (server, dir, o) = families_portal(|b| b.cut_hubeau_page = Some(2), &[HEIGHTS_ID]).await;
    let summary = run(&o).await.unwrap();
    assert!(summary.is_complete(), "{summary}");
    let numbers: Vec<_> = hubeau_pages(&server, "obs_elab")
        .iter()
        .map(|(p, _)| *p)
        .collect();
    assert_eq!(numbers, [1, 1, 1, 1, 2, 2, 3, 4, 5]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join(HEIGHTS_FILE)).unwrap(),
        expected_heights_csv()
    );
}

#[tokio::test]
async fn families_a_bad_hubeau_answer_is_a_clear_error() {
    let (server, dir, o) = families_portal(|b| b.bad_hubeau = true, &[HEIGHTS_ID]).await;
    let summary = run(&o).await.unwrap();
    assert!(!summary.is_complete());
    let failure = &summary.failed[0];
    assert!(
        matches!(failure.error, FetchError::BadResponse { .. }),
        "{summary}"
    );
    let text = failure.error.to_string();
    let expected = format!(
        "dataset {HEIGHTS_ID}: the answer from {}/api/v2/hydrometrie/obs_elab?code_entite=",
        server.base_url()
    );
    assert!(text.starts_with(&expected), "{text}");
    assert!(
        text.contains(" is not usable: not Hub'Eau's JSON ("),
        "{text}"
    );
    assert!(!text.contains('\n'));
    // Not retried (the answer would be the same), nothing written.
    assert_eq!(server.requests_for("obs_elab").len(), 1);
    assert!(!dir.path().join(HEIGHTS_FILE).exists());
}

#[tokio::test]
async fn families_bikes_download_resume_skip_and_load_as_a_fleet() {
    // The first answer breaks off: resumed with a Range request.
    let (server, dir, mut o) = families_portal(|b| b.drop_first = Some((BIKES, 300)), &[]).await;
    o.datasets = None;
    o.families = vec![Family::Bikes];
    let summary = run(&o).await.unwrap();
    assert!(summary.is_complete(), "{summary}");
    assert_eq!(summary.downloaded[0].resumed_from, 300);
    let ranges: Vec<_> = server
        .requests_for(BIKES)
        .iter()
        .map(|r| (r.format.clone(), r.query.clone(), r.range.clone()))
        .collect();
    assert_eq!(
        ranges,
        [
            ("json".to_owned(), None, None),
            ("json".to_owned(), None, Some("bytes=300-".to_owned()))
        ]
    );
    assert_eq!(
        std::fs::read(dir.path().join(BIKES_FILE)).unwrap(),
        BIKES_EXPORT.as_bytes()
    );
    assert!(
        summary
            .to_string()
            .ends_with("\ndata © JCDecaux / Toulouse Métropole, licence ODbL-1.0 (bikes)")
    );
    assert!(
        family_missing(dir.path(), Family::Bikes)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        family_missing(dir.path(), Family::Weather).unwrap(),
        [
            "stations-meteo-en-place.json",
            "quartiers-de-democratie-locale.geojson"
        ]
    );

    // A second run skips it.
    let second = run(&o).await.unwrap();
    assert_eq!((second.downloaded.len(), second.skipped.len()), (0, 1));
    assert_eq!(server.requests_for(BIKES).len(), 2);

    // The export loads as a fleet with a description that reads it as it is.
    let description = FleetDescription::parse(
        r#"
name = "bikes-live"
profile = "bikes"
kind = "bike-station"
id_prefix = "velotoulouse-"
area = [1.2, 43.4, 1.7, 43.8]

[replay]
mode = "step"

[readings]
file = "velotoulouse-stations-realtime.json"
format = "json"
id = "number"
time = "last_update"
lon = "position.lon"
lat = "position.lat"

[[readings.value]]
quantity = "availableBikeNumber"
column = "available_bikes"

[[readings.value]]
quantity = "freeSlotNumber"
column = "available_bike_stands"

[[readings.value]]
quantity = "totalSlotNumber"
column = "bike_stands"
"#,
        Path::new("bikes-live.toml"),
    )
    .unwrap();
    let data = load_fleet(&description, dir.path()).unwrap();
    let mut ids: Vec<&str> = data.sensors.iter().map(|s| s.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        ["velotoulouse-195", "velotoulouse-34", "velotoulouse-55"]
    );
    assert_eq!(data.observations.len(), 3);
    let saint_sernin = data
        .observations
        .iter()
        .find(|o| o.station_id == "velotoulouse-55")
        .unwrap();
    assert_eq!(
        saint_sernin.time,
        Timestamp::parse("2025-11-25T09:12:05Z").unwrap()
    );
    assert_eq!(
        saint_sernin.quantities.get(q("availableBikeNumber")),
        Some(4.0)
    );
    assert_eq!(
        saint_sernin.quantities.get(q("totalSlotNumber")),
        Some(15.0)
    );
}

#[tokio::test]
async fn families_datasets_of_every_family_in_one_run() {
    let (server, dir, o) = families_portal(|_| (), &[COMMUNES, BIKES, STATIONS_ID]).await;
    let summary = run(&o).await.unwrap();
    assert!(summary.is_complete(), "{summary}");
    let mut ids: Vec<_> = summary.downloaded.iter().map(|f| f.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, [BIKES, COMMUNES, STATIONS_ID]);
    let report = summary.to_string();
    let credits: Vec<_> = report.lines().filter(|l| l.starts_with("data ")).collect();
    assert_eq!(
        credits,
        [
            "data © Toulouse Métropole, licence ODbL-1.0",
            "data © JCDecaux / Toulouse Métropole, licence ODbL-1.0 (bikes)",
            "data Hub'Eau — eaufrance, licence etalab-2.0 (river)"
        ]
    );
    assert!(server.requests_for("obs_elab").is_empty());
    assert!(dir.path().join(RIVER_STATIONS_FILE).exists());
}

#[tokio::test]
async fn families_a_next_link_to_another_host_is_not_followed() {
    let (server, dir, o) = families_portal(|b| b.foreign_next = true, &[HEIGHTS_ID]).await;
    let summary = run(&o).await.unwrap();
    let text = summary.failed[0].error.to_string();
    assert!(
        text.ends_with(" is not usable: a next link to another host"),
        "{text}"
    );
    assert_eq!(
        server.requests_for("obs_elab").len(),
        4,
        "the four spans' first pages only"
    );
    assert!(!dir.path().join(HEIGHTS_FILE).exists());
}

#[tokio::test]
async fn families_an_unreachable_hubeau_fails_fast_with_one_line() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let (_server, dir, mut o) = families_portal(|_| (), &[STATIONS_ID]).await;
    o.hubeau_url = Some(format!("http://127.0.0.1:{closed}"));
    let error = run_failing_fast(&o).await;
    assert!(matches!(error, FetchError::Unreachable { .. }), "{error:?}");
    let line = error.to_string();
    assert!(
        line.starts_with(&format!(
            "cannot reach 127.0.0.1:{closed}: no network? Copy the open-data files into {}",
            dir.path().display()
        )),
        "{line}"
    );
}
