//! CAN in, by the industry's mapping (issue 16): a car's CAN frames, described by a DBC file,
//! turned into Garonne readings.
//!
//! A DBC file is how every CAN tool (Vector, PEAK, cantools, SavvyCAN) describes the signals a
//! frame carries: which bits, which byte order, the scale and offset to a physical value, its
//! unit and range. Reading it with a maintained parser (`can-dbc`) instead of a table of our own
//! means a racing team brings the file its car already has.
//!
//! This module is pure (no I/O, no clock): text in, values out, so the live path (SocketCAN,
//! the disk queue, MQTT) and a log replay share it.
//!
//! # Layout
//! - [`dbc`]: the signals of a DBC file and the decoding of one frame into physical values.
//! - [`candump`]: the `candump -l` log format, line by line, every bad line counted.
//! - [`profile`]: the Garonne profile of a DBC's signals (`garonne profile from-dbc`).
//! - [`readings`]: frames through a DBC into readings and SenML packs of one device.

pub mod candump;
pub mod dbc;
pub mod profile;
pub mod readings;
