//! The real Raspberry Pi hardware through rppal (cargo feature `rpi`): `/dev/i2c-N` as an
//! embedded-hal 1.0 I²C bus, GPIO lines with edge interrupts, and the kernel's 1-wire folder.
//!
//! Design: the embedded-hal adapter is ours, not rppal's `hal` feature: rppal's
//! `I2c::transaction` runs each operation as its own transfer (a STOP between the register
//! write and the read), while embedded-hal asks for one transfer with repeated starts; here
//! the write-then-read the drivers use goes through `write_read`, one combined `I2C_RDWR`
//! transfer. It also keeps the build free of the embedded-hal 0.2 crates `hal` pulls in.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use embedded_hal::i2c::{ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation};
use rppal::gpio::{Gpio, InputPin, Trigger};

use crate::config::ModuleConfig;
use crate::ds18b20::{Ds18b20, SysfsW1};
use crate::modules::{
    Ds18b20Sampler, I2cPlace, PirSampler, Sampler, i2c_open_detail, open_bh1750, open_bme280,
    probe_w1,
};
use crate::pir::{EdgeInput, Pir};

/// `ENXIO`: the Pi's I²C controller reports an unacknowledged address with it.
const ENXIO: i32 = 6;
/// `EREMOTEIO`: some controllers report an unacknowledged byte with it.
const EREMOTEIO: i32 = 121;

/// Opens a module on the Pi's hardware (the probe).
pub(crate) fn open(module: &ModuleConfig) -> Result<Box<dyn Sampler>, String> {
    match module {
        ModuleConfig::Command {
            program,
            timeout_secs,
            ..
        } => crate::command::open(
            program,
            module.measurable(),
            std::time::Duration::from_secs_f64(*timeout_secs),
        ),
        ModuleConfig::Bme280 {
            i2c_bus, address, ..
        } => open_bme280(RppalI2c::open(*i2c_bus)?, I2cPlace::new(*i2c_bus, *address)),
        ModuleConfig::Bh1750 { i2c_bus, address } => {
            open_bh1750(RppalI2c::open(*i2c_bus)?, I2cPlace::new(*i2c_bus, *address))
        }
        ModuleConfig::Pir { gpio } => {
            let input = RppalPir::open(*gpio).map_err(|e| gpio_open_detail(*gpio, &e))?;
            Ok(Box::new(PirSampler(Pir::new(input))))
        }
        ModuleConfig::Ds18b20 {
            device,
            w1_devices_dir,
        } => {
            probe_w1(w1_devices_dir, device)?;
            Ok(Box::new(Ds18b20Sampler(Ds18b20::new(SysfsW1::new(
                w1_devices_dir,
                device,
            )))))
        }
    }
}

/// `/dev/i2c-N` as an embedded-hal 1.0 bus.
pub struct RppalI2c {
    bus: rppal::i2c::I2c,
}

impl RppalI2c {
    /// Opens bus `bus`; the error is a detail for people.
    fn open(bus: u8) -> Result<RppalI2c, String> {
        match rppal::i2c::I2c::with_bus(bus) {
            Ok(bus) => Ok(RppalI2c { bus }),
            Err(rppal::i2c::Error::Io(e)) => Err(i2c_open_detail(bus, e.kind(), &e.to_string())),
            Err(e) => Err(format!("cannot open /dev/i2c-{bus}: {e}")),
        }
    }
}

/// An rppal I²C error with its embedded-hal kind.
#[derive(Debug)]
pub struct RppalI2cError(rppal::i2c::Error);

impl embedded_hal::i2c::Error for RppalI2cError {
    fn kind(&self) -> ErrorKind {
        match &self.0 {
            rppal::i2c::Error::Io(e) => match e.raw_os_error() {
                Some(ENXIO) => ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address),
                Some(EREMOTEIO) => ErrorKind::NoAcknowledge(NoAcknowledgeSource::Unknown),
                _ => ErrorKind::Other,
            },
            _ => ErrorKind::Other,
        }
    }
}

impl ErrorType for RppalI2c {
    type Error = RppalI2cError;
}

impl I2c for RppalI2c {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), Self::Error> {
        self.bus
            .set_slave_address(u16::from(address))
            .map_err(RppalI2cError)?;
        match operations {
            // One combined transfer, with a repeated start.
            [Operation::Write(write), Operation::Read(read)] => {
                self.bus.write_read(write, read).map_err(RppalI2cError)
            }
            operations => {
                for operation in operations {
                    match operation {
                        Operation::Write(bytes) => {
                            self.bus.write(bytes).map_err(RppalI2cError)?;
                        }
                        Operation::Read(buffer) => {
                            self.bus.read(buffer).map_err(RppalI2cError)?;
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

/// A GPIO input counting rising edges in rppal's interrupt thread.
pub struct RppalPir {
    // Held for its interrupt: dropping the pin stops it.
    _pin: InputPin,
    edges: Arc<AtomicU32>,
}

impl RppalPir {
    /// Opens BCM line `gpio` as an input with its pull-down, counting rising edges.
    fn open(gpio: u8) -> Result<RppalPir, rppal::gpio::Error> {
        let mut pin = Gpio::new()?.get(gpio)?.into_input_pulldown();
        let edges = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&edges);
        pin.set_async_interrupt(Trigger::RisingEdge, None, move |_event| {
            counter.fetch_add(1, Ordering::Relaxed);
        })?;
        Ok(RppalPir { _pin: pin, edges })
    }
}

impl EdgeInput for RppalPir {
    fn take_rising_edges(&mut self) -> u32 {
        self.edges.swap(0, Ordering::Relaxed)
    }
}

/// Why a GPIO line does not open, and the fix.
fn gpio_open_detail(gpio: u8, error: &rppal::gpio::Error) -> String {
    match error {
        rppal::gpio::Error::UnknownModel => format!(
            "cannot open GPIO {gpio}: this is not a Raspberry Pi rppal recognises ({error}); \
             run with --fake-hardware elsewhere"
        ),
        rppal::gpio::Error::PinUsed(_) | rppal::gpio::Error::PinNotAvailable(_) => format!(
            "GPIO {gpio} is not available ({error}): another module or program uses it; wire \
             the PIR to another line"
        ),
        rppal::gpio::Error::PermissionDenied(_) => format!(
            "cannot open GPIO {gpio} (permission denied): add the agent's user to the gpio \
             group (`sudo adduser garonne gpio`)"
        ),
        other => format!("cannot open GPIO {gpio}: {other}"),
    }
}
