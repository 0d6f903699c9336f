//! InfluxDB as a store: points written as line protocol over HTTP, history read with InfluxQL
//! (docs/historian.md).
//!
//! - [`InfluxV1`]: a [`Store`] on the v1 write API, `POST /write?db=`
//!   (InfluxDB 1.x; 2.x and 3.x also answer it for a database mapped to a bucket).
//! - [`InfluxV2`]: a store on the v2 write API, `POST /api/v2/write?org=&bucket=`, through
//!   the `influxdb2` crate (InfluxDB 2.x and 3.x, VictoriaMetrics).
//! - [`InfluxQl`]: a [`History`](crate::history::History) through InfluxQL on `/query`, which
//!   InfluxDB 1.x, 2.x (with a DBRP mapping of the database name to the bucket) and 3.x
//!   answer. [`statement`] is the query text, a pure function. It also gives raw readings
//!   back, page by page ([`crate::readings::Readings`], [`scan_statement`]), and each
//!   sensor's last place and kind ([`crate::places`], [`places_statement`]).
//!
//! # Credentials
//!
//! [`Credentials`]: InfluxDB 1.x users (sent as HTTP basic authentication) or InfluxDB
//! 2.x/3.x tokens (sent as `Authorization: Token ...`). This crate never reads them: the
//! `garonne` command reads [`TOKEN_VAR`], or [`USERNAME_VAR`] and [`PASSWORD_VAR`], from the
//! environment, never from flags or files, and passes them in ([`Credentials::from_values`]).
//! They never appear in a log line or an error message, and neither does a password written in
//! a URL.
//!
//! # Errors: retry or set aside
//!
//! A write fails as [`StoreError::Unavailable`] (the caller retries the same batch until it
//! goes through: nothing is dropped) or [`StoreError::Rejected`] (the caller sets the batch
//! aside). Rejected is only for points the server refuses for good, HTTP 400 and 422: a line
//! it cannot parse, a field type conflict, a point outside the retention policy (InfluxDB 1.x
//! answers those with 400 `partial write: ...`, having written the other points of the
//! batch). Everything else is Unavailable, each with a message that says what to do:
//! connection refused or reset, no answer within [`REQUEST_TIMEOUT`], HTTP 5xx, 408 and 429;
//! and the configuration mistakes a person fixes while the historian keeps the data: wrong
//! credentials (401, 403), a database or bucket that does not exist (404), a batch larger
//! than the server accepts (413).

mod influxql;
mod places;
mod raw;
mod v1;
mod v2;

use std::fmt;
use std::future::Future;
use std::time::Duration;

use garonne_payload::report::Chain;
use reqwest::Url;

use crate::lineproto;
use crate::point::Point;
use crate::store::{Store, StoreError};

pub use influxql::{InfluxQl, statement};
pub use places::places_statement;
pub use raw::{count_statement, scan_statement};
pub use v1::InfluxV1;
pub use v2::InfluxV2;

/// How long one request may take, connection included, before it counts as unavailable.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long connecting may take (within [`REQUEST_TIMEOUT`]).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The environment variable with the InfluxDB 1.x user name.
pub const USERNAME_VAR: &str = "INFLUX_USERNAME";

/// The environment variable with the InfluxDB 1.x password.
pub const PASSWORD_VAR: &str = "INFLUX_PASSWORD";

/// The environment variable with the InfluxDB 2.x/3.x API token.
pub const TOKEN_VAR: &str = "INFLUX_TOKEN";

/// How many characters of a server's error message an error quotes.
const QUOTED_CHARS: usize = 300;

/// How requests authenticate. Its `Debug` form hides the secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Credentials {
    /// No authentication (InfluxDB 1.x with `auth-enabled = false`, VictoriaMetrics).
    #[default]
    None,
    /// An InfluxDB 1.x user, sent as HTTP basic authentication.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// An InfluxDB 2.x/3.x API token, sent as `Authorization: Token ...`.
    Token(String),
}

impl Credentials {
    /// The credentials the environment variables' values give (the variables themselves are
    /// read by the caller): a token from [`TOKEN_VAR`] if it is set and not empty, else a user
    /// from [`USERNAME_VAR`] and [`PASSWORD_VAR`] (empty if unset) if the user name is set and
    /// not empty, else none.
    pub fn from_values(
        token: Option<String>,
        username: Option<String>,
        password: Option<String>,
    ) -> Credentials {
        let token = token.filter(|t| !t.is_empty());
        match (token, username.filter(|u| !u.is_empty())) {
            (Some(token), _) => Credentials::Token(token),
            (None, Some(username)) => Credentials::Basic {
                username,
                password: password.unwrap_or_default(),
            },
            (None, None) => Credentials::None,
        }
    }

    /// The token, for the v2 write API (which knows no users): empty for other credentials.
    pub fn token(&self) -> &str {
        match self {
            Credentials::Token(token) => token,
            Credentials::None | Credentials::Basic { .. } => "",
        }
    }

    /// `request` with these credentials.
    fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Credentials::None => request,
            Credentials::Basic { username, password } => {
                request.basic_auth(username, Some(password))
            }
            Credentials::Token(token) => {
                request.header(reqwest::header::AUTHORIZATION, format!("Token {token}"))
            }
        }
    }

    /// What to do when the server refuses these credentials.
    fn fix(&self, access: &str) -> String {
        match self {
            Credentials::None => format!(
                "the server requires authentication: set {USERNAME_VAR} and {PASSWORD_VAR} \
                 (InfluxDB 1.x) or {TOKEN_VAR} (2.x/3.x) for a user with {access}"
            ),
            Credentials::Basic { .. } => {
                format!("check {USERNAME_VAR} and {PASSWORD_VAR}: the user needs {access}")
            }
            Credentials::Token(_) => format!("check {TOKEN_VAR}: the token needs {access}"),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::None => f.write_str("None"),
            Credentials::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"(hidden)")
                .finish(),
            Credentials::Token(_) => f.write_str("Token((hidden))"),
        }
    }
}

/// Why a store or history could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The URL is not an `http://` or `https://` base URL the client can use.
    #[error("invalid InfluxDB URL {url:?}: {reason}")]
    Url {
        /// The URL, without any password it held.
        url: String,
        /// What is wrong with it and how to fix it.
        reason: String,
    },
    /// The HTTP client could not be built (TLS set-up).
    #[error("cannot set up the HTTP client for InfluxDB")]
    Client(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A server's base URL, checked, and its form for messages.
#[derive(Debug, Clone)]
struct Base {
    url: Url,
    /// The URL without user name or password, and without a final `/`.
    shown: String,
}

impl Base {
    /// Parses and checks `url`.
    fn parse(url: &str) -> Result<Base, ConfigError> {
        let invalid = |reason: String| ConfigError::Url {
            url: redact(url),
            reason,
        };
        let parsed = Url::parse(url).map_err(|e| {
            invalid(format!(
                "{e} (write it like http://127.0.0.1:8086, with the scheme)"
            ))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid(format!(
                "the scheme is {:?}: use http:// or https://",
                parsed.scheme()
            )));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(invalid(
                "remove the query and fragment: the client adds its own".into(),
            ));
        }
        let mut shown = parsed.clone();
        // Cannot fail on an http(s) URL, which has a host.
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        let shown = shown.as_str().trim_end_matches('/').to_owned();
        Ok(Base { url: parsed, shown })
    }

    /// The URL of `endpoint` (such as `write` or `query`) under the base URL's path.
    fn endpoint(&self, endpoint: &str) -> Url {
        let mut url = self.url.clone();
        // An http(s) URL always has path segments to extend.
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().push(endpoint);
        }
        url
    }
}

/// `url` without the password it may hold, for messages.
fn redact(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("(hidden)"));
            }
            parsed.to_string()
        }
        Err(_) => match url.rsplit_once('@') {
            Some((_, host)) => format!("(hidden)@{host}"),
            None => url.to_owned(),
        },
    }
}

/// An HTTP client with the timeouts every request has.
fn http_client() -> Result<reqwest::Client, ConfigError> {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("garonne-historian/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ConfigError::Client(Box::new(e)))
}

/// A write API that takes line protocol: what the v1 and v2 stores differ in. Both are a
/// [`Store`] through it, the one way: points encoded once by [`crate::lineproto`], an empty
/// batch never sent, a clone for each concurrent write.
pub(crate) trait LineProtocolApi: Clone + Send + Sync {
    /// The store's name for logs and metrics.
    const NAME: &'static str;

    /// Sends one body of line protocol.
    fn send(&self, body: String) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl<T: LineProtocolApi> Store for T {
    fn concurrent(&self) -> Option<Self> {
        Some(self.clone())
    }

    fn name(&self) -> &'static str {
        T::NAME
    }

    async fn write(&mut self, points: &[Point]) -> Result<(), StoreError> {
        let body = lineproto::encode_all(points);
        if body.is_empty() {
            return Ok(());
        }
        self.send(body).await
    }
}

/// One database on a server through the v1 HTTP API, with the client and credentials to reach
/// it: what the v1 store ([`InfluxV1`]) and InfluxQL history ([`InfluxQl`]) share.
#[derive(Debug, Clone)]
struct Database {
    client: reqwest::Client,
    base: Base,
    /// The database's name.
    name: String,
    credentials: Credentials,
}

impl Database {
    /// Checks `url` and builds the client; nothing is sent.
    fn new(url: &str, name: &str, credentials: Credentials) -> Result<Database, ConfigError> {
        Ok(Database {
            client: http_client()?,
            base: Base::parse(url)?,
            name: name.to_owned(),
            credentials,
        })
    }

    /// `InfluxDB at URL`, for messages.
    fn server(&self) -> String {
        format!("InfluxDB at {}", self.base.shown)
    }

    /// A request to `url` with the credentials.
    fn request(&self, method: reqwest::Method, url: Url) -> reqwest::RequestBuilder {
        self.credentials.apply(self.client.request(method, url))
    }
}

/// What a write goes to, for the messages of its errors.
#[derive(Debug, Clone, Copy)]
struct Target<'a> {
    /// `InfluxDB` or `InfluxDB (v2 API)`, with the URL: `InfluxDB at http://...`.
    server: &'a str,
    /// The database (v1) or bucket (v2).
    container: Container<'a>,
    /// The credentials in use (to say which to fix).
    credentials: &'a Credentials,
}

/// Where points are written.
#[derive(Debug, Clone, Copy)]
enum Container<'a> {
    /// An InfluxDB 1.x database.
    Database(&'a str),
    /// An InfluxDB 2.x bucket of an organisation.
    Bucket {
        /// The organisation.
        org: &'a str,
        /// The bucket.
        bucket: &'a str,
    },
}

impl Container<'_> {
    /// The write access a user or token needs.
    fn access(&self) -> String {
        match self {
            Container::Database(db) => format!("WRITE access to database {db:?}"),
            Container::Bucket { bucket, .. } => format!("write access to bucket {bucket:?}"),
        }
    }

    /// What to do when it does not exist.
    fn missing(&self, server: &str) -> String {
        match self {
            Container::Database(db) => format!(
                "database {db:?} does not exist on {server}: create it (InfluxQL \
                 `CREATE DATABASE \"{db}\"`, e.g. `influx -execute 'CREATE DATABASE \"{db}\"'`), \
                 or fix the configured name; the historian keeps the points until then"
            ),
            Container::Bucket { org, bucket } => format!(
                "bucket {bucket:?} of organisation {org:?} does not exist on {server}: create \
                 it (`influx bucket create -n {bucket} -o {org}`), or fix the configured names; \
                 the historian keeps the points until then"
            ),
        }
    }
}

/// The error for an HTTP answer that is not a success.
fn status_error(status: u16, body: &str, target: Target<'_>) -> StoreError {
    let server = target.server;
    let said = server_message(body);
    match status {
        400 | 422 if said.starts_with("partial write") => StoreError::Rejected(format!(
            "{server} refused some points of the batch (the others were written): {said}"
        )),
        400 | 422 => {
            StoreError::Rejected(format!("{server} refused the points ({status}): {said}"))
        }
        401 | 403 => StoreError::Unavailable(format!(
            "{server} refused the credentials ({status}: {said}): {}",
            target.credentials.fix(&target.container.access())
        )),
        404 => StoreError::Unavailable(if said.contains("not found") {
            format!("{} ({said})", target.container.missing(server))
        } else {
            format!("{server} has no write endpoint (404: {said}): check the URL")
        }),
        413 => StoreError::TooLarge(format!(
            "{server} refused a batch too large ({status}: {said}): the historian writes it in \
             smaller ones; lower its batch size or raise the server's limit (InfluxDB 1.x: \
             [http] max-body-size) to avoid the split"
        )),
        _ => StoreError::Unavailable(format!("{server} answered {status}: {said}")),
    }
}

/// The error for a request that got no HTTP answer.
fn transport_error(
    server: &str,
    timed_out: bool,
    connect: bool,
    error: &(dyn std::error::Error + 'static),
) -> StoreError {
    if timed_out && !connect {
        return StoreError::TimedOut(format!(
            "{server} did not answer within {} s",
            REQUEST_TIMEOUT.as_secs()
        ));
    }
    if timed_out {
        return StoreError::Unavailable(format!(
            "cannot reach {server} within {} s",
            REQUEST_TIMEOUT.as_secs()
        ));
    }
    let what = if connect {
        "cannot reach"
    } else {
        "lost the connection to"
    };
    StoreError::Unavailable(format!("{what} {server}: {}", Chain(error)))
}

/// The message in an InfluxDB error body (`{"error": ...}` in 1.x, `{"message": ...}` in
/// 2.x), or the body itself, shortened.
fn server_message(body: &str) -> String {
    let parsed = serde_json::from_str::<serde_json::Value>(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("error").or_else(|| v.get("message")))
        .and_then(serde_json::Value::as_str)
        .unwrap_or(body)
        .trim();
    if message.is_empty() {
        return "(no message)".to_owned();
    }
    match message.char_indices().nth(QUOTED_CHARS) {
        Some((end, _)) => format!("{}...", &message[..end]),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(credentials: &Credentials) -> Target<'_> {
        Target {
            server: "InfluxDB at http://127.0.0.1:8086",
            container: Container::Database("garonne"),
            credentials,
        }
    }

    #[test]
    fn answers_are_classified_retry_or_set_aside() {
        let none = Credentials::None;
        let unavailable = |status, body: &str| {
            matches!(
                status_error(status, body, target(&none)),
                StoreError::Unavailable(_)
            )
        };
        for status in [401, 403, 404, 405, 408, 429, 500, 502, 503, 504] {
            assert!(unavailable(status, "{}"), "{status}");
        }
        // Too large: written again in halves, not retried as it is forever.
        assert!(matches!(
            status_error(413, "{}", target(&none)),
            StoreError::TooLarge(_)
        ));
        for (status, body) in [
            (400, r#"{"error":"unable to parse 'x': missing fields"}"#),
            (
                400,
                r#"{"error":"partial write: field type conflict: input field \"temperature\" on measurement \"reading\" is type string, already exists as type float dropped=1"}"#,
            ),
            (
                422,
                r#"{"code":"unprocessable entity","message":"failure writing points"}"#,
            ),
        ] {
            assert!(!unavailable(status, body), "{status} {body}");
        }
    }

    #[test]
    fn messages_say_what_to_fix() {
        let none = Credentials::None;
        let missing = status_error(
            404,
            r#"{"error":"database not found: \"garonne\""}"#,
            target(&none),
        );
        let text = missing.to_string();
        assert!(text.contains("CREATE DATABASE \"garonne\""), "{text}");
        assert!(text.contains("database not found"), "{text}");

        let basic = Credentials::Basic {
            username: "u".into(),
            password: "secret".into(),
        };
        let text =
            status_error(401, r#"{"error":"authorization failed"}"#, target(&basic)).to_string();
        assert!(
            text.contains("INFLUX_USERNAME and INFLUX_PASSWORD"),
            "{text}"
        );
        assert!(!text.contains("secret"), "{text}");
        let text = status_error(401, "{}", target(&none)).to_string();
        assert!(text.contains("requires authentication"), "{text}");

        let partial = status_error(
            400,
            r#"{"error":"partial write: points beyond retention policy dropped=2"}"#,
            target(&none),
        );
        assert_eq!(
            partial.to_string(),
            "the store refused the points: InfluxDB at http://127.0.0.1:8086 refused some points \
             of the batch (the others were written): partial write: points beyond retention \
             policy dropped=2"
        );

        let bucket = Target {
            server: "InfluxDB (v2 API) at http://h",
            container: Container::Bucket {
                org: "city",
                bucket: "garonne",
            },
            credentials: &Credentials::Token("t".into()),
        };
        let text = status_error(
            404,
            r#"{"code":"not found","message":"bucket \"garonne\" not found"}"#,
            bucket,
        )
        .to_string();
        assert!(
            text.contains("influx bucket create -n garonne -o city"),
            "{text}"
        );
        let text = status_error(403, "", bucket).to_string();
        assert!(text.contains("check INFLUX_TOKEN"), "{text}");
    }

    #[test]
    fn server_messages_are_extracted_and_shortened() {
        assert_eq!(server_message(r#"{"error":"x"}"#), "x");
        assert_eq!(server_message(r#"{"code":"c","message":"m"}"#), "m");
        assert_eq!(server_message(" plain\n"), "plain");
        assert_eq!(server_message(""), "(no message)");
        let long = "é".repeat(1000);
        assert_eq!(server_message(&long).chars().count(), QUOTED_CHARS + 3);
    }

    #[test]
    fn credentials_come_from_the_environment_values() {
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(
            Credentials::from_values(s("tok"), s("u"), s("p")),
            Credentials::Token("tok".into())
        );
        assert_eq!(
            Credentials::from_values(None, s("u"), None),
            Credentials::Basic {
                username: "u".into(),
                password: String::new()
            }
        );
        assert_eq!(
            Credentials::from_values(None, None, s("p")),
            Credentials::None
        );
        let shown = format!(
            "{:?} {:?}",
            Credentials::Basic {
                username: "u".into(),
                password: "secret".into()
            },
            Credentials::Token("secret".into())
        );
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let token = Credentials::from_values(Some("s3cr3t".into()), None, None);
        let user = Credentials::from_values(None, Some("u".into()), Some("hunter2".into()));
        let shown = format!("{token:?} {user:?}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn base_urls_are_checked_and_shown_without_secrets() -> Result<(), ConfigError> {
        let base = Base::parse("http://user:secret@127.0.0.1:8086/")?;
        assert_eq!(base.shown, "http://127.0.0.1:8086");
        assert_eq!(
            base.endpoint("write").as_str(),
            "http://user:secret@127.0.0.1:8086/write"
        );
        let prefixed = Base::parse("https://example.org/influx/")?;
        assert_eq!(
            prefixed.endpoint("query").as_str(),
            "https://example.org/influx/query"
        );
        assert_eq!(
            Base::parse("https://example.org/influx")?
                .endpoint("query")
                .as_str(),
            "https://example.org/influx/query"
        );
        for bad in [
            "127.0.0.1:8086",
            "ftp://host",
            "http://host/?db=x",
            "not a url",
            "http://u:secret@",
        ] {
            let error = Base::parse(bad).err().map(|e| e.to_string());
            let text = error.unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(!text.contains("secret"), "{text}");
        }
        Ok(())
    }

    #[test]
    fn chains_skip_repeated_causes() {
        let refused = ChainError(std::io::Error::other("connection refused"));
        assert_eq!(Chain(&refused).to_string(), "outer: connection refused");
    }

    #[derive(Debug)]
    struct ChainError(std::io::Error);

    impl fmt::Display for ChainError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("outer")
        }
    }

    impl std::error::Error for ChainError {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
}
