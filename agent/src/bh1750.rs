//! ROHM BH1750FVI ambient light sensor over I²C, written against embedded-hal 1.0.
//!
//! The chip has no id register: the probe is that it acknowledges the power-on command at its
//! address. It then runs in continuous high-resolution mode (1 lx resolution, a new result every
//! 120 ms, at most 180 ms), and a reading is two bytes, most significant first: the count
//! divided by 1.2 is the illuminance in lux (datasheet, "measurement sequence example").

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

/// The chip's address when its ADDR pin is low (or floating on most boards).
pub const ADDRESS_LOW: u8 = 0x23;
/// The chip's address when its ADDR pin is high.
pub const ADDRESS_HIGH: u8 = 0x5C;

/// Instruction opcodes (datasheet, "instruction set architecture").
pub mod opcode {
    /// Power down.
    pub const POWER_DOWN: u8 = 0x00;
    /// Power on, waiting for a measurement command.
    pub const POWER_ON: u8 = 0x01;
    /// Reset the data register (only when powered on).
    pub const RESET: u8 = 0x07;
    /// Continuous high-resolution mode: 1 lx, 120 ms per measurement.
    pub const CONTINUOUS_HIGH_RES: u8 = 0x10;
}

/// Longest high-resolution measurement, ms: the first result is ready after this.
pub const MEASUREMENT_MAX_MS: u32 = 180;

/// Lux from the raw count in high-resolution mode with the default measurement time.
pub fn lux_from_raw(raw: u16) -> f64 {
    f64::from(raw) / 1.2
}

/// A BH1750 on an I²C bus, measuring continuously.
pub struct Bh1750<I> {
    i2c: I,
    address: u8,
}

impl<I: I2c> Bh1750<I> {
    /// Probes the chip at `address` (it must acknowledge power-on), starts continuous
    /// high-resolution measurement, and waits for the first result.
    pub fn new<D: DelayNs>(mut i2c: I, mut delay: D, address: u8) -> Result<Self, I::Error> {
        i2c.write(address, &[opcode::POWER_ON])?;
        i2c.write(address, &[opcode::CONTINUOUS_HIGH_RES])?;
        delay.delay_ms(MEASUREMENT_MAX_MS);
        Ok(Bh1750 { i2c, address })
    }

    /// The latest illuminance, lux.
    pub fn lux(&mut self) -> Result<f64, I::Error> {
        let mut data = [0u8; 2];
        self.i2c.read(self.address, &mut data)?;
        Ok(lux_from_raw(u16::from_be_bytes(data)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{FakeI2c, NoDelay};

    #[test]
    fn lux_is_the_count_over_1_2() {
        // The datasheet's example: 0x83 0x90 = 33680 counts = 28067 lx.
        assert!((lux_from_raw(0x8390) - 28066.67).abs() < 0.01);
        assert_eq!(lux_from_raw(0), 0.0);
        assert_eq!(lux_from_raw(120), 100.0);
        assert!((lux_from_raw(u16::MAX) - 54612.5).abs() < 1e-9);
    }

    #[test]
    fn driver_reads_the_fake_chip_and_misses_an_empty_address() {
        let bus = FakeI2c::with_standard_devices(1, 3);
        let mut chip = Bh1750::new(bus.clone(), NoDelay, ADDRESS_LOW).expect("probe");
        for _ in 0..50 {
            let lux = chip.lux().expect("read");
            assert!((0.0..=200_000.0).contains(&lux), "{lux}");
        }
        assert!(Bh1750::new(bus, NoDelay, ADDRESS_HIGH).is_err());
    }
}
