//! [`InfluxV1`]: the store on InfluxDB's v1 write API.

use reqwest::Url;

use super::{
    ConfigError, Container, Credentials, Database, LineProtocolApi, Target, server_message,
    status_error, transport_error,
};
use crate::store::StoreError;

/// A store writing to one InfluxDB 1.x database with `POST /write?db=DB&precision=ns`, the
/// body in line protocol. Every request times out after
/// [`REQUEST_TIMEOUT`](super::REQUEST_TIMEOUT).
#[derive(Debug, Clone)]
pub struct InfluxV1 {
    db: Database,
    write_url: Url,
}

impl InfluxV1 {
    /// A store for `database` on the server at `url` (such as `http://127.0.0.1:8086`; a
    /// path, as behind a reverse proxy, is kept), authenticating with `credentials` (see
    /// [`Credentials::from_values`]). Nothing is sent yet: [`InfluxV1::check`] tries the
    /// server.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for a URL that is not `http://` or `https://`, or when the HTTP client
    /// cannot be built.
    pub fn new(url: &str, database: &str, credentials: Credentials) -> Result<Self, ConfigError> {
        let db = Database::new(url, database, credentials)?;
        let mut write_url = db.base.endpoint("write");
        write_url
            .query_pairs_mut()
            .append_pair("db", database)
            .append_pair("precision", "ns");
        Ok(Self { db, write_url })
    }

    /// The server's URL, without credentials.
    pub fn url(&self) -> &str {
        &self.db.base.shown
    }

    /// The database written to.
    pub fn database(&self) -> &str {
        &self.db.name
    }

    /// Checks, at start-up, that the server answers, accepts the credentials and has the
    /// database, by writing an empty batch.
    ///
    /// # Errors
    ///
    /// As [`Store::write`](crate::store::Store::write): the message says what is wrong and
    /// how to fix it.
    pub async fn check(&self) -> Result<(), StoreError> {
        self.send(String::new()).await
    }

    /// Creates the database if it does not exist (`CREATE DATABASE`, which InfluxDB 1.x
    /// accepts for an existing database too), for tests and single-machine set-ups; the
    /// user needs admin rights when authentication is on.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the server cannot be reached or refuses.
    pub async fn create_database(&self) -> Result<(), StoreError> {
        let mut url = self.db.base.endpoint("query");
        url.query_pairs_mut().append_pair(
            "q",
            &format!(
                "CREATE DATABASE {}",
                super::influxql::identifier(&self.db.name)
            ),
        );
        let server = self.db.server();
        let response = self
            .db
            .request(reqwest::Method::POST, url)
            .send()
            .await
            .map_err(|e| send_error(&server, e))?;
        let status = response.status();
        let body = response.text().await.map_err(|e| send_error(&server, e))?;
        // InfluxQL answers 200 with an error per statement, or an HTTP error.
        let statement_error = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.pointer("/results/0/error")?.as_str().map(str::to_owned));
        match (status.is_success(), statement_error) {
            (true, None) => Ok(()),
            (true, Some(error)) => Err(StoreError::Unavailable(format!(
                "{server} did not create database {:?}: {error}",
                self.db.name
            ))),
            (false, _) => Err(StoreError::Unavailable(format!(
                "{server} did not create database {:?} ({}): {}",
                self.db.name,
                status.as_u16(),
                server_message(&body)
            ))),
        }
    }
}

impl LineProtocolApi for InfluxV1 {
    const NAME: &'static str = "influx-v1";

    /// Sends one line-protocol body.
    async fn send(&self, body: String) -> Result<(), StoreError> {
        let server = self.db.server();
        let response = self
            .db
            .request(reqwest::Method::POST, self.write_url.clone())
            .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(body)
            .send()
            .await
            .map_err(|e| send_error(&server, e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // The body says why; if it cannot be read, the status alone decides.
        let text = response.text().await.unwrap_or_default();
        Err(status_error(
            status.as_u16(),
            &text,
            Target {
                server: &server,
                container: Container::Database(&self.db.name),
                credentials: &self.db.credentials,
            },
        ))
    }
}

/// The error for a request that got no answer (reqwest's text without the URL, which may
/// hold a password).
fn send_error(server: &str, error: reqwest::Error) -> StoreError {
    let error = error.without_url();
    transport_error(server, error.is_timeout(), error.is_connect(), &error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn writes_go_to_the_database_in_nanoseconds() -> Result<(), ConfigError> {
        let store = InfluxV1::new("http://127.0.0.1:8086", "my db&x", Credentials::None)?;
        assert_eq!(
            store.write_url.as_str(),
            "http://127.0.0.1:8086/write?db=my+db%26x&precision=ns"
        );
        assert_eq!(store.url(), "http://127.0.0.1:8086");
        assert_eq!(store.database(), "my db&x");
        assert_eq!(store.name(), "influx-v1");
        Ok(())
    }
}
