//! Configuration files: every service reads a TOML file into its own `Config` (with
//! `deny_unknown_fields`) through the one [`load`], refuses bad values with the one
//! [`ConfigError`], and prints its defaults for `--print-default-config` through [`commented`].
//! What the services share is here too: the `[mqtt]` section ([`MqttConfig`]), parsed once into
//! typed values (a [`BrokerUrl`], a [`TopicPrefix`]) so no service parses a broker string again.
//!
//! ```toml
//! [mqtt]
//! broker = "mqtt://127.0.0.1:1883"  # or "mqtts://broker.example.org" (TLS, port 8883)
//! # ca_file = "/etc/garonne/ca.crt"  # with mqtts://: trust only this CA (PEM); unset: the system's
//! topic_prefix = "garonne"
//! client_id = "garonne-realtime"   # unset: the service's own (see MqttConfig::client_id)
//! ```
//!
//! Design: secrets never live in a file. The MQTT login is read from the environment by the
//! `garonne` command and put in [`MqttConfig::credentials`], which serde skips.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use garonne_neighbourhoods::{Neighbourhoods, Properties};
use garonne_payload::Topics;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::data_dir::DataDir;
use crate::host::Session;
use crate::mqtt::{BrokerUrl, BrokerUrlError, CaFile, Credentials, Roots};

/// Why a configuration file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file cannot be read.
    #[error("cannot read the {service} configuration {}", path.display())]
    Read {
        /// The service: `realtime`, `historian`...
        service: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML for this configuration.
    #[error("the {service} configuration {} is not valid", path.display())]
    Parse {
        /// The service.
        service: &'static str,
        /// The file.
        path: PathBuf,
        /// Why (with line and column); boxed, as it is large.
        #[source]
        source: Box<toml::de::Error>,
    },
    /// The file has a key of the old flat layout that moved into a section.
    #[error(
        "the {service} configuration {} has `{key}` at the top: it moved into the [mqtt] \
         section; put it under an `[mqtt]` line at the end of the file (see \
         --print-default-config)",
        path.display()
    )]
    Moved {
        /// The service.
        service: &'static str,
        /// The file.
        path: PathBuf,
        /// The key.
        key: &'static str,
    },
}

/// Why a service's configuration is refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read, or is not valid TOML for this configuration.
    #[error(transparent)]
    File(#[from] FileError),
    /// A value is out of bounds; the text says which and how to fix it.
    #[error("{service} configuration: {message}")]
    Invalid {
        /// The service.
        service: &'static str,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The neighbourhood polygons the configuration names cannot be loaded.
    #[error(
        "cannot load the neighbourhoods (give a polygon GeoJSON with --neighbourhoods, and \
         --id-property/--name-property if its properties are not detected)"
    )]
    Neighbourhoods(#[source] garonne_neighbourhoods::LoadError),
}

/// A service's configuration: read from a TOML file by the one [`load`], checked, printed with
/// its comments for `--print-default-config`; its `[mqtt]` section is [`AsMut::as_mut`]. Every
/// service's `Config` is one; the `garonne` command reads them all the same way.
pub trait ServiceConfig: Default + Serialize + DeserializeOwned + AsMut<MqttConfig> {
    /// The service's name, in errors (`realtime configuration: ...`) and default client ids.
    const SERVICE: &'static str;
    /// The comments of `--print-default-config`, by key or `[section]` (the `[mqtt]`
    /// section's are added: [`MQTT_NOTES`]).
    const NOTES: &'static [(&'static str, &'static str)];

    /// The defaults, with every file of the service in the folder `data`.
    fn in_folder(data: &DataDir) -> Self;

    /// Checks every value; the message says what is wrong and how to fix it.
    ///
    /// # Errors
    ///
    /// The message, which [`ServiceConfig::validate`] puts in a [`ConfigError::Invalid`].
    fn check(&self) -> Result<(), String>;

    /// What `--print-default-config` prints after the file (commented alternatives).
    fn appendix(&self) -> String {
        String::new()
    }

    /// Reads a TOML file.
    ///
    /// # Errors
    ///
    /// [`ConfigError::File`]: see [`load`].
    fn load(path: &Path) -> Result<Self, ConfigError> {
        Ok(load(Self::SERVICE, path)?)
    }

    /// Checks every value; the error says what is wrong and how to fix it.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`], with the message of [`ServiceConfig::check`].
    fn validate(&self) -> Result<(), ConfigError> {
        self.check()
            .map_err(|message| ConfigError::invalid(Self::SERVICE, message))
    }

    /// The default configuration as a commented TOML file, for `--print-default-config`.
    fn default_toml() -> String {
        let config = Self::default();
        let header = format!(
            "garonne {} configuration: every key may be left out (these are the defaults).",
            Self::SERVICE
        );
        let notes: Vec<_> = Self::NOTES.iter().copied().chain(MQTT_NOTES).collect();
        commented(&config, &header, &notes) + &config.appendix()
    }
}

/// `Ok` when `value` is in `range`; otherwise `{key} is {value}: use {fix}`, for a
/// [`ServiceConfig::check`].
///
/// # Errors
///
/// That message.
pub fn check_range<T: PartialOrd + fmt::Display>(
    key: &str,
    value: T,
    range: std::ops::RangeInclusive<T>,
    fix: &str,
) -> Result<(), String> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(format!("{key} is {value}: use {fix}"))
    }
}

/// [`check_range`] for a field of a configuration, named after the field (so the message
/// names the key the file has): `check_range!(self.batch_points in 1..=100_000, "1 to 100000")`.
#[macro_export]
macro_rules! check_range {
    ($config:ident . $key:ident in $range:expr, $fix:expr) => {
        $crate::config::check_range(stringify!($key), $config.$key, $range, $fix)
    };
}

/// Implements, for a service's `Config` with an `mqtt` field: `Default` (the defaults with
/// the files in the default data folder, [`ServiceConfig::in_folder`]) and
/// `AsMut<MqttConfig>` (that field). A macro, as a function cannot write trait impls.
#[macro_export]
macro_rules! service_config_defaults {
    ($config:ty) => {
        impl ::std::default::Default for $config {
            fn default() -> $config {
                <$config as $crate::config::ServiceConfig>::in_folder(
                    &$crate::data_dir::DataDir::default(),
                )
            }
        }

        impl ::std::convert::AsMut<$crate::config::MqttConfig> for $config {
            fn as_mut(&mut self) -> &mut $crate::config::MqttConfig {
                &mut self.mqtt
            }
        }
    };
}

/// A change to a configuration, for [`assert_checks`].
pub type Spoil<C> = fn(&mut C);

/// For a service's tests: its defaults are valid and `--print-default-config` prints a
/// commented file that reads back into them; each of `spoils` spoils the defaults, and each of
/// `files` is a configuration file; every one of them is refused (when read or when checked)
/// with an error that says the fix given with it.
///
/// # Panics
///
/// When any of that is not so.
pub fn assert_checks<C: ServiceConfig + PartialEq + fmt::Debug>(
    spoils: &[(&str, Spoil<C>)],
    files: &[(&str, &str)],
) {
    let config = C::default();
    config.validate().expect("default is valid");
    let text = C::default_toml();
    let back: C = toml::from_str(&text).expect("parses");
    assert_eq!(back, config);
    assert!(text.starts_with("# garonne "), "{text}");
    assert!(text.contains("\n# The MQTT broker and topics"), "{text}");
    let spoiled = spoils.iter().map(|(fix, spoil)| {
        let mut config = C::default();
        spoil(&mut config);
        (fix, config.validate().map_err(|e| e.to_string()))
    });
    let read = files.iter().map(|(fix, file)| {
        let config = toml::from_str::<C>(file).map_err(|e| e.to_string());
        (
            fix,
            config.and_then(|c| c.validate().map_err(|e| e.to_string())),
        )
    });
    for (fix, checked) in spoiled.chain(read) {
        let e = checked.expect_err(fix);
        assert!(e.contains(*fix), "{e} should say {fix}");
    }
}

impl ConfigError {
    /// A value of `service`'s configuration is refused; `message` says how to fix it.
    pub fn invalid(service: &'static str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            service,
            message: message.into(),
        }
    }
}

/// The neighbourhood polygons a configuration names (realtime's and the server's: the same
/// file, read the same way), with the properties holding each one's id and name (`None`:
/// detected for the Toulouse files).
///
/// # Errors
///
/// [`ConfigError::Neighbourhoods`], which says which flags fix it.
pub fn load_neighbourhoods(
    path: &Path,
    id_property: Option<&str>,
    name_property: Option<&str>,
) -> Result<Neighbourhoods, ConfigError> {
    let properties = Properties {
        id: id_property.map(str::to_owned),
        name: name_property.map(str::to_owned),
    };
    Neighbourhoods::load(path, &properties).map_err(ConfigError::Neighbourhoods)
}

/// Keys of the `[mqtt]` section that older files had at the top level.
const MOVED_TO_MQTT: [&str; 3] = ["broker", "client_id", "topic_prefix"];

/// Reads the TOML file at `path` as the configuration of `service`.
///
/// # Errors
///
/// [`FileError`]: the file cannot be read, is not valid, or has a key of the old flat layout
/// (`broker`, `client_id`, `topic_prefix` outside `[mqtt]`), which the error says how to move.
pub fn load<T: DeserializeOwned>(service: &'static str, path: &Path) -> Result<T, FileError> {
    let text = std::fs::read_to_string(path).map_err(|source| FileError::Read {
        service,
        path: path.to_owned(),
        source,
    })?;
    if let Ok(table) = text.parse::<toml::Table>()
        && let Some(key) = MOVED_TO_MQTT.into_iter().find(|k| table.contains_key(*k))
    {
        return Err(FileError::Moved {
            service,
            path: path.to_owned(),
            key,
        });
    }
    toml::from_str(&text).map_err(|source| FileError::Parse {
        service,
        path: path.to_owned(),
        source: Box::new(source),
    })
}

/// A configuration as TOML.
pub fn to_toml<T: Serialize>(config: &T) -> String {
    toml::to_string_pretty(config).unwrap_or_default()
}

/// A configuration as a commented TOML file, for `--print-default-config`: a header, then
/// every key as [`to_toml`] writes it, each preceded by `# {note}` when `notes` has one for it
/// (`notes` pairs a key, or a `[section]` header, with its comment). The result parses back
/// into the same configuration.
pub fn commented<T: Serialize>(config: &T, header: &str, notes: &[(&str, &str)]) -> String {
    let mut text = String::new();
    for line in header.lines() {
        text.push_str("# ");
        text.push_str(line);
        text.push('\n');
    }
    for line in to_toml(config).lines() {
        let key = line.split(" = ").next().unwrap_or("").trim();
        if let Some((_, note)) = notes.iter().find(|(k, _)| *k == key) {
            if line.starts_with('[') && !text.ends_with("\n\n") {
                text.push('\n');
            }
            for note_line in note.lines() {
                text.push_str("# ");
                text.push_str(note_line);
                text.push('\n');
            }
        }
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// The comments of the `[mqtt]` section, for [`commented`].
pub const MQTT_NOTES: [(&str, &str); 3] = [
    (
        "[mqtt]",
        "The MQTT broker and topics (the same section in every service). client_id = \"ID\"\n\
         sets the MQTT client id; unset, it is the service's own (garonne-realtime,\n\
         garonne-historian..., unique per process for the web server). The login is never in\n\
         this file: the garonne command reads it from the environment (docs/deploy.md).",
    ),
    (
        "broker",
        "The broker, mqtt://HOST[:PORT] (port 1883 by default), or mqtts://HOST[:PORT] for TLS\n\
         (port 8883 by default; it trusts the system's certificate authorities, or only those\n\
         of ca_file = \"PATH\", a PEM file, when set).",
    ),
    ("topic_prefix", "Topics under {topic_prefix}/v1/."),
];

/// A topic prefix, checked: one or more levels of letters, digits, `-` or `_` separated by `/`
/// (`garonne`, `city/garonne`); topics live under `{prefix}/v1/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TopicPrefix {
    prefix: String,
    topics: Topics,
}

/// Why a topic prefix is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "topic prefix \"{0}\" is not valid: use levels of letters, digits, - or _ separated by / \
     (e.g. garonne)"
)]
pub struct TopicPrefixError(String);

impl TopicPrefix {
    /// The prefix as written.
    pub fn as_str(&self) -> &str {
        &self.prefix
    }

    /// The topics under this prefix.
    pub fn topics(&self) -> &Topics {
        &self.topics
    }
}

impl Default for TopicPrefix {
    fn default() -> TopicPrefix {
        TopicPrefix {
            prefix: garonne_payload::topic::DEFAULT_PREFIX.to_owned(),
            topics: Topics::default(),
        }
    }
}

impl FromStr for TopicPrefix {
    type Err = TopicPrefixError;
    fn from_str(prefix: &str) -> Result<TopicPrefix, TopicPrefixError> {
        match Topics::new(prefix) {
            Some(topics) => Ok(TopicPrefix {
                prefix: prefix.to_owned(),
                topics,
            }),
            None => Err(TopicPrefixError(prefix.to_owned())),
        }
    }
}

impl TryFrom<String> for TopicPrefix {
    type Error = TopicPrefixError;
    fn try_from(prefix: String) -> Result<TopicPrefix, TopicPrefixError> {
        prefix.parse()
    }
}

impl From<TopicPrefix> for String {
    fn from(prefix: TopicPrefix) -> String {
        prefix.prefix
    }
}

impl fmt::Display for TopicPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.prefix)
    }
}

/// The `[mqtt]` section every service has: where the broker is, under which client id, and
/// under which topic prefix. Defaults: `mqtt://127.0.0.1:1883`, the service's own client id,
/// prefix `garonne`.
///
/// In the file, `ca_file = "PATH"` beside an `mqtts://` broker names the PEM file of the
/// certificate authorities to trust (only those; unset: the system's). It is read and checked
/// when the file is read, and kept in the broker ([`BrokerUrl::trusting`]), so every client
/// built from the broker uses it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "MqttSection", into = "MqttSection")]
pub struct MqttConfig {
    /// The broker, `mqtt://HOST[:PORT]` (port 1883 by default) or `mqtts://HOST[:PORT]` (TLS,
    /// port 8883 by default), with the CA file it trusts.
    pub broker: BrokerUrl,
    /// Topic prefix: topics under `{topic_prefix}/v1/`.
    pub topic_prefix: TopicPrefix,
    /// MQTT client id; unset: the service's own (see [`MqttConfig::client_id`]). A service
    /// with a persistent session needs a fixed one: the broker keeps its session (and queues
    /// its messages) under it across a restart; two instances on one broker need two ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The login, if the broker wants one: never in a file, read from the environment by the
    /// `garonne` command and passed in.
    #[serde(skip)]
    pub credentials: Option<Credentials>,
}

/// Why [`MqttConfig::parse`] refuses its broker or its topic prefix; the text says how to write
/// them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MqttConfigError {
    /// The broker is not `mqtt://HOST[:PORT]`, `mqtts://HOST[:PORT]` or `HOST[:PORT]`.
    #[error(transparent)]
    Broker(#[from] BrokerUrlError),
    /// The topic prefix is not levels of letters, digits, `-` or `_`.
    #[error(transparent)]
    TopicPrefix(#[from] TopicPrefixError),
}

/// The `[mqtt]` section as the file has it: [`MqttConfig`] with the CA file as a key of its own.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct MqttSection {
    broker: BrokerUrl,
    #[serde(skip_serializing_if = "Option::is_none")]
    ca_file: Option<CaFile>,
    topic_prefix: TopicPrefix,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
}

impl TryFrom<MqttSection> for MqttConfig {
    type Error = String;
    fn try_from(section: MqttSection) -> Result<MqttConfig, String> {
        Ok(MqttConfig {
            broker: section
                .broker
                .trusting(section.ca_file)
                .map_err(|e| e.to_string())?,
            topic_prefix: section.topic_prefix,
            client_id: section.client_id,
            credentials: None,
        })
    }
}

impl From<MqttConfig> for MqttSection {
    fn from(mqtt: MqttConfig) -> MqttSection {
        let ca_file = match &mqtt.broker.tls {
            Some(Roots::File(ca)) => Some(ca.clone()),
            _ => None,
        };
        MqttSection {
            broker: mqtt.broker,
            ca_file,
            topic_prefix: mqtt.topic_prefix,
            client_id: mqtt.client_id,
        }
    }
}

impl MqttConfig {
    /// The section for `broker`, with the other values at their defaults.
    pub fn new(broker: BrokerUrl) -> MqttConfig {
        MqttConfig {
            broker,
            ..MqttConfig::default()
        }
    }

    /// The section of the client `client_id` on `broker` (`mqtt://HOST[:PORT]`,
    /// `mqtts://HOST[:PORT]` or `HOST[:PORT]`), its topics under `topic_prefix`, no login, no
    /// CA file: in one call what a test, a bench or an embedded service gives a service on a
    /// broker it started, in place of the fields one by one.
    ///
    /// # Errors
    ///
    /// [`MqttConfigError`]: the broker or the prefix is not valid.
    pub fn parse(
        broker: &str,
        topic_prefix: &str,
        client_id: impl Into<String>,
    ) -> Result<MqttConfig, MqttConfigError> {
        Ok(MqttConfig {
            broker: broker.parse()?,
            topic_prefix: topic_prefix.parse()?,
            client_id: Some(client_id.into()),
            credentials: None,
        })
    }

    /// The topics under [`MqttConfig::topic_prefix`].
    pub fn topics(&self) -> &Topics {
        self.topic_prefix.topics()
    }

    /// The client id: the configured one, or `service`'s own: `garonne-{service}` for a
    /// persistent session (fixed, so the broker keeps it across restarts; with a password,
    /// `garonne-{service}-{key}`, [`Credentials::client_key`], which another login cannot
    /// guess), and for a clean session `garonne-{service}-{pid}-{random}`, so several instances
    /// can share a broker.
    pub fn client_id(&self, service: &str, session: Session) -> String {
        match (&self.client_id, session) {
            (Some(id), _) => id.clone(),
            (None, Session::Persistent) => Credentials::keyed_client_id(
                &format!("garonne-{service}"),
                self.credentials.as_ref(),
            ),
            (None, Session::Clean) => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos());
                format!("garonne-{service}-{}-{nanos:08x}", std::process::id())
            }
        }
    }

    /// Checks what serde cannot: the client id's length. The error says how to fix it.
    ///
    /// # Errors
    ///
    /// The message, to wrap in the service's [`ConfigError::Invalid`].
    pub fn validate(&self) -> Result<(), String> {
        match &self.client_id {
            Some(id) if id.is_empty() || id.len() > 128 => Err(
                "client_id must be 1 to 128 characters; leave it unset for the service's own"
                    .to_owned(),
            ),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, Serialize, PartialEq, Default)]
    #[serde(deny_unknown_fields, default)]
    struct Example {
        window_secs: u32,
        mqtt: MqttConfig,
    }

    #[test]
    fn files_read_or_say_which_file_and_why() {
        let dir = tempfile::tempdir().expect("temp dir");
        let good = dir.path().join("good.toml");
        let example = Example {
            window_secs: 60,
            ..Example::default()
        };
        std::fs::write(&good, to_toml(&example)).expect("write");
        assert_eq!(load::<Example>("realtime", &good).expect("reads"), example);

        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "window = 60\n").expect("write");
        let e = load::<Example>("realtime", &bad).expect_err("unknown key");
        assert!(matches!(e, FileError::Parse { .. }), "{e:?}");
        assert!(
            e.to_string().starts_with("the realtime configuration"),
            "{e}"
        );

        let missing = dir.path().join("missing.toml");
        let e = load::<Example>("historian", &missing).expect_err("no file");
        assert!(matches!(e, FileError::Read { .. }), "{e:?}");
        assert!(e.to_string().contains("missing.toml"), "{e}");
    }

    #[test]
    fn a_key_of_the_flat_layout_says_it_moved_into_the_mqtt_section() {
        let dir = tempfile::tempdir().expect("temp dir");
        let old = dir.path().join("old.toml");
        std::fs::write(
            &old,
            "broker = \"mqtt://127.0.0.1:1883\"\nwindow_secs = 60\n",
        )
        .expect("write");
        let e = load::<Example>("realtime", &old).expect_err("old layout");
        assert!(matches!(e, FileError::Moved { key: "broker", .. }), "{e:?}");
        assert!(e.to_string().contains("[mqtt]"), "{e}");
    }

    #[test]
    fn the_broker_and_the_topic_prefix_parse_or_say_how_to_fix_them() {
        let parse = |text: &str| toml::from_str::<MqttConfig>(text).map_err(|e| e.to_string());
        let mqtt =
            parse("broker = \"mqtt://127.0.0.1:1883\"\ntopic_prefix = \"garonne\"").expect("valid");
        assert_eq!(mqtt.broker.to_string(), "mqtt://127.0.0.1:1883");
        assert_eq!(mqtt.topic_prefix.as_str(), "garonne");
        assert_eq!(mqtt.topics().root(), "garonne/v1");

        let e = parse("broker = \"http://x\"").expect_err("not MQTT");
        assert!(e.contains("mqtt://127.0.0.1:1883"), "{e}");
        let e = ""
            .parse::<TopicPrefix>()
            .expect_err("no prefix")
            .to_string();
        assert!(
            e.starts_with("topic prefix \"\" is not valid") && e.contains("(e.g. garonne)"),
            "{e}"
        );
        let e = parse("topic_prefix = \"a/+\"").expect_err("wildcard");
        assert!(e.contains("topic prefix \"a/+\" is not valid"), "{e}");
        let e = parse("brokr = \"mqtt://h\"").expect_err("typo");
        assert!(e.contains("brokr"), "{e}");
    }

    #[test]
    fn one_call_gives_broker_prefix_and_client_id_or_says_which_is_wrong() {
        for broker in ["mqtt://127.0.0.1:18830", "127.0.0.1:18830"] {
            let mqtt = MqttConfig::parse(broker, "t42/city", "t42-realtime").expect("valid");
            assert_eq!(mqtt.broker.to_string(), "mqtt://127.0.0.1:18830");
            assert_eq!(mqtt.topics().root(), "t42/city/v1");
            assert_eq!(
                mqtt.client_id("realtime", Session::Persistent),
                "t42-realtime"
            );
            assert_eq!(mqtt.credentials, None);
            assert!(mqtt.validate().is_ok());
        }
        let e = MqttConfig::parse("http://h", "garonne", "c").expect_err("not MQTT");
        assert!(matches!(e, MqttConfigError::Broker(_)), "{e:?}");
        assert!(e.to_string().contains("mqtt://127.0.0.1:1883"), "{e}");
        let e = MqttConfig::parse("mqtt://h", "a/+", "c").expect_err("wildcard");
        assert!(matches!(e, MqttConfigError::TopicPrefix(_)), "{e:?}");
        assert!(e.to_string().contains("topic prefix \"a/+\""), "{e}");
    }

    #[test]
    fn ca_file_is_read_with_the_section_and_kept_in_the_broker() {
        let ca = garonne_testkit::TestCa::generate().expect("a test CA");
        let path = ca.ca_file().display().to_string();
        let parse = |text: &str| toml::from_str::<MqttConfig>(text).map_err(|e| e.to_string());
        let mqtt = parse(&format!(
            "broker = \"mqtts://localhost\"\nca_file = \"{path}\""
        ))
        .expect("valid");
        assert!(mqtt.broker.is_tls());
        assert_eq!(mqtt.broker.ca_file(), Some(ca.ca_file().as_path()));
        // Written back with its CA file, and read back the same.
        let text = to_toml(&mqtt);
        assert!(text.contains(&format!("ca_file = \"{path}\"")), "{text}");
        assert_eq!(parse(&text).expect("reads back"), mqtt);
        assert!(!to_toml(&MqttConfig::default()).contains("ca_file"));

        let e = parse("broker = \"mqtts://h\"\nca_file = \"/nonexistent/ca.crt\"")
            .expect_err("missing");
        assert!(
            e.contains("cannot read the CA file /nonexistent/ca.crt") && e.contains("os error"),
            "{e}"
        );
        let e = parse(&format!("broker = \"mqtt://h\"\nca_file = \"{path}\""))
            .expect_err("plain broker");
        assert!(e.contains("write mqtts://h:8883"), "{e}");
    }

    #[test]
    fn the_client_id_is_the_configured_one_or_the_services_own() {
        let mut mqtt = MqttConfig::default();
        assert_eq!(
            mqtt.client_id("realtime", Session::Persistent),
            "garonne-realtime"
        );
        let unique = mqtt.client_id("server", Session::Clean);
        assert!(
            unique.starts_with(&format!("garonne-server-{}-", std::process::id())),
            "{unique}"
        );
        // With a password, an id another login cannot guess: the same at every start, another
        // with another password, or another user.
        let with = |user: &str, password: &str| MqttConfig {
            credentials: Some(Credentials::new(user, password)),
            ..MqttConfig::default()
        };
        let id =
            with("historian", "s3cret-long-enough").client_id("historian", Session::Persistent);
        assert!(
            id.starts_with("garonne-historian-") && id.len() == 18 + 12,
            "{id}"
        );
        assert!(
            id["garonne-historian-".len()..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit())
        );
        for other in [
            with("historian", "s3cret-long-enough-2"),
            with("pi-a", "s3cret-long-enough"),
        ] {
            assert_ne!(other.client_id("historian", Session::Persistent), id);
        }
        assert_eq!(
            with("historian", "s3cret-long-enough").client_id("historian", Session::Persistent),
            id
        );
        assert_eq!(
            with("historian", "").client_id("historian", Session::Persistent),
            "garonne-historian",
            "no password: nothing to derive a key from"
        );
        mqtt.client_id = Some("mine".into());
        assert_eq!(mqtt.client_id("server", Session::Clean), "mine");
        assert!(mqtt.validate().is_ok());
        mqtt.client_id = Some(String::new());
        let e = mqtt.validate().expect_err("empty id");
        assert!(e.contains("leave it unset"), "{e}");
    }

    #[test]
    fn the_commented_file_parses_back_and_carries_the_notes() {
        let example = Example {
            window_secs: 60,
            ..Example::default()
        };
        let text = commented(
            &example,
            "garonne example\nevery key is optional",
            &[("window_secs", "Window length, seconds.")],
        );
        assert!(
            text.starts_with("# garonne example\n# every key is optional\n"),
            "{text}"
        );
        assert!(
            text.contains("# Window length, seconds.\nwindow_secs = 60\n"),
            "{text}"
        );
        let back: Example = toml::from_str(&text).expect("parses");
        assert_eq!(back, example);
        let with_mqtt = commented(&example, "", &MQTT_NOTES);
        assert!(
            with_mqtt.contains("\n# The MQTT broker and topics"),
            "{with_mqtt}"
        );
        assert_eq!(
            toml::from_str::<Example>(&with_mqtt).expect("parses"),
            example
        );
    }
}
