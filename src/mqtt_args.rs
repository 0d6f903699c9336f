//! The MQTT flags of every command that talks MQTT (`--broker`, `--ca-file`, `--client-id`,
//! `--topic-prefix`), and the MQTT login, read from the environment here, in the command line,
//! and passed in: no library reads the environment.

use std::path::PathBuf;

use clap::Args;
use garonne_service::config::{MqttConfig, TopicPrefix};
use garonne_service::mqtt::{BrokerUrl, CaFile, Credentials, Roots};

use crate::service_args::set;

/// Environment variable holding the MQTT user name of a service or a Pi agent.
pub const USERNAME_VAR: &str = "GARONNE_MQTT_USERNAME";
/// Environment variable holding the MQTT password.
pub const PASSWORD_VAR: &str = "GARONNE_MQTT_PASSWORD";

/// The MQTT flags. Each one overrides the configuration file's `[mqtt]` section.
#[derive(Args)]
pub struct MqttArgs {
    /// The MQTT broker, mqtt://HOST[:PORT] (default mqtt://127.0.0.1:1883), or
    /// mqtts://HOST[:PORT] for TLS (port 8883 by default).
    #[arg(long, env = "GARONNE_BROKER")]
    broker: Option<BrokerUrl>,
    /// With an mqtts:// broker: the PEM file of the certificate authorities to trust, and only
    /// those (default: the system's).
    #[arg(long, env = "GARONNE_MQTT_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// MQTT client id (default: the service's own, e.g. garonne-realtime: fixed, so the broker
    /// keeps a persistent session across restarts; unique to the process for the web server).
    #[arg(long)]
    client_id: Option<String>,
    /// Topic prefix: topics under PREFIX/v1/ (default garonne).
    #[arg(long, visible_alias = "prefix", env = "GARONNE_TOPIC_PREFIX")]
    topic_prefix: Option<TopicPrefix>,
}

impl MqttArgs {
    /// Writes the flags given over `mqtt`, and adds the login from the environment. A TLS
    /// `--broker` keeps the configuration's CA file unless `--ca-file` names another.
    ///
    /// # Errors
    ///
    /// [`CredentialsError`]: the login variables are inconsistent; a
    /// [`CaFileError`](garonne_service::mqtt::CaFileError): the CA file cannot be read, or is
    /// given for a plain broker.
    pub fn apply(self, mqtt: &mut MqttConfig) -> anyhow::Result<()> {
        if let Some(mut broker) = self.broker {
            if broker.is_tls()
                && let Some(Roots::File(ca)) = &mqtt.broker.tls
            {
                broker.tls = Some(Roots::File(ca.clone()));
            }
            mqtt.broker = broker;
        }
        if let Some(path) = self.ca_file {
            let ca = CaFile::load(&path)?;
            mqtt.broker = mqtt.broker.clone().trusting(Some(ca))?;
        }
        set(&mut mqtt.client_id, self.client_id.map(Some));
        set(&mut mqtt.topic_prefix, self.topic_prefix);
        mqtt.credentials = credentials_from_env()?;
        Ok(())
    }
}

/// Why the login variables are refused: the text says how to fix them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialsError(&'static str);

impl std::fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MQTT credentials: {}", self.0)
    }
}

impl std::error::Error for CredentialsError {}

/// The login in [`USERNAME_VAR`] and [`PASSWORD_VAR`], if any (a user name alone is a login
/// with an empty password).
///
/// # Errors
///
/// [`CredentialsError`] when they are inconsistent (an empty user name, a password alone).
pub fn credentials_from_env() -> Result<Option<Credentials>, CredentialsError> {
    credentials_from(|name| std::env::var(name).ok())
}

/// The login `lookup` gives for the two variables (tests pass their own map).
fn credentials_from(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<Credentials>, CredentialsError> {
    match (lookup(USERNAME_VAR), lookup(PASSWORD_VAR)) {
        (None, None) => Ok(None),
        (Some(username), _) if username.is_empty() => Err(CredentialsError(
            "GARONNE_MQTT_USERNAME is set but empty: set the user name, or unset both variables",
        )),
        (Some(username), password) => Ok(Some(Credentials::new(
            username,
            password.unwrap_or_default(),
        ))),
        (None, Some(_)) => Err(CredentialsError(
            "GARONNE_MQTT_PASSWORD is set without GARONNE_MQTT_USERNAME: set both, or neither",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration's `[mqtt]` section after the flags `args`.
    fn applied(mut mqtt: MqttConfig, args: &[&str]) -> anyhow::Result<MqttConfig> {
        use clap::Parser;
        #[derive(Parser)]
        struct Command {
            #[command(flatten)]
            mqtt: MqttArgs,
        }
        let args = std::iter::once("garonne").chain(args.iter().copied());
        Command::try_parse_from(args)?.mqtt.apply(&mut mqtt)?;
        Ok(mqtt)
    }

    #[test]
    fn ca_file_trusts_only_that_ca_and_stays_with_a_tls_broker_given_by_flag() {
        let a = garonne_testkit::TestCa::generate().expect("a test CA");
        let b = garonne_testkit::TestCa::generate().expect("another");
        let (a_file, b_file) = (a.ca_file(), b.ca_file());
        let tls = applied(
            MqttConfig::default(),
            &[
                "--broker",
                "mqtts://broker",
                "--ca-file",
                &a_file.display().to_string(),
            ],
        )
        .expect("mqtts with a CA file");
        assert_eq!(tls.broker.to_string(), "mqtts://broker:8883");
        assert_eq!(tls.broker.ca_file(), Some(a_file.as_path()));
        // Another TLS broker by flag keeps the file's CA; --ca-file replaces it.
        let moved = applied(tls.clone(), &["--broker", "mqtts://other:8884"]).expect("kept");
        assert_eq!(moved.broker.ca_file(), Some(a_file.as_path()));
        let other = applied(tls, &["--ca-file", &b_file.display().to_string()]).expect("other");
        assert_eq!(other.broker.ca_file(), Some(b_file.as_path()));
        // Refused, saying why: a plain broker, a file that is not there.
        let e = applied(
            MqttConfig::default(),
            &["--ca-file", &a_file.display().to_string()],
        )
        .expect_err("plain broker");
        assert!(e.to_string().contains("mqtts://127.0.0.1:8883"), "{e}");
        let e = applied(
            MqttConfig::default(),
            &["--broker", "mqtts://h", "--ca-file", "/nonexistent/ca.crt"],
        )
        .expect_err("missing");
        assert!(e.to_string().contains("/nonexistent/ca.crt"), "{e}");
    }

    #[test]
    fn credentials_come_from_the_environment_and_never_show_the_password() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(credentials_from(env(&[])).expect("none"), None);
        let c = credentials_from(env(&[(USERNAME_VAR, "pi-b12"), (PASSWORD_VAR, "s3cret")]))
            .expect("both")
            .expect("some");
        assert_eq!((c.username.as_str(), c.password()), ("pi-b12", "s3cret"));
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("s3cret") && shown.contains("pi-b12"),
            "{shown}"
        );
        let only_user = credentials_from(env(&[(USERNAME_VAR, "pi-b12")]))
            .expect("user alone")
            .expect("some");
        assert_eq!(only_user.password(), "");
        for bad in [
            &[(PASSWORD_VAR, "s3cret")][..],
            &[(USERNAME_VAR, ""), (PASSWORD_VAR, "s3cret")][..],
        ] {
            let pairs: &'static [(&'static str, &'static str)] = bad;
            let e = credentials_from(env(pairs)).expect_err("inconsistent");
            assert!(!e.to_string().contains("s3cret"));
        }
    }
}
