//! `--fake-hardware`: the Pi's buses simulated, so the same agent and the same drivers run on
//! any machine and in tests.
//!
//! The fake Pi has, on I²C bus 1, a BME280 at 0x76 (its registers modelled: chip id, reset,
//! the datasheet's example calibration, forced and normal modes, the status bits) and a BH1750
//! at 0x23; every other address answers with a NACK, every other bus does not exist. Any BCM
//! line 2 to 27 opens, with a PIR on it that fires now and then. A DS18B20 probe is written as
//! a real `w1_slave` file (scratchpad, CRC, `t=`) into a temporary sysfs-like folder before
//! each read, and read back by the ordinary sysfs reader. Values drift slowly (bounded random
//! walks) so readings change and stay in range. Everything is seeded: the same seed gives the
//! same readings.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::{ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::bh1750;
use crate::bme280::{self, Calibration, Raw, register};
use crate::ds18b20::{self, SysfsW1, W1Source};
use crate::pir::EdgeInput;

/// The I²C bus the fake Pi has (the Pi's user bus, `/dev/i2c-1`).
pub const FAKE_I2C_BUS: u8 = 1;

/// A delay that returns at once, for tests of the drivers on the fake bus.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDelay;

impl DelayNs for NoDelay {
    fn delay_ns(&mut self, _ns: u32) {}
}

/// An I²C error of the fake bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FakeI2cError(ErrorKind);

impl embedded_hal::i2c::Error for FakeI2cError {
    fn kind(&self) -> ErrorKind {
        self.0
    }
}

/// A device on the fake bus: it sees the bytes written and fills the bytes read.
trait FakeDevice: Send {
    fn write(&mut self, bytes: &[u8]);
    fn read(&mut self, buffer: &mut [u8]);
}

/// A fake I²C bus; clones share the devices, as two drivers share one real bus.
#[derive(Clone)]
pub struct FakeI2c {
    devices: Arc<Mutex<BTreeMap<u8, Box<dyn FakeDevice>>>>,
}

impl FakeI2c {
    /// A bus with the fake Pi's devices: a BME280 at 0x76 and a BH1750 at 0x23, seeded.
    pub fn with_standard_devices(bus: u8, seed: u64) -> FakeI2c {
        let mut devices: BTreeMap<u8, Box<dyn FakeDevice>> = BTreeMap::new();
        devices.insert(
            bme280::ADDRESS_SDO_LOW,
            Box::new(FakeBme280::new(derive_seed(seed, "bme280", bus))),
        );
        devices.insert(
            bh1750::ADDRESS_LOW,
            Box::new(FakeBh1750::new(derive_seed(seed, "bh1750", bus))),
        );
        FakeI2c {
            devices: Arc::new(Mutex::new(devices)),
        }
    }
}

impl ErrorType for FakeI2c {
    type Error = FakeI2cError;
}

impl I2c for FakeI2c {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), Self::Error> {
        let mut devices = self.devices.lock().unwrap_or_else(PoisonError::into_inner);
        let device = devices
            .get_mut(&address)
            .ok_or(FakeI2cError(ErrorKind::NoAcknowledge(
                NoAcknowledgeSource::Address,
            )))?;
        for operation in operations {
            match operation {
                Operation::Write(bytes) => device.write(bytes),
                Operation::Read(buffer) => device.read(buffer),
            }
        }
        Ok(())
    }
}

/// A value that wanders between bounds by small random steps.
struct Walk {
    value: f64,
    min: f64,
    max: f64,
    step: f64,
}

impl Walk {
    fn new(start: f64, spread: f64, step: f64) -> Walk {
        Walk {
            value: start,
            min: start - spread,
            max: start + spread,
            step,
        }
    }

    fn next(&mut self, rng: &mut ChaCha8Rng) -> f64 {
        self.value =
            (self.value + rng.random_range(-self.step..=self.step)).clamp(self.min, self.max);
        self.value
    }
}

/// The BME280's registers, and ADC counts that drift around the datasheet's example
/// (25 °C, 1006.5 hPa) and about 50 %RH: from about 22.5 to 27.6 °C, 986 to 1027 hPa and
/// 33 to 67 %RH.
struct FakeBme280 {
    registers: [u8; 256],
    pointer: u8,
    /// CTRL_HUM as latched by the last CTRL_MEAS write (datasheet §5.4.3).
    humidity_oversampling: u8,
    /// Status reads left that report "copying calibration" (after a reset).
    im_update_reads: u8,
    /// Status reads left that report "measuring" (after a forced conversion starts).
    measuring_reads: u8,
    adc_t: Walk,
    adc_p: Walk,
    adc_h: Walk,
    rng: ChaCha8Rng,
}

impl FakeBme280 {
    fn new(seed: u64) -> FakeBme280 {
        let mut fake = FakeBme280 {
            registers: [0; 256],
            pointer: 0,
            humidity_oversampling: 0,
            im_update_reads: 0,
            measuring_reads: 0,
            adc_t: Walk::new(519_888.0, 8_000.0, 150.0),
            adc_p: Walk::new(415_148.0, 12_000.0, 300.0),
            adc_h: Walk::new(29_700.0, 3_000.0, 60.0),
            rng: ChaCha8Rng::seed_from_u64(seed),
        };
        fake.registers[usize::from(register::ID)] = bme280::CHIP_ID;
        let (a, b) = Calibration::DATASHEET_EXAMPLE.to_registers();
        let calib_00 = usize::from(register::CALIB_00);
        fake.registers[calib_00..calib_00 + a.len()].copy_from_slice(&a);
        let calib_26 = usize::from(register::CALIB_26);
        fake.registers[calib_26..calib_26 + b.len()].copy_from_slice(&b);
        fake.reset();
        fake
    }

    fn reset(&mut self) {
        for r in [register::CTRL_HUM, register::CTRL_MEAS, register::CONFIG] {
            self.registers[usize::from(r)] = 0;
        }
        self.humidity_oversampling = 0;
        self.store(Raw {
            adc_t: bme280::SKIPPED_20_BIT,
            adc_p: bme280::SKIPPED_20_BIT,
            adc_h: bme280::SKIPPED_16_BIT,
        });
        self.im_update_reads = 1;
    }

    fn store(&mut self, raw: Raw) {
        let data = usize::from(register::DATA);
        self.registers[data..data + bme280::DATA_LEN].copy_from_slice(&raw.to_registers());
    }

    fn mode(&self) -> u8 {
        self.registers[usize::from(register::CTRL_MEAS)] & 0b11
    }

    /// One conversion: a quantity whose oversampling is 0 is skipped, as on the chip.
    fn convert(&mut self) {
        let ctrl_meas = self.registers[usize::from(register::CTRL_MEAS)];
        let t = self.adc_t.next(&mut self.rng).round() as i32;
        let p = self.adc_p.next(&mut self.rng).round() as i32;
        let h = self.adc_h.next(&mut self.rng).round() as i32;
        self.store(Raw {
            adc_t: if ctrl_meas >> 5 == 0 {
                bme280::SKIPPED_20_BIT
            } else {
                t
            },
            adc_p: if (ctrl_meas >> 2) & 0b111 == 0 {
                bme280::SKIPPED_20_BIT
            } else {
                p
            },
            adc_h: if self.humidity_oversampling == 0 {
                bme280::SKIPPED_16_BIT
            } else {
                h
            },
        });
    }

    fn write_register(&mut self, reg: u8, value: u8) {
        match reg {
            register::RESET if value == bme280::SOFT_RESET => self.reset(),
            register::CTRL_HUM => self.registers[usize::from(reg)] = value & 0b111,
            register::CONFIG => self.registers[usize::from(reg)] = value,
            register::CTRL_MEAS => {
                self.registers[usize::from(reg)] = value;
                self.humidity_oversampling = self.registers[usize::from(register::CTRL_HUM)];
                match value & 0b11 {
                    0b01 | 0b10 => {
                        self.convert();
                        self.measuring_reads = 1;
                        // Back to sleep once the forced conversion is done.
                        self.registers[usize::from(reg)] = value & !0b11;
                    }
                    0b11 => self.convert(),
                    _ => {}
                }
            }
            // Read-only registers ignore writes.
            _ => {}
        }
    }
}

impl FakeDevice for FakeBme280 {
    fn write(&mut self, bytes: &[u8]) {
        // A lone byte sets the register pointer; longer writes are register/value pairs.
        let mut pairs = bytes.chunks_exact(2);
        for pair in pairs.by_ref() {
            self.write_register(pair[0], pair[1]);
        }
        if let [reg] = pairs.remainder() {
            self.pointer = *reg;
        }
    }

    fn read(&mut self, buffer: &mut [u8]) {
        if self.pointer == register::STATUS {
            let mut status = 0;
            if self.im_update_reads > 0 {
                self.im_update_reads -= 1;
                status |= bme280::STATUS_IM_UPDATE;
            }
            if self.measuring_reads > 0 {
                self.measuring_reads -= 1;
                status |= bme280::STATUS_MEASURING;
            }
            self.registers[usize::from(register::STATUS)] = status;
        }
        if self.pointer == register::DATA && self.mode() == 0b11 {
            self.convert();
        }
        for byte in buffer {
            *byte = self.registers[usize::from(self.pointer)];
            self.pointer = self.pointer.wrapping_add(1);
        }
    }
}

/// The BH1750: power state, mode, and an illuminance drifting between 50 and 1050 lx.
struct FakeBh1750 {
    powered: bool,
    measuring: bool,
    count: u16,
    lux: Walk,
    rng: ChaCha8Rng,
}

impl FakeBh1750 {
    fn new(seed: u64) -> FakeBh1750 {
        FakeBh1750 {
            powered: false,
            measuring: false,
            count: 0,
            lux: Walk::new(550.0, 500.0, 25.0),
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }
}

impl FakeDevice for FakeBh1750 {
    fn write(&mut self, bytes: &[u8]) {
        for &op in bytes {
            match op {
                bh1750::opcode::POWER_DOWN => {
                    self.powered = false;
                    self.measuring = false;
                }
                bh1750::opcode::POWER_ON => self.powered = true,
                bh1750::opcode::RESET if self.powered => self.count = 0,
                bh1750::opcode::CONTINUOUS_HIGH_RES if self.powered => self.measuring = true,
                // Other modes and unknown opcodes are not modelled.
                _ => {}
            }
        }
    }

    fn read(&mut self, buffer: &mut [u8]) {
        if self.measuring {
            let lux = self.lux.next(&mut self.rng);
            self.count = (lux * 1.2).round() as u16;
        }
        let bytes = self.count.to_be_bytes();
        for (i, byte) in buffer.iter_mut().enumerate() {
            *byte = bytes.get(i).copied().unwrap_or(0xFF);
        }
    }
}

/// A PIR on a fake GPIO line: about one reading in four sees one to three rising edges.
pub struct FakePir {
    rng: ChaCha8Rng,
}

impl EdgeInput for FakePir {
    fn take_rising_edges(&mut self) -> u32 {
        if self.rng.random_bool(0.25) {
            self.rng.random_range(1..=3)
        } else {
            0
        }
    }
}

/// A DS18B20 whose `w1_slave` file the fake writes (atomically) before each read; the read
/// itself is the ordinary [`SysfsW1`] reader's. The temperature drifts around 18 °C.
pub struct FakeW1 {
    file: PathBuf,
    reader: SysfsW1,
    celsius: Walk,
    rng: ChaCha8Rng,
}

impl W1Source for FakeW1 {
    fn read_w1_slave(&mut self) -> io::Result<String> {
        let celsius = self.celsius.next(&mut self.rng);
        write_atomically(&self.file, ds18b20::w1_slave_text(celsius).as_bytes())?;
        self.reader.read_w1_slave()
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// The fake Pi of one agent run: its I²C bus, GPIO lines and 1-wire folder. The folder is a
/// fresh temporary directory, removed when the world is dropped.
pub struct FakeWorld {
    seed: u64,
    bus: FakeI2c,
    w1_dir: PathBuf,
}

impl FakeWorld {
    /// A fake Pi with the standard devices, and the DS18B20 probes `devices` plugged in.
    pub fn new(seed: u64, devices: &[&str]) -> io::Result<FakeWorld> {
        static RUN: AtomicU64 = AtomicU64::new(0);
        let w1_dir = std::env::temp_dir().join(format!(
            "garonne-pi-fake-w1-{}-{}",
            std::process::id(),
            RUN.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&w1_dir)?;
        let world = FakeWorld {
            seed,
            bus: FakeI2c::with_standard_devices(FAKE_I2C_BUS, seed),
            w1_dir,
        };
        for device in devices {
            let folder = world.w1_dir.join(device);
            std::fs::create_dir_all(&folder)?;
            write_atomically(
                &folder.join("w1_slave"),
                ds18b20::w1_slave_text(18.0).as_bytes(),
            )?;
        }
        Ok(world)
    }

    /// Opens I²C bus `bus`: only bus 1 exists.
    pub fn i2c(&self, bus: u8) -> io::Result<FakeI2c> {
        if bus == FAKE_I2C_BUS {
            Ok(self.bus.clone())
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("/dev/i2c-{bus}: no such file or directory"),
            ))
        }
    }

    /// Opens BCM line `gpio` with a PIR on it (lines 2 to 27 exist).
    pub fn pir(&self, gpio: u8) -> io::Result<FakePir> {
        if !(2..=27).contains(&gpio) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("GPIO {gpio} is not a line of the 40-pin header"),
            ));
        }
        Ok(FakePir {
            rng: ChaCha8Rng::seed_from_u64(derive_seed(self.seed, "pir", gpio)),
        })
    }

    /// The sysfs-like folder the fake DS18B20 probes are written to.
    pub fn w1_devices_dir(&self) -> &Path {
        &self.w1_dir
    }

    /// The probe `device` (its folder must exist: see [`FakeWorld::new`]).
    pub fn w1(&self, device: &str) -> FakeW1 {
        let salt = device
            .bytes()
            .fold(0u8, |a, b| a.wrapping_mul(31).wrapping_add(b));
        FakeW1 {
            file: self.w1_dir.join(device).join("w1_slave"),
            reader: SysfsW1::new(&self.w1_dir, device),
            celsius: Walk::new(18.0, 4.0, 0.1),
            rng: ChaCha8Rng::seed_from_u64(derive_seed(self.seed, "ds18b20", salt)),
        }
    }
}

impl Drop for FakeWorld {
    fn drop(&mut self) {
        // Best effort: a leftover folder in the temp dir harms nothing.
        let _ = std::fs::remove_dir_all(&self.w1_dir);
    }
}

/// A seed per device, so adding a device does not change the others' values.
fn derive_seed(seed: u64, device: &str, index: u8) -> u64 {
    let mut h = seed ^ 0x9E37_79B9_7F4A_7C15;
    for b in device.bytes().chain([index]) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bme280::Bme280;
    use crate::ds18b20::Ds18b20;

    #[test]
    fn the_same_seed_gives_the_same_readings() {
        let run = |seed| {
            let mut chip =
                Bme280::new(FakeI2c::with_standard_devices(1, seed), NoDelay, 0x76).expect("probe");
            (0..20)
                .map(|_| chip.measure().expect("measure").temperature_c)
                .collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
        let values = run(5);
        assert!(
            values.windows(2).any(|w| w[0] != w[1]),
            "values drift: {values:?}"
        );
    }

    #[test]
    fn forced_mode_reports_measuring_then_returns_to_sleep() {
        let mut bus = FakeI2c::with_standard_devices(1, 1);
        let mut status = [0u8];
        bus.write_read(0x76, &[register::STATUS], &mut status)
            .expect("read");
        assert_eq!(
            status[0],
            bme280::STATUS_IM_UPDATE,
            "copying after power-on"
        );
        bus.write(0x76, &[register::CTRL_HUM, 1, register::CTRL_MEAS, 0x25])
            .expect("write");
        bus.write_read(0x76, &[register::STATUS], &mut status)
            .expect("read");
        assert_eq!(status[0], bme280::STATUS_MEASURING);
        bus.write_read(0x76, &[register::STATUS], &mut status)
            .expect("read");
        assert_eq!(status[0], 0);
        let mut ctrl = [0u8];
        bus.write_read(0x76, &[register::CTRL_MEAS], &mut ctrl)
            .expect("read");
        assert_eq!(ctrl[0], 0x24, "sleep mode after the forced conversion");
    }

    #[test]
    fn humidity_skipped_without_its_oversampling() {
        let mut bus = FakeI2c::with_standard_devices(1, 1);
        bus.write(0x76, &[register::CTRL_MEAS, 0x25])
            .expect("write");
        let mut data = [0u8; bme280::DATA_LEN];
        bus.write_read(0x76, &[register::DATA], &mut data)
            .expect("read");
        let raw = Raw::from_registers(&data);
        assert_eq!(raw.adc_h, bme280::SKIPPED_16_BIT);
        assert_ne!(raw.adc_t, bme280::SKIPPED_20_BIT);
    }

    #[test]
    fn the_fake_world_has_bus_1_lines_2_to_27_and_its_probes() {
        let world = FakeWorld::new(3, &["28-00000a1b2c3d"]).expect("world");
        assert!(world.i2c(1).is_ok());
        assert_eq!(
            world.i2c(0).err().map(|e| e.kind()),
            Some(io::ErrorKind::NotFound)
        );
        assert!(world.pir(17).is_ok());
        assert!(world.pir(40).is_err());
        let mut probe = Ds18b20::new(world.w1("28-00000a1b2c3d"));
        for _ in 0..20 {
            let c = probe.celsius().expect("read");
            assert!((14.0..=22.0).contains(&c), "{c}");
        }
        let dir = world.w1_devices_dir().to_owned();
        assert!(dir.join("28-00000a1b2c3d/w1_slave").exists());
        drop(world);
        assert!(!dir.exists(), "the temporary folder is removed");
    }
}
