//! Errors: [`ApiError`], what an API client gets (a status and `{"error": "..."}` that says what
//! to fix), and [`ServerError`], why the server could not start or stopped.

use std::net::SocketAddr;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::config::ConfigError;

/// An API error: an HTTP status and a message for the person who made the request, saying what
/// to change. Server-side failures (5xx) are logged once, here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl ApiError {
    /// 400: the request is wrong.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// 404: what the request names does not exist.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    /// 503: something the server depends on does not answer.
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = self.status.as_u16(), error = %self.message, "API request failed");
        }
        let body = serde_json::json!({ "error": self.message }).to_string();
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is invalid, or the polygons it names cannot be loaded.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The history store's settings are unusable.
    #[error("cannot use the history store")]
    History(#[source] garonne_store::influx::ConfigError),
    /// The HTTP address is taken or not allowed.
    #[error("cannot listen on {addr} for the web server (pick another address with --http)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}
