//! The embedded MQTT broker of `garonne up`: rumqttd, reached by MQTT 3.1.1 and MQTT 5 clients
//! on one port, as mosquitto is.
//!
//! rumqttd serves each protocol version on a listener of its own (a 3.1.1 listener disconnects
//! an MQTT 5 client, which is what MQTTX and paho-mqtt's `MQTTv5` are by default). So rumqttd
//! listens on two private loopback ports, one a version, both on the one router (a message
//! published in one version reaches subscribers of the other), and the public port is a small
//! front that reads the first bytes of a connection — the CONNECT packet's protocol level — and
//! joins the connection to the listener of that version. The front copies bytes and reads no
//! further into the stream; the services of the process connect to the 3.1.1 listener directly
//! and do not pay for the extra hop. Reading the CONNECT, the front also refuses the client ids
//! of those services: nobody from outside can take a service's session over.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use garonne_service::mqtt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long a new connection has to send the start of its CONNECT packet: a client that opens a
/// socket and says nothing does not hold a task for longer.
const FIRST_BYTES_WITHIN: Duration = Duration::from_secs(10);

/// How much of a connection the front reads, at most, to find the client id of its CONNECT:
/// the fixed header, the protocol name and level, the flags, keep alive, MQTT 5's properties,
/// then the id. A CONNECT whose id is further on is refused.
const LONGEST_CONNECT: usize = 64 * 1024;

/// The running broker.
pub struct Broker {
    /// Where the services of this process connect: rumqttd's MQTT 3.1.1 listener, on loopback.
    pub local: SocketAddr,
}

/// Starts rumqttd on its own thread and the public front on the current tokio runtime, and
/// waits until both accept connections. With a `login`, rumqttd accepts that user and password
/// only, on both of its listeners. The `reserved` client ids (the services of this process, which
/// connect to [`Broker::local`]) are refused on the public port: a client taking one would
/// disconnect the service and, with a clean session, drop what the broker kept for it.
pub async fn start(
    public: SocketAddr,
    login: Option<mqtt::Credentials>,
    reserved: Vec<String>,
) -> anyhow::Result<Broker> {
    let v4 = free_loopback_port().context("a port for the broker's MQTT 3.1.1 listener")?;
    let v5 = free_loopback_port().context("a port for the broker's MQTT 5 listener")?;
    let config = rumqttd_config(v4, v5, login)?;
    std::thread::Builder::new()
        .name("mqtt-broker".into())
        .spawn(move || {
            if let Err(e) = rumqttd::Broker::new(config).start() {
                eprintln!("the embedded MQTT broker stopped: {e}");
            }
        })
        .context("cannot start the embedded broker's thread")?;
    for addr in [v4, v5] {
        wait_listening(addr).await?;
    }
    let front = TcpListener::bind(public).await.with_context(|| {
        format!("cannot listen for MQTT on {public} (is another broker there?)")
    })?;
    tokio::spawn(serve_front(front, Listeners { v4, v5, reserved }));
    Ok(Broker { local: v4 })
}

/// rumqttd's configuration: limits as the deployment's mosquitto has them (packets up to
/// 264 KiB, [`MAX_PACKET`]; 1,000 messages in flight per client, as the historian acknowledges
/// by the batch), one listener per protocol version.
/// The largest MQTT packet the broker takes, header and topic included (rumqttd's
/// `max_payload_size` is the whole packet): the spec's largest message, a 256 KiB SenML pack,
/// with 8 KiB for its topic and header, as mosquitto's `max_packet_size` in the deployment.
const MAX_PACKET: usize = 270_336;

fn rumqttd_config(
    v4: SocketAddr,
    v5: SocketAddr,
    login: Option<mqtt::Credentials>,
) -> anyhow::Result<rumqttd::Config> {
    let listener = |version: &str, addr: SocketAddr| {
        format!(
            r#"
            [{version}.1]
            name = "{version}-1"
            listen = "{addr}"
            next_connection_delay_ms = 1
            [{version}.1.connections]
            connection_timeout_ms = 60000
            max_payload_size = {MAX_PACKET}
            max_inflight_count = 1000
            dynamic_filters = true
            "#
        )
    };
    let mut config: rumqttd::Config = toml::from_str(&format!(
        r#"
        id = 0
        [router]
        id = 0
        max_connections = 1000
        max_outgoing_packet_count = 1000
        max_segment_size = 104857600
        max_segment_count = 10
        {}
        {}
        "#,
        listener("v4", v4),
        listener("v5", v5),
    ))
    .context("the embedded broker's configuration")?;
    if let Some(login) = login {
        let users = HashMap::from([(login.username.clone(), login.password().to_owned())]);
        for server in [&mut config.v4, &mut config.v5]
            .into_iter()
            .flatten()
            .flat_map(|servers| servers.values_mut())
        {
            server.connections.auth = Some(users.clone());
        }
    }
    Ok(config)
}

/// A loopback port nobody listens on now (the OS's choice).
fn free_loopback_port() -> io::Result<SocketAddr> {
    StdListener::bind("127.0.0.1:0")?.local_addr()
}

/// Waits up to 5 s for a listener of rumqttd to accept connections.
async fn wait_listening(addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while StdStream::connect(addr).is_err() {
        if Instant::now() > deadline {
            bail!("the embedded MQTT broker did not start listening on {addr} within 5 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// rumqttd's listeners, by protocol version, and the client ids kept for the services of this
/// process.
struct Listeners {
    v4: SocketAddr,
    v5: SocketAddr,
    reserved: Vec<String>,
}

/// Accepts connections on the public port, each joined to its version's listener by a task.
async fn serve_front(front: TcpListener, listeners: Listeners) {
    let listeners = Arc::new(listeners);
    loop {
        match front.accept().await {
            Ok((client, peer)) => {
                let listeners = Arc::clone(&listeners);
                tokio::spawn(async move {
                    if let Err(e) = join(client, &listeners).await {
                        tracing::debug!(%peer, error = %e, "MQTT connection closed by the front");
                    }
                });
            }
            Err(e) => {
                // Out of file descriptors, most likely: wait rather than spin.
                tracing::warn!(error = %e, "the MQTT front cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Reads the client's CONNECT up to its client id, then copies both ways between the client
/// and the listener of its protocol version until either side closes. An older protocol, a
/// service's client id, or anything that is not a CONNECT is answered (where MQTT has an answer
/// for it) and closed.
async fn join(mut client: TcpStream, listeners: &Listeners) -> io::Result<()> {
    let (connect, read) = tokio::time::timeout(FIRST_BYTES_WITHIN, read_connect(&mut client))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no CONNECT within 10 s"))??;
    let Some(connect) = connect else {
        return close(client).await;
    };
    let reserved = listeners.reserved.contains(&connect.client_id);
    let listener = match connect.level {
        4 if !reserved => listeners.v4,
        5 if !reserved => listeners.v5,
        // MQTT 3.1.1 §3.2.2.3: return code 2, identifier rejected.
        4 => return refuse(client, &[0x20, 0x02, 0x00, 0x02]).await,
        // MQTT 5 §3.2.2.2: reason code 0x85, client identifier not valid; no properties.
        5 => return refuse(client, &[0x20, 0x03, 0x00, 0x85, 0x00]).await,
        // MQTT 3.1.1 §3.2.2.3: return code 1, unacceptable protocol level.
        _ => return refuse(client, &[0x20, 0x02, 0x00, 0x01]).await,
    };
    let mut broker = TcpStream::connect(listener).await?;
    client.set_nodelay(true)?;
    broker.set_nodelay(true)?;
    broker.write_all(&read).await?;
    tokio::io::copy_bidirectional(&mut client, &mut broker).await?;
    Ok(())
}

/// Reads from `client` until its CONNECT shows its protocol level and client id; returns it
/// (`None`: not a CONNECT, or none within [`LONGEST_CONNECT`] bytes) and every byte read, to
/// be passed on.
async fn read_connect(client: &mut TcpStream) -> io::Result<(Option<Connect>, Vec<u8>)> {
    let mut read = Vec::with_capacity(256);
    loop {
        match parse_connect(&read) {
            Ok(connect) => return Ok((Some(connect), read)),
            Err(Stop::NotMqtt) => return Ok((None, read)),
            Err(Stop::Incomplete) if read.len() >= LONGEST_CONNECT => return Ok((None, read)),
            Err(Stop::Incomplete) => {}
        }
        let mut chunk = [0u8; 1024];
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok((None, read));
        }
        read.extend_from_slice(&chunk[..n]);
    }
}

/// Answers a refused client with `connack`, then closes.
async fn refuse(mut client: TcpStream, connack: &[u8]) -> io::Result<()> {
    client.write_all(connack).await?;
    close(client).await
}

/// Closes a connection the front refuses: its side first, then what the client still sends is
/// read and dropped (at most 64 KiB, for at most a second), so that the client reads the answer
/// and an orderly end rather than a reset.
async fn close(mut client: TcpStream) -> io::Result<()> {
    client.shutdown().await?;
    let mut rest = client.take(64 * 1024);
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        tokio::io::copy(&mut rest, &mut tokio::io::sink()),
    )
    .await;
    Ok(())
}

/// What the front needs of a CONNECT packet.
#[derive(Debug, PartialEq)]
struct Connect {
    /// The protocol level: 4 is MQTT 3.1.1, 5 is MQTT 5, 3 is MQTT 3.1.
    level: u8,
    /// The client id; empty for a level other than 4 and 5 (not read).
    client_id: String,
}

/// Why the bytes read so far give no [`Connect`].
#[derive(Debug, PartialEq)]
enum Stop {
    /// More bytes are needed.
    Incomplete,
    /// They are not the start of a CONNECT packet.
    NotMqtt,
}

/// Reads a CONNECT packet's protocol level and client id from the first bytes of a connection
/// (MQTT 3.1.1 §3.1, MQTT 5 §3.1), as soon as they show, or fails as soon as they cannot be one.
fn parse_connect(bytes: &[u8]) -> Result<Connect, Stop> {
    let mut packet = Cursor(bytes);
    if packet.byte()? != 0x10 {
        return Err(Stop::NotMqtt);
    }
    packet.varint()?;
    let name: &[u8] = match packet.u16()? {
        4 => b"MQTT",
        6 => b"MQIsdp",
        _ => return Err(Stop::NotMqtt),
    };
    // Compared as far as it has come, so that other traffic is told apart early.
    let have = &packet.0[..packet.0.len().min(name.len())];
    if !name.starts_with(have) {
        return Err(Stop::NotMqtt);
    }
    packet.take(name.len())?;
    let level = packet.byte()?;
    if !matches!(level, 4 | 5) {
        return Ok(Connect {
            level,
            client_id: String::new(),
        });
    }
    packet.take(3)?; // connect flags, keep alive
    if level == 5 {
        let properties = packet.varint()?;
        packet.take(properties)?;
    }
    let id_len = packet.u16()?;
    let id = std::str::from_utf8(packet.take(id_len)?).map_err(|_| Stop::NotMqtt)?;
    Ok(Connect {
        level,
        client_id: id.to_owned(),
    })
}

/// The bytes of a packet not read yet.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Stop> {
        if self.0.len() < n {
            return Err(Stop::Incomplete);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, Stop> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<usize, Stop> {
        let bytes = self.take(2)?;
        Ok(usize::from(u16::from_be_bytes([bytes[0], bytes[1]])))
    }

    /// A variable byte integer: 1 to 4 bytes of 7 bits, the high bit saying "more".
    fn varint(&mut self) -> Result<usize, Stop> {
        let mut value = 0;
        for shift in [0, 7, 14, 21] {
            let byte = self.byte()?;
            value |= usize::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Stop::NotMqtt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CONNECT packet: remaining length `len`, protocol `name`, `level`, client id `id`
    /// (for MQTT 5, after two bytes of properties).
    fn connect(len: &[u8], name: &[u8], level: u8, id: &str) -> Vec<u8> {
        let mut bytes = vec![0x10];
        bytes.extend_from_slice(len);
        bytes.extend_from_slice(&(name.len() as u16).to_be_bytes());
        bytes.extend_from_slice(name);
        bytes.extend_from_slice(&[level, 0x02, 0, 60]);
        if level == 5 {
            bytes.extend_from_slice(&[2, 0x21, 0x10]);
        }
        bytes.extend_from_slice(&(id.len() as u16).to_be_bytes());
        bytes.extend_from_slice(id.as_bytes());
        bytes
    }

    fn read(level: u8, client_id: &str) -> Result<Connect, Stop> {
        Ok(Connect {
            level,
            client_id: client_id.to_owned(),
        })
    }

    #[test]
    fn the_level_and_client_id_are_read_from_the_connect_packet() {
        assert_eq!(
            parse_connect(&connect(&[20], b"MQTT", 4, "pi-1")),
            read(4, "pi-1")
        );
        assert_eq!(
            parse_connect(&connect(&[0x80, 1], b"MQTT", 5, "mqttx")),
            read(5, "mqttx")
        );
        assert_eq!(
            parse_connect(&connect(&[0xff, 0xff, 0xff, 0x7f], b"MQIsdp", 3, "old")),
            read(3, "")
        );
    }

    #[test]
    fn every_prefix_of_a_connect_packet_asks_for_more() {
        for whole in [
            connect(&[0x80, 1], b"MQTT", 5, "abc"),
            connect(&[9], b"MQTT", 4, ""),
        ] {
            for len in 0..whole.len() {
                assert_eq!(
                    parse_connect(&whole[..len]),
                    Err(Stop::Incomplete),
                    "{len} bytes"
                );
            }
        }
    }

    #[test]
    fn other_traffic_is_refused_as_soon_as_it_shows() {
        let not_mqtt = Err(Stop::NotMqtt);
        assert_eq!(parse_connect(b"GET / HTTP/1.1\r\n"), not_mqtt);
        assert_eq!(parse_connect(&[0x10, 0x80, 0x80, 0x80, 0x80]), not_mqtt);
        assert_eq!(parse_connect(&connect(&[9], b"MQTX", 4, "a")), not_mqtt);
        assert_eq!(
            parse_connect(&connect(&[9], b"AMQP", 4, "a")[..5]),
            not_mqtt
        );
        assert_eq!(parse_connect(&connect(&[9], b"MQTTv5", 4, "a")), not_mqtt);
        let mut bad_id = connect(&[9], b"MQTT", 4, "ab");
        *bad_id.last_mut().expect("an id") = 0xff;
        assert_eq!(
            parse_connect(&bad_id),
            not_mqtt,
            "a client id that is not UTF-8"
        );
    }
}
