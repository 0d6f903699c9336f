//! Bosch BME280 (temperature, humidity, pressure) over I²C, written against embedded-hal 1.0.
//!
//! The driver checks the chip id (0xD0 must read 0x60), soft-resets the chip, reads its factory
//! calibration, and then measures in forced mode: one conversion per [`Bme280::measure`], the
//! chip sleeping in between. That is the datasheet's "weather monitoring" setting (§3.5.1:
//! oversampling ×1 for each quantity, IIR filter off), which draws about 0.16 µA at one reading
//! a minute and needs no timing of our own beyond the 9.3 ms conversion.
//!
//! The compensation formulas (raw ADC counts and calibration in, °C, Pa and %RH out) are written
//! from the BME280 datasheet (BST-BME280-DS002): the double-precision ones of §8.1 are what the
//! driver uses; the integer ones of §4.2.3 (32-bit temperature and humidity, 64-bit pressure)
//! are kept beside them as an independent check, and the tests pin both to the datasheet's
//! published example.

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

/// The value of the chip id register of every BME280.
pub const CHIP_ID: u8 = 0x60;

/// The chip's I²C address when its SDO pin is tied to GND.
pub const ADDRESS_SDO_LOW: u8 = 0x76;

/// The chip's I²C address when its SDO pin is tied to VDDIO.
pub const ADDRESS_SDO_HIGH: u8 = 0x77;

/// Register addresses (datasheet §5.3, memory map).
pub mod register {
    /// First block of calibration data, `dig_T1` to `dig_H1` (26 bytes, 0x88 to 0xA1).
    pub const CALIB_00: u8 = 0x88;
    /// Chip id, reads [`super::CHIP_ID`].
    pub const ID: u8 = 0xD0;
    /// Write [`super::SOFT_RESET`] here to reset the chip.
    pub const RESET: u8 = 0xE0;
    /// Second block of calibration data, `dig_H2` to `dig_H6` (7 bytes, 0xE1 to 0xE7).
    pub const CALIB_26: u8 = 0xE1;
    /// Humidity oversampling; effective only after the next write to `CTRL_MEAS`.
    pub const CTRL_HUM: u8 = 0xF2;
    /// Bit 3: a conversion is running; bit 0: the calibration is being copied from NVM.
    pub const STATUS: u8 = 0xF3;
    /// Temperature and pressure oversampling, and the mode.
    pub const CTRL_MEAS: u8 = 0xF4;
    /// Standby time, IIR filter, 3-wire SPI.
    pub const CONFIG: u8 = 0xF5;
    /// First of the 8 data bytes: pressure (3), temperature (3), humidity (2), 0xF7 to 0xFE.
    pub const DATA: u8 = 0xF7;
}

/// The value that, written to [`register::RESET`], resets the chip.
pub const SOFT_RESET: u8 = 0xB6;

/// Length of the first calibration block.
pub const CALIB_00_LEN: usize = 26;
/// Length of the second calibration block.
pub const CALIB_26_LEN: usize = 7;
/// Length of the data block.
pub const DATA_LEN: usize = 8;

/// `STATUS` bit: a conversion is running.
pub const STATUS_MEASURING: u8 = 0b1000;
/// `STATUS` bit: the calibration is being copied from NVM.
pub const STATUS_IM_UPDATE: u8 = 0b0001;

/// `CTRL_HUM`: humidity oversampling ×1.
const CTRL_HUM_OSRS_X1: u8 = 0b001;
/// `CTRL_MEAS`: temperature ×1 (bits 7:5), pressure ×1 (bits 4:2), sleep mode (bits 1:0).
const CTRL_MEAS_X1_SLEEP: u8 = (0b001 << 5) | (0b001 << 2);
/// `CTRL_MEAS` mode bits for one forced conversion.
const MODE_FORCED: u8 = 0b01;

/// The raw value the chip reports for a temperature or pressure conversion that was skipped.
pub const SKIPPED_20_BIT: i32 = 0x80000;
/// The raw value the chip reports for a humidity conversion that was skipped.
pub const SKIPPED_16_BIT: i32 = 0x8000;

/// Longest conversion at oversampling ×1 for all three quantities, µs (datasheet appendix B:
/// 1.25 + 2.3 + 2.3 + 0.575 + 2.3 + 0.575 ms).
const MEASURE_MAX_US: u32 = 9_300;
/// Start-up time after a reset, µs (datasheet table 1).
const STARTUP_US: u32 = 2_000;
/// How many times the status register is polled, 1 ms apart, before giving up.
const STATUS_POLLS: u32 = 20;

/// The factory calibration of one chip (the `dig_*` trimming parameters, datasheet §4.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // The fields are the datasheet's names.
pub struct Calibration {
    pub t1: u16,
    pub t2: i16,
    pub t3: i16,
    pub p1: u16,
    pub p2: i16,
    pub p3: i16,
    pub p4: i16,
    pub p5: i16,
    pub p6: i16,
    pub p7: i16,
    pub p8: i16,
    pub p9: i16,
    pub h1: u8,
    pub h2: i16,
    pub h3: u8,
    pub h4: i16,
    pub h5: i16,
    pub h6: i8,
}

impl Calibration {
    /// Decodes the two calibration blocks (0x88..=0xA1 and 0xE1..=0xE7).
    ///
    /// Design: `dig_H4` and `dig_H5` are 12-bit signed values packed around a shared byte
    /// (0xE5: low nibble to H4, high nibble to H5); their high bytes are signed, so they are
    /// sign-extended through `i8` before shifting.
    pub fn from_registers(a: &[u8; CALIB_00_LEN], b: &[u8; CALIB_26_LEN]) -> Calibration {
        let u = |i: usize| u16::from_le_bytes([a[i], a[i + 1]]);
        let s = |i: usize| i16::from_le_bytes([a[i], a[i + 1]]);
        Calibration {
            t1: u(0),
            t2: s(2),
            t3: s(4),
            p1: u(6),
            p2: s(8),
            p3: s(10),
            p4: s(12),
            p5: s(14),
            p6: s(16),
            p7: s(18),
            p8: s(20),
            p9: s(22),
            // a[24] (0xA0) is not used.
            h1: a[25],
            h2: i16::from_le_bytes([b[0], b[1]]),
            h3: b[2],
            h4: (i16::from(b[3] as i8) << 4) | i16::from(b[4] & 0x0F),
            h5: (i16::from(b[5] as i8) << 4) | i16::from(b[4] >> 4),
            h6: b[6] as i8,
        }
    }

    /// Encodes the calibration as the chip stores it: the inverse of
    /// [`Calibration::from_registers`] (the fake chip serves these bytes).
    pub fn to_registers(&self) -> ([u8; CALIB_00_LEN], [u8; CALIB_26_LEN]) {
        let mut a = [0u8; CALIB_00_LEN];
        let words = [
            self.t1.to_le_bytes(),
            self.t2.to_le_bytes(),
            self.t3.to_le_bytes(),
            self.p1.to_le_bytes(),
            self.p2.to_le_bytes(),
            self.p3.to_le_bytes(),
            self.p4.to_le_bytes(),
            self.p5.to_le_bytes(),
            self.p6.to_le_bytes(),
            self.p7.to_le_bytes(),
            self.p8.to_le_bytes(),
            self.p9.to_le_bytes(),
        ];
        for (i, w) in words.iter().enumerate() {
            a[2 * i] = w[0];
            a[2 * i + 1] = w[1];
        }
        a[25] = self.h1;
        let h2 = self.h2.to_le_bytes();
        // Truncation to the register's bytes is the encoding: H4 and H5 are 12-bit values.
        let b = [
            h2[0],
            h2[1],
            self.h3,
            (self.h4 >> 4) as u8,
            ((self.h4 & 0x0F) as u8) | (((self.h5 & 0x0F) as u8) << 4),
            (self.h5 >> 4) as u8,
            self.h6 as u8,
        ];
        (a, b)
    }

    /// The example calibration published by Bosch with the temperature and pressure
    /// compensation (BMP280 datasheet §3.12 and the BME280 application examples): with
    /// `adc_T = 519888` and `adc_P = 415148` it gives 25.08 °C and 100653.27 Pa.
    ///
    /// Bosch publishes no humidity example; `h1..h6` here are the values of a real chip
    /// (they give about 50 %RH at 25 °C for `adc_H = 29700`).
    pub const DATASHEET_EXAMPLE: Calibration = Calibration {
        t1: 27504,
        t2: 26435,
        t3: -1000,
        p1: 36477,
        p2: -10685,
        p3: 3024,
        p4: 2855,
        p5: 140,
        p6: -7,
        p7: 15500,
        p8: -14600,
        p9: 6000,
        h1: 75,
        h2: 362,
        h3: 0,
        h4: 313,
        h5: 50,
        h6: 30,
    };
}

/// Raw ADC counts of one conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raw {
    /// Temperature, 20 bits.
    pub adc_t: i32,
    /// Pressure, 20 bits.
    pub adc_p: i32,
    /// Humidity, 16 bits.
    pub adc_h: i32,
}

impl Raw {
    /// Decodes the data block (0xF7..=0xFE): pressure and temperature are 20-bit values,
    /// most significant byte first, the last 4 bits in the high nibble of their `xlsb` byte.
    pub fn from_registers(d: &[u8; DATA_LEN]) -> Raw {
        let twenty = |msb: u8, lsb: u8, xlsb: u8| {
            (i32::from(msb) << 12) | (i32::from(lsb) << 4) | (i32::from(xlsb) >> 4)
        };
        Raw {
            adc_p: twenty(d[0], d[1], d[2]),
            adc_t: twenty(d[3], d[4], d[5]),
            adc_h: (i32::from(d[6]) << 8) | i32::from(d[7]),
        }
    }

    /// Encodes the counts as the chip presents them (for the fake chip).
    pub fn to_registers(&self) -> [u8; DATA_LEN] {
        let twenty = |v: i32| [(v >> 12) as u8, (v >> 4) as u8, ((v & 0x0F) << 4) as u8];
        let p = twenty(self.adc_p);
        let t = twenty(self.adc_t);
        [
            p[0],
            p[1],
            p[2],
            t[0],
            t[1],
            t[2],
            (self.adc_h >> 8) as u8,
            self.adc_h as u8,
        ]
    }
}

/// One compensated measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    /// Air temperature, °C.
    pub temperature_c: f64,
    /// Pressure at the sensor, Pa.
    pub pressure_pa: f64,
    /// Relative humidity, %RH (0 to 100).
    pub humidity_percent: f64,
}

/// Compensates a conversion with the double-precision formulas of the datasheet (§8.1).
pub fn compensate(cal: &Calibration, raw: Raw) -> Measurement {
    let (temperature_c, t_fine) = temperature_double(cal, raw.adc_t);
    Measurement {
        temperature_c,
        pressure_pa: pressure_double(cal, raw.adc_p, t_fine),
        humidity_percent: humidity_double(cal, raw.adc_h, t_fine),
    }
}

/// Temperature in °C, and `t_fine`, the fine temperature the two other formulas take.
pub fn temperature_double(cal: &Calibration, adc_t: i32) -> (f64, i32) {
    let adc = f64::from(adc_t);
    let t1 = f64::from(cal.t1);
    let var1 = (adc / 16384.0 - t1 / 1024.0) * f64::from(cal.t2);
    let d = adc / 131072.0 - t1 / 8192.0;
    let var2 = d * d * f64::from(cal.t3);
    // The datasheet truncates t_fine to an integer (a C cast).
    let t_fine = (var1 + var2) as i32;
    ((var1 + var2) / 5120.0, t_fine)
}

/// Pressure in Pa, at the temperature `t_fine`.
pub fn pressure_double(cal: &Calibration, adc_p: i32, t_fine: i32) -> f64 {
    let mut var1 = f64::from(t_fine) / 2.0 - 64000.0;
    let mut var2 = var1 * var1 * f64::from(cal.p6) / 32768.0;
    var2 += var1 * f64::from(cal.p5) * 2.0;
    var2 = var2 / 4.0 + f64::from(cal.p4) * 65536.0;
    var1 = (f64::from(cal.p3) * var1 * var1 / 524288.0 + f64::from(cal.p2) * var1) / 524288.0;
    var1 = (1.0 + var1 / 32768.0) * f64::from(cal.p1);
    if var1 == 0.0 {
        // A zeroed calibration: the datasheet returns 0 rather than divide by zero.
        return 0.0;
    }
    let mut p = 1048576.0 - f64::from(adc_p);
    p = (p - var2 / 4096.0) * 6250.0 / var1;
    var1 = f64::from(cal.p9) * p * p / 2147483648.0;
    var2 = p * f64::from(cal.p8) / 32768.0;
    p + (var1 + var2 + f64::from(cal.p7)) / 16.0
}

/// Relative humidity in %RH, clamped to 0..=100, at the temperature `t_fine`.
pub fn humidity_double(cal: &Calibration, adc_h: i32, t_fine: i32) -> f64 {
    let var_h = f64::from(t_fine) - 76800.0;
    let var_h = (f64::from(adc_h)
        - (f64::from(cal.h4) * 64.0 + f64::from(cal.h5) / 16384.0 * var_h))
        * (f64::from(cal.h2) / 65536.0
            * (1.0
                + f64::from(cal.h6) / 67108864.0
                    * var_h
                    * (1.0 + f64::from(cal.h3) / 67108864.0 * var_h)));
    let var_h = var_h * (1.0 - f64::from(cal.h1) * var_h / 524288.0);
    var_h.clamp(0.0, 100.0)
}

/// Temperature in hundredths of °C (5123 is 51.23 °C), and `t_fine`: the 32-bit integer
/// formula of the datasheet (§4.2.3).
pub fn temperature_int32(cal: &Calibration, adc_t: i32) -> (i32, i32) {
    let t1 = i32::from(cal.t1);
    let var1 = (((adc_t >> 3) - (t1 << 1)) * i32::from(cal.t2)) >> 11;
    let d = (adc_t >> 4) - t1;
    let var2 = (((d * d) >> 12) * i32::from(cal.t3)) >> 14;
    let t_fine = var1 + var2;
    ((t_fine * 5 + 128) >> 8, t_fine)
}

/// Pressure in Pa as Q24.8 (24674867 is 24674867 / 256 = 96386.2 Pa): the 64-bit integer
/// formula of the datasheet (§4.2.3).
pub fn pressure_int64(cal: &Calibration, adc_p: i32, t_fine: i32) -> u32 {
    let mut var1 = i64::from(t_fine) - 128000;
    let mut var2 = var1 * var1 * i64::from(cal.p6);
    var2 += (var1 * i64::from(cal.p5)) << 17;
    var2 += i64::from(cal.p4) << 35;
    var1 = ((var1 * var1 * i64::from(cal.p3)) >> 8) + ((var1 * i64::from(cal.p2)) << 12);
    var1 = (((1i64 << 47) + var1) * i64::from(cal.p1)) >> 33;
    if var1 == 0 {
        return 0;
    }
    let mut p = 1048576 - i64::from(adc_p);
    p = (((p << 31) - var2) * 3125) / var1;
    var1 = (i64::from(cal.p9) * (p >> 13) * (p >> 13)) >> 25;
    var2 = (i64::from(cal.p8) * p) >> 19;
    p = ((p + var1 + var2) >> 8) + (i64::from(cal.p7) << 4);
    // The formula's result fits 32 bits for every physical input; the datasheet casts likewise.
    p as u32
}

/// Relative humidity in %RH as Q22.10 (47445 is 47445 / 1024 = 46.333 %RH): the 32-bit integer
/// formula of the datasheet (§4.2.3).
pub fn humidity_int32(cal: &Calibration, adc_h: i32, t_fine: i32) -> u32 {
    let x = t_fine - 76800;
    let a = ((adc_h << 14) - (i32::from(cal.h4) << 20) - (i32::from(cal.h5) * x) + 16384) >> 15;
    let b = (((((x * i32::from(cal.h6)) >> 10) * (((x * i32::from(cal.h3)) >> 11) + 32768)) >> 10)
        + 2097152)
        * i32::from(cal.h2)
        + 8192;
    let mut x = a * (b >> 14);
    x -= ((((x >> 15) * (x >> 15)) >> 7) * i32::from(cal.h1)) >> 4;
    let x = x.clamp(0, 419430400);
    (x >> 12) as u32
}

/// What went wrong talking to a BME280.
#[derive(Debug, thiserror::Error)]
pub enum Error<E: core::fmt::Debug> {
    /// The I²C transfer failed (no device at the address, bus error...).
    #[error("I2C transfer failed: {0:?}")]
    Bus(E),
    /// A chip answered, but it is not a BME280 (a BMP280 reads 0x58, a BME680 0x61).
    #[error("the chip id is {found:#04x}, not a BME280's 0x60")]
    WrongChip {
        /// The id read.
        found: u8,
    },
    /// The chip stayed busy (copying its calibration, or converting) past the datasheet's time.
    #[error("the chip stayed busy after {what}")]
    Busy {
        /// What it was doing.
        what: &'static str,
    },
    /// The chip returned the "skipped" value: the conversion did not run.
    #[error("the chip returned no conversion (skipped value)")]
    Skipped,
}

/// A BME280 on an I²C bus.
pub struct Bme280<I, D> {
    i2c: I,
    delay: D,
    address: u8,
    calibration: Calibration,
}

impl<I: I2c, D: DelayNs> Bme280<I, D> {
    /// Probes the chip at `address`: checks its id, resets it, reads its calibration and sets
    /// the weather-monitoring configuration (oversampling ×1, filter off, sleep until asked).
    pub fn new(mut i2c: I, mut delay: D, address: u8) -> Result<Self, Error<I::Error>> {
        let mut id = [0u8];
        i2c.write_read(address, &[register::ID], &mut id)
            .map_err(Error::Bus)?;
        if id[0] != CHIP_ID {
            return Err(Error::WrongChip { found: id[0] });
        }
        i2c.write(address, &[register::RESET, SOFT_RESET])
            .map_err(Error::Bus)?;
        delay.delay_us(STARTUP_US);
        wait_status(&mut i2c, &mut delay, address, STATUS_IM_UPDATE, "a reset")?;

        let mut a = [0u8; CALIB_00_LEN];
        i2c.write_read(address, &[register::CALIB_00], &mut a)
            .map_err(Error::Bus)?;
        let mut b = [0u8; CALIB_26_LEN];
        i2c.write_read(address, &[register::CALIB_26], &mut b)
            .map_err(Error::Bus)?;
        let calibration = Calibration::from_registers(&a, &b);

        // Register/value pairs in one write (datasheet §6.2.1). CTRL_HUM takes effect with the
        // CTRL_MEAS write that follows it.
        i2c.write(
            address,
            &[
                register::CTRL_HUM,
                CTRL_HUM_OSRS_X1,
                register::CONFIG,
                0x00,
                register::CTRL_MEAS,
                CTRL_MEAS_X1_SLEEP,
            ],
        )
        .map_err(Error::Bus)?;
        Ok(Bme280 {
            i2c,
            delay,
            address,
            calibration,
        })
    }

    /// The calibration read from the chip.
    pub fn calibration(&self) -> &Calibration {
        &self.calibration
    }

    /// Runs one forced conversion and returns it compensated.
    pub fn measure(&mut self) -> Result<Measurement, Error<I::Error>> {
        self.i2c
            .write(
                self.address,
                &[register::CTRL_MEAS, CTRL_MEAS_X1_SLEEP | MODE_FORCED],
            )
            .map_err(Error::Bus)?;
        self.delay.delay_us(MEASURE_MAX_US);
        wait_status(
            &mut self.i2c,
            &mut self.delay,
            self.address,
            STATUS_MEASURING,
            "a conversion",
        )?;
        let mut data = [0u8; DATA_LEN];
        self.i2c
            .write_read(self.address, &[register::DATA], &mut data)
            .map_err(Error::Bus)?;
        let raw = Raw::from_registers(&data);
        if raw.adc_t == SKIPPED_20_BIT || raw.adc_p == SKIPPED_20_BIT || raw.adc_h == SKIPPED_16_BIT
        {
            return Err(Error::Skipped);
        }
        Ok(compensate(&self.calibration, raw))
    }
}

/// Polls the status register until `bit` is clear.
fn wait_status<I: I2c, D: DelayNs>(
    i2c: &mut I,
    delay: &mut D,
    address: u8,
    bit: u8,
    what: &'static str,
) -> Result<(), Error<I::Error>> {
    for _ in 0..STATUS_POLLS {
        let mut status = [0u8];
        i2c.write_read(address, &[register::STATUS], &mut status)
            .map_err(Error::Bus)?;
        if status[0] & bit == 0 {
            return Ok(());
        }
        delay.delay_ms(1);
    }
    Err(Error::Busy { what })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{FakeI2c, NoDelay};

    const EXAMPLE: Calibration = Calibration::DATASHEET_EXAMPLE;

    /// The datasheet's worked example (BMP280 datasheet §3.12, the same formulas): adc_T =
    /// 519888 is 25.08 °C with t_fine = 128422, and adc_P = 415148 is 100653.27 Pa, by the
    /// double and the integer formulas alike.
    #[test]
    fn datasheet_example_compensates_to_the_published_values() {
        let (t_int, t_fine_int) = temperature_int32(&EXAMPLE, 519888);
        assert_eq!(t_int, 2508);
        assert_eq!(t_fine_int, 128422);
        let (t, t_fine) = temperature_double(&EXAMPLE, 519888);
        assert!((t - 25.08).abs() < 0.005, "{t}");
        assert_eq!(t_fine, 128422);

        // The datasheet prints 100653.27; the double formula, with t_fine truncated to an
        // integer as its code does, gives 100653.258.
        let p = pressure_double(&EXAMPLE, 415148, t_fine);
        assert!((p - 100653.27).abs() < 0.02, "{p}");
        // The datasheet's table prints 25767236; running its 64-bit formula gives 25767233, as
        // every faithful transcription finds (3/256 Pa apart, the table's own rounding).
        let p_q24_8 = pressure_int64(&EXAMPLE, 415148, t_fine_int);
        assert_eq!(p_q24_8, 25767233);
        assert!((f64::from(p_q24_8) / 256.0 - 100653.27).abs() < 0.02);
    }

    /// The datasheet's documented output formats: 5123 is 51.23 °C, Q24.8 and Q22.10.
    #[test]
    fn integer_formats_read_as_documented() {
        assert_eq!(f64::from(24674867u32) / 256.0, 96386.19921875);
        assert!((f64::from(47445u32) / 1024.0 - 46.333).abs() < 0.001);
    }

    /// The double and the integer formulas are two independent transcriptions of the
    /// datasheet: over the whole weather range they must agree to the integer's resolution.
    #[test]
    fn double_and_integer_formulas_agree_over_the_weather_range() {
        for adc_t in (440_000..=560_000).step_by(4_000) {
            let (t, t_fine) = temperature_double(&EXAMPLE, adc_t);
            let (t_int, t_fine_int) = temperature_int32(&EXAMPLE, adc_t);
            assert!(
                (t - f64::from(t_int) / 100.0).abs() <= 0.01,
                "adc_T {adc_t}"
            );
            assert!((t_fine - t_fine_int).abs() <= 2, "adc_T {adc_t}");
            for adc_p in (300_000..=470_000).step_by(10_000) {
                let p = pressure_double(&EXAMPLE, adc_p, t_fine);
                let p_int = f64::from(pressure_int64(&EXAMPLE, adc_p, t_fine_int)) / 256.0;
                assert!(
                    (p - p_int).abs() < 0.5,
                    "adc_T {adc_t} adc_P {adc_p}: {p} {p_int}"
                );
            }
            for adc_h in (21_000..=40_000).step_by(1_000) {
                let h = humidity_double(&EXAMPLE, adc_h, t_fine);
                let h_int = f64::from(humidity_int32(&EXAMPLE, adc_h, t_fine_int)) / 1024.0;
                assert!(
                    (h - h_int).abs() < 0.05,
                    "adc_T {adc_t} adc_H {adc_h}: {h} {h_int}"
                );
            }
        }
    }

    #[test]
    fn humidity_rises_with_its_count_and_is_clamped() {
        let (_, t_fine) = temperature_double(&EXAMPLE, 519888);
        let h = humidity_double(&EXAMPLE, 29_700, t_fine);
        assert!((45.0..55.0).contains(&h), "{h}");
        assert!(humidity_double(&EXAMPLE, 29_800, t_fine) > h);
        assert_eq!(humidity_double(&EXAMPLE, 0, t_fine), 0.0);
        assert_eq!(humidity_double(&EXAMPLE, 65_535, t_fine), 100.0);
        assert_eq!(humidity_int32(&EXAMPLE, 65_535, t_fine) / 1024, 100);
    }

    #[test]
    fn zeroed_calibration_does_not_divide_by_zero() {
        let zero = Calibration::from_registers(&[0; CALIB_00_LEN], &[0; CALIB_26_LEN]);
        assert_eq!(pressure_double(&zero, 415148, 0), 0.0);
        assert_eq!(pressure_int64(&zero, 415148, 0), 0);
    }

    /// Regression: H4 and H5 share register 0xE5 and have signed high bytes.
    #[test]
    fn calibration_registers_round_trip_with_negative_packed_values() {
        let cal = Calibration {
            h4: -700,
            h5: -3,
            h6: -12,
            ..EXAMPLE
        };
        let (a, b) = cal.to_registers();
        assert_eq!(Calibration::from_registers(&a, &b), cal);
        let (a, b) = EXAMPLE.to_registers();
        assert_eq!(Calibration::from_registers(&a, &b), EXAMPLE);
        // dig_T1 = 27504 = 0x6B70, little-endian at 0x88.
        assert_eq!((a[0], a[1]), (0x70, 0x6B));
        // dig_H4 = 313 = 0x139: 0xE4 = 0x13, low nibble of 0xE5 = 0x9.
        assert_eq!((b[3], b[4] & 0x0F), (0x13, 0x9));
    }

    #[test]
    fn raw_registers_round_trip() {
        let raw = Raw {
            adc_t: 519888,
            adc_p: 415148,
            adc_h: 29700,
        };
        assert_eq!(Raw::from_registers(&raw.to_registers()), raw);
        let skipped = Raw::from_registers(&[0x80, 0, 0, 0x80, 0, 0, 0x80, 0]);
        assert_eq!(
            (skipped.adc_p, skipped.adc_t, skipped.adc_h),
            (SKIPPED_20_BIT, SKIPPED_20_BIT, SKIPPED_16_BIT)
        );
    }

    #[test]
    fn driver_probes_and_measures_the_fake_chip() {
        let bus = FakeI2c::with_standard_devices(1, 7);
        let mut chip = Bme280::new(bus, NoDelay, ADDRESS_SDO_LOW).expect("probe");
        assert_eq!(chip.calibration(), &EXAMPLE);
        for _ in 0..50 {
            let m = chip.measure().expect("measure");
            assert!((-40.0..=60.0).contains(&m.temperature_c), "{m:?}");
            assert!((92_000.0..=108_500.0).contains(&m.pressure_pa), "{m:?}");
            assert!(
                m.humidity_percent > 0.0 && m.humidity_percent <= 100.0,
                "{m:?}"
            );
        }
    }

    #[test]
    fn driver_reports_no_chip_and_wrong_chip() {
        use embedded_hal::i2c::{Error as _, ErrorKind, NoAcknowledgeSource};
        let bus = FakeI2c::with_standard_devices(1, 7);
        match Bme280::new(bus, NoDelay, ADDRESS_SDO_HIGH) {
            Err(Error::Bus(e)) => assert_eq!(
                e.kind(),
                ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address)
            ),
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("a chip where there is none"),
        }
        // The BH1750 at 0x23 answers every read with its last lux count, never 0x60.
        let bus = FakeI2c::with_standard_devices(1, 7);
        assert!(matches!(
            Bme280::new(bus, NoDelay, 0x23),
            Err(Error::WrongChip { .. })
        ));
    }
}
