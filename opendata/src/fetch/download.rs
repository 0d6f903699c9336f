//! One resumable download: stream into `FILE.part`, resume it with `Range`, rename when whole.
//!
//! The body is streamed to disk chunk by chunk, so memory stays bounded whatever the size. A
//! sidecar `FILE.part.meta` records the URL the partial file came from (and the server's
//! validator, an `ETag` or `Last-Modified`), so a partial file is resumed only for the same
//! URL, the same date window, and, when the server gives a validator, the same content
//! (`If-Range`). A server that answers `200` to a `Range` request (Opendatasoft's exports often
//! do) sends the whole file again, which then replaces the partial one: slower, still correct.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use garonne_payload::report::Chain;
use reqwest::header::{self, HeaderMap};
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};
use tokio::fs::{self, OpenOptions};
use tokio::io::AsyncWriteExt;
use tracing::{debug, warn};

use super::FetchError;
use super::manifest::sha256_file;
use super::progress::Bar;

/// The longest wait between two attempts.
pub(crate) const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// What every download of a run shares.
pub(crate) struct Context {
    /// The HTTP client, with its connect and read timeouts.
    pub client: reqwest::Client,
    /// The data directory, for the "cannot reach" hint.
    pub data_dir: PathBuf,
    /// The portal's host (and port), for the "cannot reach" message.
    pub host: String,
    /// Attempts per download (at least 1).
    pub attempts: u32,
    /// The wait before the second attempt; doubled each time after.
    pub retry_delay: Duration,
}

/// A completed download.
#[derive(Debug)]
pub(crate) struct Downloaded {
    /// The file's size.
    pub bytes: u64,
    /// The file's SHA-256, lower-case hex.
    pub sha256: String,
    /// The bytes that were already on disk from an earlier, interrupted attempt.
    pub resumed_from: u64,
}

/// What a partial file is, kept next to it as `FILE.part.meta`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct PartMeta {
    url: String,
    validator: Option<String>,
}

/// How one attempt went wrong.
enum Failure {
    /// Worth another attempt, resuming from what is on disk.
    Retry(FetchError),
    /// No point retrying.
    Fatal(FetchError),
    /// The partial file cannot be resumed and was removed: start again from zero at once.
    Restart(FetchError),
}

/// `path` with `suffix` appended to its file name: `a/b.json` → `a/b.json.part`.
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Downloads `url` into `path` (dataset `id`), resuming `path.part` when it can, retrying
/// interrupted transfers; the file appears at `path` only once complete.
pub(crate) async fn download(
    ctx: &Context,
    id: &str,
    url: &Url,
    path: &Path,
    bar: &Bar,
) -> Result<Downloaded, FetchError> {
    let part = with_suffix(path, ".part");
    let meta = with_suffix(path, ".part.meta");
    let mut attempt = 1;
    let mut delay = ctx.retry_delay;
    let mut restarted = false;
    let resumed_from = loop {
        match attempt_once(ctx, id, url, &part, &meta, bar).await {
            Ok(resumed_from) => break resumed_from,
            Err(Failure::Restart(error)) if !restarted => {
                debug!(dataset = id, %error, "partial file not resumable, starting over");
                restarted = true;
            }
            Err(Failure::Retry(error)) if attempt < ctx.attempts => {
                warn!(
                    dataset = id,
                    attempt,
                    error = %Chain(&error),
                    "download interrupted, retrying in {delay:?}"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_RETRY_DELAY);
                attempt += 1;
            }
            Err(Failure::Retry(error) | Failure::Fatal(error) | Failure::Restart(error)) => {
                return Err(error);
            }
        }
    };

    let hash_path = part.clone();
    let (bytes, sha256) = tokio::task::spawn_blocking(move || sha256_file(&hash_path))
        .await
        .map_err(FetchError::Task)?
        .map_err(|source| FetchError::io("read", &part, source))?;
    fs::rename(&part, path)
        .await
        .map_err(|source| FetchError::io("rename into place", &part, source))?;
    remove_if_present(&meta).await?;
    Ok(Downloaded {
        bytes,
        sha256,
        resumed_from,
    })
}

/// One request; returns how many bytes were resumed from disk.
async fn attempt_once(
    ctx: &Context,
    id: &str,
    url: &Url,
    part: &Path,
    meta: &Path,
    bar: &Bar,
) -> Result<u64, Failure> {
    let (offset, validator) = resume_state(url, part, meta)
        .await
        .map_err(Failure::Fatal)?;
    let mut request = ctx.client.get(url.clone());
    if offset > 0 {
        debug!(dataset = id, offset, "resuming partial download");
        request = request.header(header::RANGE, format!("bytes={offset}-"));
        if let Some(validator) = &validator {
            request = request.header(header::IF_RANGE, validator);
        }
    }
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(source) if source.is_connect() => {
            return Err(Failure::Fatal(FetchError::Unreachable {
                host: ctx.host.clone(),
                data_dir: ctx.data_dir.clone(),
                source: source.without_url(),
            }));
        }
        Err(source) => return Err(Failure::Retry(transfer(id, url, source))),
    };

    let status = response.status();
    let (start, total) = match status {
        StatusCode::PARTIAL_CONTENT if offset > 0 => match content_range(response.headers()) {
            Some((first, total)) if first == offset => (
                offset,
                total.or(response.content_length().map(|n| offset + n)),
            ),
            _ => {
                remove_partial(part, meta).await.map_err(Failure::Fatal)?;
                return Err(Failure::Restart(status_error(id, url, status)));
            }
        },
        StatusCode::OK => (0, response.content_length()),
        StatusCode::RANGE_NOT_SATISFIABLE if offset > 0 => {
            remove_partial(part, meta).await.map_err(Failure::Fatal)?;
            return Err(Failure::Restart(status_error(id, url, status)));
        }
        _ => {
            let error = status_error(id, url, status);
            return Err(if is_transient(status) {
                Failure::Retry(error)
            } else {
                Failure::Fatal(error)
            });
        }
    };

    let mut file = if start == 0 {
        let state = PartMeta {
            url: url.to_string(),
            validator: validator_of(response.headers()),
        };
        write_meta(meta, &state).await.map_err(Failure::Fatal)?;
        fs::File::create(part).await
    } else {
        OpenOptions::new().append(true).open(part).await
    }
    .map_err(|source| Failure::Fatal(FetchError::io("write", part, source)))?;

    bar.start(start, total);
    let mut received = start;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                file.write_all(&chunk)
                    .await
                    .map_err(|source| Failure::Fatal(FetchError::io("write", part, source)))?;
                received += chunk.len() as u64;
                bar.advance(chunk.len() as u64);
            }
            Ok(None) => break,
            Err(source) => {
                // Design: what arrived must be on disk before the next attempt measures the
                // partial file, or the Range request would skip or repeat bytes.
                file.flush()
                    .await
                    .map_err(|source| Failure::Fatal(FetchError::io("write", part, source)))?;
                return Err(Failure::Retry(transfer(id, url, source)));
            }
        }
    }
    file.flush()
        .await
        .map_err(|source| Failure::Fatal(FetchError::io("write", part, source)))?;
    file.sync_all()
        .await
        .map_err(|source| Failure::Fatal(FetchError::io("write", part, source)))?;
    match total {
        Some(expected) if expected != received => Err(Failure::Retry(FetchError::Truncated {
            id: id.to_owned(),
            url: url.to_string(),
            received,
            expected,
        })),
        _ => Ok(start),
    }
}

/// Where to resume from: the size of `part` and its validator, if `part` came from `url`.
/// A partial file from another URL (another date window) is removed.
async fn resume_state(
    url: &Url,
    part: &Path,
    meta: &Path,
) -> Result<(u64, Option<String>), FetchError> {
    let size = match fs::metadata(part).await {
        Ok(m) => m.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((0, None)),
        Err(source) => return Err(FetchError::io("read", part, source)),
    };
    let state: Option<PartMeta> = match fs::read(meta).await {
        Ok(text) => serde_json::from_slice(&text).ok(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(source) => return Err(FetchError::io("read", meta, source)),
    };
    match state {
        Some(state) if state.url == url.as_str() && size > 0 => Ok((size, state.validator)),
        _ => {
            remove_partial(part, meta).await?;
            Ok((0, None))
        }
    }
}

/// Removes a partial file and its sidecar.
pub(crate) async fn remove_partial(part: &Path, meta: &Path) -> Result<(), FetchError> {
    remove_if_present(part).await?;
    remove_if_present(meta).await
}

async fn remove_if_present(path: &Path) -> Result<(), FetchError> {
    match fs::remove_file(path).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(FetchError::io("remove", path, source)),
    }
}

async fn write_meta(path: &Path, state: &PartMeta) -> Result<(), FetchError> {
    let text = serde_json::to_vec(state)
        .map_err(|e| FetchError::io("write", path, io::Error::other(e)))?;
    fs::write(path, text)
        .await
        .map_err(|source| FetchError::io("write", path, source))
}

fn transfer(id: &str, url: &Url, source: reqwest::Error) -> FetchError {
    FetchError::Transfer {
        id: id.to_owned(),
        url: url.to_string(),
        source: source.without_url(),
    }
}

fn status_error(id: &str, url: &Url, status: StatusCode) -> FetchError {
    FetchError::Status {
        id: id.to_owned(),
        url: url.to_string(),
        status,
    }
}

/// Statuses that say "try again later" rather than "this will never work".
pub(crate) fn is_transient(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::REQUEST_TIMEOUT
            | StatusCode::TOO_MANY_REQUESTS
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT
    )
}

/// The validator for `If-Range`: a strong `ETag`, else `Last-Modified` (RFC 9110 §13.1.5).
fn validator_of(headers: &HeaderMap) -> Option<String> {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    text(header::ETAG)
        .filter(|etag| !etag.starts_with("W/"))
        .or_else(|| text(header::LAST_MODIFIED))
        .map(str::to_owned)
}

/// The first byte and the total length of `Content-Range: bytes FIRST-LAST/TOTAL` (TOTAL may
/// be `*`).
fn content_range(headers: &HeaderMap) -> Option<(u64, Option<u64>)> {
    let value = headers.get(header::CONTENT_RANGE)?.to_str().ok()?;
    parse_content_range(value)
}

fn parse_content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let first: u64 = first.trim().parse().ok()?;
    let last: u64 = last.trim().parse().ok()?;
    if last < first {
        return None;
    }
    let total = match total.trim() {
        "*" => None,
        n => Some(n.parse::<u64>().ok()?),
    };
    Some((first, total))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn content_range_parses() {
        let cases = [
            ("bytes 100-199/200", Some((100, Some(200)))),
            ("bytes 0-0/*", Some((0, None))),
            ("bytes 5-4/10", None),
            ("bytes */200", None),
            ("items 0-1/2", None),
            ("bytes a-1/2", None),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_content_range(value), expected, "{value}");
        }
    }

    #[test]
    fn only_strong_etags_validate_a_range() {
        let mut h = HeaderMap::new();
        assert_eq!(validator_of(&h), None);
        h.insert(header::ETAG, "W/\"weak\"".parse().unwrap());
        assert_eq!(validator_of(&h), None);
        h.insert(
            header::LAST_MODIFIED,
            "Wed, 26 Nov 2025 09:00:00 GMT".parse().unwrap(),
        );
        assert_eq!(
            validator_of(&h).as_deref(),
            Some("Wed, 26 Nov 2025 09:00:00 GMT")
        );
        h.insert(header::ETAG, "\"strong\"".parse().unwrap());
        assert_eq!(validator_of(&h).as_deref(), Some("\"strong\""));
    }

    #[test]
    fn suffixes_go_on_the_file_name() {
        assert_eq!(
            with_suffix(Path::new("d/readings/a.json"), ".part"),
            PathBuf::from("d/readings/a.json.part")
        );
    }
}
