//! The deployment's nginx configuration (`nginx/nginx.conf`), run by Debian's nginx in
//! front of a real `garonne serve` fed by a real mosquitto: the map page with its security
//! headers, the API and its OpenAPI document, gzip, the validator's JSON errors, an event stream
//! that passes through unbuffered, Grafana's sub-path and WebSocket, and the rate limit's JSON
//! 429 — all through nginx; and the same page over HTTPS with the operator's certificate (here a
//! CA and certificate the test generates), TLS 1.2 and 1.3 only.
//!
//! The file runs as deployed, but for what only a container has: the upstream addresses
//! (`server:8080`, `grafana:3000`) become loopback ports, `listen 80` and `listen 443` free
//! ports, the certificate paths the test's own, and the pid file and temp paths move into the
//! test's directory. Grafana is a stand-in that answers every
//! request with the request it received, so the test sees what nginx passed on.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use garonne_testkit::{Launch, Mosquitto, Server, Subscriber, TestCa};
use reqwest::header::HeaderMap;
use rumqttc::QoS;
use serde_json::Value;

/// The configuration under test, as deployed.
const CONFIG: &str = include_str!("../../../nginx/nginx.conf");

/// Longest wait for anything.
const WAIT: Duration = Duration::from_secs(15);

/// Two squares side by side: `west` and `east`.
const SQUARES: &str = r#"{"type": "FeatureCollection", "features": [
  {"type": "Feature", "properties": {"code": "west", "label": "Ouest"},
   "geometry": {"type": "Polygon", "coordinates": [[[0,0],[1,0],[1,1],[0,1],[0,0]]]}},
  {"type": "Feature", "properties": {"code": "east", "label": "Est"},
   "geometry": {"type": "Polygon", "coordinates": [[[1,0],[2,0],[2,1],[1,1],[1,0]]]}}]}"#;

/// An aggregate of `west` as realtime publishes it.
const AGGREGATE: &str = r#"{"v":1,"neighbourhood_id":"west","name":"Ouest","window_start":"2025-11-24T10:00:00Z","window_end":"2025-11-24T10:15:00Z","emitted_at":"2025-11-24T10:15:05Z","quantities":{"temperature":{"mean":7.5,"min":6.5,"max":8.5,"readings":3,"sensors":2}}}"#;

/// The front-end bundle the pages load (a stand-in: the test needs the files, not the map).
const APP_JS: &str = "// garonne test bundle\nconsole.log('map');\n";

/// `text` with `from` replaced by `to`, which must occur exactly `times` times: a test that
/// silently stopped substituting would run something other than the deployed file.
fn swap(text: &str, from: &str, to: &str, times: usize) -> String {
    assert_eq!(
        text.matches(from).count(),
        times,
        "nginx/nginx.conf should contain `{from}` {times} time(s)"
    );
    text.replace(from, to)
}

/// Where the test's nginx listens: plain HTTP, and HTTPS with `ca`'s server certificate.
struct Listen<'a> {
    port: u16,
    tls_port: u16,
    ca: &'a TestCa,
}

/// The deployed configuration, made to run in `dir` on `listen` in front of the server at
/// `server` and Grafana at `grafana` (ports of 127.0.0.1).
fn local_config(dir: &Path, listen: &Listen<'_>, server: u16, grafana: u16) -> String {
    let port = listen.port;
    let config = swap(
        CONFIG,
        "listen 443 ssl ",
        &format!("listen 127.0.0.1:{} ssl ", listen.tls_port),
        1,
    );
    let config = swap(
        &config,
        "/etc/nginx/certs/server.crt;",
        &format!("{};", listen.ca.cert_file().display()),
        1,
    );
    let config = swap(
        &config,
        "/etc/nginx/certs/server.key;",
        &format!("{};", listen.ca.key_file().display()),
        1,
    );
    let dir = dir.display();
    let config = swap(
        &config,
        "server server:8080;",
        &format!("server 127.0.0.1:{server};"),
        1,
    );
    let config = swap(
        &config,
        "server grafana:3000;",
        &format!("server 127.0.0.1:{grafana};"),
        1,
    );
    let config = swap(
        &config,
        "listen 80 ",
        &format!("listen 127.0.0.1:{port} "),
        1,
    );
    let config = swap(
        &config,
        "pid /run/nginx.pid;",
        &format!("pid {dir}/nginx.pid;"),
        1,
    );
    swap(&config, "/var/cache/nginx/", &format!("{dir}/cache/"), 5)
}

/// `garonne serve` on `broker`, with the polygons, store and front-end in `dir`.
fn start_server(broker: &Mosquitto, dir: &Path) -> Server {
    let polygons = dir.join("squares.geojson");
    std::fs::write(&polygons, SQUARES).expect("polygons");
    let dist = dir.join("dist");
    std::fs::create_dir_all(&dist).expect("dist");
    std::fs::write(dist.join("app.js"), APP_JS).expect("app.js");
    std::fs::write(dist.join("app.css"), "body { margin: 0; }\n").expect("app.css");
    Server::start_on_free_port(3, |port| {
        Ok(Launch::new(
            "garonne serve",
            garonne_deploy_checks::garonne(),
            port,
            dir.join("serve.log"),
        )
        .arg("serve")
        .args(["--broker", &broker.url()])
        .args(["--http", &format!("127.0.0.1:{port}")])
        .arg("--neighbourhoods")
        .arg(&polygons)
        .args(["--id-property", "code", "--name-property", "label"])
        .args(["--store", "embedded", "--store-path"])
        .arg(dir.join("history.sqlite"))
        .arg("--static-dir")
        .arg(&dist)
        .args(["--grafana-url", "/grafana"])
        .args([
            "--client-id",
            &format!("deploy-nginx-{}", std::process::id()),
        ])
        .env("GARONNE_LOG", "warn"))
    })
    .expect("garonne serve starts")
}

/// `nginx` with the deployed configuration, in `dir`, in front of the two upstreams, serving
/// HTTPS with `ca`'s certificate on the port returned.
fn start_nginx(nginx: &Path, dir: &Path, ca: &TestCa, server: u16, grafana: u16) -> (Server, u16) {
    std::fs::create_dir_all(dir.join("cache")).expect("cache dir");
    let mut tls_port = 0;
    let proxy = Server::start_on_free_port(3, |port| {
        tls_port = garonne_testkit::free_port()?;
        let listen = Listen { port, tls_port, ca };
        let config = dir.join("nginx.conf");
        std::fs::write(&config, local_config(dir, &listen, server, grafana)).expect("nginx.conf");
        Ok(Launch::new("nginx", nginx, port, dir.join("nginx.log"))
            .arg("-c")
            .arg(&config)
            .arg("-p")
            .arg(dir)
            .args(["-g", "daemon off;"]))
    })
    .expect("nginx starts with nginx/nginx.conf");
    (proxy, tls_port)
}

/// A stand-in for Grafana on a free port: it answers every request with 200 and, as the body,
/// the request line and headers it received.
fn start_fake_grafana() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || echo_request(stream));
        }
    });
    port
}

/// Answers one request on `stream` with its own head.
fn echo_request(stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(WAIT));
    let mut reader = BufReader::new(&stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => head.push_str(&line),
        }
    }
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{head}",
        head.len()
    );
    let _ = (&stream).write_all(answer.as_bytes());
}

/// One answer: status, headers, body.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("nginx answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("body").to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

/// A raw HTTP/1.1 request to 127.0.0.1:`port` (for headers a client library manages itself,
/// such as `Connection`); the answer's head and body, read up to its Content-Length.
fn raw_request(port: u16, request: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    stream.write_all(request.as_bytes()).expect("write");
    let mut answer = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        let text = String::from_utf8_lossy(&answer).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .expect("a Content-Length");
            if answer.len() >= end + 4 + length {
                return text;
            }
        }
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => panic!("the answer ended early: {text}"),
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
        }
    }
}

/// A broker, `garonne serve` on it, and nginx in front with a generated certificate: what each
/// test runs; the fields keep them alive.
struct Stack {
    broker: Mosquitto,
    server: Server,
    proxy: Server,
    /// nginx's HTTPS port.
    tls_port: u16,
    /// The CA that signed nginx's certificate.
    ca: TestCa,
    _dir: tempfile::TempDir,
}

/// Starts a [`Stack`], or `None` when nginx or mosquitto is missing (and CI is not set).
fn start_stack() -> Option<Stack> {
    let nginx = garonne_testkit::require("nginx", "nginx")?;
    let broker = Mosquitto::start_or_skip()?;
    let dir = tempfile::tempdir().expect("temp dir");
    // nginx's workers run as an unprivileged user and open their temp files in here.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let server = start_server(&broker, dir.path());
    let grafana = start_fake_grafana();
    let ca = TestCa::generate().expect("a test CA");
    let (proxy, tls_port) = start_nginx(&nginx, dir.path(), &ca, server.port(), grafana);
    Some(Stack {
        broker,
        server,
        proxy,
        tls_port,
        ca,
        _dir: dir,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deployed_nginx_config_fronts_the_server() {
    // Bound whole: its directory and servers live until the end of the test.
    let Some(stack) = start_stack() else {
        return;
    };
    let (broker, server, proxy) = (&stack.broker, &stack.server, &stack.proxy);
    let base = format!("http://127.0.0.1:{}", proxy.port());
    let http = reqwest::Client::builder()
        .timeout(WAIT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    // The server behind nginx is connected to its broker.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let ready = send(http.get(format!("{base}/readyz"))).await;
        if ready.status == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz through nginx: {} {}\nnginx: {}\nserver: {}",
            ready.status,
            ready.text(),
            proxy.log_tail(),
            server.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // nginx's own health check.
    let health = send(http.get(format!("{base}/healthz"))).await;
    assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));

    // The map page, with the security headers, and the bundle it loads.
    let page = send(http.get(format!("{base}/"))).await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.header("content-type").starts_with("text/html"));
    assert!(
        page.text()
            .contains(r#"<script src="/static/app.js" defer></script>"#),
        "{}",
        page.text()
    );
    assert!(
        page.text()
            .contains(r#"<script type="application/json" id="garonne-config">"#)
    );
    assert_eq!(page.header("server"), "nginx", "server_tokens off");
    assert_eq!(page.header("x-content-type-options"), "nosniff");
    assert_eq!(page.header("x-frame-options"), "DENY");
    assert_eq!(
        page.header("referrer-policy"),
        "strict-origin-when-cross-origin"
    );
    let csp = page.header("content-security-policy");
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: https:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(
            csp.split(';').any(|d| d.trim() == directive),
            "CSP lacks `{directive}`: {csp}"
        );
    }
    assert!(page.header("retry-after").is_empty());
    let script = send(http.get(format!("{base}/static/app.js"))).await;
    assert_eq!((script.status, script.text().as_str()), (200, APP_JS));

    // The API, in JSON.
    let areas = send(http.get(format!("{base}/api/neighbourhoods"))).await;
    assert_eq!(areas.status, 200, "{}", areas.text());
    assert!(areas.header("content-type").contains("json"));
    assert_eq!(areas.json()["features"].as_array().map(Vec::len), Some(2));
    assert_eq!(areas.header("x-content-type-options"), "nosniff");
    let openapi = send(http.get(format!("{base}/api/openapi.json"))).await;
    assert_eq!(openapi.status, 200, "{}", openapi.text());
    let openapi = openapi.json();
    assert!(openapi["openapi"].is_string());
    assert!(openapi["paths"]["/api/neighbourhoods"].is_object());

    // Gzip when asked, once: the server's own compression is passed through, not redone.
    let gzipped = send(
        http.get(format!("{base}/api/openapi.json"))
            .header("accept-encoding", "gzip"),
    )
    .await;
    assert_eq!(gzipped.status, 200);
    let encodings: Vec<_> = gzipped.headers.get_all("content-encoding").iter().collect();
    assert_eq!(encodings, ["gzip"], "one gzip encoding");
    assert!(gzipped.body.starts_with(&[0x1f, 0x8b]), "a gzip stream");
    assert!(gzipped.body.len() < serde_json::to_string(&openapi).map_or(0, |s| s.len()));

    // The validator's answer to a bad payload, and nginx's own JSON 413 past the server's limit.
    let verdict = send(
        http.post(format!("{base}/api/validate"))
            .header("content-type", "application/json")
            .body(r#"{"v":1,"sensor_id":"x"}"#),
    )
    .await;
    assert_eq!(verdict.status, 200, "{}", verdict.text());
    let verdict = verdict.json();
    assert_eq!(verdict["valid"], false);
    assert!(
        verdict["errors"].as_array().is_some_and(|e| !e.is_empty()),
        "{verdict}"
    );
    let too_large = send(
        http.post(format!("{base}/api/validate"))
            .body(vec![b' '; (1 << 20) + 1]),
    )
    .await;
    assert_eq!(too_large.status, 413, "{}", too_large.text());
    assert!(too_large.json()["error"].is_string());

    // Metrics stay on the compose network.
    assert_eq!(send(http.get(format!("{base}/metrics"))).await.status, 404);

    // Grafana: the sub-path passed as is, its own headers, Grafana Live's WebSocket handshake.
    let redirect = send(http.get(format!("{base}/grafana"))).await;
    assert_eq!(redirect.status, 301);
    assert_eq!(redirect.header("location"), "/grafana/");
    let dashboard = send(http.get(format!("{base}/grafana/d/garonne-city?orgId=1"))).await;
    assert_eq!(dashboard.status, 200, "{}", dashboard.text());
    assert!(
        dashboard
            .text()
            .starts_with("GET /grafana/d/garonne-city?orgId=1 HTTP/1.1\r\n"),
        "{}",
        dashboard.text()
    );
    assert!(dashboard.header("content-security-policy").is_empty());
    let live = raw_request(
        proxy.port(),
        "GET /grafana/api/live/ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .to_ascii_lowercase();
    assert!(
        live.contains("get /grafana/api/live/ws http/1.1\r\n")
            && live.contains("\r\nupgrade: websocket\r\n")
            && live.contains("\r\nconnection: upgrade\r\n"),
        "{live}"
    );

    // An event stream: an aggregate published once the stream is open comes through.
    let response = http
        .get(format!("{base}/events?kinds=aggregate"))
        .header("accept-encoding", "gzip")
        .timeout(Duration::from_secs(3600))
        .send()
        .await
        .expect("events");
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers().clone();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    assert_eq!(header("content-type"), Some("text/event-stream"));
    assert_eq!(header("content-encoding"), None, "events are never gzipped");
    assert_eq!(header("x-accel-buffering"), Some("no"));
    let mut events = response;
    let publisher = Subscriber::start(
        broker,
        &format!("deploy-nginx-publisher-{}", std::process::id()),
        &["garonne/v1/neighbourhoods/west/aggregate"],
    )
    .await;
    let expected = format!("event: aggregate\ndata: {AGGREGATE}\n\n");
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    // The server subscribes the stream as it answers; publish again should the first one land
    // a moment early.
    while !text.contains(&expected) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the aggregate did not come through nginx; got: {text:?}\nnginx: {}",
            proxy.log_tail()
        );
        publisher
            .client()
            .publish(
                "garonne/v1/neighbourhoods/west/aggregate",
                QoS::AtLeastOnce,
                false,
                AGGREGATE,
            )
            .await
            .expect("publish");
        while let Ok(Ok(Some(chunk))) =
            tokio::time::timeout(Duration::from_millis(500), events.chunk()).await
        {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if text.contains(&expected) {
                break;
            }
        }
    }
    drop(events);

    // Event streams held open from one address: 64 pass, the next is told to slow down (JSON
    // 429), and one passes again once the others are closed.
    let open_stream = || async {
        http.get(format!("{base}/events?kinds=aggregate"))
            .timeout(Duration::from_secs(3600))
            .send()
            .await
            .expect("events")
    };
    let mut streams = Vec::new();
    for n in 0..64 {
        let stream = open_stream().await;
        assert_eq!(
            stream.status().as_u16(),
            200,
            "stream {n}: {}",
            proxy.log_tail()
        );
        streams.push(stream);
    }
    let refused = open_stream().await;
    assert_eq!(
        refused.status().as_u16(),
        429,
        "a 65th stream from one address"
    );
    let refusal = refused.text().await.expect("body");
    assert!(refusal.contains("too many requests"), "{refusal}");
    drop(streams);
    let deadline = tokio::time::Instant::now() + WAIT;
    while open_stream().await.status().as_u16() != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "streams closed, yet a new one is still refused"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Hammering the API: JSON 429s that say to slow down, with the security headers.
    let mut refused = None;
    let mut passed = 0;
    for _ in 0..300 {
        let answer = send(http.get(format!("{base}/api/config"))).await;
        match answer.status {
            200 => passed += 1,
            429 => {
                refused = Some(answer);
                break;
            }
            other => panic!("/api/config: {other} {}", answer.text()),
        }
    }
    let refused = refused.expect("nginx refuses some of 300 quick API requests");
    assert!(passed >= 50, "the burst lets a page load: {passed} passed");
    assert_eq!(refused.header("content-type"), "application/json");
    assert_eq!(refused.header("retry-after"), "1");
    assert_eq!(refused.header("x-content-type-options"), "nosniff");
    let error = refused.json()["error"].as_str().map(str::to_owned);
    assert!(
        error.as_deref().is_some_and(|e| e.contains("slow down")),
        "{}",
        refused.text()
    );
    // Pages have their own zone: a hammered API leaves the map page reachable.
    assert_eq!(send(http.get(format!("{base}/"))).await.status, 200);

    // Access logs go to stdout (the log file here).
    let log = std::fs::read_to_string(proxy.log()).expect("nginx log");
    assert!(
        log.contains("\"GET /api/openapi.json HTTP/1.1\" 200"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deployed_nginx_config_serves_https_with_the_operators_certificate() {
    let Some(stack) = start_stack() else {
        return;
    };
    let (server, proxy, tls_port) = (&stack.server, &stack.proxy, stack.tls_port);
    let ca = &stack.ca;
    let root = std::fs::read(ca.ca_file()).expect("the CA");
    let root = reqwest::Certificate::from_pem(&root).expect("a PEM certificate");
    let client = |min: reqwest::tls::Version, max: reqwest::tls::Version| {
        reqwest::Client::builder()
            .timeout(WAIT)
            .tls_certs_only([root.clone()])
            .min_tls_version(min)
            .max_tls_version(max)
            .build()
            .expect("client")
    };
    let (v12, v13) = (
        reqwest::tls::Version::TLS_1_2,
        reqwest::tls::Version::TLS_1_3,
    );
    let https = client(v12, v13);
    let base = format!("https://localhost:{tls_port}");

    // The map page over HTTPS, once the server behind nginx is up, with the same headers.
    let deadline = tokio::time::Instant::now() + WAIT;
    let page = loop {
        let page = https.get(format!("{base}/")).send().await;
        match page {
            Ok(page) if page.status() == 200 => break page,
            other => assert!(
                tokio::time::Instant::now() < deadline,
                "/ over HTTPS: {other:?}\nnginx: {}\nserver: {}",
                proxy.log_tail(),
                server.log_tail()
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let text = page.text().await.expect("body");
    assert!(
        text.contains(r#"<script src="/static/app.js" defer></script>"#),
        "{text}"
    );
    // TLS 1.2 alone is accepted too; a client trusting only the system's CAs is not.
    let health = send(client(v12, v12).get(format!("{base}/healthz"))).await;
    assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));
    let stranger = reqwest::Client::builder()
        .timeout(WAIT)
        .build()
        .expect("client");
    let refused = stranger.get(format!("{base}/healthz")).send().await;
    assert!(refused.is_err(), "an unknown CA is refused: {refused:?}");
    // Plain HTTP stays available (docs/deploy.md, "TLS").
    let plain = format!("http://127.0.0.1:{}/healthz", proxy.port());
    assert_eq!(send(stranger.get(plain)).await.status, 200);
}
