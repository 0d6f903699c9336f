//! Configuration files: every service reads a TOML file into its own `Config` (with
//! `deny_unknown_fields`), and prints its defaults for `--print-default-config`. What each value
//! may be is the service's to check; reading the file and saying where it is wrong is here, and
//! so is the check of the two values every service has: the broker and the topic prefix.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::mqtt::{BrokerUrl, BrokerUrlError};

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
}

/// Reads the TOML file at `path` as the configuration of `service`.
pub fn load<T: DeserializeOwned>(service: &'static str, path: &Path) -> Result<T, FileError> {
    let text = std::fs::read_to_string(path).map_err(|source| FileError::Read {
        service,
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| FileError::Parse {
        service,
        path: path.to_owned(),
        source: Box::new(source),
    })
}

/// A configuration as TOML, for `--print-default-config`.
pub fn to_toml<T: Serialize>(config: &T) -> String {
    toml::to_string_pretty(config).unwrap_or_default()
}

/// The broker address and the topics of a configuration, checked; the error says what is wrong
/// and how to fix it. `topics` is the topic scheme's constructor (`garonne_payload::Topics::new`),
/// which refuses a prefix that cannot be a topic.
pub fn parse_mqtt<T>(
    broker: &str,
    topic_prefix: &str,
    topics: impl FnOnce(&str) -> Option<T>,
) -> Result<(BrokerUrl, T), String> {
    let broker = broker.parse().map_err(|e: BrokerUrlError| e.to_string())?;
    let topics = topics(topic_prefix).ok_or_else(|| {
        format!(
            "topic prefix \"{topic_prefix}\" is not valid: use levels of letters, digits, - or _ \
             separated by / (e.g. garonne)"
        )
    })?;
    Ok((broker, topics))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, Serialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Example {
        window_secs: u32,
    }

    #[test]
    fn files_read_or_say_which_file_and_why() {
        let dir = tempfile::tempdir().expect("temp dir");
        let good = dir.path().join("good.toml");
        std::fs::write(&good, to_toml(&Example { window_secs: 60 })).expect("write");
        assert_eq!(
            load::<Example>("realtime", &good).expect("reads"),
            Example { window_secs: 60 }
        );

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
    fn the_broker_and_the_topic_prefix_parse_or_say_how_to_fix_them() {
        let not_empty = |p: &str| (!p.is_empty()).then(|| p.to_owned());
        let (broker, topics) =
            parse_mqtt("mqtt://127.0.0.1:1883", "garonne", not_empty).expect("valid");
        assert_eq!(broker.to_string(), "mqtt://127.0.0.1:1883");
        assert_eq!(topics, "garonne");

        let e = parse_mqtt("http://x", "garonne", not_empty).expect_err("not MQTT");
        assert!(e.contains("mqtt://127.0.0.1:1883"), "{e}");
        let e = parse_mqtt("mqtt://127.0.0.1:1883", "", not_empty).expect_err("no prefix");
        assert!(
            e.starts_with("topic prefix \"\" is not valid") && e.contains("(e.g. garonne)"),
            "{e}"
        );
    }
}
