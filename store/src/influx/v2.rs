//! [`InfluxV2`]: the store on the v2 write API, through the `influxdb2` crate.

use super::{
    Base, ConfigError, Container, Credentials, LineProtocolApi, REQUEST_TIMEOUT, Target,
    status_error, transport_error,
};
use crate::store::StoreError;

/// A store writing to one bucket with `POST /api/v2/write?org=ORG&bucket=BUCKET&precision=ns`
/// (InfluxDB 2.x and 3.x, VictoriaMetrics), through [`influxdb2::Client`]'s
/// `write_line_protocol`: the body is this crate's own line protocol ([`crate::lineproto`]),
/// so every store writes the same text. Every write times out after
/// [`REQUEST_TIMEOUT`].
///
/// The crate writes at the root of the server (`{url}/api/v2/write`): a URL with a path is
/// refused rather than silently ignored.
#[derive(Debug, Clone)]
pub struct InfluxV2 {
    client: influxdb2::Client,
    base: Base,
    org: String,
    bucket: String,
    /// Only which kind of credentials, for messages: the token itself lives in the client.
    credentials: Credentials,
}

impl InfluxV2 {
    /// A store for `bucket` of organisation `org` on the server at `url` (such as
    /// `http://127.0.0.1:8086`), authenticating with `token` (none when empty, as for
    /// VictoriaMetrics). Nothing is sent yet.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for a URL that is not `http://` or `https://`, has a path, or when the
    /// HTTP client cannot be built.
    pub fn new(url: &str, org: &str, bucket: &str, token: &str) -> Result<Self, ConfigError> {
        let base = Base::parse(url)?;
        if base.url.path() != "/" {
            return Err(ConfigError::Url {
                url: base.shown,
                reason: "the v2 write API is reached at the root of the server: remove the path"
                    .to_owned(),
            });
        }
        // Design: the builder rather than `Client::new`, which panics where this returns an
        // error (the URL was checked above with the same parser, so only TLS set-up can fail).
        let client = influxdb2::ClientBuilder::new(base.url.as_str(), org, token)
            .build()
            .map_err(|e| ConfigError::Client(Box::new(e)))?;
        let credentials = if token.is_empty() {
            Credentials::None
        } else {
            // The token itself stays in the client.
            Credentials::Token(String::new())
        };
        Ok(Self {
            client,
            base,
            org: org.to_owned(),
            bucket: bucket.to_owned(),
            credentials,
        })
    }

    /// The server's URL, without credentials.
    pub fn url(&self) -> &str {
        &self.base.shown
    }

    /// The organisation.
    pub fn org(&self) -> &str {
        &self.org
    }

    /// The bucket written to.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }
}

impl LineProtocolApi for InfluxV2 {
    const NAME: &'static str = "influx-v2";

    async fn send(&self, body: String) -> Result<(), StoreError> {
        let server = format!("InfluxDB (v2 API) at {}", self.base.shown);
        let write = self
            .client
            .write_line_protocol(&self.org, &self.bucket, body);
        let Ok(result) = tokio::time::timeout(REQUEST_TIMEOUT, write).await else {
            return Err(StoreError::Unavailable(format!(
                "{server} did not answer within {} s",
                REQUEST_TIMEOUT.as_secs()
            )));
        };
        match result {
            Ok(()) => Ok(()),
            Err(influxdb2::RequestError::Http { status, text }) => Err(status_error(
                status.as_u16(),
                &text,
                Target {
                    server: &server,
                    container: Container::Bucket {
                        org: &self.org,
                        bucket: &self.bucket,
                    },
                    credentials: &self.credentials,
                },
            )),
            Err(influxdb2::RequestError::ReqwestProcessing { source }) => {
                // Without the URL, which may hold a password.
                let source = source.without_url();
                Err(transport_error(
                    &server,
                    source.is_timeout(),
                    source.is_connect(),
                    &source,
                ))
            }
            Err(other) => Err(StoreError::Unavailable(format!("{server}: {other}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn a_url_with_a_path_is_refused() {
        let error = InfluxV2::new("http://127.0.0.1:8086/influx", "o", "b", "")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("remove the path"), "{error}");
        assert!(InfluxV2::new("http://127.0.0.1:8086/", "o", "b", "t").is_ok());
        assert!(InfluxV2::new("127.0.0.1:8086", "o", "b", "t").is_err());
    }

    #[test]
    fn the_token_is_not_shown() -> Result<(), ConfigError> {
        let store = InfluxV2::new("http://127.0.0.1:8086", "org", "bucket", "secret-token")?;
        let shown = format!("{store:?}");
        assert!(!shown.contains("secret-token"), "{shown}");
        assert_eq!(
            (store.url(), store.org(), store.bucket(), store.name()),
            ("http://127.0.0.1:8086", "org", "bucket", "influx-v2")
        );
        Ok(())
    }
}
