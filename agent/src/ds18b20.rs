//! Maxim DS18B20 temperature probe on the 1-wire bus, read through the Linux `w1_therm` driver.
//!
//! With 1-wire enabled (`dtoverlay=w1-gpio`, GPIO 4 by default), the kernel lists each probe as
//! `/sys/bus/w1/devices/28-XXXXXXXXXXXX/` and reading its `w1_slave` file runs one conversion
//! (about 750 ms) and prints the scratchpad twice:
//!
//! ```text
//! 72 01 4b 46 7f ff 0e 10 57 : crc=57 YES
//! 72 01 4b 46 7f ff 0e 10 57 t=23125
//! ```
//!
//! The first line ends in `YES` when the CRC matched; the second carries the temperature in
//! thousandths of °C. A `NO`, the power-on value 85000 (the probe reset or lost power during the
//! conversion) and an all-zero scratchpad (a disconnected data line reads as zeros, whose CRC is
//! zero too) are read errors, never temperatures.

use std::io;
use std::path::{Path, PathBuf};

/// Where the kernel lists 1-wire devices.
pub const SYSFS_DEVICES: &str = "/sys/bus/w1/devices";

/// The DS18B20's power-on register value, 85 °C, in the kernel's millidegrees.
pub const POWER_ON_MILLIDEGREES: i64 = 85_000;

/// Reads a probe's `w1_slave` text.
pub trait W1Source: Send {
    /// One read of `w1_slave` (one conversion).
    fn read_w1_slave(&mut self) -> io::Result<String>;
}

/// A probe's `w1_slave` file under a sysfs-like folder.
#[derive(Debug, Clone)]
pub struct SysfsW1 {
    path: PathBuf,
}

impl SysfsW1 {
    /// The probe `device` (e.g. `28-00000a1b2c3d`) under `devices_dir` (normally
    /// [`SYSFS_DEVICES`]).
    pub fn new(devices_dir: &Path, device: &str) -> SysfsW1 {
        SysfsW1 {
            path: devices_dir.join(device).join("w1_slave"),
        }
    }

    /// The `w1_slave` file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl W1Source for SysfsW1 {
    fn read_w1_slave(&mut self) -> io::Result<String> {
        std::fs::read_to_string(&self.path)
    }
}

/// Why a `w1_slave` text holds no temperature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The CRC of the scratchpad did not match (noise on a long or unshielded cable).
    #[error("CRC mismatch (the first line ends in NO): check the 4.7 kΩ pull-up and the cable")]
    Crc,
    /// The probe answered with its power-on value: it reset during the conversion.
    #[error(
        "85 °C power-on value: the probe lost power during the conversion; check its 3.3 V wire"
    )]
    PowerOn,
    /// Every scratchpad byte is zero: the data line is stuck low or disconnected.
    #[error("all-zero scratchpad: the data line is disconnected or shorted to ground")]
    AllZero,
    /// The text is not what `w1_therm` prints.
    #[error("unexpected w1_slave text: {0}")]
    Malformed(&'static str),
}

/// The temperature in °C of a `w1_slave` text.
pub fn parse_w1_slave(text: &str) -> Result<f64, ReadError> {
    let mut lines = text.lines();
    let crc_line = lines
        .next()
        .ok_or(ReadError::Malformed("empty"))?
        .trim_end();
    let data_line = lines
        .next()
        .ok_or(ReadError::Malformed("no second line"))?
        .trim_end();
    let (bytes, verdict) = crc_line
        .split_once(':')
        .ok_or(ReadError::Malformed("no ':' on the first line"))?;
    if bytes.split_whitespace().all(|b| b == "00") {
        return Err(ReadError::AllZero);
    }
    if verdict.ends_with("NO") {
        return Err(ReadError::Crc);
    }
    if !verdict.ends_with("YES") {
        return Err(ReadError::Malformed(
            "the first line ends in neither YES nor NO",
        ));
    }
    let millis: i64 = data_line
        .rsplit_once("t=")
        .ok_or(ReadError::Malformed("no t= on the second line"))?
        .1
        .parse()
        .map_err(|_| ReadError::Malformed("t= is not a whole number"))?;
    if millis == POWER_ON_MILLIDEGREES {
        return Err(ReadError::PowerOn);
    }
    // The DS18B20 measures -55 to +125 °C; beyond is not a reading.
    if !(-55_000..=125_000).contains(&millis) {
        return Err(ReadError::Malformed(
            "t= is outside the DS18B20's -55 to 125 °C",
        ));
    }
    Ok(millis as f64 / 1000.0)
}

/// What went wrong reading a DS18B20.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `w1_slave` could not be read (probe unplugged, 1-wire disabled).
    #[error("cannot read w1_slave")]
    Io(#[source] io::Error),
    /// `w1_slave` was read but holds no temperature.
    #[error("bad reading")]
    Read(#[source] ReadError),
}

/// A DS18B20 probe.
pub struct Ds18b20<S> {
    source: S,
}

impl<S: W1Source> Ds18b20<S> {
    /// A probe read through `source`.
    pub fn new(source: S) -> Ds18b20<S> {
        Ds18b20 { source }
    }

    /// One conversion, °C.
    pub fn celsius(&mut self) -> Result<f64, Error> {
        let text = self.source.read_w1_slave().map_err(Error::Io)?;
        parse_w1_slave(&text).map_err(Error::Read)
    }
}

/// Whether `id` is a DS18B20's 1-wire id: family code 28, a dash, 12 hex digits.
pub fn is_ds18b20_id(id: &str) -> bool {
    id.strip_prefix("28-")
        .is_some_and(|serial| serial.len() == 12 && serial.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The scratchpad bytes and the `w1_slave` text of a temperature, as `w1_therm` prints them
/// (for the fake probe). The temperature is rounded to the chip's 1/16 °C.
pub fn w1_slave_text(celsius: f64) -> String {
    let raw = (celsius * 16.0).round().clamp(-880.0, 2000.0) as i16;
    let [lsb, msb] = raw.to_le_bytes();
    // TH, TL (alarm registers, 75 and 70 °C), config (12 bits), reserved, reserved, reserved.
    let mut pad = [lsb, msb, 0x4b, 0x46, 0x7f, 0xff, 0x0c, 0x10, 0];
    pad[8] = crc8(&pad[..8]);
    let hex: Vec<String> = pad.iter().map(|b| format!("{b:02x}")).collect();
    let hex = hex.join(" ");
    // The kernel computes t = raw * 1000 / 16 with integer arithmetic.
    let millis = i32::from(raw) * 1000 / 16;
    format!("{hex} : crc={:02x} YES\n{hex} t={millis}\n", pad[8])
}

/// The Dallas/Maxim 1-wire CRC-8 (polynomial x⁸ + x⁵ + x⁴ + 1, reflected).
pub fn crc8(bytes: &[u8]) -> u8 {
    let mut crc = 0u8;
    for &byte in bytes {
        let mut b = byte;
        for _ in 0..8 {
            let mix = (crc ^ b) & 1;
            crc >>= 1;
            if mix != 0 {
                crc ^= 0x8C;
            }
            b >>= 1;
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w1_slave_texts_parse_or_say_why_not() {
        let ok = "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n";
        let cases: &[(&str, Result<f64, ReadError>)] = &[
            (ok, Ok(23.125)),
            (
                "5e ff 4b 46 7f ff 0c 10 1b : crc=1b YES\n5e ff 4b 46 7f ff 0c 10 1b t=-10125\n",
                Ok(-10.125),
            ),
            (
                "00 00 4b 46 7f ff 0c 10 ?? : crc=?? YES\n00 00 4b 46 7f ff 0c 10 ?? t=0\n",
                Ok(0.0),
            ),
            (
                "72 01 4b 46 7f ff 0e 10 57 : crc=00 NO\n72 01 4b 46 7f ff 0e 10 57 t=23125\n",
                Err(ReadError::Crc),
            ),
            (
                "50 05 4b 46 7f ff 0c 10 1c : crc=1c YES\n50 05 4b 46 7f ff 0c 10 1c t=85000\n",
                Err(ReadError::PowerOn),
            ),
            (
                "00 00 00 00 00 00 00 00 00 : crc=00 YES\n00 00 00 00 00 00 00 00 00 t=0\n",
                Err(ReadError::AllZero),
            ),
            ("", Err(ReadError::Malformed("empty"))),
            (
                "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n",
                Err(ReadError::Malformed("no second line")),
            ),
            (
                "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57\n",
                Err(ReadError::Malformed("no t= on the second line")),
            ),
            (
                "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 t=hot\n",
                Err(ReadError::Malformed("t= is not a whole number")),
            ),
            (
                "72 01 4b 46 7f ff 0e 10 57 : crc=57 MAYBE\n72 01 t=1\n",
                Err(ReadError::Malformed(
                    "the first line ends in neither YES nor NO",
                )),
            ),
            (
                "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 t=127000\n",
                Err(ReadError::Malformed(
                    "t= is outside the DS18B20's -55 to 125 °C",
                )),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&parse_w1_slave(text), want, "{text:?}");
        }
    }

    #[test]
    fn crc8_matches_the_kernels_example_and_the_fake_text_parses() {
        // The scratchpad of the module docs: 72 01 4b 46 7f ff 0e 10, CRC 0x57.
        assert_eq!(
            crc8(&[0x72, 0x01, 0x4b, 0x46, 0x7f, 0xff, 0x0e, 0x10]),
            0x57
        );
        let text = w1_slave_text(23.125);
        assert!(text.contains(" t=23125\n"), "{text}");
        assert_eq!(parse_w1_slave(&text), Ok(23.125));
        assert_eq!(parse_w1_slave(&w1_slave_text(-1.0)), Ok(-1.0));
        // 1/16 °C steps, and the kernel's truncating division.
        assert_eq!(parse_w1_slave(&w1_slave_text(19.95)), Ok(19.937));
    }

    #[test]
    fn ds18b20_ids_are_family_28_with_twelve_hex_digits() {
        assert!(is_ds18b20_id("28-00000a1b2c3d"));
        assert!(is_ds18b20_id("28-0316a2791bff"));
        for bad in [
            "10-00000a1b2c3d",
            "28-00000a1b2c3",
            "28-00000a1b2c3g",
            "28_00000a1b2c3d",
            "",
        ] {
            assert!(!is_ds18b20_id(bad), "{bad}");
        }
    }

    #[test]
    fn reads_a_sysfs_folder_and_reports_a_missing_probe() {
        let dir = tempfile::tempdir().expect("temp dir");
        let device = dir.path().join("28-00000a1b2c3d");
        std::fs::create_dir(&device).expect("mkdir");
        std::fs::write(device.join("w1_slave"), w1_slave_text(21.5)).expect("write");
        let mut probe = Ds18b20::new(SysfsW1::new(dir.path(), "28-00000a1b2c3d"));
        assert_eq!(probe.celsius().expect("read"), 21.5);
        let mut missing = Ds18b20::new(SysfsW1::new(dir.path(), "28-000000000000"));
        assert!(matches!(missing.celsius(), Err(Error::Io(_))));
    }
}
