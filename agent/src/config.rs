//! The agent's configuration file, `pi.toml`: who the sensor is, where it is, where to publish,
//! where to queue, and which modules are wired. The field docs are the user manual; the
//! commented example is `deploy/pi/pi.toml`, and `docs/raspberry-pi.md` walks through it.
//!
//! MQTT credentials are never in the file: the `garonne pi` command reads them from the
//! environment and puts them in [`PiConfig::credentials`], so the file can be shared, copied
//! into a bug report or committed, and no log line shows a secret.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use garonne_payload::{Quantity, Topics, is_valid_sensor_id};
use serde::Deserialize;

use crate::ds18b20;
use garonne_service::mqtt::{BrokerUrl, CaFile, Roots};

pub use garonne_service::mqtt::Credentials;

/// Default topic prefix.
pub const DEFAULT_TOPIC_PREFIX: &str = "garonne";
/// Default time between two readings, seconds.
pub const DEFAULT_INTERVAL_SECS: f64 = 60.0;
/// Default queue folder (systemd's `StateDirectory=garonne-pi`).
pub const DEFAULT_QUEUE_DIR: &str = "/var/lib/garonne-pi/queue";
/// Default queue bound: 16 MiB, about 50 000 readings, a month at one a minute.
pub const DEFAULT_QUEUE_MAX_BYTES: u64 = 16 * 1024 * 1024;
/// Smallest accepted queue bound: 16 readings of the largest size the spec allows.
pub const MIN_QUEUE_MAX_BYTES: u64 = 16 * 4096;
/// Shortest accepted interval, seconds (tests use 0.2; real sensors want 1 or more, a DS18B20
/// conversion alone takes 0.75 s).
pub const MIN_INTERVAL_SECS: f64 = 0.1;
/// Longest accepted interval, seconds (one day).
pub const MAX_INTERVAL_SECS: f64 = 86_400.0;

/// Default longest run of a `command` module's program, seconds.
pub const DEFAULT_COMMAND_TIMEOUT_SECS: f64 = 5.0;
/// Longest accepted run of a `command` module's program, seconds.
pub const MAX_COMMAND_TIMEOUT_SECS: f64 = 60.0;

/// The agent's configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PiConfig {
    /// The sensor's unique name, the `sensor_id` of its readings and a level of its topics:
    /// 1 to 128 letters, digits, `.`, `_` or `-`, starting with a letter or digit, e.g.
    /// `pi-lycee-bellevue-b12`.
    pub sensor_id: String,
    /// The MQTT broker, `mqtt://HOST[:PORT]` (port 1883 by default), or `mqtts://HOST[:PORT]`
    /// for TLS (port 8883 by default). Credentials, if the broker wants them, come from the
    /// environment (see docs/raspberry-pi.md).
    pub broker: BrokerUrl,
    /// With an `mqtts://` broker: the PEM file of the certificate authorities to trust, and
    /// only those (unset: the system's), e.g. `/etc/garonne/ca.crt`. Read and checked when the
    /// configuration is read.
    #[serde(default)]
    pub ca_file: Option<CaFile>,
    /// Topic prefix of the deployment (default `garonne`): readings go to
    /// `{prefix}/v1/sensors/{sensor_id}/reading`, the status to `.../status`.
    #[serde(default = "default_topic_prefix")]
    pub topic_prefix: String,
    /// Where the sensor stands.
    pub location: SiteLocation,
    /// Time between two readings, seconds (default 60; fractions allowed, at least 0.1).
    #[serde(default = "default_interval_secs")]
    pub interval_secs: f64,
    /// Folder of the on-disk queue of readings not yet acknowledged by the broker (default
    /// `/var/lib/garonne-pi/queue`). It is created if missing; keep it on the Pi's own storage.
    #[serde(default = "default_queue_dir")]
    pub queue_dir: PathBuf,
    /// Most bytes of readings the queue keeps while the broker is unreachable (default 16 MiB,
    /// at least 64 KiB). When full, the oldest reading is dropped to make room.
    #[serde(default = "default_queue_max_bytes")]
    pub queue_max_bytes: u64,
    /// The modules wired to the Pi, one `[[modules]]` table each (none for a Pi that only
    /// logs a car's CAN buses).
    #[serde(default)]
    pub modules: Vec<ModuleConfig>,
    /// A car's CAN buses, decoded through its DBC file into SenML packs (issue 16).
    #[serde(default)]
    pub can: Option<CanConfig>,
    /// MQTT credentials: never in the file, read from the environment by `garonne pi`.
    #[serde(skip)]
    pub credentials: Option<Credentials>,
}

/// Default most values in one SenML pack of CAN readings.
pub const DEFAULT_PACK_MAX_VALUES: usize = 100;
/// Most values accepted in one pack: the payload spec's 5,000 records, less room for the
/// pack's metadata.
pub const MAX_PACK_MAX_VALUES: usize = 4_000;
/// Default longest time a pack spans, milliseconds (with 100 values: about ten packs a second
/// for a car at 100 Hz).
pub const DEFAULT_PACK_MAX_SPAN_MS: u64 = 100;
/// Longest accepted pack span, milliseconds.
pub const MAX_PACK_MAX_SPAN_MS: u64 = 10_000;
/// Longest name of a network interface (Linux's IFNAMSIZ less the final zero).
const MAX_INTERFACE_NAME: usize = 15;

/// The `[can]` section: a car's CAN buses (SocketCAN interfaces) or a `candump` log, decoded
/// through a DBC file into SenML packs on `{prefix}/v1/sensors/{sensor_id}/senml`, through the
/// disk queue like every reading.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanConfig {
    /// The SocketCAN interfaces to read, e.g. `["can0", "can1"]` (Linux; brought up by the
    /// system, e.g. `ip link set can0 up type can bitrate 500000`). Give this or `log_file`.
    #[serde(default)]
    pub interfaces: Vec<String>,
    /// A `candump -l` log to replay instead, at its own pace (the gaps between its frames,
    /// divided by `log_speed`), each value keeping the log's time. Give this or `interfaces`.
    #[serde(default)]
    pub log_file: Option<PathBuf>,
    /// How much faster than recorded the log is replayed (default 1; 0 means as fast as the
    /// queue takes it).
    #[serde(default = "default_log_speed")]
    pub log_speed: f64,
    /// The car's DBC file, e.g. `/etc/garonne/car.dbc`.
    pub dbc: PathBuf,
    /// The id the packs are published under (default: the Pi's `sensor_id`).
    #[serde(default)]
    pub sensor_id: Option<String>,
    /// The profile the packs follow: the one of that name in the profiles folder the agent
    /// loads (`garonne --profiles DIR pi ...`, checked by the team), else the one
    /// `garonne profile from-dbc` would write, made from the DBC at start. Default: the DBC
    /// file's name (`car.dbc`: `car`).
    #[serde(default)]
    pub profile: Option<String>,
    /// Most values in one pack (default 100, at most 4000).
    #[serde(default = "default_pack_max_values")]
    pub pack_max_values: usize,
    /// Longest time from a pack's first reading to its last, milliseconds (default 100): a
    /// pack goes out when full, or this long after its first reading.
    #[serde(default = "default_pack_max_span_ms")]
    pub pack_max_span_ms: u64,
}

impl CanConfig {
    /// The profile name: `profile`, or the DBC file's name as `garonne profile from-dbc` makes
    /// it (`Car_2026.dbc` → `car-2026`).
    pub fn profile_name(&self) -> String {
        self.profile
            .clone()
            .unwrap_or_else(|| crate::can::profile::default_name(&self.dbc))
    }

    /// `[can]`'s rules, the Pi's `sensor_id` as the default id.
    fn check(&self, problems: &mut Problems) {
        match (self.interfaces.is_empty(), &self.log_file) {
            (true, None) => problems.add(
                "can",
                "reads nothing: give `interfaces = [\"can0\"]` (SocketCAN) or `log_file = \
                 \"run.log\"` (a candump -l log)",
            ),
            (false, Some(_)) => problems.add(
                "can",
                "gives both `interfaces` and `log_file`: keep one (a live car, or a log \
                 replayed)",
            ),
            _ => {}
        }
        for (i, name) in self.interfaces.iter().enumerate() {
            let valid = !name.is_empty()
                && name.len() <= MAX_INTERFACE_NAME
                && name.bytes().all(|b| b.is_ascii_graphic() && b != b'/');
            if !valid {
                problems.add(
                    format!("can.interfaces[{i}]"),
                    format!(
                        "\"{name}\" is not a network interface name: 1 to 15 characters, no \
                         space or '/', as `ip link` lists them, e.g. \"can0\""
                    ),
                );
            } else if self.interfaces[..i].contains(name) {
                problems.add("can.interfaces", format!("lists \"{name}\" twice"));
            }
        }
        if !self.interfaces.is_empty() && !cfg!(target_os = "linux") {
            problems.add(
                "can.interfaces",
                "SocketCAN is Linux's: on this system, replay a candump log with `log_file`",
            );
        }
        if !(self.log_speed.is_finite() && self.log_speed >= 0.0) {
            problems.add(
                "can.log_speed",
                format!(
                    "{} is not a speed: give how many times faster than recorded (1 is real \
                     time, 0 as fast as possible)",
                    self.log_speed
                ),
            );
        }
        if self.dbc.as_os_str().is_empty() {
            problems.add("can.dbc", "is empty: give the car's DBC file");
        }
        if let Some(id) = &self.sensor_id
            && !is_valid_sensor_id(id)
        {
            problems.add(
                "can.sensor_id",
                format!(
                    "\"{id}\" is not a valid sensor id: use 1 to 128 letters, digits, '.', '_' \
                     or '-', starting with a letter or digit, e.g. \"fs-car-1\""
                ),
            );
        }
        let profile = self.profile_name();
        let profile_ok = !profile.is_empty()
            && profile
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !profile_ok {
            problems.add(
                "can.profile",
                format!(
                    "\"{profile}\" is not a profile name: lower-case letters, digits and '-', \
                     e.g. \"fs-car\" (without `profile`, the DBC file's name is used)"
                ),
            );
        }
        if !(1..=MAX_PACK_MAX_VALUES).contains(&self.pack_max_values) {
            problems.add(
                "can.pack_max_values",
                format!(
                    "{} is out of range: give 1 to {MAX_PACK_MAX_VALUES} values per pack \
                     ({DEFAULT_PACK_MAX_VALUES}, the default, makes about ten packs a second at \
                     100 Hz)",
                    self.pack_max_values
                ),
            );
        }
        if !(1..=MAX_PACK_MAX_SPAN_MS).contains(&self.pack_max_span_ms) {
            problems.add(
                "can.pack_max_span_ms",
                format!(
                    "{} is out of range: give 1 to {MAX_PACK_MAX_SPAN_MS} milliseconds \
                     (default {DEFAULT_PACK_MAX_SPAN_MS})",
                    self.pack_max_span_ms
                ),
            );
        }
    }
}

fn default_log_speed() -> f64 {
    1.0
}
fn default_pack_max_values() -> usize {
    DEFAULT_PACK_MAX_VALUES
}
fn default_pack_max_span_ms() -> u64 {
    DEFAULT_PACK_MAX_SPAN_MS
}

/// Where the sensor stands, in WGS84 (GPS) coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteLocation {
    /// Longitude, degrees east, -180 to 180 (Toulouse: 1.44).
    pub lon: f64,
    /// Latitude, degrees north, -90 to 90 (Toulouse: 43.60).
    pub lat: f64,
    /// Altitude above sea level, metres, -500 to 9000 (optional).
    #[serde(default)]
    pub alt: Option<f64>,
}

/// One module wired to the Pi: `type = "bme280"`, `"bh1750"`, `"pir"` or `"ds18b20"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum ModuleConfig {
    /// Bosch BME280: temperature, relative humidity, pressure.
    Bme280 {
        /// I²C bus number (default 1, `/dev/i2c-1`, pins 3 and 5).
        #[serde(default = "default_i2c_bus")]
        i2c_bus: u8,
        /// I²C address: `0x76` (SDO to GND, most boards) or `0x77` (SDO to 3.3 V).
        #[serde(default = "default_bme280_address")]
        address: u8,
        /// The quantities to publish (default all three); leave one out when another module
        /// measures it, e.g. `["relativeHumidity", "atmosphericPressure"]` beside a DS18B20.
        #[serde(default)]
        quantities: Option<Vec<String>>,
    },
    /// ROHM BH1750: illuminance.
    Bh1750 {
        /// I²C bus number (default 1).
        #[serde(default = "default_i2c_bus")]
        i2c_bus: u8,
        /// I²C address: `0x23` (ADDR low or unconnected) or `0x5c` (ADDR high).
        #[serde(default = "default_bh1750_address")]
        address: u8,
    },
    /// A PIR motion detector (HC-SR501...): motion 0/1 since the previous reading.
    Pir {
        /// The GPIO line of its output, BCM numbering (2 to 27; e.g. 17 is physical pin 11).
        gpio: u8,
    },
    /// Maxim DS18B20 1-wire temperature probe.
    Ds18b20 {
        /// Its 1-wire id, as listed by `ls /sys/bus/w1/devices`, e.g. `28-00000a1b2c3d`.
        device: String,
        /// Where the kernel lists 1-wire devices (default `/sys/bus/w1/devices`).
        #[serde(default = "default_w1_devices_dir")]
        w1_devices_dir: PathBuf,
    },
    /// Any program that measures (a sensor the agent has no driver for): run at each reading,
    /// the last line it prints is one JSON object of quantities, e.g. `{"co2": 612}`.
    Command {
        /// The program and its arguments, e.g. `["python3", "/home/pi/co2.py"]`.
        program: Vec<String>,
        /// The quantities it prints, every time: catalogued names, from a built-in profile or
        /// one in the profiles folder (`garonne --profiles DIR pi ...`).
        quantities: Vec<String>,
        /// The longest a run may take, seconds (default 5, at most 60): the program is then
        /// stopped and the reading fails.
        #[serde(default = "default_command_timeout_secs")]
        timeout_secs: f64,
    },
}

fn default_topic_prefix() -> String {
    DEFAULT_TOPIC_PREFIX.to_owned()
}
fn default_interval_secs() -> f64 {
    DEFAULT_INTERVAL_SECS
}
fn default_queue_dir() -> PathBuf {
    PathBuf::from(DEFAULT_QUEUE_DIR)
}
fn default_queue_max_bytes() -> u64 {
    DEFAULT_QUEUE_MAX_BYTES
}
fn default_command_timeout_secs() -> f64 {
    DEFAULT_COMMAND_TIMEOUT_SECS
}
fn default_i2c_bus() -> u8 {
    1
}
fn default_bme280_address() -> u8 {
    super::bme280::ADDRESS_SDO_LOW
}
fn default_bh1750_address() -> u8 {
    super::bh1750::ADDRESS_LOW
}
fn default_w1_devices_dir() -> PathBuf {
    PathBuf::from(ds18b20::SYSFS_DEVICES)
}

impl ModuleConfig {
    /// The module's type name, as in `type = "..."` and in the status.
    pub fn kind(&self) -> &'static str {
        match self {
            ModuleConfig::Bme280 { .. } => "bme280",
            ModuleConfig::Bh1750 { .. } => "bh1750",
            ModuleConfig::Pir { .. } => "pir",
            ModuleConfig::Ds18b20 { .. } => "ds18b20",
            ModuleConfig::Command { .. } => "command",
        }
    }

    /// Every quantity the module can measure (a program: the catalogued names it lists).
    pub fn measurable(&self) -> Vec<Quantity> {
        match self {
            ModuleConfig::Bme280 { .. } => vec![
                Quantity::Temperature,
                Quantity::RelativeHumidity,
                Quantity::AtmosphericPressure,
            ],
            ModuleConfig::Bh1750 { .. } => vec![Quantity::Illuminance],
            ModuleConfig::Pir { .. } => vec![Quantity::Motion],
            ModuleConfig::Ds18b20 { .. } => vec![Quantity::Temperature],
            ModuleConfig::Command { quantities, .. } => quantities
                .iter()
                .filter_map(|n| Quantity::from_name(n))
                .collect(),
        }
    }

    /// The quantities the module publishes: what it measures, narrowed by `quantities`.
    /// Unknown names are left out here; [`PiConfig::validate`] reports them.
    pub fn quantities(&self) -> Vec<Quantity> {
        match self {
            ModuleConfig::Bme280 {
                quantities: Some(names),
                ..
            } => self
                .measurable()
                .into_iter()
                .filter(|q| names.iter().any(|n| n == q.name()))
                .collect(),
            _ => self.measurable(),
        }
    }

    /// What tells two modules of one type apart: the address, the line or the device id.
    fn discriminator(&self) -> String {
        match self {
            ModuleConfig::Bme280 {
                i2c_bus, address, ..
            }
            | ModuleConfig::Bh1750 { i2c_bus, address } => format!("i2c{i2c_bus}-{address:#04x}"),
            ModuleConfig::Pir { gpio } => format!("gpio{gpio}"),
            ModuleConfig::Ds18b20 { device, .. } => device.clone(),
            ModuleConfig::Command { program, .. } => program.join(" "),
        }
    }
}

/// One thing wrong in a configuration: the key, and what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key, e.g. `sensor_id` or `modules[2].address`.
    pub key: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read the configuration file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not TOML of the expected shape (the cause names the line and the key).
    #[error("the configuration file {} is not a valid garonne pi configuration", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: toml::de::Error,
    },
    /// The file holds a secret.
    #[error(
        "the configuration file {} sets `{key}`: MQTT credentials are read only from the \
         environment (the user name and GARONNE_MQTT_PASSWORD, see docs/raspberry-pi.md); \
         remove the line",
        path.display()
    )]
    Secret {
        /// The file.
        path: PathBuf,
        /// The key that should not be there.
        key: String,
    },
    /// The values break rules.
    #[error("the configuration has {}: {}", count(problems.len()), join(problems))]
    Invalid {
        /// Every problem found.
        problems: Vec<Problem>,
    },
}

fn count(n: usize) -> String {
    if n == 1 {
        "1 problem".to_owned()
    } else {
        format!("{n} problems")
    }
}

fn join(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Keys that would hold a secret, refused with a pointer to the environment variables.
const SECRET_KEYS: [&str; 4] = ["username", "password", "user", "credentials"];

impl PiConfig {
    /// Reads, parses and validates `path` (the credentials are the caller's to add).
    pub fn load(path: &Path) -> Result<PiConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        PiConfig::parse(&text, path)
    }

    /// Parses and validates a configuration text (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<PiConfig, ConfigError> {
        // Design: secrets are looked for before the typed parse, so that a password in the file
        // gets an explanation rather than "unknown field".
        if let Ok(table) = text.parse::<toml::Table>()
            && let Some(key) = SECRET_KEYS.iter().find(|k| table.contains_key(**k))
        {
            return Err(ConfigError::Secret {
                path: path.to_owned(),
                key: (*key).to_owned(),
            });
        }
        let config: PiConfig = toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The broker, with [`PiConfig::ca_file`] as the only certificate authorities trusted over
    /// TLS.
    pub fn mqtt_broker(&self) -> BrokerUrl {
        let mut broker = self.broker.clone();
        if let (Some(ca), true) = (&self.ca_file, broker.is_tls()) {
            broker.tls = Some(Roots::File(ca.clone()));
        }
        broker
    }

    /// The id of the CAN packs: `[can] sensor_id`, else the Pi's.
    pub fn can_sensor_id(&self) -> Option<&str> {
        let can = self.can.as_ref()?;
        Some(can.sensor_id.as_deref().unwrap_or(&self.sensor_id))
    }

    /// Time between two readings.
    pub fn interval(&self) -> Duration {
        Duration::from_secs_f64(
            self.interval_secs
                .clamp(MIN_INTERVAL_SECS, MAX_INTERVAL_SECS),
        )
    }

    /// The status name of each module, in file order: its type, or, when two modules share a
    /// type, the type and what tells them apart (`bme280-i2c1-0x77`, `pir-gpio17`...).
    pub fn module_names(&self) -> Vec<String> {
        self.modules
            .iter()
            .map(|m| {
                let same_kind = self.modules.iter().filter(|o| o.kind() == m.kind()).count();
                if same_kind > 1 {
                    format!("{}-{}", m.kind(), m.discriminator())
                } else {
                    m.kind().to_owned()
                }
            })
            .collect()
    }

    /// Checks every rule and reports every problem found, each with how to fix it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Problems::default();
        self.check_names(&mut problems);
        self.location.check(&mut problems);
        self.check_interval_and_queue(&mut problems);
        self.check_modules(&mut problems);
        self.check_one_module_per_quantity(&mut problems);
        if let Some(can) = &self.can {
            can.check(&mut problems);
        }
        problems.into_result()
    }

    /// `sensor_id` and `topic_prefix`: both are levels of the MQTT topics; `ca_file` only with
    /// TLS.
    fn check_names(&self, problems: &mut Problems) {
        if let Some(ca) = &self.ca_file
            && let Err(e) = self.broker.clone().trusting(Some(ca.clone()))
        {
            problems.add("ca_file", e.to_string());
        }
        if !is_valid_sensor_id(&self.sensor_id) {
            problems.add(
                "sensor_id",
                format!(
                    "\"{}\" is not a valid sensor id: use 1 to 128 letters, digits, '.', '_' or \
                     '-', starting with a letter or digit (no spaces, '/', '+' or '#': it is part \
                     of the MQTT topic), e.g. \"pi-lycee-bellevue-b12\"",
                    self.sensor_id
                ),
            );
        }
        if Topics::new(&self.topic_prefix).is_none() {
            problems.add(
                "topic_prefix",
                format!(
                    "\"{}\" is not a valid topic prefix: use one or more levels separated by '/', \
                     without '+', '#' or empty levels, e.g. \"garonne\"",
                    self.topic_prefix
                ),
            );
        }
    }

    /// `interval_secs`, `queue_dir` and `queue_max_bytes`.
    fn check_interval_and_queue(&self, problems: &mut Problems) {
        if !(self.interval_secs.is_finite()
            && (MIN_INTERVAL_SECS..=MAX_INTERVAL_SECS).contains(&self.interval_secs))
        {
            problems.add(
                "interval_secs",
                format!(
                    "{} is out of range: give the seconds between two readings, from 0.1 to \
                     86400 (60 is a good start)",
                    self.interval_secs
                ),
            );
        }
        if self.queue_dir.as_os_str().is_empty() {
            problems.add(
                "queue_dir",
                "is empty: give a folder for readings waiting for the broker, e.g. \
                 \"/var/lib/garonne-pi/queue\"",
            );
        }
        if self.queue_max_bytes < MIN_QUEUE_MAX_BYTES {
            problems.add(
                "queue_max_bytes",
                format!(
                    "{} is too small: give at least {MIN_QUEUE_MAX_BYTES} (64 KiB, 16 readings); \
                     the default {DEFAULT_QUEUE_MAX_BYTES} keeps about a month of readings",
                    self.queue_max_bytes
                ),
            );
        }
    }

    /// The `[[modules]]` tables: at least one, each valid for its type and its wiring, none
    /// the same hardware as an earlier one.
    fn check_modules(&self, problems: &mut Problems) {
        if self.modules.is_empty() && self.can.is_none() {
            problems.add(
                "modules",
                "no module is configured: add a [[modules]] table for each sensor wired to the \
                 Pi, e.g. type = \"bme280\", or a [can] section (see deploy/pi/pi.toml)",
            );
        }
        let wiring = Wiring::of(&self.modules);
        for (i, module) in self.modules.iter().enumerate() {
            module.check(i, wiring, problems);
            if let Some(j) = (0..i).find(|&j| same_hardware(&self.modules[j], module)) {
                problems.add(
                    format!("modules[{i}]"),
                    format!(
                        "is the same {} as modules[{j}] ({}): remove one of them",
                        module.kind(),
                        module.discriminator()
                    ),
                );
            }
        }
    }

    /// One value per quantity in a reading: no quantity measured by two modules.
    fn check_one_module_per_quantity(&self, problems: &mut Problems) {
        let names = self.module_names();
        for quantity in Quantity::all() {
            let owners: Vec<usize> = (0..self.modules.len())
                .filter(|&i| self.modules[i].quantities().contains(&quantity))
                .collect();
            if owners.len() > 1 {
                let listed: Vec<String> = owners
                    .iter()
                    .map(|&i| format!("modules[{i}] ({})", names[i]))
                    .collect();
                problems.add(
                    "modules",
                    format!(
                        "{} is measured by {}: a reading carries one value per quantity; keep one \
                         module for it (for a BME280, list the others in `quantities`, e.g. \
                         quantities = [\"relativeHumidity\", \"atmosphericPressure\"])",
                        quantity.name(),
                        listed.join(" and ")
                    ),
                );
            }
        }
    }
}

/// The problems [`PiConfig::validate`] found so far, in the order of the file.
#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            key: key.into(),
            message: message.into(),
        });
    }

    fn into_result(self) -> Result<(), ConfigError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid { problems: self.0 })
        }
    }
}

impl SiteLocation {
    /// `location.lon`, `location.lat` and `location.alt` in their ranges.
    fn check(&self, problems: &mut Problems) {
        let SiteLocation { lon, lat, alt } = *self;
        let axes = [
            ("location.lon", lon, 180.0, "a longitude", "east", "1.44"),
            ("location.lat", lat, 90.0, "a latitude", "north", "43.60"),
        ];
        for (key, degrees, bound, what, towards, toulouse) in axes {
            if !(degrees.is_finite() && (-bound..=bound).contains(&degrees)) {
                problems.add(
                    key,
                    format!(
                        "{degrees} is not {what}: give degrees {towards} from -{bound} to \
                         {bound} (Toulouse is about {toulouse}); check that lon and lat are not \
                         swapped"
                    ),
                );
            }
        }
        if let Some(alt) = alt
            && !(alt.is_finite() && (-500.0..=9000.0).contains(&alt))
        {
            problems.add(
                "location.alt",
                format!(
                    "{alt} is not an altitude: give metres above sea level from -500 to 9000, \
                     or leave alt out"
                ),
            );
        }
    }
}

/// The lines the configured modules take, which a PIR must not use.
#[derive(Clone, Copy)]
struct Wiring {
    /// A BME280 or BH1750 is on I²C bus 1 (GPIO 2 and 3).
    uses_i2c_bus_1: bool,
    /// A DS18B20 is configured (1-wire on GPIO 4).
    uses_w1: bool,
}

impl Wiring {
    fn of(modules: &[ModuleConfig]) -> Wiring {
        Wiring {
            uses_i2c_bus_1: modules.iter().any(|m| {
                matches!(
                    m,
                    ModuleConfig::Bme280 { i2c_bus: 1, .. }
                        | ModuleConfig::Bh1750 { i2c_bus: 1, .. }
                )
            }),
            uses_w1: modules
                .iter()
                .any(|m| matches!(m, ModuleConfig::Ds18b20 { .. })),
        }
    }
}

impl ModuleConfig {
    /// The rules of this module's type, for `modules[i]`.
    fn check(&self, i: usize, wiring: Wiring, problems: &mut Problems) {
        let key = |field: &str| format!("modules[{i}].{field}");
        match self {
            ModuleConfig::Bme280 {
                address,
                quantities,
                ..
            } => self.check_bme280(*address, quantities.as_deref(), key, problems),
            ModuleConfig::Bh1750 { address, .. } => check_bh1750(*address, key, problems),
            ModuleConfig::Pir { gpio } => check_pir(*gpio, wiring, key, problems),
            ModuleConfig::Ds18b20 {
                device,
                w1_devices_dir,
            } => check_ds18b20(device, w1_devices_dir, key, problems),
            ModuleConfig::Command {
                program,
                quantities,
                timeout_secs,
            } => check_command(program, quantities, *timeout_secs, key, problems),
        }
    }

    /// A BME280's address and its `quantities` list.
    fn check_bme280(
        &self,
        address: u8,
        quantities: Option<&[String]>,
        key: impl Fn(&str) -> String,
        problems: &mut Problems,
    ) {
        if ![0x76, 0x77].contains(&address) {
            problems.add(
                key("address"),
                format!(
                    "{address:#04x} is not a BME280 address: use 0x76 (SDO to GND, most boards) \
                     or 0x77 (SDO to 3.3 V); `i2cdetect -y 1` lists what answers"
                ),
            );
        }
        let Some(names) = quantities else { return };
        for name in names {
            if !self.measurable().iter().any(|q| q.name() == name) {
                problems.add(
                    key("quantities"),
                    format!(
                        "\"{name}\" is not measured by a BME280: use \"temperature\", \
                         \"relativeHumidity\" or \"atmosphericPressure\""
                    ),
                );
            }
        }
        if names.is_empty() {
            problems.add(
                key("quantities"),
                "is empty: list at least one quantity, or remove the module",
            );
        }
    }
}

/// A BH1750's address.
fn check_bh1750(address: u8, key: impl Fn(&str) -> String, problems: &mut Problems) {
    if ![0x23, 0x5c].contains(&address) {
        problems.add(
            key("address"),
            format!(
                "{address:#04x} is not a BH1750 address: use 0x23 (ADDR to GND or unconnected) \
                 or 0x5c (ADDR to 3.3 V)"
            ),
        );
    }
}

/// A PIR's GPIO line: on the header, and not a line I²C bus 1 or 1-wire uses.
fn check_pir(gpio: u8, wiring: Wiring, key: impl Fn(&str) -> String, problems: &mut Problems) {
    if !(2..=27).contains(&gpio) {
        problems.add(
            key("gpio"),
            format!(
                "{gpio} is not a GPIO line of the 40-pin header: use BCM numbers 2 to 27 (e.g. \
                 17, physical pin 11), not physical pin numbers"
            ),
        );
    } else if wiring.uses_i2c_bus_1 && (gpio == 2 || gpio == 3) {
        problems.add(
            key("gpio"),
            format!(
                "GPIO {gpio} is I2C bus 1 ({}), used by the I2C modules: wire the PIR to another \
                 line, e.g. 17",
                if gpio == 2 { "SDA" } else { "SCL" }
            ),
        );
    } else if wiring.uses_w1 && gpio == 4 {
        problems.add(
            key("gpio"),
            "GPIO 4 is the 1-wire line of the DS18B20 (dtoverlay=w1-gpio): wire the PIR to \
             another line, e.g. 17",
        );
    }
}

/// A DS18B20's device id and 1-wire folder.
fn check_ds18b20(
    device: &str,
    w1_devices_dir: &Path,
    key: impl Fn(&str) -> String,
    problems: &mut Problems,
) {
    if !ds18b20::is_ds18b20_id(device) {
        problems.add(
            key("device"),
            format!(
                "\"{device}\" is not a DS18B20 id: it looks like \"28-00000a1b2c3d\" (family 28, \
                 12 hex digits); list the probes with `ls /sys/bus/w1/devices`"
            ),
        );
    }
    if w1_devices_dir.as_os_str().is_empty() {
        problems.add(
            key("w1_devices_dir"),
            "is empty: remove the line to use /sys/bus/w1/devices",
        );
    }
}

/// A program module's program, quantities and timeout.
fn check_command(
    program: &[String],
    quantities: &[String],
    timeout_secs: f64,
    key: impl Fn(&str) -> String,
    problems: &mut Problems,
) {
    if program.first().is_none_or(|p| p.trim().is_empty()) {
        problems.add(
            key("program"),
            "is empty: give the program and its arguments, e.g. program = [\"python3\", \
             \"/home/pi/co2.py\"]",
        );
    }
    if quantities.is_empty() {
        problems.add(
            key("quantities"),
            "is empty: list the quantities the program prints, e.g. quantities = [\"co2\"]",
        );
    }
    for (i, name) in quantities.iter().enumerate() {
        if quantities[..i].contains(name) {
            problems.add(key("quantities"), format!("lists \"{name}\" twice"));
        } else if Quantity::from_name(name).is_none() {
            let closest = Quantity::with_catalogue(|c| c.closest_names(name).join("\", \""));
            let closest = if closest.is_empty() {
                String::new()
            } else {
                format!("did you mean \"{closest}\"? ")
            };
            problems.add(
                key("quantities"),
                format!(
                    "\"{name}\" is not a catalogued quantity: {closest}a new quantity needs a \
                     profile (`garonne profile new`), in the profiles folder the agent loads \
                     (`garonne --profiles DIR pi ...`)"
                ),
            );
        }
    }
    if !(timeout_secs.is_finite() && timeout_secs > 0.0 && timeout_secs <= MAX_COMMAND_TIMEOUT_SECS)
    {
        problems.add(
            key("timeout_secs"),
            format!(
                "{timeout_secs} is not a timeout: give seconds above 0, at most \
                 {MAX_COMMAND_TIMEOUT_SECS}, or leave it out for {DEFAULT_COMMAND_TIMEOUT_SECS}"
            ),
        );
    }
}

fn same_hardware(a: &ModuleConfig, b: &ModuleConfig) -> bool {
    use ModuleConfig::*;
    match (a, b) {
        (
            Bme280 {
                i2c_bus: ba,
                address: aa,
                ..
            }
            | Bh1750 {
                i2c_bus: ba,
                address: aa,
            },
            Bme280 {
                i2c_bus: bb,
                address: ab,
                ..
            }
            | Bh1750 {
                i2c_bus: bb,
                address: ab,
            },
        ) => ba == bb && aa == ab,
        (Pir { gpio: ga }, Pir { gpio: gb }) => ga == gb,
        (Ds18b20 { device: da, .. }, Ds18b20 { device: db, .. }) => da == db,
        (Command { program: pa, .. }, Command { program: pb, .. }) => pa == pb,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../deploy/pi/pi.toml");

    const MINIMAL: &str = r#"
sensor_id = "pi-test"
broker = "mqtt://127.0.0.1:1883"
location = { lon = 1.4442, lat = 43.6047 }
[[modules]]
type = "bme280"
"#;

    fn parse(text: &str) -> Result<PiConfig, ConfigError> {
        PiConfig::parse(text, Path::new("pi.toml"))
    }

    fn problems(text: &str) -> Vec<String> {
        match parse(text) {
            Err(ConfigError::Invalid { problems }) => {
                problems.iter().map(Problem::to_string).collect()
            }
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn the_example_file_is_valid_and_documents_every_module_type() {
        let config = parse(EXAMPLE).expect("deploy/pi/pi.toml is valid");
        let kinds: Vec<&str> = config.modules.iter().map(ModuleConfig::kind).collect();
        assert_eq!(kinds, ["bme280", "bh1750", "pir", "ds18b20"]);
        // The `command` module is there, commented out: uncommented, it is valid too.
        let start = EXAMPLE
            .find("# [[modules]]\n# type = \"command\"")
            .expect("pi.toml shows a commented command module");
        let uncommented: String = EXAMPLE[start..]
            .lines()
            .map(|l| format!("{}\n", l.trim_start_matches("# ")))
            .collect();
        let with_program = parse(&format!("{EXAMPLE}{uncommented}")).expect("valid");
        assert_eq!(with_program.modules[4].kind(), "command");
        assert_eq!(
            config.module_names(),
            ["bme280", "bh1750", "pir", "ds18b20"]
        );
        assert_eq!(config.topic_prefix, "garonne");
    }

    #[test]
    fn a_program_module_lists_catalogued_quantities() {
        let text = format!(
            "{MINIMAL}[[modules]]\ntype = \"command\"\nprogram = [\"python3\", \"/home/pi/co2.py\"]\n\
             quantities = [\"co2\"]\n"
        );
        let config = parse(&text).expect("valid");
        let program = &config.modules[1];
        assert_eq!(program.kind(), "command");
        assert_eq!(
            program.quantities(),
            [Quantity::from_name("co2").expect("built-in")]
        );
        let ModuleConfig::Command { timeout_secs, .. } = program else {
            panic!("a command module")
        };
        assert_eq!(*timeout_secs, DEFAULT_COMMAND_TIMEOUT_SECS);
        assert_eq!(config.module_names(), ["bme280", "command"]);

        let bad = format!(
            "{MINIMAL}[[modules]]\ntype = \"command\"\nprogram = []\n\
             quantities = [\"co2\", \"temperatur\", \"co2\"]\ntimeout_secs = 0\n"
        );
        let found = problems(&bad);
        for wanted in [
            "modules[1].program: is empty: give the program and its arguments",
            "modules[1].quantities: \"temperatur\" is not a catalogued quantity: did you mean \"temperature\"",
            "modules[1].quantities: lists \"co2\" twice",
            "modules[1].timeout_secs: 0 is not a timeout",
        ] {
            assert!(
                found.iter().any(|p| p.starts_with(wanted)),
                "{wanted} in {found:#?}"
            );
        }
    }

    #[test]
    fn defaults_fill_what_is_left_out() {
        let config = parse(MINIMAL).expect("valid");
        assert_eq!(config.topic_prefix, DEFAULT_TOPIC_PREFIX);
        assert_eq!(config.interval(), Duration::from_secs(60));
        assert_eq!(config.queue_dir, PathBuf::from(DEFAULT_QUEUE_DIR));
        assert_eq!(config.queue_max_bytes, DEFAULT_QUEUE_MAX_BYTES);
        assert_eq!(
            config.modules,
            [ModuleConfig::Bme280 {
                i2c_bus: 1,
                address: 0x76,
                quantities: None
            }]
        );
        assert_eq!(config.credentials, None);
    }

    #[test]
    fn ca_file_is_trusted_alone_over_tls_and_refused_beside_a_plain_broker() {
        let ca = garonne_testkit::TestCa::generate().expect("a test CA");
        let line = format!("ca_file = \"{}\"\n", ca.ca_file().display());
        let tls = MINIMAL.replace(
            "mqtt://127.0.0.1:1883\"\n",
            &format!("mqtts://broker\"\n{line}"),
        );
        let config = parse(&tls).expect("mqtts with a CA file");
        let broker = config.mqtt_broker();
        assert_eq!(broker.to_string(), "mqtts://broker:8883");
        assert_eq!(broker.ca_file(), Some(ca.ca_file().as_path()));

        let plain = MINIMAL.replace("1883\"\n", &format!("1883\"\n{line}"));
        let e = parse(&plain).expect_err("plain broker");
        assert!(
            e.to_string().contains("ca_file: ") && e.to_string().contains("mqtts://127.0.0.1:8883"),
            "{e}"
        );
        let missing = tls.replace(&ca.ca_file().display().to_string(), "/nonexistent/ca.crt");
        let e = parse(&missing).expect_err("missing CA file");
        let said = garonne_service::report::Chain(&e).to_string();
        assert!(
            said.contains("cannot read the CA file /nonexistent/ca.crt"),
            "{said}"
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_key_and_fix() {
        let text = r#"
sensor_id = "capteur salle B12"
broker = "mqtt://127.0.0.1:1883"
topic_prefix = "garonne/#"
location = { lon = 43.6047, lat = 91.0, alt = 12000 }
interval_secs = 0.01
queue_dir = ""
queue_max_bytes = 1000
[[modules]]
type = "bme280"
address = 0x78
quantities = ["humidity"]
[[modules]]
type = "bh1750"
address = 0x24
[[modules]]
type = "pir"
gpio = 40
[[modules]]
type = "ds18b20"
device = "10-00000a1b2c3d"
"#;
        let got = problems(text);
        let want = [
            "sensor_id: \"capteur salle B12\" is not a valid sensor id",
            "topic_prefix: \"garonne/#\" is not a valid topic prefix",
            "location.lat: 91 is not a latitude",
            "location.alt: 12000 is not an altitude",
            "interval_secs: 0.01 is out of range",
            "queue_dir: is empty",
            "queue_max_bytes: 1000 is too small",
            "modules[0].address: 0x78 is not a BME280 address: use 0x76",
            "modules[0].quantities: \"humidity\" is not measured by a BME280",
            "modules[1].address: 0x24 is not a BH1750 address",
            "modules[2].gpio: 40 is not a GPIO line of the 40-pin header",
            "modules[3].device: \"10-00000a1b2c3d\" is not a DS18B20 id",
        ];
        for (got, want) in got.iter().zip(want) {
            assert!(got.starts_with(want), "got {got:?}, want {want:?}");
        }
        assert_eq!(got.len(), want.len(), "{got:#?}");
        // Longitude 43.6 is valid; swapped coordinates are caught by the latitude.
        assert!(got[2].contains("check that lon and lat are not swapped"));
    }

    #[test]
    fn shared_quantities_duplicates_and_pin_clashes_are_refused() {
        let text = MINIMAL.to_owned()
            + r#"[[modules]]
type = "ds18b20"
device = "28-00000a1b2c3d"
[[modules]]
type = "pir"
gpio = 3
[[modules]]
type = "pir"
gpio = 3
"#;
        let got = problems(&text);
        assert_eq!(
            got,
            [
                "modules[2].gpio: GPIO 3 is I2C bus 1 (SCL), used by the I2C modules: wire the \
                 PIR to another line, e.g. 17",
                "modules[3].gpio: GPIO 3 is I2C bus 1 (SCL), used by the I2C modules: wire the \
                 PIR to another line, e.g. 17",
                "modules[3]: is the same pir as modules[2] (gpio3): remove one of them",
                "modules: temperature is measured by modules[0] (bme280) and modules[1] (ds18b20): \
                 a reading carries one value per quantity; keep one module for it (for a BME280, \
                 list the others in `quantities`, e.g. quantities = [\"relativeHumidity\", \
                 \"atmosphericPressure\"])",
                "modules: motion is measured by modules[2] (pir-gpio3) and modules[3] (pir-gpio3): \
                 a reading carries one value per quantity; keep one module for it (for a BME280, \
                 list the others in `quantities`, e.g. quantities = [\"relativeHumidity\", \
                 \"atmosphericPressure\"])",
            ]
        );
    }

    #[test]
    fn shape_errors_name_the_key_and_line() {
        let cases = [
            (
                MINIMAL.replace("sensor_id", "sensor"),
                "unknown field `sensor`",
            ),
            (
                MINIMAL.replace("type = \"bme280\"", "type = \"bme680\""),
                "unknown variant `bme680`",
            ),
            (
                MINIMAL.replace("type = \"bme280\"", "type = \"bme280\"\nadress = 0x76"),
                "unknown field `adress`",
            ),
            (
                MINIMAL.replace("mqtt://127.0.0.1:1883", "http://broker"),
                "only mqtt:// is supported, or mqtts:// for TLS",
            ),
            (
                MINIMAL.replace("lat = 43.6047", "lat = 43.6047, alt_m = 3"),
                "unknown field `alt_m`",
            ),
        ];
        for (text, want) in cases {
            let e = parse(&text).expect_err(want);
            let chain = format!(
                "{e}: {}",
                std::error::Error::source(&e)
                    .map(ToString::to_string)
                    .unwrap_or_default()
            );
            assert!(chain.contains(want), "{chain}");
            assert!(
                chain.starts_with("the configuration file pi.toml is not"),
                "{chain}"
            );
        }
    }

    #[test]
    fn secrets_in_the_file_are_refused_with_the_variables_to_use() {
        let text = format!("password = \"hunter2\"\n{MINIMAL}");
        let e = parse(&text).expect_err("secret");
        let message = e.to_string();
        assert!(message.contains("GARONNE_MQTT_PASSWORD"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn same_type_modules_get_distinct_names() {
        let text = MINIMAL.to_owned()
            + r#"address = 0x76
quantities = ["temperature"]
[[modules]]
type = "bme280"
address = 0x77
quantities = ["relativeHumidity"]
"#;
        let config = parse(&text).expect("valid");
        assert_eq!(
            config.module_names(),
            ["bme280-i2c1-0x76", "bme280-i2c1-0x77"]
        );
    }

    /// A Pi that only logs a car: no module, a `[can]` section.
    const CAN_ONLY: &str = r#"
sensor_id = "fs-car-1"
broker = "mqtt://127.0.0.1:1883"
location = { lon = 1.4442, lat = 43.6047 }
[can]
interfaces = ["can0", "can1"]
dbc = "/etc/garonne/FS-Car.dbc"
"#;

    #[test]
    fn the_example_files_can_section_uncommented_is_valid() {
        let start = EXAMPLE
            .find("# [can]\n")
            .expect("pi.toml shows a [can] section");
        let section: String = EXAMPLE[start..]
            .lines()
            .take_while(|l| *l != "#")
            .map(|l| format!("{}\n", l.trim_start_matches("# ")))
            .collect();
        let config = parse(&format!("{EXAMPLE}{section}")).expect("valid");
        let can = config.can.expect("[can]");
        assert_eq!(can.interfaces, ["can0", "can1"]);
        assert_eq!(can.profile_name(), "car");
    }

    #[test]
    fn a_can_section_alone_is_a_valid_configuration_with_its_defaults() {
        let config = parse(CAN_ONLY).expect("valid");
        let can = config.can.as_ref().expect("[can]");
        assert!(config.modules.is_empty());
        assert_eq!(config.can_sensor_id(), Some("fs-car-1"));
        // The profile is named after the DBC file, as `garonne profile from-dbc` names it.
        assert_eq!(can.profile_name(), "fs-car");
        let underscored = parse(&CAN_ONLY.replace("FS-Car.dbc", "FS_Car 2026.dbc")).expect("valid");
        let named = underscored.can.as_ref().expect("[can]").profile_name();
        assert_eq!(named, "fs-car-2026");
        assert_eq!(
            (can.pack_max_values, can.pack_max_span_ms, can.log_speed),
            (100, 100, 1.0)
        );
        let own = parse(&CAN_ONLY.replace("[can]", "[can]\nsensor_id = \"car-7\"")).expect("valid");
        assert_eq!(own.can_sensor_id(), Some("car-7"));
        // Without [can] and modules, nothing to read.
        let nothing = problems(&CAN_ONLY[..CAN_ONLY.find("[can]").expect("section")]);
        assert!(nothing[0].contains("or a [can] section"), "{nothing:?}");
    }

    #[test]
    fn can_mistakes_are_each_reported_with_the_fix() {
        let got = problems(
            r#"
sensor_id = "fs-car-1"
broker = "mqtt://127.0.0.1:1883"
location = { lon = 1.4442, lat = 43.6047 }
[can]
interfaces = ["can0", "can0", "a very long interface name"]
log_file = "run.log"
log_speed = -1
dbc = "car.dbc"
sensor_id = "car 1"
profile = "FS Car"
pack_max_values = 0
pack_max_span_ms = 100000
"#,
        );
        let keys: Vec<&str> = got
            .iter()
            .map(|p| p.split(':').next().unwrap_or(""))
            .collect();
        assert_eq!(
            keys,
            [
                "can",
                "can.interfaces",
                "can.interfaces[2]",
                "can.log_speed",
                "can.sensor_id",
                "can.profile",
                "can.pack_max_values",
                "can.pack_max_span_ms"
            ],
            "{got:#?}"
        );
        assert!(got[0].contains("keep one"), "{}", got[0]);
        let none = problems(&CAN_ONLY.replace("interfaces = [\"can0\", \"can1\"]\n", ""));
        assert!(none[0].starts_with("can: reads nothing"), "{none:?}");
    }
}
