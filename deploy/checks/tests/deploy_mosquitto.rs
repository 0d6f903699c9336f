//! The broker of the docker compose deployment (deploy/mosquitto/), run here with Debian's
//! mosquitto the way the container runs it: the project's `entrypoint.sh` writes the password
//! file from `GARONNE_MQTT_*` variables and execs mosquitto on the project's `mosquitto.conf`,
//! whose only changes are its TEST-REWRITTEN lines (a free loopback port, a temporary directory)
//! and `user root`, with the project's `acl` as it is.
//!
//! Checked: a sensor's reading reaches every service that subscribes to it, a sensor publishing
//! under another id or on an aggregate is dropped, wrong passwords and anonymous clients are
//! refused at connect, the services' real subscriptions (the historian's shared one too) are
//! served, the viewer reads and never writes, a 256 KiB payload passes, retained messages
//! survive a restart, and the entrypoint refuses incomplete or clashing credentials without
//! printing a password. The TLS listener (8883, with a CA and certificate the test generates,
//! copied in by the entrypoint as from deploy/tls/) serves the same logins and ACL to a
//! Garonne client on `mqtts://`; the entrypoint refuses to start without the TLS files.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use garonne_payload::Topics;
use garonne_service::config::MqttConfig;
use garonne_service::host::Session;
use garonne_service::mqtt::{BrokerUrl, CaFile, Credentials};
use garonne_testkit::{Launch, Server, TestCa};
use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, MqttOptions, Packet, QoS,
    SubscribeReasonCode,
};
use tempfile::TempDir;
use tokio::sync::mpsc;

/// Longest wait for anything the broker should do; a hang guard, never a speed assertion.
const WAIT: Duration = Duration::from_secs(10);

/// How long a subscriber listens, after the message it waited for, for one that should not come.
const QUIET: Duration = Duration::from_millis(500);

/// The service users: name, password variable, password. Not secrets: the broker lives on
/// loopback for one test.
const SERVICES: [(&str, &str, &str); 6] = [
    (
        "realtime",
        "GARONNE_MQTT_REALTIME_PASSWORD",
        "realtime-test-password",
    ),
    (
        "historian",
        "GARONNE_MQTT_HISTORIAN_PASSWORD",
        "historian-test-password",
    ),
    (
        "server",
        "GARONNE_MQTT_SERVER_PASSWORD",
        "server-test-password",
    ),
    (
        "simulator",
        "GARONNE_MQTT_SIMULATOR_PASSWORD",
        "simulator-test-password",
    ),
    (
        "viewer",
        "GARONNE_MQTT_VIEWER_PASSWORD",
        "viewer-test-password",
    ),
    (
        "operator",
        "GARONNE_MQTT_OPERATOR_PASSWORD",
        "operator-test-password",
    ),
];

/// Sensors given in GARONNE_MQTT_SENSORS.
const SENSORS: [(&str, &str); 2] = [
    ("pi-a", "pi-a-test-password"),
    ("pi-b", "pi-b-test-password"),
];

/// A sensor given in GARONNE_MQTT_SENSORS_FILE, with a password the list cannot hold.
const FILE_SENSOR: (&str, &str) = ("pi-c", "a pass phrase with spaces");

/// The project's broker configuration directory.
fn deploy_dir() -> PathBuf {
    garonne_deploy_checks::repo_path("deploy/mosquitto")
}

/// The password of a user of this test.
fn password(user: &str) -> &'static str {
    SERVICES
        .iter()
        .map(|&(name, _, password)| (name, password))
        .chain(SENSORS)
        .chain([FILE_SENSOR])
        .find(|&(name, _)| name == user)
        .map_or("", |(_, password)| password)
}

/// The project's mosquitto.conf, checked to hold the lines the test rewrites.
struct ConfigTemplate {
    lines: Vec<String>,
}

/// The lines of mosquitto.conf marked TEST-REWRITTEN, as deployed.
const LISTENER: &str = "listener 1883";
const PASSWORD_FILE: &str = "password_file /tmp/garonne-mosquitto/passwd";
const ACL_FILE: &str = "acl_file /mosquitto/config/acl";
const PERSISTENCE: &str = "persistence_location /mosquitto/data/";
const TLS_LISTENER: &str = "listener 8883";
const CA_FILE: &str = "cafile /tmp/garonne-mosquitto/certs/ca.crt";
const CERT_FILE: &str = "certfile /tmp/garonne-mosquitto/certs/server.crt";
const KEY_FILE: &str = "keyfile /tmp/garonne-mosquitto/certs/server.key";

impl ConfigTemplate {
    fn read() -> anyhow::Result<ConfigTemplate> {
        let path = deploy_dir().join("mosquitto.conf");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        for wanted in [
            LISTENER,
            PASSWORD_FILE,
            ACL_FILE,
            PERSISTENCE,
            TLS_LISTENER,
            CA_FILE,
            CERT_FILE,
            KEY_FILE,
        ] {
            let found = lines.iter().filter(|line| *line == wanted).count();
            ensure!(
                found == 1,
                "{} has the line `{wanted}` {found} times instead of once: keep it, or update \
                 this test with the configuration",
                path.display()
            );
        }
        Ok(ConfigTemplate { lines })
    }

    /// The configuration for a broker on 127.0.0.1:`port` (and `tls_port`, TLS) keeping its
    /// files in `dir`.
    fn render(&self, port: u16, tls_port: u16, dir: &Path) -> String {
        let certs = dir.join("run/certs");
        let mut text = String::new();
        for line in &self.lines {
            let line = match line.as_str() {
                LISTENER => format!("listener {port} 127.0.0.1"),
                TLS_LISTENER => format!("listener {tls_port} 127.0.0.1"),
                CA_FILE => format!("cafile {}", certs.join("ca.crt").display()),
                CERT_FILE => format!("certfile {}", certs.join("server.crt").display()),
                KEY_FILE => format!("keyfile {}", certs.join("server.key").display()),
                PASSWORD_FILE => format!("password_file {}", dir.join("run/passwd").display()),
                ACL_FILE => format!("acl_file {}", deploy_dir().join("acl").display()),
                PERSISTENCE => format!("persistence_location {}/", dir.join("data").display()),
                other => other.to_owned(),
            };
            text.push_str(&line);
            text.push('\n');
        }
        // As root, mosquitto would switch to the user `mosquitto`, which cannot enter the
        // temporary directory; for any other user the line does nothing.
        text.push_str("# Added by tests/deploy_mosquitto.rs.\nuser root\n");
        text
    }
}

/// `PATH` with the directories of `programs` first, so that the entrypoint finds Debian's
/// mosquitto and mosquitto_passwd (in /usr/sbin and /usr/bin) as it finds them in the image.
fn path_with(programs: &[&Path]) -> anyhow::Result<std::ffi::OsString> {
    let mut dirs: Vec<PathBuf> = programs
        .iter()
        .filter_map(|program| program.parent().map(Path::to_path_buf))
        .collect();
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    Ok(std::env::join_paths(dirs)?)
}

/// The entrypoint with every variable it reads set (so that the test's own environment does
/// not leak in), the test's passwords, and `config`.
fn entrypoint(config: &Path, sensors_file: &Path, path: &std::ffi::OsStr) -> Command {
    let mut command = Command::new(deploy_dir().join("entrypoint.sh"));
    command
        .env("PATH", path)
        .env("GARONNE_MOSQUITTO_CONFIG", config)
        .env("GARONNE_MQTT_SENSORS_FILE", sensors_file)
        .env(
            "GARONNE_MQTT_SENSORS",
            SENSORS
                .map(|(id, password)| format!("{id}:{password}"))
                .join(" "),
        );
    for (_, variable, password) in SERVICES {
        command.env(variable, password);
    }
    command
}

/// The deployed broker, run by the project's entrypoint; killed on drop.
struct Broker {
    // Declared first, so that the process is killed before its directory is removed.
    server: Server,
    dir: TempDir,
    /// The TLS listener's port.
    tls_port: u16,
    /// What the operator would put in deploy/tls/.
    tls: TlsFiles,
}

/// The folder of the TLS files the entrypoint copies in, as deploy/tls/ holds them.
enum TlsFiles {
    /// Made by the test's own CA.
    Generated(TestCa),
    /// Made by deploy/tls/self-signed.sh, in this folder.
    Made(TempDir),
}

impl TlsFiles {
    fn dir(&self) -> &Path {
        match self {
            TlsFiles::Generated(ca) => ca.dir(),
            TlsFiles::Made(dir) => dir.path(),
        }
    }
}

impl Broker {
    /// Starts the broker, or returns `None` when mosquitto is not installed and CI is not set
    /// (see `garonne_testkit::require`).
    fn start_or_skip() -> anyhow::Result<Option<Broker>> {
        Broker::start_with_or_skip(TlsFiles::Generated(TestCa::generate()?))
    }

    /// [`Broker::start_or_skip`] with the TLS files `tls`.
    fn start_with_or_skip(tls: TlsFiles) -> anyhow::Result<Option<Broker>> {
        let Some(mosquitto) = garonne_testkit::require("mosquitto", "mosquitto") else {
            return Ok(None);
        };
        let Some(mosquitto_passwd) = garonne_testkit::require("mosquitto_passwd", "mosquitto")
        else {
            return Ok(None);
        };
        let template = ConfigTemplate::read()?;
        let path = path_with(&[&mosquitto, &mosquitto_passwd])?;
        let dir = tempfile::Builder::new()
            .prefix("garonne-deploy-mosquitto-")
            .tempdir()?;
        std::fs::create_dir(dir.path().join("data"))?;
        let sensors_file = dir.path().join("sensors");
        let (id, password) = FILE_SENSOR;
        std::fs::write(&sensors_file, format!("# id:password\n\n{id}:{password}\n"))?;
        let config = dir.path().join("mosquitto.conf");
        let log = dir.path().join("mosquitto.log");
        let mut tls_port = 0;
        let server = Server::start_on_free_port(5, |port| {
            tls_port = garonne_testkit::free_port()?;
            std::fs::write(&config, template.render(port, tls_port, dir.path())).map_err(
                |source| garonne_testkit::Error::Write {
                    path: config.clone(),
                    source,
                },
            )?;
            let mut command = entrypoint(&config, &sensors_file, &path);
            command.env("GARONNE_MOSQUITTO_CERTS", tls.dir());
            let launch = command.get_envs().fold(
                Launch::new("mosquitto", command.get_program(), port, &log),
                |launch, (key, value)| launch.env(key, value.unwrap_or_default()),
            );
            Ok(launch)
        })
        .map_err(|error| anyhow::anyhow!("{error}"))?;
        Ok(Some(Broker {
            server,
            dir,
            tls_port,
            tls,
        }))
    }

    /// The TLS listener as a Garonne client reaches it, trusting only the generated CA.
    fn mqtts(&self) -> anyhow::Result<BrokerUrl> {
        let url: BrokerUrl = format!("mqtts://localhost:{}", self.tls_port).parse()?;
        Ok(url.trusting(Some(CaFile::load(&self.tls.dir().join("ca.crt"))?))?)
    }

    fn port(&self) -> u16 {
        self.server.port()
    }

    /// Connects as `user` with its test password.
    /// [`Broker::connect`], then subscribed to `filters`.
    async fn subscribed(&self, user: &str, filters: &[String]) -> anyhow::Result<Client> {
        let mut client = self.connect(user).await?;
        client.subscribe(filters).await?;
        Ok(client)
    }

    async fn connect(&self, user: &str) -> anyhow::Result<Client> {
        Client::connect(self.port(), Some((user, password(user))))
            .await
            .with_context(|| format!("{user} cannot connect; broker log:\n{}", self.log()))
    }

    /// The broker's recent log lines, for failure messages.
    fn log(&self) -> String {
        self.server.log_tail()
    }
}

/// One message as a subscriber received it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Received {
    topic: String,
    payload: String,
}

impl Received {
    fn new(topic: impl Into<String>, payload: impl Into<String>) -> Received {
        Received {
            topic: topic.into(),
            payload: payload.into(),
        }
    }
}

/// An MQTT 3.1.1 client whose event loop runs in a task; what it receives comes through a
/// channel, in order.
struct Client {
    client: AsyncClient,
    packets: mpsc::UnboundedReceiver<Packet>,
    /// Messages received while waiting for an acknowledgement.
    received: Vec<Received>,
}

impl Client {
    /// Connects and waits for the broker's CONNACK; a refusal is the error.
    async fn connect(port: u16, credentials: Option<(&str, &str)>) -> Result<Client, Refusal> {
        static NEXT_ID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("deploy-mosquitto-{}-{n}", std::process::id());
        Client::connect_as(&id, port, credentials).await
    }

    /// [`Client::connect`] with the client id `id`.
    async fn connect_as(
        id: &str,
        port: u16,
        credentials: Option<(&str, &str)>,
    ) -> Result<Client, Refusal> {
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        if let Some((user, password)) = credentials {
            options.set_credentials(user, password);
        }
        options.set_max_packet_size(1 << 20, 1 << 20);
        Client::start(options).await
    }

    /// Connects with `options` and waits for the broker's CONNACK; a refusal is the error.
    async fn start(options: MqttOptions) -> Result<Client, Refusal> {
        let (client, mut events) = AsyncClient::new(options, 64);
        let connected = tokio::time::timeout(WAIT, async {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                    Ok(_) => {}
                    Err(error) => return Err(error),
                }
            }
        })
        .await;
        match connected {
            Err(_) => return Err(Refusal::Timeout),
            Ok(Err(error)) => return Err(Refusal::Connection(error)),
            Ok(Ok(())) => {}
        }
        let (sender, packets) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            // Ends with the connection: the receiver then sees a closed channel.
            while let Ok(event) = events.poll().await {
                if let Event::Incoming(packet) = event
                    && sender.send(packet).is_err()
                {
                    break;
                }
            }
        });
        Ok(Client {
            client,
            packets,
            received: Vec::new(),
        })
    }

    /// The next packet from the broker, within [`WAIT`].
    async fn next_packet(&mut self, waiting_for: &str) -> anyhow::Result<Packet> {
        match tokio::time::timeout(WAIT, self.packets.recv()).await {
            Ok(Some(packet)) => Ok(packet),
            Ok(None) => bail!("the connection closed while waiting for {waiting_for}"),
            Err(_) => bail!("no {waiting_for} within {WAIT:?}"),
        }
    }

    /// Subscribes to `filters` at QoS 1 and checks the broker granted each one.
    async fn subscribe(&mut self, filters: &[String]) -> anyhow::Result<()> {
        for filter in filters {
            self.client.subscribe(filter, QoS::AtLeastOnce).await?;
            loop {
                match self.next_packet("SUBACK").await? {
                    Packet::SubAck(ack) => {
                        ensure!(
                            ack.return_codes
                                .iter()
                                .all(|code| matches!(code, SubscribeReasonCode::Success(_))),
                            "subscription to {filter} refused: {:?}",
                            ack.return_codes
                        );
                        break;
                    }
                    Packet::Publish(publish) => self.keep(&publish),
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Publishes at QoS 1 and waits for the PUBACK: the broker has then routed the message (or
    /// dropped it) before it handles anything published afterwards, by any client.
    async fn publish(&mut self, topic: &str, retain: bool, payload: &str) -> anyhow::Result<()> {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload.as_bytes().to_vec())
            .await?;
        loop {
            match self.next_packet(&format!("PUBACK of {topic}")).await? {
                Packet::PubAck(_) => return Ok(()),
                Packet::Publish(publish) => self.keep(&publish),
                _ => {}
            }
        }
    }

    fn keep(&mut self, publish: &rumqttc::Publish) {
        self.received.push(Received::new(
            publish.topic.clone(),
            String::from_utf8_lossy(&publish.payload),
        ));
    }

    /// The first message received and not yet taken.
    async fn next_message(&mut self, waiting_for: &str) -> anyhow::Result<Received> {
        while self.received.is_empty() {
            if let Packet::Publish(publish) = self.next_packet(waiting_for).await? {
                self.keep(&publish);
            }
        }
        Ok(self.received.remove(0))
    }

    /// Every message received until `last` (included), then checks that nothing more arrives
    /// within [`QUIET`].
    async fn receive_through(&mut self, last: &Received) -> anyhow::Result<Vec<Received>> {
        while !self.received.contains(last) {
            if let Packet::Publish(publish) = self.next_packet(&last.topic).await? {
                self.keep(&publish);
            }
        }
        if let Ok(Some(Packet::Publish(publish))) =
            tokio::time::timeout(QUIET, self.packets.recv()).await
        {
            self.keep(&publish);
        }
        Ok(std::mem::take(&mut self.received))
    }
}

/// Why a client could not connect.
#[derive(Debug)]
enum Refusal {
    Connection(ConnectionError),
    Timeout,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Connection(error) => write!(f, "{error}"),
            Refusal::Timeout => write!(f, "no CONNACK within {WAIT:?}"),
        }
    }
}

impl std::error::Error for Refusal {}

/// Whether the broker refused the connection for its credentials.
fn refused_for_credentials(result: &Result<Client, Refusal>) -> bool {
    matches!(
        result,
        Err(Refusal::Connection(ConnectionError::ConnectionRefused(
            ConnectReturnCode::NotAuthorized | ConnectReturnCode::BadUserNamePassword
        )))
    )
}

#[tokio::test]
async fn a_sensor_may_publish_under_its_own_id_only() -> anyhow::Result<()> {
    let Some(broker) = Broker::start_or_skip()? else {
        return Ok(());
    };
    let topics = Topics::default();
    let mut historian = broker
        .subscribed("historian", &[topics.all_readings()])
        .await?;
    let mut pi_a = broker.connect("pi-a").await?;

    pi_a.publish(&topics.reading("pi-b"), false, "pi-a as pi-b")
        .await?;
    let own = Received::new(topics.reading("pi-a"), "pi-a as itself");
    pi_a.publish(&own.topic, false, &own.payload).await?;

    let received = historian.receive_through(&own).await?;
    assert_eq!(received, [own], "broker log:\n{}", broker.log());
    Ok(())
}

#[tokio::test]
async fn only_realtime_publishes_aggregates() -> anyhow::Result<()> {
    let Some(broker) = Broker::start_or_skip()? else {
        return Ok(());
    };
    let topics = Topics::default();
    let mut server = broker
        .subscribed("server", &[topics.all_aggregates(), topics.all_readings()])
        .await?;
    let mut pi_a = broker.connect("pi-a").await?;
    let mut simulator = broker.connect("simulator").await?;
    let mut realtime = broker.connect("realtime").await?;

    pi_a.publish(&topics.aggregate("7"), true, "from pi-a")
        .await?;
    simulator
        .publish(&topics.aggregate("7"), true, "from the simulator")
        .await?;
    let aggregate = Received::new(topics.aggregate("8"), "from realtime");
    realtime
        .publish(&aggregate.topic, true, &aggregate.payload)
        .await?;
    // The sensor's allowed message comes last: everything before it has been routed or dropped.
    let reading = Received::new(topics.reading("pi-a"), "reading");
    pi_a.publish(&reading.topic, false, &reading.payload)
        .await?;

    let received = server.receive_through(&reading).await?;
    assert_eq!(
        received,
        [aggregate, reading],
        "broker log:\n{}",
        broker.log()
    );
    Ok(())
}

#[tokio::test]
async fn wrong_passwords_unknown_users_and_anonymous_clients_are_refused() -> anyhow::Result<()> {
    let Some(broker) = Broker::start_or_skip()? else {
        return Ok(());
    };
    let port = broker.port();
    for (what, credentials) in [
        (
            "a sensor with a wrong password",
            Some(("pi-a", "pi-b-test-password")),
        ),
        (
            "a service with a wrong password",
            Some(("historian", "wrong")),
        ),
        ("a service with an empty password", Some(("historian", ""))),
        ("an unknown user", Some(("pi-z", "pi-a-test-password"))),
        ("an anonymous client", None),
    ] {
        let result = Client::connect(port, credentials).await;
        assert!(
            refused_for_credentials(&result),
            "{what} was not refused for its credentials: {:?}",
            result.as_ref().map(|_| "connected")
        );
    }
    // Both sources of sensors give working logins: the list and the file (spaces kept).
    for user in ["pi-a", "pi-b", FILE_SENSOR.0] {
        broker.connect(user).await?;
    }
    Ok(())
}

/// The filters each service subscribes to (realtime/src/service.rs, historian/src/config.rs,
/// server/src/service.rs) are granted, and one message on each of its topics reaches it.
#[tokio::test]
async fn every_service_receives_what_it_subscribes_to() -> anyhow::Result<()> {
    let Some(broker) = Broker::start_or_skip()? else {
        return Ok(());
    };
    let t = Topics::default();
    let historian_filters = |group: Option<&str>| {
        garonne_historian::Config {
            shared_group: group.map(str::to_owned),
            ..garonne_historian::Config::default()
        }
        .filters()
    };
    let reading = Received::new(t.reading("pi-a"), "reading");
    let senml = Received::new(t.senml("pi-a"), "senml");
    let status = Received::new(t.status("pi-a"), "status");
    let rolling = Received::new(t.rolling("pi-a"), "rolling");
    let aggregate = Received::new(t.aggregate("7"), "aggregate");
    let alert = Received::new(t.alert("heat", "neighbourhood-7"), "alert");
    let error = Received::new(t.error("pi-a"), "error");
    // mosquitto's count, retained, sent at the subscription: a fresh broker dropped nothing.
    let dropped = Received::new(garonne_server::BROKER_DROPPED, "0");
    let readers = [
        (
            "realtime",
            vec![t.all_readings(), t.all_senml()],
            vec![&reading, &senml],
        ),
        (
            "historian",
            historian_filters(None),
            vec![&reading, &senml, &status, &aggregate, &alert],
        ),
        (
            "historian",
            historian_filters(Some("historians")),
            vec![&reading, &senml, &status, &aggregate, &alert],
        ),
        (
            "server",
            vec![
                t.all_aggregates(),
                t.all_status(),
                t.rolling("+"),
                t.all_alerts(),
                t.all_readings(),
                t.all_senml(),
                // Granted: the broker's dropped-message count, for the server's /metrics.
                garonne_server::BROKER_DROPPED.to_owned(),
            ],
            vec![
                &dropped, &reading, &senml, &status, &rolling, &aggregate, &alert,
            ],
        ),
        (
            "viewer",
            vec![format!("{}/#", t.root())],
            vec![
                &reading, &senml, &status, &rolling, &aggregate, &alert, &error,
            ],
        ),
        // The sensor reads why its own payloads were refused.
        ("pi-a", vec![t.error("pi-a")], vec![&error]),
    ];
    let mut clients = Vec::new();
    for (user, filters, _) in &readers {
        let mut client = broker.connect(user).await?;
        client.subscribe(filters).await?;
        clients.push(client);
    }

    let mut pi_a = broker.connect("pi-a").await?;
    for message in [&reading, &senml, &status] {
        pi_a.publish(&message.topic, false, &message.payload)
            .await?;
    }
    let mut realtime = broker.connect("realtime").await?;
    for message in [&rolling, &aggregate, &alert, &error] {
        realtime
            .publish(&message.topic, false, &message.payload)
            .await?;
    }
    // Each PUBACK came before the next publish, so every reader gets its share in this order.
    for ((user, _, expected), client) in readers.iter().zip(&mut clients) {
        let Some(last) = expected.last() else {
            continue;
        };
        let received = client.receive_through(last).await?;
        let expected: Vec<Received> = expected.iter().map(|&m| m.clone()).collect();
        assert_eq!(received, expected, "{user}; broker log:\n{}", broker.log());
    }
    Ok(())
}

/// Live profiles (issue 14): the operator (the teacher) alone publishes on `profiles/`, every
/// service reads there; realtime alone publishes a profile's refusal, which the operator and the
/// viewer read.
#[tokio::test]
async fn only_the_operator_publishes_profiles_and_realtime_their_refusals() -> anyhow::Result<()> {
    let Some(broker) = Broker::start_or_skip()? else {
        return Ok(());
    };
    let root = Topics::default().root().to_owned();
    let profiles = format!("{root}/profiles/+");
    let errors = format!("{root}/errors/profiles/+");
    let mut services = Vec::new();
    for user in ["realtime", "historian", "server"] {
        services.push((
            user,
            broker
                .subscribed(user, std::slice::from_ref(&profiles))
                .await?,
        ));
    }
    let mut authors = Vec::new();
    for user in ["operator", "viewer"] {
        authors.push((
            user,
            broker
                .subscribed(user, std::slice::from_ref(&errors))
                .await?,
        ));
    }
    for user in ["pi-a", "simulator", "viewer", "realtime"] {
        broker
            .connect(user)
            .await?
            .publish(&format!("{root}/profiles/x"), true, &format!("from {user}"))
            .await?;
    }
    let published = Received::new(format!("{root}/profiles/ecole-co2"), "name = \"ecole-co2\"");
    let mut operator = broker.connect("operator").await?;
    operator
        .publish(&published.topic, true, &published.payload)
        .await?;
    for (user, client) in &mut services {
        let received = client.receive_through(&published).await?;
        assert_eq!(
            received,
            std::slice::from_ref(&published),
            "{user}; broker log:\n{}",
            broker.log()
        );
    }
    for user in ["pi-a", "historian", "operator"] {
        broker
            .connect(user)
            .await?
            .publish(
                &format!("{root}/errors/profiles/x"),
                true,
                &format!("from {user}"),
            )
            .await?;
    }
    let refusal = Received::new(
        format!("{root}/errors/profiles/ecole-co2"),
        "{\"problems\":[]}",
    );
    broker
        .connect("realtime")
        .await?
        .publish(&refusal.topic, true, &refusal.payload)
        .await?;
    for (user, client) in &mut authors {
        let received = client.receive_through(&refusal).await?;
        assert_eq!(
            received,
            std::slice::from_ref(&refusal),
            "{user}; broker log:\n{}",
            broker.log()
        );
    }
    Ok(())
}

/// `garonne profile publish` with the operator's login reaches the services; with the viewer's
/// (who may read the profiles, not write them) or a sensor's, it says that the broker did not
/// pass the profile on (the broker acknowledges a publication its ACL drops): exit code 2.
#[tokio::test]
async fn garonne_profile_publish_takes_the_operator_login_only() -> anyhow::Result<()> {
    let Some(broker) = Broker::start_or_skip()? else {
        return Ok(());
    };
    let root = Topics::default().root().to_owned();
    let mut historian = broker
        .subscribed("historian", &[format!("{root}/profiles/+")])
        .await?;
    let folder = tempfile::tempdir()?;
    let text = "name = \"deploy-co2\"\nversion = 1\ntitle = { en = \"T\", fr = \"T\" }\n\n\
                [[quantity]]\nname = \"deployCo2\"\nunit = \"ppm\"\n\
                label = { en = \"CO2\", fr = \"CO2\" }\nmin = 0\nmax = 10000\n";
    let file = folder.path().join("deploy-co2.toml");
    std::fs::write(&file, text)?;
    for (user, code, said) in [
        ("viewer", 2, "did not pass the profile on"),
        ("pi-a", 2, "did not pass the profile on"),
        ("operator", 0, "published"),
    ] {
        let mut command = Command::new(garonne_deploy_checks::garonne());
        command
            .args(["profile", "publish"])
            .arg(&file)
            .args(["--broker", &format!("mqtt://127.0.0.1:{}", broker.port())])
            .args(["--wait", "1"])
            .current_dir(folder.path())
            .env_remove("GARONNE_PROFILES_DIR")
            .env("GARONNE_MQTT_USERNAME", user)
            .env("GARONNE_MQTT_PASSWORD", password(user));
        let out = tokio::task::spawn_blocking(move || command.output()).await??;
        let shown = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(code), "{user}: {shown}");
        assert!(shown.contains(said), "{user}: {shown}");
    }
    let published = Received::new(format!("{root}/profiles/deploy-co2"), text);
    let received = historian.receive_through(&published).await?;
    assert_eq!(received, [published], "broker log:\n{}", broker.log());
    Ok(())
}

/// The viewer reads the broker's statistics (what the compose healthcheck subscribes to) and
/// the city's topics, and publishes nothing.
#[tokio::test]
async fn the_viewer_reads_and_never_writes() -> anyhow::Result<()> {
    let Some(broker) = Broker::start_or_skip()? else {
        return Ok(());
    };
    let topics = Topics::default();
    let mut viewer = broker
        .subscribed(
            "viewer",
            &["$SYS/broker/uptime".to_owned(), topics.all_readings()],
        )
        .await?;
    let uptime = viewer.next_message("$SYS/broker/uptime").await?;
    assert_eq!(uptime.topic, "$SYS/broker/uptime");

    viewer
        .publish(&topics.reading("pi-a"), false, "from the viewer")
        .await?;
    let reading = Received::new(topics.reading("pi-a"), "from pi-a");
    broker
        .connect("pi-a")
        .await?
        .publish(&reading.topic, false, &reading.payload)
        .await?;
    assert_eq!(viewer.receive_through(&reading).await?, [reading]);
    Ok(())
}

#[tokio::test]
async fn a_256_kib_payload_passes() -> anyhow::Result<()> {
    let Some(broker) = Broker::start_or_skip()? else {
        return Ok(());
    };
    let topics = Topics::default();
    let mut historian = broker
        .subscribed("historian", &[topics.all_senml()])
        .await?;
    let mut pi_a = broker.connect("pi-a").await?;
    let pack = Received::new(topics.senml("pi-a"), "x".repeat(256 * 1024));
    pi_a.publish(&pack.topic, false, &pack.payload).await?;
    let received = historian.receive_through(&pack).await?;
    assert!(
        received == [pack],
        "the 256 KiB pack was not delivered alone"
    );
    Ok(())
}

#[tokio::test]
async fn retained_messages_survive_a_restart() -> anyhow::Result<()> {
    let Some(mut broker) = Broker::start_or_skip()? else {
        return Ok(());
    };
    let topics = Topics::default();
    let aggregate = Received::new(topics.aggregate("7"), "kept");
    broker
        .connect("realtime")
        .await?
        .publish(&aggregate.topic, true, &aggregate.payload)
        .await?;
    broker
        .server
        .restart()
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    ensure!(
        broker.dir.path().join("data/mosquitto.db").is_file(),
        "no persistence file after a restart; broker log:\n{}",
        broker.log()
    );
    let mut viewer = broker
        .subscribed("viewer", &[topics.all_aggregates()])
        .await?;
    assert_eq!(viewer.receive_through(&aggregate).await?, [aggregate]);
    Ok(())
}

/// A sensor that connects with a service's client id as the source spells it
/// (`garonne-historian`) does not disconnect the service: with a password, a service's id ends
/// with a key derived from it (`Credentials::client_key`), which another login cannot guess.
#[tokio::test]
async fn a_sensor_cannot_take_a_services_session_over() -> anyhow::Result<()> {
    let Some(broker) = Broker::start_or_skip()? else {
        return Ok(());
    };
    let topics = Topics::default();
    let login = Credentials::new("historian", password("historian"));
    let id = MqttConfig {
        credentials: Some(login),
        ..MqttConfig::default()
    }
    .client_id("historian", Session::Persistent);
    assert_ne!(id, "garonne-historian");
    let mut historian = Client::connect_as(
        &id,
        broker.port(),
        Some(("historian", password("historian"))),
    )
    .await
    .map_err(|e| anyhow::anyhow!("historian: {e:?}"))?;
    historian.subscribe(&[topics.all_readings()]).await?;
    // The id anyone can read in the source, taken by a sensor's login.
    let _intruder = Client::connect_as(
        "garonne-historian",
        broker.port(),
        Some(("pi-a", password("pi-a"))),
    )
    .await
    .map_err(|e| anyhow::anyhow!("pi-a: {e:?}"))?;
    // The historian is still connected: a reading published after reaches it.
    let mut pi = broker.connect("pi-a").await?;
    let reading = Received::new(topics.reading("pi-a"), "after the attempt");
    pi.publish(&reading.topic, false, &reading.payload).await?;
    let received = historian.next_message("the reading").await?;
    assert_eq!(received, reading, "broker log:\n{}", broker.log());
    Ok(())
}

/// The entrypoint stops, saying what to fix, when the credentials are incomplete or clash, and
/// never prints a password while doing so.
#[test]
fn the_entrypoint_refuses_incomplete_or_clashing_credentials() -> anyhow::Result<()> {
    let Some(mosquitto_passwd) = garonne_testkit::require("mosquitto_passwd", "mosquitto") else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("mosquitto.conf");
    std::fs::write(
        &config,
        ConfigTemplate::read()?.render(
            garonne_testkit::free_port()?,
            garonne_testkit::free_port()?,
            dir.path(),
        ),
    )?;
    let path = path_with(&[&mosquitto_passwd])?;
    let secret = "do-not-print-me";
    let cases: [(&str, &str, String, &str); 6] = [
        (
            "a required password missing",
            "GARONNE_MQTT_HISTORIAN_PASSWORD",
            String::new(),
            "GARONNE_MQTT_HISTORIAN_PASSWORD is not set",
        ),
        (
            "a sensor named like a service",
            "GARONNE_MQTT_SENSORS",
            format!("server:{secret}"),
            "a sensor named server",
        ),
        (
            "a sensor id that cannot be a topic level",
            "GARONNE_MQTT_SENSORS",
            format!("pi/a:{secret}"),
            "sensor id that is not valid",
        ),
        (
            "an entry without a password",
            "GARONNE_MQTT_SENSORS",
            secret.to_owned(),
            "without ':'",
        ),
        (
            "a sensor given twice",
            "GARONNE_MQTT_SENSORS",
            format!("pi-a:{secret} pi-a:{secret}"),
            "the user pi-a is given twice",
        ),
        (
            "a sensor with an empty password",
            "GARONNE_MQTT_SENSORS",
            "pi-a:".to_owned(),
            "the user pi-a has an empty password",
        ),
    ];
    for (what, variable, value, message) in cases {
        let output = entrypoint(&config, Path::new(""), &path)
            .env(variable, &value)
            .output()?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(!output.status.success(), "{what}: the entrypoint went on");
        assert!(stderr.contains(message), "{what}: {stderr}");
        for (name, text) in [("stderr", &stderr), ("stdout", &stdout)] {
            assert!(
                !text.contains(secret),
                "{what}: a password on {name}: {text}"
            );
            for (_, _, password) in SERVICES {
                assert!(
                    !text.contains(password),
                    "{what}: a password on {name}: {text}"
                );
            }
        }
        assert!(
            !dir.path().join("run/passwd").exists(),
            "{what}: a password file was written anyway"
        );
    }
    Ok(())
}

/// docker compose runs the entrypoint as the container's command: it must be executable.
#[test]
fn the_entrypoint_is_executable() -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(deploy_dir().join("entrypoint.sh"))?
        .permissions()
        .mode();
    assert!(mode & 0o111 == 0o111, "entrypoint.sh has mode {mode:o}");
    Ok(())
}

/// A Garonne client on `mqtts://` (the services' own options, trusting the CA the operator put in
/// deploy/tls/) logs in and publishes through the TLS listener under the same ACL as on 1883;
/// without a login it is refused there too.
#[tokio::test]
async fn the_tls_listener_serves_the_same_logins_and_acl() -> anyhow::Result<()> {
    let Some(broker) = Broker::start_or_skip()? else {
        return Ok(());
    };
    let topics = Topics::default();
    let url = broker.mqtts()?;
    let login = |user: &str| Credentials::new(user, password(user));
    let mut historian = broker
        .subscribed("historian", &[topics.all_readings()])
        .await?;
    let options = |id: &str, user: Option<&Credentials>| {
        let mut options = garonne_service::mqtt::options(id, &url, user);
        options.set_clean_session(true);
        options
    };
    let mut pi_a = Client::start(options("deploy-tls-pi-a", Some(&login("pi-a"))))
        .await
        .map_err(|e| anyhow::anyhow!("pi-a over TLS: {e}; broker log:\n{}", broker.log()))?;
    let elsewhere = Received::new(topics.reading("pi-b"), "not mine");
    let reading = Received::new(topics.reading("pi-a"), "over TLS");
    pi_a.publish(&elsewhere.topic, false, &elsewhere.payload)
        .await?;
    pi_a.publish(&reading.topic, false, &reading.payload)
        .await?;
    assert_eq!(
        historian.receive_through(&reading).await?,
        [reading],
        "only the reading under its own id passes"
    );

    let anonymous = Client::start(options("deploy-tls-anonymous", None)).await;
    assert!(refused_for_credentials(&anonymous), "{:?}", anonymous.err());
    let wrong = Credentials::new("pi-a", "not-the-password");
    let wrong = Client::start(options("deploy-tls-wrong", Some(&wrong))).await;
    assert!(refused_for_credentials(&wrong), "{:?}", wrong.err());
    Ok(())
}

/// Without the TLS files in the mounted folder, the entrypoint stops and says how to make them.
#[test]
fn the_entrypoint_refuses_to_start_without_the_tls_files() -> anyhow::Result<()> {
    let Some(mosquitto_passwd) = garonne_testkit::require("mosquitto_passwd", "mosquitto") else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("mosquitto.conf");
    let port = garonne_testkit::free_port()?;
    std::fs::write(
        &config,
        ConfigTemplate::read()?.render(port, port, dir.path()),
    )?;
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty)?;
    let output = entrypoint(&config, Path::new(""), &path_with(&[&mosquitto_passwd])?)
        .env("GARONNE_MOSQUITTO_CERTS", &empty)
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "went on: {stderr}");
    assert!(
        stderr.contains(&format!("cannot read {}/ca.crt", empty.display()))
            && stderr.contains("deploy/tls/self-signed.sh"),
        "{stderr}"
    );
    Ok(())
}

/// deploy/tls/self-signed.sh, the documented first start, makes a set the deployed broker serves
/// and a Garonne client (rustls) accepts for the name given.
#[tokio::test]
async fn the_self_signed_script_makes_a_set_broker_and_clients_accept() -> anyhow::Result<()> {
    let Some(openssl) = garonne_testkit::require("openssl", "openssl") else {
        return Ok(());
    };
    let made = tempfile::tempdir()?;
    let script = made.path().join("self-signed.sh");
    std::fs::copy(
        garonne_deploy_checks::repo_path("deploy/tls/self-signed.sh"),
        &script,
    )?;
    let output = Command::new("sh")
        .arg(&script)
        .arg("localhost")
        .env("PATH", path_with(&[&openssl])?)
        .output()?;
    ensure!(
        output.status.success(),
        "self-signed.sh: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let again = Command::new("sh").arg(&script).arg("localhost").output()?;
    ensure!(
        !again.status.success(),
        "self-signed.sh replaced an existing set"
    );
    let Some(broker) = Broker::start_with_or_skip(TlsFiles::Made(made))? else {
        return Ok(());
    };
    let login = Credentials::new("pi-a", password("pi-a"));
    let mut options =
        garonne_service::mqtt::options("deploy-tls-script", &broker.mqtts()?, Some(&login));
    options.set_clean_session(true);
    let mut pi_a = Client::start(options)
        .await
        .map_err(|e| anyhow::anyhow!("pi-a over TLS: {e}; broker log:\n{}", broker.log()))?;
    pi_a.publish(&Topics::default().reading("pi-a"), false, "over TLS")
        .await?;
    Ok(())
}
