//! The Pi's modules: opening each one on the real or the fake hardware (the probe), its sample
//! test, its readings, and the status line it shows. The same drivers run on both: only the
//! bus, line or folder they are given differs.
//!
//! Every failure carries a `detail` for people: what is wrong and how to fix it, e.g. "no
//! BME280 at 0x76 on /dev/i2c-1: check the wiring ... and that I2C is enabled (raspi-config)".

use std::io;
use std::path::Path;
use std::time::Duration;

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::{ErrorKind, I2c, NoAcknowledgeSource};
use garonne_payload::{ModuleState, ModuleStatus, Quantity};

use crate::bh1750::Bh1750;
use crate::bme280::{self, Bme280};
use crate::config::{ModuleConfig, PiConfig};
use crate::ds18b20::{self, Ds18b20, SysfsW1, W1Source};
use crate::fake::FakeWorld;
use crate::pir::{EdgeInput, Pir};
use crate::{Hardware, PiError};

/// A delay that sleeps the thread (drivers run on blocking threads, never on the runtime's).
#[derive(Debug, Clone, Copy, Default)]
pub struct StdDelay;

impl DelayNs for StdDelay {
    fn delay_ns(&mut self, ns: u32) {
        std::thread::sleep(Duration::from_nanos(u64::from(ns)));
    }
}

/// An opened module: one reading of its quantities, or why not (a detail for people).
pub(crate) trait Sampler: Send {
    fn sample(&mut self) -> Result<Vec<(Quantity, f64)>, String>;
}

/// The hardware the modules are opened on.
pub(crate) enum Backend {
    /// `--fake-hardware`.
    Fake(FakeWorld),
    /// The Pi's own buses, through rppal.
    #[cfg(feature = "rpi")]
    Real,
    /// No module is configured (a Pi that only reads CAN): no bus is opened, on any build.
    NoModules,
}

impl Backend {
    /// The backend of `hardware` for the modules of `config`.
    pub(crate) fn new(hardware: &Hardware, config: &PiConfig) -> Result<Backend, PiError> {
        if config.modules.is_empty() {
            return Ok(Backend::NoModules);
        }
        match hardware {
            Hardware::Fake { seed } => {
                let devices: Vec<&str> = config
                    .modules
                    .iter()
                    .filter_map(|m| match m {
                        ModuleConfig::Ds18b20 { device, .. } => Some(device.as_str()),
                        _ => None,
                    })
                    .collect();
                FakeWorld::new(*seed, &devices)
                    .map(Backend::Fake)
                    .map_err(PiError::FakeHardware)
            }
            #[cfg(feature = "rpi")]
            Hardware::Real => Ok(Backend::Real),
            #[cfg(not(feature = "rpi"))]
            Hardware::Real => Err(PiError::NoRealHardware),
        }
    }

    /// The probe: opens the module's bus, line or file and checks the device answers.
    fn open(&self, module: &ModuleConfig) -> Result<Box<dyn Sampler>, String> {
        match (self, module) {
            // A program runs the same on any hardware.
            (
                _,
                ModuleConfig::Command {
                    program,
                    timeout_secs,
                    ..
                },
            ) => crate::command::open(
                program,
                module.measurable(),
                Duration::from_secs_f64(*timeout_secs),
            ),
            (
                Backend::Fake(world),
                ModuleConfig::Bme280 {
                    i2c_bus, address, ..
                },
            ) => {
                let bus = world
                    .i2c(*i2c_bus)
                    .map_err(|e| i2c_open_detail(*i2c_bus, e.kind(), &e.to_string()))?;
                open_bme280(bus, I2cPlace::new(*i2c_bus, *address))
            }
            (Backend::Fake(world), ModuleConfig::Bh1750 { i2c_bus, address }) => {
                let bus = world
                    .i2c(*i2c_bus)
                    .map_err(|e| i2c_open_detail(*i2c_bus, e.kind(), &e.to_string()))?;
                open_bh1750(bus, I2cPlace::new(*i2c_bus, *address))
            }
            (Backend::Fake(world), ModuleConfig::Pir { gpio }) => {
                let input = world
                    .pir(*gpio)
                    .map_err(|e| format!("cannot open GPIO {gpio}: {e}"))?;
                Ok(Box::new(PirSampler(Pir::new(input))))
            }
            (Backend::Fake(world), ModuleConfig::Ds18b20 { device, .. }) => {
                let dir = world.w1_devices_dir();
                probe_w1(dir, device)?;
                Ok(Box::new(Ds18b20Sampler(Ds18b20::new(world.w1(device)))))
            }
            #[cfg(feature = "rpi")]
            (Backend::Real, module) => super::rpi::open(module),
            (Backend::NoModules, module) => Err(format!("{} is not configured", module.kind())),
        }
    }
}

/// An I²C device's place, for messages: `0x76 on /dev/i2c-1`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct I2cPlace {
    bus: u8,
    address: u8,
}

impl I2cPlace {
    pub(crate) fn new(bus: u8, address: u8) -> I2cPlace {
        I2cPlace { bus, address }
    }
}

impl std::fmt::Display for I2cPlace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#04x} on /dev/i2c-{}", self.address, self.bus)
    }
}

/// Why an I²C bus does not open, and the fix.
pub(crate) fn i2c_open_detail(bus: u8, kind: io::ErrorKind, error: &str) -> String {
    match kind {
        io::ErrorKind::NotFound => format!(
            "/dev/i2c-{bus} does not exist: enable I2C with `sudo raspi-config` (Interface \
             Options, I2C) and reboot"
        ),
        io::ErrorKind::PermissionDenied => format!(
            "cannot open /dev/i2c-{bus} (permission denied): add the agent's user to the i2c \
             group (`sudo adduser garonne i2c`)"
        ),
        _ => format!("cannot open /dev/i2c-{bus}: {error}"),
    }
}

/// The wiring hint of an I²C module on the Pi's bus 1.
const I2C_WIRING: &str = "VCC to 3.3 V (pin 1), GND (pin 6), SDA to GPIO 2 (pin 3), SCL to \
                          GPIO 3 (pin 5)";

/// Why an I²C transfer failed, and the fix.
fn i2c_error_detail(chip: &str, place: I2cPlace, kind: ErrorKind, other_address: &str) -> String {
    match kind {
        ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address | NoAcknowledgeSource::Unknown) => {
            format!(
                "no {chip} at {place}: check the wiring ({I2C_WIRING}) and that I2C is enabled \
                 (raspi-config); `i2cdetect -y {}` lists the addresses that answer ({other_address})",
                place.bus
            )
        }
        kind => format!(
            "I2C error with the {chip} at {place} ({kind}): check the wiring and keep the cable \
             short (under 30 cm)"
        ),
    }
}

pub(crate) fn open_bme280<I>(i2c: I, place: I2cPlace) -> Result<Box<dyn Sampler>, String>
where
    I: I2c + Send + 'static,
{
    match Bme280::new(i2c, StdDelay, place.address) {
        Ok(chip) => Ok(Box::new(Bme280Sampler { chip, place })),
        Err(e) => Err(bme280_detail(e, place)),
    }
}

fn bme280_detail<E: embedded_hal::i2c::Error>(error: bme280::Error<E>, place: I2cPlace) -> String {
    match error {
        bme280::Error::Bus(e) => i2c_error_detail(
            "BME280",
            place,
            e.kind(),
            "a board with SDO wired to 3.3 V is at 0x77",
        ),
        bme280::Error::WrongChip { found: 0x58 } => format!(
            "the chip at {place} is a BMP280 (id 0x58), which has no humidity sensor: use a \
             BME280 board (BMP280 and BME280 boards look alike)"
        ),
        bme280::Error::WrongChip { found } => format!(
            "the chip at {place} has id {found:#04x}, not a BME280's 0x60: another device is at \
             that address; check the address in pi.toml"
        ),
        e @ (bme280::Error::Busy { .. } | bme280::Error::Skipped) => format!(
            "the BME280 at {place} misbehaves ({e}): power the Pi off and on; if it persists the \
             chip is faulty"
        ),
    }
}

struct Bme280Sampler<I> {
    chip: Bme280<I, StdDelay>,
    place: I2cPlace,
}

impl<I: I2c + Send> Sampler for Bme280Sampler<I> {
    fn sample(&mut self) -> Result<Vec<(Quantity, f64)>, String> {
        let m = self
            .chip
            .measure()
            .map_err(|e| bme280_detail(e, self.place))?;
        Ok(vec![
            (Quantity::Temperature, round_to(m.temperature_c, 2)),
            (
                Quantity::RelativeHumidity,
                round_to(m.humidity_percent / 100.0, 4),
            ),
            (
                Quantity::AtmosphericPressure,
                round_to(m.pressure_pa / 100.0, 2),
            ),
        ])
    }
}

pub(crate) fn open_bh1750<I>(i2c: I, place: I2cPlace) -> Result<Box<dyn Sampler>, String>
where
    I: I2c + Send + 'static,
{
    match Bh1750::new(i2c, StdDelay, place.address) {
        Ok(chip) => Ok(Box::new(Bh1750Sampler { chip, place })),
        Err(e) => Err(bh1750_detail(&e, place)),
    }
}

fn bh1750_detail<E: embedded_hal::i2c::Error>(error: &E, place: I2cPlace) -> String {
    i2c_error_detail(
        "BH1750",
        place,
        error.kind(),
        "ADDR wired to 3.3 V moves it to 0x5c",
    )
}

struct Bh1750Sampler<I> {
    chip: Bh1750<I>,
    place: I2cPlace,
}

impl<I: I2c + Send> Sampler for Bh1750Sampler<I> {
    fn sample(&mut self) -> Result<Vec<(Quantity, f64)>, String> {
        let lux = self.chip.lux().map_err(|e| bh1750_detail(&e, self.place))?;
        Ok(vec![(Quantity::Illuminance, round_to(lux, 1))])
    }
}

pub(crate) struct PirSampler<E>(pub(crate) Pir<E>);

impl<E: EdgeInput> Sampler for PirSampler<E> {
    fn sample(&mut self) -> Result<Vec<(Quantity, f64)>, String> {
        Ok(vec![(Quantity::Motion, self.0.motion())])
    }
}

/// The probe of a DS18B20: 1-wire is enabled and the device is listed.
pub(crate) fn probe_w1(dir: &Path, device: &str) -> Result<(), String> {
    if !dir.is_dir() {
        return Err(format!(
            "{} does not exist: enable 1-wire with `sudo raspi-config` (Interface Options, \
             1-Wire) and reboot",
            dir.display()
        ));
    }
    if SysfsW1::new(dir, device).path().is_file() {
        return Ok(());
    }
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with("28-"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    let found = if found.is_empty() {
        "no DS18B20 is listed".to_owned()
    } else {
        format!("listed: {}", found.join(", "))
    };
    Err(format!(
        "no DS18B20 {device} in {} ({found}): check the wiring (data to GPIO 4 with a 4.7 kΩ \
         pull-up to 3.3 V, VDD to 3.3 V, GND) and the device id in pi.toml",
        dir.display()
    ))
}

pub(crate) struct Ds18b20Sampler<S>(pub(crate) Ds18b20<S>);

impl<S: W1Source> Sampler for Ds18b20Sampler<S> {
    fn sample(&mut self) -> Result<Vec<(Quantity, f64)>, String> {
        match self.0.celsius() {
            Ok(c) => Ok(vec![(Quantity::Temperature, round_to(c, 3))]),
            Err(ds18b20::Error::Io(e)) => Err(format!(
                "cannot read the DS18B20 ({e}): the probe was unplugged or 1-wire stopped; \
                 check the wiring"
            )),
            Err(ds18b20::Error::Read(e)) => Err(format!("the DS18B20 gave a bad reading: {e}")),
        }
    }
}

fn round_to(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// One configured module and where it is in its life cycle.
pub(crate) struct ModuleSlot {
    /// Its name in the status.
    pub(crate) name: String,
    /// Its configuration.
    pub(crate) config: ModuleConfig,
    /// The quantities it publishes.
    pub(crate) quantities: Vec<Quantity>,
    /// Its life cycle step.
    pub(crate) state: ModuleState,
    /// Why it failed, or what is wrong while it runs.
    pub(crate) detail: Option<String>,
    sampler: Option<Box<dyn Sampler>>,
}

impl ModuleSlot {
    /// A module about to be probed.
    pub(crate) fn new(name: String, config: ModuleConfig) -> ModuleSlot {
        ModuleSlot {
            name,
            quantities: config.quantities(),
            config,
            state: ModuleState::Probing,
            detail: None,
            sampler: None,
        }
    }

    /// Its line in the status message.
    pub(crate) fn status(&self) -> ModuleStatus {
        ModuleStatus {
            name: self.name.clone(),
            state: self.state,
            quantities: self.quantities.clone(),
            detail: self.detail.clone(),
        }
    }

    /// The probe; on success the module moves to the sample test, else it fails.
    pub(crate) fn probe(&mut self, backend: &Backend) {
        match backend.open(&self.config) {
            Ok(sampler) => {
                self.sampler = Some(sampler);
                self.state = ModuleState::SampleTest;
            }
            Err(detail) => self.fail(detail),
        }
    }

    /// The sample test: one reading, each quantity present and in range; on success the
    /// module runs, else it fails.
    pub(crate) fn sample_test(&mut self) {
        let values = match self.read() {
            Ok(values) => values,
            Err(detail) => return self.fail(format!("sample test: {detail}")),
        };
        for q in &self.quantities {
            match values.iter().find(|(vq, _)| vq == q) {
                None => {
                    return self.fail(format!("sample test: the module gave no {}", q.name()));
                }
                Some((_, v)) if !q.in_range(*v) => {
                    return self.fail(format!(
                        "sample test: {} {v} is outside {}: the module answers but measures \
                         nonsense; check its power (3.3 V) and that it is the module pi.toml says",
                        q.name(),
                        q.range_label()
                    ));
                }
                Some(_) => {}
            }
        }
        self.state = ModuleState::Running;
    }

    /// One reading of the module's quantities.
    pub(crate) fn read(&mut self) -> Result<Vec<(Quantity, f64)>, String> {
        let sampler = self
            .sampler
            .as_mut()
            .ok_or_else(|| "the module is not open".to_owned())?;
        let mut values = sampler.sample()?;
        values.retain(|(q, _)| self.quantities.contains(q));
        Ok(values)
    }

    /// Marks the module failed and releases its hardware.
    pub(crate) fn fail(&mut self, detail: String) {
        self.sampler = None;
        self.state = ModuleState::Failed;
        self.detail = Some(detail);
    }

    /// Removes a running module gracefully and releases its hardware.
    pub(crate) fn remove(&mut self) {
        self.sampler = None;
        if self.state != ModuleState::Failed {
            self.state = ModuleState::Removed;
            self.detail = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModuleConfig;

    fn fake(devices: &[&str]) -> Backend {
        Backend::Fake(FakeWorld::new(11, devices).expect("fake world"))
    }

    fn cycle(backend: &Backend, config: ModuleConfig) -> ModuleSlot {
        let mut slot = ModuleSlot::new(config.kind().to_owned(), config);
        slot.probe(backend);
        if slot.state == ModuleState::SampleTest {
            slot.sample_test();
        }
        slot
    }

    #[test]
    fn every_fake_module_passes_its_probe_and_sample_test() {
        let backend = fake(&["28-00000a1b2c3d"]);
        let configs = [
            ModuleConfig::Bme280 {
                i2c_bus: 1,
                address: 0x76,
                quantities: None,
            },
            ModuleConfig::Bh1750 {
                i2c_bus: 1,
                address: 0x23,
            },
            ModuleConfig::Pir { gpio: 17 },
            ModuleConfig::Ds18b20 {
                device: "28-00000a1b2c3d".into(),
                w1_devices_dir: "/nonexistent".into(),
            },
        ];
        for config in configs {
            let mut slot = cycle(&backend, config);
            assert_eq!(slot.state, ModuleState::Running, "{:?}", slot.detail);
            let values = slot.read().expect("read");
            assert_eq!(
                values.iter().map(|(q, _)| *q).collect::<Vec<_>>(),
                slot.quantities
            );
        }
    }

    #[test]
    fn a_missing_module_fails_its_probe_with_a_fix() {
        let backend = fake(&[]);
        let cases = [
            (
                ModuleConfig::Bme280 {
                    i2c_bus: 1,
                    address: 0x77,
                    quantities: None,
                },
                "no BME280 at 0x77 on /dev/i2c-1: check the wiring",
            ),
            (
                ModuleConfig::Bme280 {
                    i2c_bus: 3,
                    address: 0x76,
                    quantities: None,
                },
                "/dev/i2c-3 does not exist: enable I2C with `sudo raspi-config`",
            ),
            (
                ModuleConfig::Bh1750 {
                    i2c_bus: 1,
                    address: 0x5c,
                },
                "no BH1750 at 0x5c on /dev/i2c-1",
            ),
            (
                ModuleConfig::Bme280 {
                    i2c_bus: 1,
                    address: 0x23,
                    quantities: None,
                },
                "the chip at 0x23 on /dev/i2c-1 has id 0x00, not a BME280's 0x60",
            ),
        ];
        for (config, want) in cases {
            let slot = cycle(&backend, config);
            assert_eq!(slot.state, ModuleState::Failed);
            let detail = slot.detail.unwrap_or_default();
            assert!(detail.starts_with(want), "{detail}");
        }
    }

    #[test]
    fn a_ds18b20_probe_lists_what_is_there() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("28-0316a2791bff")).expect("mkdir");
        let detail = probe_w1(dir.path(), "28-00000a1b2c3d").expect_err("missing");
        assert!(detail.contains("listed: 28-0316a2791bff"), "{detail}");
        let detail = probe_w1(&dir.path().join("nope"), "28-00000a1b2c3d").expect_err("no 1-wire");
        assert!(detail.contains("enable 1-wire"), "{detail}");
    }

    #[test]
    fn a_bad_sample_fails_the_sample_test_and_a_filter_narrows_the_values() {
        struct Broken;
        impl Sampler for Broken {
            fn sample(&mut self) -> Result<Vec<(Quantity, f64)>, String> {
                Ok(vec![
                    (Quantity::Temperature, -142.5),
                    (Quantity::RelativeHumidity, 0.5),
                ])
            }
        }
        let mut slot = ModuleSlot::new(
            "bme280".into(),
            ModuleConfig::Bme280 {
                i2c_bus: 1,
                address: 0x76,
                quantities: None,
            },
        );
        slot.sampler = Some(Box::new(Broken));
        slot.sample_test();
        assert_eq!(slot.state, ModuleState::Failed);
        assert!(
            slot.detail.as_deref().is_some_and(
                |d| d.starts_with("sample test: temperature -142.5 is outside -40 to 60 °C")
            ),
            "{:?}",
            slot.detail
        );

        let mut slot = ModuleSlot::new(
            "bme280".into(),
            ModuleConfig::Bme280 {
                i2c_bus: 1,
                address: 0x76,
                quantities: Some(vec!["relativeHumidity".into()]),
            },
        );
        slot.sampler = Some(Box::new(Broken));
        slot.sample_test();
        assert_eq!(slot.state, ModuleState::Running, "{:?}", slot.detail);
        assert_eq!(
            slot.read().expect("read"),
            [(Quantity::RelativeHumidity, 0.5)]
        );
    }
}
