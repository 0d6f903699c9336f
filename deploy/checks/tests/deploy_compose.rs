//! The docker compose deployment, checked statically (no Docker engine runs here):
//! docker-compose.yml and deploy/pi/docker-compose.yml are parsed, and each is checked for its
//! services, healthchecks, `depends_on` conditions, named volumes, variables (all listed in
//! .env.example), committed secrets (none), the repository files it mounts (present), and the
//! command line of each of our services, given to the real `garonne` so that a flag renamed in
//! the code fails here rather than in a container. The Prometheus configuration goes through
//! `promtool check config` (Debian package `prometheus`; under CI=true a missing promtool fails,
//! elsewhere the check is skipped with a message).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use serde_norway::{Mapping, Value};

/// The services of docker-compose.yml.
const SERVICES: [&str; 10] = [
    "mosquitto",
    "influxdb",
    "grafana",
    "prometheus",
    "nginx",
    "data",
    "realtime",
    "historian",
    "server",
    "simulator",
];

/// Our services (the `garonne` image), with the broker user each logs in as (`None`: no MQTT).
const OURS: [(&str, Option<&str>); 5] = [
    ("data", None),
    ("realtime", Some("realtime")),
    ("historian", Some("historian")),
    ("server", Some("server")),
    ("simulator", Some("simulator")),
];

/// Named volumes every deployment keeps its state in.
const VOLUMES: [&str; 5] = [
    "mosquitto-data",
    "influxdb-data",
    "grafana-data",
    "prometheus-data",
    "historian-spool",
];

fn root() -> PathBuf {
    garonne_deploy_checks::repo_path("")
}

/// A compose file: its text, and its document with the `<<` merge keys applied.
struct Compose {
    path: PathBuf,
    text: String,
    doc: Value,
}

impl Compose {
    fn load(relative: &str) -> Result<Compose> {
        let path = root().join(relative);
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
        let mut doc: Value =
            serde_norway::from_str(&text).with_context(|| format!("parse {}", path.display()))?;
        doc.apply_merge()
            .with_context(|| format!("merge keys of {}", path.display()))?;
        Ok(Compose { path, text, doc })
    }

    fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    fn services(&self) -> Result<Vec<(String, &Mapping)>> {
        let services = self
            .doc
            .get("services")
            .and_then(Value::as_mapping)
            .context("no `services` mapping")?;
        services
            .iter()
            .map(|(name, service)| {
                let name = name.as_str().context("a service name is not a string")?;
                let service = service
                    .as_mapping()
                    .with_context(|| format!("service {name} is not a mapping"))?;
                Ok((name.to_owned(), service))
            })
            .collect()
    }

    fn service(&self, name: &str) -> Result<&Mapping> {
        self.doc
            .get("services")
            .and_then(|s| s.get(name))
            .and_then(Value::as_mapping)
            .with_context(|| format!("{}: no service {name}", self.path.display()))
    }
}

fn str_of<'a>(map: &'a Mapping, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Value::as_str)
}

/// A service's `environment`, as a map or a list of `KEY=VALUE`, as (key, value) pairs.
fn environment(service: &Mapping) -> Result<Vec<(String, String)>> {
    let Some(env) = service.get("environment") else {
        return Ok(Vec::new());
    };
    let scalar = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => serde_norway::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_owned(),
    };
    match env {
        Value::Mapping(map) => map
            .iter()
            .map(|(k, v)| Ok((k.as_str().context("env key")?.to_owned(), scalar(v))))
            .collect(),
        Value::Sequence(list) => list
            .iter()
            .map(|item| {
                let item = item.as_str().context("env item")?;
                let (k, v) = item.split_once('=').unwrap_or((item, ""));
                Ok((k.to_owned(), v.to_owned()))
            })
            .collect(),
        _ => bail!("environment is neither a mapping nor a list"),
    }
}

/// A service's `command` as a list of arguments.
fn command(service: &Mapping) -> Result<Vec<String>> {
    service
        .get("command")
        .and_then(Value::as_sequence)
        .context("no `command` list")?
        .iter()
        .map(|arg| match arg {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            other => bail!("command argument {other:?} is not a string"),
        })
        .collect()
}

/// One `${...}` reference of a compose file: the variable, and its `:-`/`-` default if any.
#[derive(Debug)]
struct Reference {
    name: String,
    default: Option<String>,
}

/// The `${...}` references of `text` (compose interpolation; `$$` is a literal `$`).
fn references(text: &str) -> Vec<Reference> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        let after = &rest[at + 1..];
        if let Some(escaped) = after.strip_prefix('$') {
            rest = escaped;
            continue;
        }
        let Some(body) = after.strip_prefix('{') else {
            rest = after;
            continue;
        };
        let end = body.find('}').unwrap_or(body.len());
        let inner = &body[..end];
        let name_end = inner
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(inner.len());
        let (name, modifier) = inner.split_at(name_end);
        let default = modifier
            .strip_prefix(":-")
            .or_else(|| modifier.strip_prefix('-'))
            .map(str::to_owned);
        found.push(Reference {
            name: name.to_owned(),
            default,
        });
        rest = &body[end..];
    }
    found
}

/// `value` with each `${...}` replaced by its default, or `placeholder` when it has none, as
/// compose would with those values in .env.
fn interpolate(value: &str, placeholder: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(escaped) = after.strip_prefix('$') {
            out.push('$');
            rest = escaped;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').unwrap_or(body.len());
            let reference = references(&format!("${{{}}}", &body[..end]));
            let default = reference.first().and_then(|r| r.default.clone());
            out.push_str(default.as_deref().unwrap_or(placeholder));
            rest = body.get(end + 1..).unwrap_or("");
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The `KEY=VALUE` lines of .env.example (comments and blank lines skipped).
fn env_example() -> Result<BTreeMap<String, String>> {
    let path = root().join(".env.example");
    let text = std::fs::read_to_string(&path).context("read .env.example")?;
    let mut vars = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .with_context(|| format!(".env.example line {}: no '='", number + 1))?;
        ensure!(
            vars.insert(key.to_owned(), value.to_owned()).is_none(),
            ".env.example sets {key} twice"
        );
    }
    Ok(vars)
}

/// A key whose value is a secret.
fn secret_looking(key: &str) -> bool {
    let key = key.to_ascii_uppercase();
    ["PASSWORD", "TOKEN", "SECRET", "PRIVATE_KEY", "API_KEY"]
        .iter()
        .any(|word| key.contains(word))
}

/// A secret-looking environment entry must be one `${VAR}` reference, with at most an empty
/// default: the value lives in .env, never in the committed file.
fn check_no_secret(compose: &Compose) -> Result<()> {
    for (name, service) in compose.services()? {
        for (key, value) in environment(service)? {
            if !secret_looking(&key) {
                continue;
            }
            let whole =
                value.starts_with("${") && value.ends_with('}') && value.matches('$').count() == 1;
            let refs = references(&value);
            ensure!(
                whole
                    && refs
                        .iter()
                        .all(|r| r.default.as_deref().is_none_or(str::is_empty)),
                "{}: service {name} sets {key} to a literal or a non-empty default; \
                 use ${{VARIABLE}} and put the value in .env",
                compose.path.display()
            );
        }
    }
    Ok(())
}

/// Every healthcheck runs a test; one-shot services (`restart: "no"`) may disable theirs.
fn check_healthchecks(compose: &Compose) -> Result<()> {
    for (name, service) in compose.services()? {
        let restart = str_of(service, "restart");
        if restart == Some("no") {
            continue;
        }
        ensure!(
            restart == Some("unless-stopped"),
            "{name}: a long-running service restarts unless stopped (restart: {restart:?})"
        );
        let check = service
            .get("healthcheck")
            .and_then(Value::as_mapping)
            .with_context(|| format!("{name} has no healthcheck"))?;
        ensure!(
            check.get("disable").and_then(Value::as_bool) != Some(true),
            "{name}: a long-running service's healthcheck is disabled"
        );
        let test = check
            .get("test")
            .and_then(Value::as_sequence)
            .with_context(|| format!("{name}: healthcheck without a `test` list"))?;
        let kind = test.first().and_then(Value::as_str);
        ensure!(
            matches!(kind, Some("CMD" | "CMD-SHELL")) && test.len() >= 2,
            "{name}: healthcheck test must be [CMD, ...] or [CMD-SHELL, ...], is {test:?}"
        );
    }
    Ok(())
}

/// Every `depends_on` names a service and a condition that fits it.
fn check_depends_on(compose: &Compose) -> Result<()> {
    for (name, service) in compose.services()? {
        let Some(depends) = service.get("depends_on") else {
            continue;
        };
        let depends = depends.as_mapping().with_context(|| {
            format!("{name}: depends_on must be a mapping with a condition per service")
        })?;
        for (other, spec) in depends {
            let other = other.as_str().context("depends_on key")?;
            let target = compose.service(other)?;
            let condition = spec.get("condition").and_then(Value::as_str);
            match condition {
                Some("service_healthy") => ensure!(
                    target
                        .get("healthcheck")
                        .and_then(|h| h.get("test"))
                        .is_some(),
                    "{name} waits for {other} to be healthy, which has no healthcheck"
                ),
                Some("service_completed_successfully") => ensure!(
                    str_of(target, "restart") == Some("no"),
                    "{name} waits for {other} to complete, which is not a one-shot (restart: \"no\")"
                ),
                _ => bail!(
                    "{name} depends on {other} with condition {condition:?}: use \
                     service_healthy or service_completed_successfully"
                ),
            }
        }
    }
    Ok(())
}

/// The named volumes services mount are declared, and the declared ones are used; the
/// repository paths mounted (and build contexts) exist.
fn check_volumes_and_mounts(compose: &Compose) -> Result<BTreeSet<String>> {
    let declared: BTreeSet<String> = compose
        .doc
        .get("volumes")
        .and_then(Value::as_mapping)
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut used = BTreeSet::new();
    let mut missing = Vec::new();
    let mut check_path = |name: &str, source: &str| {
        let path = compose.dir().join(source);
        if !path.exists() {
            missing.push(format!("{name}: {source}"));
        }
    };
    for (name, service) in compose.services()? {
        if let Some(context) = service.get("build").and_then(|b| b.get("context")) {
            check_path(&name, context.as_str().context("build context")?);
        }
        for volume in service
            .get("volumes")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let spec = volume
                .as_str()
                .with_context(|| format!("{name}: use the short volume syntax"))?;
            let source = spec.split(':').next().unwrap_or_default();
            if source.starts_with("./") || source.starts_with("../") {
                check_path(&name, source);
            } else if !source.starts_with('/') {
                ensure!(
                    declared.contains(source),
                    "{name} mounts the volume {source}, not declared under `volumes:`"
                );
                used.insert(source.to_owned());
            }
        }
    }
    ensure!(
        missing.is_empty(),
        "{}: mounted repository paths that do not exist: {missing:?}",
        compose.path.display()
    );
    let unused: Vec<_> = declared.difference(&used).collect();
    ensure!(
        unused.is_empty(),
        "declared volumes no service mounts: {unused:?}"
    );
    Ok(used)
}

/// `garonne ARGS...` with a service's environment, checked by the real argument parser without
/// starting anything: `--print-default-config` where the subcommand has it (the flags and their
/// values are parsed, then it prints and exits), `--help` elsewhere (clap parses the values
/// before it, and every flag must be in the help).
fn check_arguments(what: &str, args: &[String], env: &[(String, String)]) -> Result<()> {
    let binary = garonne_deploy_checks::garonne();
    let args: Vec<String> = args.iter().map(|a| interpolate(a, "placeholder")).collect();
    let subcommand = args.first().map(String::as_str);
    let probe = match subcommand {
        Some("realtime" | "historian" | "serve") => "--print-default-config",
        _ => "--help",
    };
    let mut run = Command::new(binary);
    run.args(&args).arg(probe);
    for (key, _) in std::env::vars() {
        if key.starts_with("GARONNE_") || key.starts_with("INFLUX_") {
            run.env_remove(key);
        }
    }
    for (key, value) in env {
        run.env(key, interpolate(value, "placeholder"));
    }
    let output = run
        .output()
        .with_context(|| format!("run {}", binary.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "{what}: `garonne {} {probe}` is refused: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    if probe == "--help" {
        for flag in args.iter().filter(|a| a.starts_with("--")) {
            let flag = flag.split('=').next().unwrap_or(flag);
            ensure!(
                stdout.contains(&format!("{flag} ")) || stdout.contains(&format!("{flag}\n")),
                "{what}: {flag} is not a flag of `garonne {}`",
                args.iter()
                    .take_while(|a| !a.starts_with('-'))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
    }
    Ok(())
}

/// The value following `flag` in `args`.
fn flag_value<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

#[test]
fn compose_has_every_service_with_healthchecks_and_conditions() -> Result<()> {
    let compose = Compose::load("docker-compose.yml")?;
    let names: BTreeSet<String> = compose.services()?.into_iter().map(|(n, _)| n).collect();
    for expected in SERVICES {
        ensure!(
            names.contains(expected),
            "docker-compose.yml has no service {expected}"
        );
    }
    check_healthchecks(&compose)?;
    check_depends_on(&compose)?;
    // The one one-shot: the open data, which everything reading /data waits for.
    let data = compose.service("data")?;
    ensure!(str_of(data, "restart") == Some("no"), "data is a one-shot");
    for reader in ["realtime", "server", "simulator"] {
        let condition = compose
            .service(reader)?
            .get("depends_on")
            .and_then(|d| d.get("data"))
            .and_then(|d| d.get("condition"))
            .and_then(Value::as_str);
        ensure!(
            condition == Some("service_completed_successfully"),
            "{reader} reads /data and must wait for `data` to complete"
        );
    }
    Ok(())
}

#[test]
fn compose_volumes_are_named_declared_and_mounted_files_exist() -> Result<()> {
    let compose = Compose::load("docker-compose.yml")?;
    let used = check_volumes_and_mounts(&compose)?;
    for volume in VOLUMES {
        ensure!(
            used.contains(volume),
            "no service keeps its state in the volume {volume}"
        );
    }
    // The others' configuration files, as the services expect them.
    for file in [
        "deploy/mosquitto/mosquitto.conf",
        "deploy/mosquitto/acl",
        "deploy/mosquitto/entrypoint.sh",
        "nginx/nginx.conf",
        "deploy/grafana/provisioning/datasources/garonne.yml",
        "deploy/grafana/provisioning/dashboards/garonne.yml",
        "deploy/influxdb/init.sh",
        "deploy/prometheus/prometheus.yml",
        "Dockerfile",
        ".dockerignore",
    ] {
        ensure!(root().join(file).is_file(), "{file} is missing");
    }
    Ok(())
}

#[test]
fn compose_variables_are_in_env_example_and_no_secret_is_committed() -> Result<()> {
    let compose = Compose::load("docker-compose.yml")?;
    let example = env_example()?;
    let unlisted: BTreeSet<String> = references(&compose.text)
        .into_iter()
        .map(|r| r.name)
        .filter(|name| !example.contains_key(name))
        .collect();
    ensure!(
        unlisted.is_empty(),
        "docker-compose.yml uses variables .env.example does not list: {unlisted:?}"
    );
    check_no_secret(&compose)?;
    for (key, value) in &example {
        if secret_looking(key) {
            ensure!(
                value.is_empty() || value == "change-me",
                ".env.example: {key} must be a placeholder (change-me), not a value"
            );
        }
    }
    // Sensors' passwords are in GARONNE_MQTT_SENSORS's ID:PASSWORD pairs.
    let sensors = example
        .get("GARONNE_MQTT_SENSORS")
        .map_or("", String::as_str);
    for entry in sensors.split_whitespace() {
        let password = entry.split_once(':').map_or("", |(_, p)| p);
        ensure!(
            password == "change-me",
            ".env.example: GARONNE_MQTT_SENSORS must hold placeholders only"
        );
    }
    Ok(())
}

#[test]
fn our_services_log_in_to_the_broker_as_their_acl_user() -> Result<()> {
    let compose = Compose::load("docker-compose.yml")?;
    let acl = std::fs::read_to_string(root().join("deploy/mosquitto/acl"))
        .context("read deploy/mosquitto/acl")?;
    let mosquitto_env = environment(compose.service("mosquitto")?)?;
    for (name, user) in OURS {
        let env: BTreeMap<String, String> =
            environment(compose.service(name)?)?.into_iter().collect();
        let Some(user) = user else {
            ensure!(
                !env.contains_key("GARONNE_MQTT_USERNAME"),
                "{name} does not use MQTT"
            );
            continue;
        };
        ensure!(
            env.get("GARONNE_MQTT_USERNAME").map(String::as_str) == Some(user),
            "{name} logs in as {user} (GARONNE_MQTT_USERNAME)"
        );
        ensure!(
            acl.lines().any(|l| l.trim() == format!("user {user}")),
            "deploy/mosquitto/acl has no `user {user}`"
        );
        let variable = format!("GARONNE_MQTT_{}_PASSWORD", user.to_ascii_uppercase());
        let password = env.get("GARONNE_MQTT_PASSWORD").map_or("", String::as_str);
        ensure!(
            references(password).iter().any(|r| r.name == variable),
            "{name}'s GARONNE_MQTT_PASSWORD must be ${{{variable}}}"
        );
        ensure!(
            mosquitto_env
                .iter()
                .any(|(k, v)| *k == variable && references(v).iter().any(|r| r.name == variable)),
            "mosquitto does not get {variable}, so the user {user} would not exist"
        );
    }
    Ok(())
}

#[test]
fn our_services_commands_parse_and_listen_where_prometheus_scrapes() -> Result<()> {
    let compose = Compose::load("docker-compose.yml")?;
    let mut listens = BTreeMap::new();
    for (name, _) in OURS {
        let service = compose.service(name)?;
        ensure!(
            str_of(service, "image").is_some_and(|i| i.contains("GARONNE_IMAGE")),
            "{name} runs the garonne image"
        );
        let args = command(service)?;
        check_arguments(name, &args, &environment(service)?)?;
        for flag in ["--metrics-addr", "--http"] {
            if let Some(addr) = flag_value(&args, flag) {
                let (host, port) = addr.rsplit_once(':').context("address without port")?;
                ensure!(
                    host == "0.0.0.0",
                    "{name} {flag} {addr}: listen on 0.0.0.0 to be reachable on the compose network"
                );
                listens.insert(name, port.to_owned());
            }
        }
    }
    // What Prometheus scrapes is what the services listen on.
    let prometheus: Value = serde_norway::from_str(
        &std::fs::read_to_string(root().join("deploy/prometheus/prometheus.yml"))
            .context("read deploy/prometheus/prometheus.yml")?,
    )?;
    let targets: BTreeSet<String> = prometheus
        .get("scrape_configs")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .flat_map(|job| {
            job.get("static_configs")
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
        })
        .flat_map(|c| {
            c.get("targets")
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
        })
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    for service in ["realtime", "historian", "server"] {
        let port = listens
            .get(service)
            .with_context(|| format!("{service} has no --metrics-addr or --http"))?;
        let target = format!("{service}:{port}");
        ensure!(
            targets.contains(&target),
            "prometheus.yml does not scrape {target}: {targets:?}"
        );
    }
    Ok(())
}

#[test]
fn the_images_default_command_parses() -> Result<()> {
    let dockerfile =
        std::fs::read_to_string(root().join("Dockerfile")).context("read Dockerfile")?;
    let cmd = dockerfile
        .lines()
        .rfind(|l| l.starts_with("CMD "))
        .context("the Dockerfile has no CMD")?;
    let args: Vec<String> = serde_json::from_str(&cmd["CMD ".len()..])
        .context("CMD must be a JSON list (exec form)")?;
    check_arguments("Dockerfile CMD", &args, &[])?;
    ensure!(
        dockerfile.contains("ENTRYPOINT [\"garonne\"]"),
        "the image's entry point is garonne"
    );
    Ok(())
}

#[test]
fn grafana_gets_every_variable_its_datasource_reads() -> Result<()> {
    let compose = Compose::load("docker-compose.yml")?;
    let path = root().join("deploy/grafana/provisioning/datasources/garonne.yml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("read {} (Grafana's datasource)", path.display()))?;
    let env: BTreeSet<String> = environment(compose.service("grafana")?)?
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    // Grafana expands $__env{NAME} and ${NAME} (or $NAME) in provisioning files.
    // Comments (whole lines starting with #) are not read by Grafana.
    let text: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let mut wanted = BTreeSet::new();
    for (at, _) in text.match_indices('$') {
        let after = &text[at + 1..];
        let after = after.strip_prefix("__env").unwrap_or(after);
        let after = after.strip_prefix('{').unwrap_or(after);
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && !name.starts_with("__") {
            wanted.insert(name);
        }
    }
    let missing: Vec<_> = wanted.difference(&env).collect();
    ensure!(
        missing.is_empty(),
        "grafana's datasource reads {missing:?}, which docker-compose.yml does not pass to it"
    );
    Ok(())
}

#[test]
fn pi_compose_runs_the_agent_with_its_devices_and_no_secret() -> Result<()> {
    let compose = Compose::load("deploy/pi/docker-compose.yml")?;
    check_healthchecks(&compose)?;
    check_depends_on(&compose)?;
    check_volumes_and_mounts(&compose)?;
    check_no_secret(&compose)?;
    // No .env is expected on a Pi: every variable has a default, credentials come from
    // /etc/garonne/pi.env (env_file).
    for reference in references(&compose.text) {
        ensure!(
            reference.default.as_deref().is_some_and(|d| !d.is_empty()),
            "deploy/pi/docker-compose.yml: ${{{}}} needs a default",
            reference.name
        );
    }
    let pi = compose.service("pi")?;
    let args = command(pi)?;
    ensure!(
        args.first().map(String::as_str) == Some("pi"),
        "the service runs `garonne pi`"
    );
    check_arguments("pi", &args, &environment(pi)?)?;
    let devices = pi
        .get("devices")
        .and_then(Value::as_sequence)
        .context("the agent needs the I2C and GPIO devices")?;
    let devices = serde_norway::to_string(devices)?;
    for device in ["/dev/i2c-1", "/dev/gpiomem", "/dev/gpiochip0"] {
        ensure!(devices.contains(device), "no {device} among the devices");
    }
    let env_files = serde_norway::to_string(pi.get("env_file").context("no env_file")?)?;
    ensure!(
        env_files.contains("/etc/garonne/pi.env"),
        "credentials come from /etc/garonne/pi.env, as with the systemd unit"
    );
    Ok(())
}

#[test]
fn prometheus_config_passes_promtool() -> Result<()> {
    let config = root().join("deploy/prometheus/prometheus.yml");
    let output = match Command::new("promtool")
        .args(["check", "config"])
        .arg(&config)
        .output()
    {
        Ok(output) => output,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            ensure!(
                std::env::var("CI").as_deref() != Ok("true"),
                "promtool is missing (Debian package prometheus; scripts/install-test-deps.sh)"
            );
            eprintln!(
                "skipped: promtool is not installed (apt-get install --no-install-recommends prometheus)"
            );
            return Ok(());
        }
        Err(error) => return Err(error).context("run promtool"),
    };
    ensure!(
        output.status.success(),
        "promtool check config {}: {}{}",
        config.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

#[test]
fn interpolation_helpers_read_compose_syntax() {
    let refs = references("a ${A} $${NOT} ${B:-x} ${C:?msg} ${D-y} $$E");
    let names: Vec<_> = refs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["A", "B", "C", "D"]);
    let defaults: Vec<_> = refs.iter().map(|r| r.default.as_deref()).collect();
    assert_eq!(defaults, [None, Some("x"), None, Some("y")]);
    assert_eq!(interpolate("${A:-1}:${B}$$x", "p"), "1:p$x");
}

/// The files under `data/` that a crate compiles in (`include_str!("…/data/…")`), relative to
/// the repository's root.
fn compiled_in_data_files() -> Result<BTreeSet<String>> {
    let mut found = BTreeSet::new();
    let mut folders = vec![root()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                if !matches!(name, "target" | "node_modules" | ".git") {
                    folders.push(path);
                }
                continue;
            }
            if !name.ends_with(".rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path)?;
            for included in text.split("include_str!(\"").skip(1) {
                let relative = included.split('"').next().unwrap_or("");
                let full = path.parent().unwrap_or(&folder).join(relative);
                let Ok(full) = full.canonicalize() else {
                    continue;
                };
                if let Ok(inside) = full.strip_prefix(root().canonicalize()?) {
                    let inside = inside.to_string_lossy().into_owned();
                    if inside.starts_with("data/") {
                        found.insert(inside);
                    }
                }
            }
        }
    }
    Ok(found)
}

/// Whether `.dockerignore`'s `rules` keep `path` out of the build context: the last rule that
/// matches decides, a `!` rule lets the path in. Enough of Docker's syntax for this file: a rule
/// matches the path itself, a folder holding it, or one level of `*`.
fn docker_ignores(rules: &str, path: &str) -> bool {
    let mut ignored = false;
    for rule in rules.lines().map(str::trim) {
        if rule.is_empty() || rule.starts_with('#') {
            continue;
        }
        let (keep, pattern) = match rule.strip_prefix('!') {
            Some(pattern) => (true, pattern),
            None => (false, rule),
        };
        let pattern = pattern.trim_end_matches('/');
        let matches = path == pattern
            || path.starts_with(&format!("{pattern}/"))
            || pattern.strip_suffix("/*").is_some_and(|folder| {
                path.strip_prefix(&format!("{folder}/"))
                    .is_some_and(|rest| !rest.is_empty())
            });
        if matches {
            ignored = !keep;
        }
    }
    ignored
}

#[test]
fn the_docker_build_context_holds_every_data_file_the_crates_compile_in() -> Result<()> {
    let rules = std::fs::read_to_string(root().join(".dockerignore"))?;
    let files = compiled_in_data_files()?;
    ensure!(
        files.contains("data/datasets.toml") && files.len() >= 3,
        "the scan found the files compiled in from data/: {files:?}"
    );
    let left_out: Vec<&String> = files.iter().filter(|f| docker_ignores(&rules, f)).collect();
    ensure!(
        left_out.is_empty(),
        ".dockerignore keeps out of the image's build files the crates compile in: {left_out:?}; \
         add a `!` rule for each"
    );
    ensure!(
        docker_ignores(&rules, "data/readings/x.json"),
        "the open data stays out"
    );
    Ok(())
}
