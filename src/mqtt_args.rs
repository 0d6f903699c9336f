//! The MQTT flags of every command that talks MQTT (`--broker`, `--client-id`,
//! `--topic-prefix`), and the MQTT login, read from the environment here, in the command line,
//! and passed in: no library reads the environment.

use clap::Args;
use garonne_service::config::{MqttConfig, TopicPrefix};
use garonne_service::mqtt::{BrokerUrl, Credentials};

use crate::service_args::set;

/// Environment variable holding the MQTT user name of a service or a Pi agent.
pub const USERNAME_VAR: &str = "GARONNE_MQTT_USERNAME";
/// Environment variable holding the MQTT password.
pub const PASSWORD_VAR: &str = "GARONNE_MQTT_PASSWORD";

/// The MQTT flags. Each one overrides the configuration file's `[mqtt]` section.
#[derive(Args)]
pub struct MqttArgs {
    /// The MQTT broker, mqtt://HOST[:PORT] (default mqtt://127.0.0.1:1883).
    #[arg(long, env = "GARONNE_BROKER")]
    broker: Option<BrokerUrl>,
    /// MQTT client id (default: the service's own, e.g. garonne-realtime: fixed, so the broker
    /// keeps a persistent session across restarts; unique to the process for the web server).
    #[arg(long)]
    client_id: Option<String>,
    /// Topic prefix: topics under PREFIX/v1/ (default garonne).
    #[arg(long, visible_alias = "prefix", env = "GARONNE_TOPIC_PREFIX")]
    topic_prefix: Option<TopicPrefix>,
}

impl MqttArgs {
    /// Writes the flags given over `mqtt`, and adds the login from the environment.
    ///
    /// # Errors
    ///
    /// [`CredentialsError`]: the login variables are inconsistent.
    pub fn apply(self, mqtt: &mut MqttConfig) -> Result<(), CredentialsError> {
        set(&mut mqtt.broker, self.broker);
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
