//! The signals of a DBC file, and the decoding of one CAN frame into physical values.
//!
//! The file is parsed by the `can-dbc` crate; this module keeps what decoding needs (each
//! message's id, size and signals: start bit, length, byte order, sign, scale, offset, range,
//! unit, comment, multiplexing) in types of our own, checked once at load: every signal's bits
//! must lie inside its message, so decoding a frame of the right size never fails.
//!
//! Bit numbering is the DBC's: bit `n` is bit `n % 8` of byte `n / 8`. An Intel (little-endian,
//! `@1`) signal starts at its least significant bit and runs upwards; a Motorola (big-endian,
//! `@0`) signal starts at its most significant bit and runs down each byte, then on to the most
//! significant bit of the next byte (the "sawtooth" every DBC tool uses).
//!
//! Multiplexing: a multiplexed signal (`m3`) is decoded only when the message's multiplexor
//! (`M`) has that value. Extended multiplexing (`SG_MUL_VAL_`) is not supported: a signal that is
//! both multiplexed and a multiplexor (`m3M`) is decoded as multiplexed only.

use std::collections::HashMap;
use std::fmt;

use can_dbc::{
    ByteOrder as DbcByteOrder, Comment, Dbc, MessageId, MultiplexIndicator, NumericValue,
    SignalExtendedValueType, ValueType,
};

/// A CAN identifier: 11 bits (standard) or 29 bits (extended). The two spaces are distinct:
/// standard 0x123 is not extended 0x00000123.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CanId {
    /// The identifier, without flags.
    pub id: u32,
    /// Whether it is a 29-bit identifier.
    pub extended: bool,
}

impl CanId {
    /// A standard (11-bit) identifier.
    pub fn standard(id: u16) -> CanId {
        CanId {
            id: u32::from(id),
            extended: false,
        }
    }

    /// An extended (29-bit) identifier.
    pub fn extended(id: u32) -> CanId {
        CanId { id, extended: true }
    }
}

impl From<MessageId> for CanId {
    fn from(id: MessageId) -> CanId {
        match id {
            MessageId::Standard(id) => CanId::standard(id),
            MessageId::Extended(id) => CanId::extended(id),
        }
    }
}

impl fmt::Display for CanId {
    /// As candump writes it: 3 hex digits for a standard id, 8 for an extended one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.extended {
            write!(f, "0x{:08X}", self.id)
        } else {
            write!(f, "0x{:03X}", self.id)
        }
    }
}

/// How a signal's bits are laid out in the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteOrder {
    /// Little-endian (`@1`): the start bit is the least significant bit.
    Intel,
    /// Big-endian (`@0`): the start bit is the most significant bit.
    Motorola,
}

/// How a signal's raw bits read as a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawKind {
    /// An unsigned integer (`+`).
    Unsigned,
    /// A two's-complement signed integer (`-`).
    Signed,
    /// An IEEE 754 single (`SIG_VALTYPE_ ... : 1`), 32 bits.
    Float32,
    /// An IEEE 754 double (`SIG_VALTYPE_ ... : 2`), 64 bits.
    Float64,
}

/// When a signal is present in its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Multiplex {
    /// Always.
    Plain,
    /// Always: it is the message's multiplexor, whose value says which multiplexed signals the
    /// frame carries.
    Multiplexor,
    /// Only when the multiplexor's raw value is this one.
    When(u64),
}

/// One signal of a DBC message.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    /// The signal's name in the DBC (a C identifier, unique within its message).
    pub name: String,
    /// The id of its message.
    pub message_id: CanId,
    /// The name of its message.
    pub message_name: String,
    /// The DBC start bit (see the module doc for the numbering).
    pub start_bit: u32,
    /// Its length in bits, 1 to 64.
    pub length: u32,
    /// Its byte order.
    pub byte_order: ByteOrder,
    /// How its raw bits read.
    pub kind: RawKind,
    /// Physical value = raw × factor + offset.
    pub factor: f64,
    /// Physical value = raw × factor + offset.
    pub offset: f64,
    /// The smallest physical value, as the DBC gives it (often 0 with `max` 0: "not given").
    pub min: f64,
    /// The largest physical value, as the DBC gives it.
    pub max: f64,
    /// The unit as the DBC writes it (`km/h`, `degC`, `"%"`, often empty).
    pub unit: String,
    /// The signal's DBC comment (`CM_ SG_`), if any.
    pub comment: Option<String>,
    /// When the signal is present.
    pub multiplex: Multiplex,
}

impl Signal {
    /// The frame bit positions of the signal, most significant first for Motorola, least
    /// significant first for Intel.
    fn bits(&self) -> impl Iterator<Item = u32> + '_ {
        let motorola = self.byte_order == ByteOrder::Motorola;
        std::iter::successors(Some(self.start_bit), move |&pos| {
            Some(match (motorola, pos % 8) {
                (true, 0) => pos + 15,
                (true, _) => pos - 1,
                (false, _) => pos + 1,
            })
        })
        .take(self.length as usize)
    }

    /// The signal's raw bits in `data`, or `None` if `data` is too short for them.
    pub fn raw(&self, data: &[u8]) -> Option<u64> {
        let mut raw = 0u64;
        for (i, pos) in self.bits().enumerate() {
            let bit = u64::from((data.get(pos as usize / 8)? >> (pos % 8)) & 1);
            raw |= match self.byte_order {
                ByteOrder::Intel => bit << i,
                ByteOrder::Motorola => bit << (self.length as usize - 1 - i),
            };
        }
        Some(raw)
    }

    /// The physical value of raw bits: read by [`RawKind`], then × factor + offset.
    pub fn physical(&self, raw: u64) -> f64 {
        let number = match self.kind {
            RawKind::Unsigned => raw as f64,
            RawKind::Signed => {
                let unused = 64 - self.length;
                (((raw << unused) as i64) >> unused) as f64
            }
            RawKind::Float32 => f64::from(f32::from_bits(raw as u32)),
            RawKind::Float64 => f64::from_bits(raw),
        };
        number * self.factor + self.offset
    }

    /// The physical value of the signal in `data`, or `None` if `data` is too short.
    pub fn decode(&self, data: &[u8]) -> Option<f64> {
        self.raw(data).map(|raw| self.physical(raw))
    }

    /// The physical values the raw bits can express, smallest first: the range of a signal
    /// whose DBC range says nothing.
    pub fn raw_range(&self) -> (f64, f64) {
        let (low, high) = match self.kind {
            RawKind::Unsigned => (0.0, (2f64).powi(self.length as i32) - 1.0),
            RawKind::Signed => {
                let half = (2f64).powi(self.length as i32 - 1);
                (-half, half - 1.0)
            }
            RawKind::Float32 => (-f64::from(f32::MAX), f64::from(f32::MAX)),
            RawKind::Float64 => (-f64::MAX, f64::MAX),
        };
        let (a, b) = match self.kind {
            // Scaling the largest doubles would overflow: a float's range is its own.
            RawKind::Float32 | RawKind::Float64 => (low, high),
            _ => (
                low * self.factor + self.offset,
                high * self.factor + self.offset,
            ),
        };
        (a.min(b), a.max(b))
    }
}

/// One message (frame layout) of a DBC.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Its CAN id.
    pub id: CanId,
    /// Its name.
    pub name: String,
    /// Its size in bytes (the DLC; up to 64 for CAN FD).
    pub size: usize,
    /// Its signals, in file order.
    pub signals: Vec<Signal>,
}

/// A DBC file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DbcError {
    /// The text is not a DBC file.
    #[error("the DBC file cannot be parsed")]
    Parse(#[source] can_dbc::DbcError),
    /// Two messages share an id.
    #[error("messages {first} and {second} both have id {id}")]
    DuplicateId {
        /// The id.
        id: CanId,
        /// The first message's name.
        first: String,
        /// The second message's name.
        second: String,
    },
    /// A signal that cannot be decoded as declared.
    #[error("signal {signal} of message {message} ({id}): {problem}")]
    Signal {
        /// The message's id.
        id: CanId,
        /// The message's name.
        message: String,
        /// The signal's name.
        signal: String,
        /// What is wrong, and how to fix it.
        problem: String,
    },
}

/// A frame that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The DBC has no message of this id.
    #[error("no message of id {0} in the DBC")]
    UnknownId(CanId),
    /// The frame is shorter than its message.
    #[error("frame {id} has {got} bytes, its message {message} has {expected}")]
    Short {
        /// The frame's id.
        id: CanId,
        /// The message's name.
        message: String,
        /// The message's size.
        expected: usize,
        /// The frame's length.
        got: usize,
    },
}

/// The messages of a DBC file, ready to decode frames.
#[derive(Debug, Clone)]
pub struct CanDb {
    messages: Vec<Message>,
    by_id: HashMap<CanId, usize>,
}

impl CanDb {
    /// Parses a DBC file's text and checks that every signal is decodable.
    pub fn parse(text: &str) -> Result<CanDb, DbcError> {
        let dbc = Dbc::try_from(text).map_err(DbcError::Parse)?;
        let mut db = CanDb {
            messages: Vec::with_capacity(dbc.messages.len()),
            by_id: HashMap::new(),
        };
        for message in &dbc.messages {
            let message = convert_message(&dbc, message)?;
            if let Some(&at) = db.by_id.get(&message.id) {
                return Err(DbcError::DuplicateId {
                    id: message.id,
                    first: db.messages[at].name.clone(),
                    second: message.name,
                });
            }
            db.by_id.insert(message.id, db.messages.len());
            db.messages.push(message);
        }
        Ok(db)
    }

    /// The messages, in file order.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// Every signal of every message, in file order.
    pub fn signals(&self) -> impl Iterator<Item = &Signal> {
        self.messages.iter().flat_map(|m| m.signals.iter())
    }

    /// The message of this id, if the DBC has one.
    pub fn message(&self, id: CanId) -> Option<&Message> {
        self.by_id.get(&id).map(|&at| &self.messages[at])
    }

    /// The physical value of each signal a frame carries, in the message's signal order: all
    /// its plain signals, its multiplexor, and the multiplexed signals the multiplexor selects.
    /// Bytes past the message's size are ignored.
    pub fn decode(&self, id: CanId, data: &[u8]) -> Result<Vec<(&Signal, f64)>, DecodeError> {
        let message = self.message(id).ok_or(DecodeError::UnknownId(id))?;
        if data.len() < message.size {
            return Err(DecodeError::Short {
                id,
                message: message.name.clone(),
                expected: message.size,
                got: data.len(),
            });
        }
        // Checked at load: every signal's bits lie within the message's size.
        let raw = |s: &Signal| s.raw(data).unwrap_or(0);
        let selector = message
            .signals
            .iter()
            .find(|s| s.multiplex == Multiplex::Multiplexor)
            .map(raw);
        Ok(message
            .signals
            .iter()
            .filter(|s| match s.multiplex {
                Multiplex::Plain | Multiplex::Multiplexor => true,
                Multiplex::When(value) => selector == Some(value),
            })
            .map(|s| (s, s.physical(raw(s))))
            .collect())
    }
}

fn convert_message(dbc: &Dbc, message: &can_dbc::Message) -> Result<Message, DbcError> {
    let id = CanId::from(message.id);
    let size = message.size as usize;
    let signals = message
        .signals
        .iter()
        .map(|s| convert_signal(dbc, message, s))
        .collect::<Result<Vec<_>, _>>()?;
    for signal in &signals {
        let problem = |problem: String| DbcError::Signal {
            id,
            message: message.name.clone(),
            signal: signal.name.clone(),
            problem,
        };
        if !(1..=64).contains(&signal.length) {
            return Err(problem(format!(
                "{} bits long; a decodable signal has 1 to 64",
                signal.length
            )));
        }
        if let Some(pos) = signal.bits().find(|&pos| pos as usize >= size * 8) {
            return Err(problem(format!(
                "bit {pos} is outside the message's {size} bytes; check its start bit, length \
                 and byte order (@0 Motorola, @1 Intel)"
            )));
        }
        let float_length = match signal.kind {
            RawKind::Float32 => Some(32),
            RawKind::Float64 => Some(64),
            _ => None,
        };
        if float_length.is_some_and(|bits| bits != signal.length) {
            return Err(problem(format!(
                "declared a float (SIG_VALTYPE_) but {} bits long",
                signal.length
            )));
        }
    }
    Ok(Message {
        id,
        name: message.name.clone(),
        size,
        signals,
    })
}

fn convert_signal(
    dbc: &Dbc,
    message: &can_dbc::Message,
    s: &can_dbc::Signal,
) -> Result<Signal, DbcError> {
    let id = CanId::from(message.id);
    let kind = match (
        dbc.extended_value_type_for_signal(message.id, &s.name),
        s.value_type,
    ) {
        (Some(SignalExtendedValueType::IEEEfloat32Bit), _) => RawKind::Float32,
        (Some(SignalExtendedValueType::IEEEdouble64bit), _) => RawKind::Float64,
        (_, ValueType::Signed) => RawKind::Signed,
        (_, ValueType::Unsigned) => RawKind::Unsigned,
    };
    let comment = dbc.comments.iter().find_map(|c| match c {
        Comment::Signal {
            message_id,
            name,
            comment,
        } if *message_id == message.id && *name == s.name => Some(unescape(comment)),
        _ => None,
    });
    let bits = |value: u64| {
        u32::try_from(value).map_err(|_| DbcError::Signal {
            id,
            message: message.name.clone(),
            signal: s.name.clone(),
            problem: format!("bit number {value} is out of range"),
        })
    };
    Ok(Signal {
        name: s.name.clone(),
        message_id: id,
        message_name: message.name.clone(),
        start_bit: bits(s.start_bit)?,
        length: bits(s.size)?,
        byte_order: match s.byte_order {
            DbcByteOrder::LittleEndian => ByteOrder::Intel,
            DbcByteOrder::BigEndian => ByteOrder::Motorola,
        },
        kind,
        factor: s.factor,
        offset: s.offset,
        min: number(s.min),
        max: number(s.max),
        unit: s.unit.clone(),
        comment: comment.filter(|c| !c.trim().is_empty()),
        multiplex: match s.multiplexer_indicator {
            MultiplexIndicator::Plain => Multiplex::Plain,
            MultiplexIndicator::Multiplexor => Multiplex::Multiplexor,
            MultiplexIndicator::MultiplexedSignal(v)
            | MultiplexIndicator::MultiplexorAndMultiplexedSignal(v) => Multiplex::When(v),
        },
    })
}

/// A DBC string as written, its `\"` and `\\` escapes resolved (`can-dbc` keeps them).
fn unescape(text: &str) -> String {
    text.replace("\\\"", "\"").replace("\\\\", "\\")
}

fn number(value: NumericValue) -> f64 {
    match value {
        NumericValue::Uint(v) => v as f64,
        NumericValue::Int(v) => v as f64,
        NumericValue::Double(v) => v,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The example DBC (docs/telemetry.md): both byte orders, a signed signal, scale and
    /// offset, an extended id, a multiplexed message, a float and a comment.
    pub(crate) const DBC: &str = include_str!("example.dbc");

    fn db() -> CanDb {
        CanDb::parse(DBC).expect("valid")
    }

    fn values(db: &CanDb, id: CanId, data: &[u8]) -> Vec<(String, f64)> {
        db.decode(id, data)
            .expect("valid")
            .into_iter()
            .map(|(s, v)| (s.name.clone(), v))
            .collect()
    }

    fn close(got: &[(String, f64)], want: &[(&str, f64)]) {
        assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
        for ((name, v), (want_name, want_v)) in got.iter().zip(want) {
            assert_eq!(name, want_name);
            assert!((v - want_v).abs() < 1e-9, "{name}: {v} != {want_v}");
        }
    }

    #[test]
    fn the_signals_keep_what_the_dbc_says() {
        let db = db();
        let speed = &db.message(CanId::standard(256)).expect("valid").signals[0];
        assert_eq!(
            (speed.start_bit, speed.length, speed.byte_order, speed.kind),
            (0, 16, ByteOrder::Intel, RawKind::Unsigned)
        );
        assert_eq!(
            (speed.factor, speed.offset, speed.min, speed.max),
            (0.25, 0.0, 0.0, 16383.75)
        );
        assert_eq!(speed.unit, "rpm");
        let coolant = db
            .signals()
            .find(|s| s.name == "CoolantTemp")
            .expect("valid");
        assert_eq!(
            coolant.comment.as_deref(),
            Some("Engine coolant temperature at the outlet")
        );
        assert_eq!(db.signals().count(), 12);
        let yaw = db.signals().find(|s| s.name == "YawRate").expect("valid");
        assert_eq!(yaw.kind, RawKind::Float32);
    }

    #[test]
    fn intel_signals_scale_and_offset() {
        // 0x1F40 = 8000 × 0.25 = 2000 rpm; 130 − 40 = 90 °C; 250 × 0.4 = 100 %;
        // steer 12-bit signed 0xF38 = −200 × 0.1 = −20 Nm (bits 32..44, rest of byte 5 unused).
        let data = [0x40, 0x1F, 130, 250, 0x38, 0x0F, 0, 0];
        close(
            &values(&db(), CanId::standard(256), &data),
            &[
                ("EngineSpeed", 2000.0),
                ("CoolantTemp", 90.0),
                ("ThrottlePos", 100.0),
                ("SteerTorque", -20.0),
            ],
        );
    }

    #[test]
    fn motorola_signals_read_most_significant_byte_first() {
        // WheelSpeedFL: bytes 0..2 big-endian 0x2710 = 10000 × 0.01 = 100 km/h.
        // LatAccel: start bit 23 (byte 2's MSB), 12 bits: byte 2 then the high nibble of
        // byte 3: 0xFF, 0x6_ → 0xFF6 = −10 → −0.1 m/s².
        let data = [0x27, 0x10, 0xFF, 0x60];
        close(
            &values(&db(), CanId::standard(512), &data),
            &[("WheelSpeedFL", 100.0), ("LatAccel", -0.1)],
        );
    }

    #[test]
    fn extended_ids_are_their_own_space() {
        let db = db();
        // 2566869246 = 0x80000000 | 0x18FF50FE.
        let id = CanId::extended(0x18FF_50FE);
        let data = [0x10, 0x0E, 0x9C, 0xFF, 0, 0, 0, 0];
        // 0x0E10 = 3600 × 0.1 = 360 V; 0xFF9C = −100 × 0.1 = −10 A.
        close(
            &values(&db, id, &data),
            &[("PackVoltage", 360.0), ("PackCurrent", -10.0)],
        );
        assert_eq!(
            db.decode(CanId::standard(0x0FE), &data)
                .expect_err("refused"),
            DecodeError::UnknownId(CanId::standard(0x0FE))
        );
    }

    #[test]
    fn a_frame_whose_id_is_not_in_the_dbc_is_refused_by_name() {
        let err = db()
            .decode(CanId::standard(0x7FF), &[0; 8])
            .expect_err("refused");
        assert_eq!(err, DecodeError::UnknownId(CanId::standard(0x7FF)));
        assert_eq!(err.to_string(), "no message of id 0x7FF in the DBC");
    }

    #[test]
    fn a_short_frame_is_refused() {
        let err = db()
            .decode(CanId::standard(256), &[0; 4])
            .expect_err("refused");
        assert!(
            matches!(
                err,
                DecodeError::Short {
                    expected: 8,
                    got: 4,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn the_multiplexor_selects_its_signals() {
        let db = db();
        close(
            &values(&db, CanId::standard(768), &[0, 0xA0, 0x0F]),
            &[("CellPage", 0.0), ("Cell0", 4.0)],
        );
        close(
            &values(&db, CanId::standard(768), &[1, 0x98, 0x0D]),
            &[("CellPage", 1.0), ("Cell1", 3.48)],
        );
    }

    #[test]
    fn float_signals_read_as_ieee() {
        let data = (-12.5f32).to_le_bytes();
        close(
            &values(&db(), CanId::standard(1024), &data),
            &[("YawRate", -12.5)],
        );
    }

    #[test]
    fn raw_ranges_follow_length_sign_factor_and_offset() {
        let db = db();
        let find = |name: &str| {
            db.signals()
                .find(|s| s.name == name)
                .expect("valid")
                .clone()
        };
        assert_eq!(
            find("SteerTorque").raw_range(),
            (-204.8, 204.70000000000002)
        );
        assert_eq!(find("CoolantTemp").raw_range(), (-40.0, 215.0));
        let mut negative = find("CoolantTemp");
        negative.factor = -1.0;
        assert_eq!(negative.raw_range(), (-295.0, -40.0));
    }

    #[test]
    fn a_signal_outside_its_message_is_refused_at_load() {
        let text = DBC.replace("SG_ YawRate : 0|32@1-", "SG_ YawRate : 8|32@1-");
        let err = CanDb::parse(&text).expect_err("refused");
        assert!(
            err.to_string()
                .starts_with("signal YawRate of message Imu (0x400): bit 32 is outside"),
            "{err}"
        );
    }

    #[test]
    fn text_that_is_not_a_dbc_is_refused() {
        assert!(matches!(
            CanDb::parse("BO_ nonsense"),
            Err(DbcError::Parse(_))
        ));
    }
}
