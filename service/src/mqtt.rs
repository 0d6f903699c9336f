//! The MQTT side every service shares: broker addresses (plain `mqtt://` or TLS `mqtts://`), and
//! an event loop that reconnects with capped exponential backoff, logs once per state change,
//! counts what went out and what the broker acknowledged, and (for subscribers) hands incoming
//! publishes to a bounded channel, subscribing again whenever the broker has forgotten the session.
//!
//! Design: TLS is part of the broker's address. A [`BrokerUrl`] of `mqtts://` carries the
//! certificate authorities it trusts ([`Roots`]: the system's, or only those of a [`CaFile`]
//! read once at start), so every service, the simulator and the Pi agent get TLS through the
//! one [`options`] without a setting of their own. A failed handshake is logged as a TLS
//! failure that says what to fix ([`TlsProblem`]), not as a lost connection, and retried with
//! the same backoff.
//!
//! Design: a subscriber acknowledges a QoS 1 message only once it is done with it
//! ([`subscriber_options`], [`Acks`]). rumqttc acknowledges on receipt by default, so a message
//! still on its way to the consumer when the process stops would be lost; unacknowledged, the
//! broker hands it over again on the next connection of the same persistent session.
//!
//! Design: rumqttc's `EventLoop::poll` reconnects immediately when called after an error
//! (bytebeamio/rumqtt#703, #918), which turns a broker outage into a busy loop; the driver here
//! waits between attempts through the one [`Backoff`]: 100 ms doubling up to 5 s, jittered.
//!
//! Design: a subscriber may *linger* (Nagle's idea, for reads): after handing over what one
//! read gave, the driver waits a moment before reading again, so that under a steady trickle
//! of messages one wake-up takes many of them. It never lingers while a received QoS 1 message
//! waits for its acknowledgement: the broker holds the next messages back
//! once its in-flight window is full (mosquitto: 20 by default), so a linger there caps the rate
//! at a window per linger — measured, realtime from a backlog fell from 214,000 to 58,000
//! readings/s. It serves the web server (QoS 0, nothing to acknowledge).

use std::collections::VecDeque;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rumqttc::tokio_rustls::rustls;
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Outgoing, Packet, Publish, QoS,
    TlsConfiguration, TlsError, Transport,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::backoff::Backoff;
use crate::inbox;

/// First wait after a failed connection attempt.
pub const BACKOFF_START: Duration = Duration::from_millis(100);
/// Longest wait between connection attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A poll of the event loop that took this long had to wait for the socket.
const WAITED: Duration = Duration::from_micros(50);

/// Default port of plain MQTT.
pub const MQTT_PORT: u16 = 1883;
/// Default port of MQTT over TLS.
pub const MQTTS_PORT: u16 = 8883;

/// Where the broker is: `mqtt://HOST[:PORT]` (port 1883 by default), or `mqtts://HOST[:PORT]`
/// for MQTT over TLS (port 8883 by default), trusting the system's certificate authorities
/// unless [`BrokerUrl::trusting`] names a CA file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    /// Host name or address (TLS checks the broker's certificate against it).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// `Some` for `mqtts://`: TLS, trusting these certificate authorities.
    pub tls: Option<Roots>,
}

/// The certificate authorities a TLS connection to the broker trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// The system's (`/etc/ssl/certs`..., read by rustls-native-certs), as for a broker with a
    /// certificate from a public authority such as Let's Encrypt.
    System,
    /// Only the certificates of this file, as for a broker whose certificate the operator
    /// signed with their own CA.
    File(CaFile),
}

/// A PEM file of one or more CA certificates, read and checked once ([`CaFile::load`]).
#[derive(Clone, PartialEq, Eq)]
pub struct CaFile {
    path: PathBuf,
    certs: Arc<[CertificateDer<'static>]>,
}

/// Why a CA file cannot be used; each message says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum CaFileError {
    /// The file cannot be read.
    #[error(
        "cannot read the CA file {} (give ca_file / --ca-file the PEM file of the certificate \
         authority that signed the broker's certificate, e.g. deploy/tls/ca.crt)",
        path.display()
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not PEM, or holds no certificate, or a certificate that cannot be parsed.
    #[error(
        "the CA file {} is not a PEM file of CA certificates ({why}); give the CA's certificate, \
         the file that starts with -----BEGIN CERTIFICATE----- (not its key)",
        path.display()
    )]
    NotPem {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        why: String,
    },
    /// A CA file is given for a plain MQTT broker.
    #[error(
        "ca_file {} is set, but the broker {broker} is plain MQTT: write mqtts://{}:{MQTTS_PORT} \
         to connect over TLS, or remove ca_file",
        path.display(),
        broker.host
    )]
    NotTls {
        /// The file.
        path: PathBuf,
        /// The broker.
        broker: Box<BrokerUrl>,
    },
}

impl CaFile {
    /// Reads and checks `path`: PEM, with one or more certificates that parse.
    ///
    /// # Errors
    ///
    /// [`CaFileError::Read`] or [`CaFileError::NotPem`], each saying what to give instead.
    pub fn load(path: &Path) -> Result<CaFile, CaFileError> {
        let not_pem = |why: String| CaFileError::NotPem {
            path: path.to_owned(),
            why,
        };
        let bytes = std::fs::read(path).map_err(|source| CaFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        let certs = CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| not_pem(e.to_string()))?;
        if certs.is_empty() {
            return Err(not_pem("no CERTIFICATE block".to_owned()));
        }
        let mut store = rustls::RootCertStore::empty();
        for cert in &certs {
            store
                .add(cert.clone())
                .map_err(|e| not_pem(format!("a certificate does not parse: {e}")))?;
        }
        Ok(CaFile {
            path: path.to_owned(),
            certs: certs.into(),
        })
    }

    /// The file, as given.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl fmt::Debug for CaFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaFile")
            .field("path", &self.path)
            .field("certificates", &self.certs.len())
            .finish()
    }
}

impl Serialize for CaFile {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.path.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for CaFile {
    /// Read and checked here, with the whole chain of [`CaFile::load`]'s error.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<CaFile, D::Error> {
        let path = PathBuf::deserialize(deserializer)?;
        CaFile::load(&path)
            .map_err(|e| serde::de::Error::custom(garonne_payload::report::Chain(&e)))
    }
}

impl Roots {
    /// A rustls client configuration trusting these roots (TLS 1.2 and 1.3, no client
    /// certificate).
    fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut store = rustls::RootCertStore::empty();
        let certs = match self {
            Roots::System => system_roots(),
            Roots::File(ca) => &ca.certs,
        };
        store.add_parsable_certificates(certs.iter().cloned());
        // Design: the provider is named rather than left to rustls's process default, which
        // panics when two providers are compiled in; aws-lc-rs is rumqttc's own (its default
        // `use-rustls` feature).
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
        let config = match rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
        {
            Ok(builder) => builder.with_root_certificates(store).with_no_client_auth(),
            // Only a provider without TLS 1.2 and 1.3 could fail: the default one.
            Err(_) => rustls::ClientConfig::builder()
                .with_root_certificates(store)
                .with_no_client_auth(),
        };
        Arc::new(config)
    }
}

/// The system's certificate authorities, read once per process; a failure is logged once and
/// leaves what could be read (a handshake then fails as [`TlsProblem::UnknownIssuer`]).
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            warn!(%error, "cannot read some of the system's CA certificates");
        }
        if found.certs.is_empty() {
            warn!(
                "no system CA certificates found: an mqtts:// broker cannot be checked; set \
                 ca_file (--ca-file) or install the ca-certificates package"
            );
        }
        found.certs
    })
}

/// Why a broker URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "broker URL \"{url}\" is not valid: {why} (write it like mqtt://127.0.0.1:1883, or \
     mqtts://broker.example.org for TLS)"
)]
pub struct BrokerUrlError {
    url: String,
    why: &'static str,
}

impl BrokerUrl {
    /// Whether the connection uses TLS (`mqtts://`).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The CA file trusted, if one is.
    pub fn ca_file(&self) -> Option<&Path> {
        match &self.tls {
            Some(Roots::File(ca)) => Some(ca.path()),
            _ => None,
        }
    }

    /// This broker, trusting only the certificate authorities of `ca` (`None`: unchanged).
    ///
    /// # Errors
    ///
    /// [`CaFileError::NotTls`] when the broker is plain `mqtt://`.
    pub fn trusting(mut self, ca: Option<CaFile>) -> Result<BrokerUrl, CaFileError> {
        let Some(ca) = ca else {
            return Ok(self);
        };
        if self.tls.is_none() {
            return Err(CaFileError::NotTls {
                path: ca.path,
                broker: Box::new(self),
            });
        }
        self.tls = Some(Roots::File(ca));
        Ok(self)
    }
}

impl std::str::FromStr for BrokerUrl {
    type Err = BrokerUrlError;
    fn from_str(url: &str) -> Result<BrokerUrl, BrokerUrlError> {
        let err = |why| BrokerUrlError {
            url: url.to_owned(),
            why,
        };
        let (rest, tls) = match url.split_once("://") {
            Some(("mqtt" | "tcp", rest)) => (rest, None),
            Some(("mqtts" | "ssl", rest)) => (rest, Some(Roots::System)),
            Some(_) => return Err(err("only mqtt:// is supported, or mqtts:// for TLS")),
            None => (url, None),
        };
        let default_port = if tls.is_some() { MQTTS_PORT } else { MQTT_PORT };
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') || rest.contains('@') {
            return Err(err(
                "give only a host and a port (credentials come from the environment)",
            ));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => (
                h,
                p.parse::<u16>()
                    .map_err(|_| err("the port is not a number from 1 to 65535"))?,
            ),
            _ => (rest, default_port),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(err("the host is missing"));
        }
        if port == 0 {
            return Err(err("the port is not a number from 1 to 65535"));
        }
        Ok(BrokerUrl {
            host: host.to_owned(),
            port,
            tls,
        })
    }
}

impl Default for BrokerUrl {
    /// `mqtt://127.0.0.1:1883`: a broker on this machine.
    fn default() -> BrokerUrl {
        BrokerUrl {
            host: "127.0.0.1".to_owned(),
            port: MQTT_PORT,
            tls: None,
        }
    }
}

impl Serialize for BrokerUrl {
    /// The URL only: a CA file is a key of its own (`ca_file`).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BrokerUrl {
    /// Parsed once, here, with the error of [`BrokerUrl::from_str`](std::str::FromStr).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<BrokerUrl, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.is_tls() { "mqtts" } else { "mqtt" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// What went wrong in a TLS handshake with the broker, said so that an operator knows what to
/// fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsProblem {
    /// The broker's certificate is not signed by a trusted authority.
    #[error(
        "the broker's certificate is not signed by a trusted certificate authority: set ca_file \
         (--ca-file) to the PEM file of the CA that signed it"
    )]
    UnknownIssuer,
    /// The broker's certificate is for other names.
    #[error(
        "the broker's certificate is not valid for the host name in the broker URL: connect with \
         a name the certificate lists (or reissue it with this one)"
    )]
    WrongName,
    /// The broker's certificate has expired, or is not valid yet.
    #[error("the broker's certificate has expired or is not valid yet (check it, and the clock)")]
    Expired,
    /// The host cannot be checked against a certificate.
    #[error("the broker's host is not a valid DNS name or IP address for TLS")]
    BadHostName,
    /// Anything else the handshake said (a plain MQTT port answering a TLS client, an old
    /// protocol version...).
    #[error(
        "TLS handshake failed ({0}); is the port a TLS listener (8883), not plain MQTT (1883)?"
    )]
    Handshake(String),
}

impl TlsProblem {
    /// The TLS problem an event loop's error is, if it is one.
    pub fn of(error: &ConnectionError) -> Option<TlsProblem> {
        let ConnectionError::Tls(tls) = error else {
            return None;
        };
        let rustls_error = match tls {
            TlsError::TLS(e) => Some(e),
            TlsError::Io(io) => io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()),
            TlsError::DNSName(_) | TlsError::Addr(_) => return Some(TlsProblem::BadHostName),
            _ => None,
        };
        // Anything else happened during the handshake (the TCP connection is made before it,
        // its errors are `ConnectionError::Io`): a peer that closed it, as a plain MQTT
        // listener does on a TLS client's first bytes, is a TLS failure too.
        let Some(rustls_error) = rustls_error else {
            return Some(TlsProblem::Handshake(tls.to_string()));
        };
        use rustls::CertificateError as C;
        Some(match rustls_error {
            rustls::Error::InvalidCertificate(cert) => match cert {
                C::UnknownIssuer | C::BadSignature => TlsProblem::UnknownIssuer,
                C::NotValidForName | C::NotValidForNameContext { .. } => TlsProblem::WrongName,
                C::Expired
                | C::ExpiredContext { .. }
                | C::NotValidYet
                | C::NotValidYetContext { .. } => TlsProblem::Expired,
                other => TlsProblem::Handshake(format!("{other:?}")),
            },
            other => TlsProblem::Handshake(other.to_string()),
        })
    }
}

/// Live counters of one connection, shared with its event loop.
#[derive(Debug, Default)]
pub struct Counters {
    /// Publish packets written to the socket.
    pub sent: AtomicU64,
    /// QoS 1 publishes the broker acknowledged.
    pub acked: AtomicU64,
    /// Connection attempts that failed or connections that were lost.
    pub errors: AtomicU64,
    /// Of those, TLS handshakes that failed ([`TlsProblem`]).
    pub tls_failures: AtomicU64,
    /// Successful connections (the first one included).
    pub connections: AtomicU64,
    /// Publishes received from the broker (subscribers only).
    pub received: AtomicU64,
    /// Whether the connection is up now.
    pub connected: AtomicBool,
    /// Whether the broker holds the subscriptions now (a SUBACK came, or the session it kept
    /// has them); subscribers only.
    pub subscribed: AtomicBool,
    /// Woken whenever a connection is made or lost, a publish is acknowledged, or the event
    /// loop ends, so a caller can wait for the next acknowledgement instead of polling (see
    /// [`Counters::wait_until`]).
    pub changed: Notify,
}

impl Counters {
    /// Adds the connection's state to a Prometheus exposition, under the service's names:
    /// `garonne_{service}_mqtt_connected` and `garonne_{service}_mqtt_connection_errors_total`.
    pub fn render(&self, service: &str, e: &mut crate::prometheus::Exposition) {
        e.gauge(
            &format!("garonne_{service}_mqtt_connected"),
            "1 while connected to the broker.",
            f64::from(u8::from(self.connected.load(Ordering::Relaxed))),
        )
        .counter(
            &format!("garonne_{service}_mqtt_connection_errors_total"),
            "Failed connection attempts and lost connections.",
            self.errors.load(Ordering::Relaxed),
        );
    }

    /// Waits until `ready` holds, re-checking it after every change of the counters.
    pub async fn wait_until(&self, mut ready: impl FnMut(&Counters) -> bool) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            // Registered before the check, so a change between the check and the wait wakes us.
            notified.as_mut().enable();
            if ready(self) {
                return;
            }
            notified.await;
        }
    }
}

/// A client and the task that drives its event loop.
pub struct Connection {
    /// Publish through this.
    pub client: AsyncClient,
    /// Counters updated by the event loop.
    pub counters: Arc<Counters>,
    task: JoinHandle<()>,
}

impl Connection {
    /// Starts driving `eventloop` in a task; it runs until the client sends DISCONNECT.
    pub fn start(client: AsyncClient, eventloop: EventLoop, broker: BrokerUrl) -> Connection {
        Connection::spawn(client, eventloop, broker, true, None, Arc::default())
    }

    /// Like [`Connection::start`], and subscribes to `filters` (again after every connection
    /// where the broker kept no session), sending every publish received into `inbox`, and
    /// waiting `linger` after each read that gave messages (see the module's design notes);
    /// the event loop keeps `counters` up to date.
    ///
    /// Design: `inbox` is bounded (in bytes) and the event loop waits when it is full, so a slow
    /// consumer stops reading the socket and the broker queues (or, past its limits, the TCP
    /// window pushes back) instead of this process growing without bound.
    pub fn start_subscriber(
        client: AsyncClient,
        eventloop: EventLoop,
        broker: BrokerUrl,
        filters: Vec<(String, QoS)>,
        inbox: inbox::Sender,
        linger: Duration,
        counters: Arc<Counters>,
    ) -> Connection {
        let subscription = Subscription {
            client: client.clone(),
            filters,
            inbox,
            linger,
        };
        Connection::spawn(
            client,
            eventloop,
            broker,
            true,
            Some(subscription),
            counters,
        )
    }

    /// Like [`Connection::start`], but the event loop ends when an established connection is
    /// lost instead of reconnecting (until the first connection it retries with the same
    /// backoff). Every acknowledgement it counts then belongs to that one connection, and what
    /// rumqttc still held dies with it: a caller that tracks deliveries itself (the Pi agent's
    /// disk queue) starts a fresh connection and sends again, and no old message can surface,
    /// or have its acknowledgement counted, on the new one.
    pub fn start_until_lost(
        client: AsyncClient,
        eventloop: EventLoop,
        broker: BrokerUrl,
    ) -> Connection {
        Connection::spawn(client, eventloop, broker, false, None, Arc::default())
    }

    fn spawn(
        client: AsyncClient,
        eventloop: EventLoop,
        broker: BrokerUrl,
        reconnect: bool,
        subscription: Option<Subscription>,
        counters: Arc<Counters>,
    ) -> Connection {
        let task = tokio::spawn(drive(
            eventloop,
            broker,
            Arc::clone(&counters),
            reconnect,
            subscription,
        ));
        Connection {
            client,
            counters,
            task,
        }
    }

    /// Stops the event loop at once, without DISCONNECT (a broker still connected then sends
    /// the last will).
    pub fn abort(self) {
        self.task.abort();
    }

    /// Waits until `sent` publishes have gone out (and, for QoS 1, been acknowledged), at most
    /// `timeout`; then disconnects cleanly and waits for the event loop to end. Returns whether
    /// everything was delivered in time.
    pub async fn finish(self, published: u64, qos1: bool, timeout: Duration) -> bool {
        let delivered = tokio::time::timeout(timeout, async {
            loop {
                let done = if qos1 {
                    self.counters.acked.load(Ordering::Relaxed) >= published
                } else {
                    self.counters.sent.load(Ordering::Relaxed) >= published
                };
                if done {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .is_ok();
        // Connected, the event loop ends once the broker has the DISCONNECT. With the broker
        // gone the loop is waiting to reconnect and would never send it: stop the loop here, or
        // whatever it holds (a subscriber's inbox) would keep its reader waiting forever.
        let mut task = self.task;
        let ended = self.counters.connected.load(Ordering::Relaxed)
            && matches!(
                tokio::time::timeout(Duration::from_secs(1), self.client.disconnect()).await,
                Ok(Ok(()))
            )
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_ok();
        if !ended {
            task.abort();
            let _ = task.await;
        }
        delivered
    }
}

/// What a subscriber asks for, and where its messages go.
struct Subscription {
    client: AsyncClient,
    filters: Vec<(String, QoS)>,
    inbox: inbox::Sender,
    linger: Duration,
}

/// Polls the event loop until DISCONNECT is sent, reconnecting with capped backoff (or, when
/// `reconnect` is false, until an established connection is lost).
async fn drive(
    mut eventloop: EventLoop,
    broker: BrokerUrl,
    counters: Arc<Counters>,
    reconnect: bool,
    subscription: Option<Subscription>,
) {
    let mut backoff = Backoff::new(BACKOFF_START, BACKOFF_MAX);
    // The TLS problem last logged, so that a handshake failing the same way at every attempt
    // is said once.
    let mut tls_said: Option<TlsProblem> = None;
    // Received QoS 1 messages whose acknowledgement has not been written yet.
    let mut owed: u64 = 0;
    // Only a subscriber that lingers times its polls: the clock stays off the others' hot path.
    let lingers = subscription.as_ref().is_some_and(|s| !s.linger.is_zero());
    loop {
        // A poll that took this long waited for the socket: a fresh wake-up, after which a
        // subscriber lingers (rather than cancelling a pending poll, which rumqttc does not
        // promise to survive).
        let started = lingers.then(std::time::Instant::now);
        let event = eventloop.poll().await;
        let woken = started.is_some_and(|t| t.elapsed() >= WAITED);
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                backoff.reset();
                owed = 0;
                tls_said = None;
                connected(&ack, subscription.as_ref(), &counters, &broker);
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                if let Some(sub) = &subscription {
                    counters.received.fetch_add(1, Ordering::Relaxed);
                    // A closed inbox means the consumer is shutting down: drop quietly.
                    if publish.qos != QoS::AtMostOnce {
                        owed += 1;
                    }
                    let _ = sub.inbox.send(publish).await;
                    if woken && owed == 0 {
                        tokio::time::sleep(sub.linger).await;
                    }
                }
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                counters.subscribed.store(true, Ordering::Relaxed);
                counters.changed.notify_waiters();
            }
            Ok(Event::Incoming(Packet::PubAck(_))) => {
                counters.acked.fetch_add(1, Ordering::Relaxed);
                counters.changed.notify_waiters();
            }
            Ok(Event::Outgoing(Outgoing::PubAck(_))) => {
                owed = owed.saturating_sub(1);
            }
            Ok(Event::Outgoing(Outgoing::Publish(_))) => {
                counters.sent.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                counters.connected.store(false, Ordering::Relaxed);
                counters.changed.notify_waiters();
                return;
            }
            Ok(_) => {}
            Err(error) => {
                let was_connected = lost(&error, &counters, &broker, &mut tls_said);
                if was_connected && !reconnect {
                    return;
                }
                backoff.wait().await;
            }
        }
    }
}

/// A CONNACK: the subscription asked for again unless the broker kept the session, and the
/// connection counted.
fn connected(
    ack: &rumqttc::ConnAck,
    subscription: Option<&Subscription>,
    counters: &Counters,
    broker: &BrokerUrl,
) {
    if let Some(sub) = subscription {
        if ack.session_present {
            counters.subscribed.store(true, Ordering::Relaxed);
        } else {
            // try_: the request queue is read by the event loop that called this, so waiting
            // on it here could never end. It holds far more than one request.
            let filters = sub
                .filters
                .iter()
                .map(|(f, qos)| rumqttc::SubscribeFilter::new(f.clone(), *qos));
            if let Err(error) = sub.client.try_subscribe_many(filters) {
                warn!(broker = %broker, %error, "cannot queue the MQTT subscription");
            }
        }
    }
    counters.connected.store(true, Ordering::Relaxed);
    if counters.connections.fetch_add(1, Ordering::Relaxed) > 0 {
        info!(broker = %broker, "MQTT connection restored");
    }
    counters.changed.notify_waiters();
}

/// An error of the event loop: counted, said once (or at each lost connection, or each new TLS
/// problem, as a TLS failure with what to fix); returns whether a connection was established
/// until then.
fn lost(
    error: &ConnectionError,
    counters: &Counters,
    broker: &BrokerUrl,
    tls_said: &mut Option<TlsProblem>,
) -> bool {
    counters.errors.fetch_add(1, Ordering::Relaxed);
    let was_connected = counters.connected.swap(false, Ordering::Relaxed);
    counters.subscribed.store(false, Ordering::Relaxed);
    if let Some(problem) = TlsProblem::of(error) {
        counters.tls_failures.fetch_add(1, Ordering::Relaxed);
        if tls_said.as_ref() != Some(&problem) {
            warn!(broker = %broker, %problem, %error, "TLS handshake with the MQTT broker failed, retrying");
            *tls_said = Some(problem);
        }
    } else if was_connected {
        warn!(broker = %broker, %error, "MQTT connection lost, reconnecting");
    } else if counters.errors.load(Ordering::Relaxed) == 1 {
        warn!(broker = %broker, %error, "cannot reach the MQTT broker, retrying");
    }
    counters.changed.notify_waiters();
    was_connected
}

/// Largest MQTT packet accepted from the broker: the protocol's own maximum.
///
/// Design: rumqttc drops the connection on a larger packet (10 KiB by default), and with a
/// persistent QoS 1 session the broker then hands the same message over again at every
/// reconnection: one oversized payload would stall a subscriber for good. Accepting anything
/// the protocol allows leaves size checks to the payload validator (and to the broker's
/// `message_size_limit`).
pub const MAX_INCOMING_PACKET: usize = 268_435_455;

/// Largest MQTT packet sent: well above any message Garonne builds.
pub const MAX_OUTGOING_PACKET: usize = 1 << 20;

/// An MQTT login. Never in a flag or a file, so it never shows in a process list or in a
/// configuration shared in a bug report: the `garonne` command reads it from the environment
/// and passes it in ([`options`] takes it). `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    password: String,
}

impl Credentials {
    /// A login; an empty password is allowed (a broker may check the user name only).
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The password (for the MQTT CONNECT only; never log it).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// A key derived from the login, for client ids that nobody without the password can
    /// guess: 12 hexadecimal digits of SHA-256 over a label, the user name and the password;
    /// `None` without a password.
    ///
    /// Design: a broker hands a session to whoever connects with its client id, and mosquitto
    /// does not bind ids to logins; a sensor connecting with the historian's id would
    /// disconnect it (and with a clean session discard what the broker kept for it). The
    /// services' and the Pi agent's ids end with this key, so another login cannot take them.
    /// It changes with the password: a new password starts a new persistent session (drain the
    /// services before rotating it).
    pub fn client_key(&self) -> Option<String> {
        use sha2::Digest;
        if self.password.is_empty() {
            return None;
        }
        let digest = sha2::Sha256::new()
            .chain_update(b"garonne client id\0")
            .chain_update(self.username.as_bytes())
            .chain_update(b"\0")
            .chain_update(self.password.as_bytes())
            .finalize();
        Some(digest[..6].iter().map(|b| format!("{b:02x}")).collect())
    }

    /// `base`, then `-{key}` when `credentials` has a password ([`Credentials::client_key`]):
    /// the persistent client id of a service or of a Pi agent.
    pub fn keyed_client_id(base: &str, credentials: Option<&Credentials>) -> String {
        match credentials.and_then(Credentials::client_key) {
            Some(key) => format!("{base}-{key}"),
            None => base.to_owned(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// MQTT options with Garonne's defaults: a persistent session (so unacknowledged QoS 1
/// messages are sent again after a reconnection), 30 s keep-alive, a large in-flight window,
/// packet size limits of [`MAX_INCOMING_PACKET`] and [`MAX_OUTGOING_PACKET`], the login
/// `credentials` when there is one (a broker with passwords, as the docker compose deployment
/// runs it), and TLS with the broker's [`Roots`] for `mqtts://`.
pub fn options(
    client_id: &str,
    broker: &BrokerUrl,
    credentials: Option<&Credentials>,
) -> MqttOptions {
    let mut options = MqttOptions::new(client_id, broker.host.clone(), broker.port);
    if let Some(credentials) = credentials {
        options.set_credentials(credentials.username.clone(), credentials.password());
    }
    options.set_keep_alive(Duration::from_secs(30));
    options.set_clean_session(false);
    options.set_inflight(1000);
    options.set_max_packet_size(MAX_INCOMING_PACKET, MAX_OUTGOING_PACKET);
    if let Some(roots) = &broker.tls {
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            roots.client_config(),
        )));
    }
    options
}

/// [`options`] for a subscriber that acknowledges each message itself, through [`Acks`], once it
/// is done with it.
pub fn subscriber_options(
    client_id: &str,
    broker: &BrokerUrl,
    credentials: Option<&Credentials>,
) -> MqttOptions {
    let mut options = options(client_id, broker, credentials);
    options.set_manual_acks(true);
    options
}

/// Acknowledgements a subscriber (on [`subscriber_options`]) owes the broker, in the order the
/// messages were handled.
#[derive(Debug, Default)]
pub struct Acks {
    owed: VecDeque<Publish>,
}

impl Acks {
    /// Records that `message` was handled and may be acknowledged.
    pub fn owe(&mut self, message: &Publish) {
        if message.qos != QoS::AtMostOnce {
            // Only the QoS and packet id matter to an acknowledgement; the payload stays behind.
            let mut ack = Publish::new("", message.qos, Vec::new());
            ack.pkid = message.pkid;
            self.owed.push_back(ack);
        }
    }

    /// Hands owed acknowledgements to the client while its request queue has room; returns how
    /// many are still owed.
    pub fn send(&mut self, client: &AsyncClient) -> usize {
        while let Some(ack) = self.owed.front() {
            match client.try_ack(ack) {
                Ok(()) => {
                    self.owed.pop_front();
                }
                Err(rumqttc::ClientError::TryRequest(_)) => break,
                // The event loop is gone: the broker hands these messages over again on the
                // next connection, and repeats are the consumer's to recognise.
                Err(_) => {
                    self.owed.clear();
                }
            }
        }
        self.owed.len()
    }

    /// Number of acknowledgements still owed.
    pub fn len(&self) -> usize {
        self.owed.len()
    }

    /// Whether nothing is owed.
    pub fn is_empty(&self) -> bool {
        self.owed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls_parse_or_say_why_not() {
        let ok = [
            ("mqtt://127.0.0.1:1883", "127.0.0.1", 1883),
            ("mqtt://broker", "broker", 1883),
            ("tcp://broker:1884/", "broker", 1884),
            ("localhost:9000", "localhost", 9000),
            ("mqtt://[::1]:1883", "::1", 1883),
        ];
        for (url, host, port) in ok {
            let parsed: BrokerUrl = url.parse().expect(url);
            assert_eq!((parsed.host.as_str(), parsed.port), (host, port), "{url}");
        }
        for bad in [
            "http://x:1",
            "mqtt://:1883",
            "mqtt://h:0",
            "mqtt://h:99999",
            "mqtt://u:p@h:1",
            "mqtt://h:1/topic",
        ] {
            let e = bad.parse::<BrokerUrl>().expect_err(bad);
            assert!(e.to_string().contains("mqtt://127.0.0.1:1883"), "{e}");
        }
    }

    #[test]
    fn mqtts_urls_are_tls_on_port_8883_trusting_the_system_unless_given_a_ca_file() {
        for (url, host, port, shown) in [
            ("mqtts://broker", "broker", 8883, "mqtts://broker:8883"),
            (
                "mqtts://broker:8884/",
                "broker",
                8884,
                "mqtts://broker:8884",
            ),
            ("ssl://10.0.0.2", "10.0.0.2", 8883, "mqtts://10.0.0.2:8883"),
            ("mqtts://[::1]", "::1", 8883, "mqtts://[::1]:8883"),
        ] {
            let parsed: BrokerUrl = url.parse().expect(url);
            assert_eq!((parsed.host.as_str(), parsed.port), (host, port), "{url}");
            assert_eq!(parsed.tls, Some(Roots::System), "{url}");
            assert_eq!(parsed.to_string(), shown);
            assert_eq!(parsed.to_string().parse::<BrokerUrl>(), Ok(parsed));
        }
        let plain: BrokerUrl = "mqtt://broker".parse().expect("plain");
        assert!(!plain.is_tls());
        assert_eq!(plain.to_string(), "mqtt://broker:1883");
        let e = "https://broker".parse::<BrokerUrl>().expect_err("not MQTT");
        assert!(e.to_string().contains("mqtts://"), "{e}");
    }

    #[test]
    fn a_ca_file_is_read_once_or_refused_with_what_to_give_instead() {
        let ca = garonne_testkit::TestCa::generate().expect("a test CA");
        let file = CaFile::load(&ca.ca_file()).expect("a CA certificate");
        assert_eq!(file.certs.len(), 1);
        let tls: BrokerUrl = "mqtts://127.0.0.1".parse().expect("url");
        let trusting = tls.trusting(Some(file.clone())).expect("TLS");
        assert_eq!(trusting.ca_file(), Some(ca.ca_file().as_path()));
        assert_eq!(trusting.tls, Some(Roots::File(file.clone())));

        let e = CaFile::load(&ca.dir().join("missing.crt")).expect_err("missing");
        assert!(matches!(e, CaFileError::Read { .. }), "{e:?}");
        assert!(e.to_string().contains("missing.crt"), "{e}");
        // The server's key is not a CA certificate; nor is a text file.
        let e = CaFile::load(&ca.key_file()).expect_err("a key");
        assert!(e.to_string().contains("-----BEGIN CERTIFICATE-----"), "{e}");
        let text = ca.dir().join("notes.txt");
        std::fs::write(&text, "not a certificate").expect("write");
        let e = CaFile::load(&text).expect_err("text");
        assert!(
            e.to_string().starts_with("the CA file") && e.to_string().contains("no CERTIFICATE"),
            "{e}"
        );
        let broken = ca.dir().join("broken.crt");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        let e = CaFile::load(&broken).expect_err("not a certificate");
        assert!(e.to_string().contains("does not parse"), "{e}");

        let plain = BrokerUrl::default();
        let e = plain.trusting(Some(file)).expect_err("plain MQTT");
        assert!(e.to_string().contains("mqtts://127.0.0.1:8883"), "{e}");
    }
}
