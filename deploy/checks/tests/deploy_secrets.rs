//! The deployment refuses placeholder and short secrets before anything uses them:
//! `deploy/secrets/check.sh`, run by docker compose's one-shot service `secrets`, which
//! mosquitto, InfluxDB and Grafana wait for. Run here with `sh` on .env.example as it is
//! committed (every secret refused, the command that makes good ones said, in English and
//! French), on short and placeholder values (refused, never printed), and on good ones.

use std::collections::BTreeMap;
use std::process::{Command, Output};

use anyhow::{Context, Result, ensure};
use serde_norway::Value;

/// The secrets the check knows, as docker-compose.yml passes them to it.
const SECRETS: [&str; 11] = [
    "GARONNE_MQTT_REALTIME_PASSWORD",
    "GARONNE_MQTT_HISTORIAN_PASSWORD",
    "GARONNE_MQTT_SERVER_PASSWORD",
    "GARONNE_MQTT_SIMULATOR_PASSWORD",
    "GARONNE_MQTT_VIEWER_PASSWORD",
    "GARONNE_MQTT_SENSORS",
    "GARONNE_INFLUX_ADMIN_PASSWORD",
    "GARONNE_INFLUX_ADMIN_TOKEN",
    "GARONNE_INFLUX_HISTORIAN_PASSWORD",
    "GARONNE_INFLUX_READER_PASSWORD",
    "GARONNE_GRAFANA_ADMIN_PASSWORD",
];

/// A good secret for `name`: 48 hexadecimal digits, as `openssl rand -hex 24` prints.
fn good(name: &str) -> String {
    format!(
        "{:0>48x}",
        name.len() * 0x9e37_79b9 + name.bytes().map(usize::from).sum::<usize>()
    )
}

/// The check run with `env` only (no variable of the test's own environment leaks in).
fn check(env: &BTreeMap<&str, String>) -> Result<Output> {
    Command::new("sh")
        .arg(garonne_deploy_checks::repo_path("deploy/secrets/check.sh"))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(env)
        .output()
        .context("run deploy/secrets/check.sh with sh")
}

/// Every secret good; the sensors' list with one sensor.
fn good_env() -> BTreeMap<&'static str, String> {
    let mut env: BTreeMap<_, _> = SECRETS.iter().map(|&name| (name, good(name))).collect();
    env.insert("GARONNE_MQTT_SENSORS", format!("pi-a:{}", good("pi-a")));
    env
}

#[test]
fn good_secrets_pass() -> Result<()> {
    let output = check(&good_env())?;
    ensure!(
        output.status.success(),
        "good secrets refused: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

#[test]
fn the_committed_example_is_refused_with_the_command_that_makes_good_secrets() -> Result<()> {
    let text = std::fs::read_to_string(garonne_deploy_checks::repo_path(".env.example"))?;
    let example: BTreeMap<&str, String> = text
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .filter(|(key, _)| SECRETS.contains(key))
        .map(|(key, value)| (key, value.to_owned()))
        .collect();
    let output = check(&example)?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(!output.status.success(), "the example's change-me started");
    for name in SECRETS {
        let placeholder = example.get(name).is_some_and(|v| v == "change-me");
        if placeholder {
            ensure!(
                stderr.contains(&format!("{name} is a placeholder, not a secret"))
                    && stderr.contains(&format!("{name} est un exemple, pas un secret")),
                "{name} not named: {stderr}"
            );
        }
    }
    ensure!(
        stderr.contains("each with the output of `openssl rand -hex 24`")
            && stderr.contains("chacun par la sortie de `openssl rand -hex 24`"),
        "no fix given: {stderr}"
    );
    Ok(())
}

#[test]
fn short_missing_and_placeholder_secrets_are_refused_and_never_printed() -> Result<()> {
    let cases: [(&str, &str, &str); 5] = [
        (
            "GARONNE_MQTT_SERVER_PASSWORD",
            "tooShort42",
            "is 10 characters long, fewer than 16",
        ),
        ("GARONNE_INFLUX_ADMIN_TOKEN", "", "is not set"),
        (
            "GARONNE_GRAFANA_ADMIN_PASSWORD",
            "MyPassword-1234567890",
            "is a placeholder",
        ),
        (
            "GARONNE_MQTT_SIMULATOR_PASSWORD",
            "Change-Me-Please-Now",
            "is a placeholder",
        ),
        (
            "GARONNE_MQTT_SENSORS",
            "pi-a:0123456789abcdef0 pi-b:pi-b-pass",
            "(sensor pi-b) is 9",
        ),
    ];
    for (name, value, says) in cases {
        let mut env = good_env();
        env.insert(name, value.to_owned());
        let output = check(&env)?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        ensure!(!output.status.success(), "{name}={value:?} accepted");
        ensure!(stderr.contains(says), "{name}={value:?}: {stderr}");
        ensure!(
            stderr.contains("1 secret(s) to replace"),
            "{name}: {stderr}"
        );
        let secret = value.rsplit(':').next().unwrap_or(value);
        ensure!(
            secret.is_empty() || !(stderr.contains(secret) || stdout.contains(secret)),
            "{name}: the secret was printed: {stderr}{stdout}"
        );
    }
    // The simulator's password is optional: unset, nothing to refuse.
    let mut env = good_env();
    env.remove("GARONNE_MQTT_SIMULATOR_PASSWORD");
    ensure!(
        check(&env)?.status.success(),
        "an unset optional secret refused"
    );
    Ok(())
}

#[test]
fn compose_checks_the_secrets_before_anything_reads_them() -> Result<()> {
    let path = garonne_deploy_checks::repo_path("docker-compose.yml");
    let compose: Value = serde_norway::from_str(&std::fs::read_to_string(&path)?)?;
    let services = &compose["services"];
    let secrets = &services["secrets"];
    ensure!(
        secrets["restart"].as_str() == Some("no"),
        "secrets is a one-shot"
    );
    ensure!(
        secrets["volumes"].as_sequence().is_some_and(|v| v
            .iter()
            .any(|m| m.as_str() == Some("./deploy/secrets/check.sh:/check.sh:ro"))),
        "secrets must mount deploy/secrets/check.sh"
    );
    for name in SECRETS {
        ensure!(
            secrets["environment"][name].as_str() == Some(&format!("${{{name}:-}}")),
            "secrets is not given {name} as .env has it"
        );
    }
    for service in ["mosquitto", "influxdb", "grafana"] {
        ensure!(
            services[service]["depends_on"]["secrets"]["condition"].as_str()
                == Some("service_completed_successfully"),
            "{service} reads secrets and must wait for `secrets` to succeed"
        );
    }
    Ok(())
}
