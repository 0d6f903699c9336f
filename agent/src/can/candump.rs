//! The `candump` log format (can-utils), line by line: `candump -l` writes it to a file and
//! `candump -L` to standard output, the same lines:
//!
//! ```text
//! (1700000000.123456) can0 123#DEADBEEF
//! (1700000000.124001) can1 18FF50FE#0E10FF9C00000000
//! (1700000000.125000) can0 123##1DEADBEEF00112233
//! ```
//!
//! A line is `(SECONDS.MICROS) INTERFACE FRAME`, optionally followed by `R` or `T` (received or
//! transmitted, `candump -x`). A frame is `ID#DATA`: 3 hex digits for a standard id, 8 for an
//! extended one, and 0 to 8 data bytes in hex. CAN FD frames (`ID##F DATA`, a flags digit then up
//! to 64 bytes) are read, their flags dropped. Refused, each counted with its line number under
//! a [`BadReason`], never silently dropped: remote frames (`ID#R`, no data to decode), error
//! frames (the error flag in an 8-digit id), and anything malformed. Blank lines are skipped.
//! The human format of a plain `candump can0` (`can0  123   [4]  DE AD BE EF`) is not read:
//! log with `-l` or `-L`.

use std::collections::BTreeMap;
use std::fmt;

use garonne_payload::Timestamp;

use super::dbc::CanId;

/// Linux's `CAN_ERR_FLAG`: an 8-digit id with this bit is an error frame.
const ERROR_FLAG: u32 = 0x2000_0000;
/// The data lengths a CAN FD frame may have.
const FD_LENGTHS: [usize; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64];

/// One CAN frame of a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// When the interface received it (the log's time, microseconds).
    pub time: Timestamp,
    /// The interface (`can0`, `vcan1`): a car's several buses.
    pub interface: String,
    /// Its id.
    pub id: CanId,
    /// Its data bytes: up to 8, or up to 64 for CAN FD.
    pub data: Vec<u8>,
    /// Whether it is a CAN FD frame.
    pub fd: bool,
}

/// Why a line of a log is not a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BadReason {
    /// Not `(TIME) INTERFACE FRAME`.
    Format,
    /// The time is not `SECONDS.MICROS`.
    Time,
    /// The id is not 3 hex digits up to 7FF, or 8 up to 1FFFFFFF.
    Id,
    /// The data is not whole hex bytes, or too many of them.
    Data,
    /// A remote (request) frame: it carries no data.
    RemoteFrame,
    /// An error frame, reported by the interface.
    ErrorFrame,
}

impl BadReason {
    /// The reason's stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            BadReason::Format => "format",
            BadReason::Time => "time",
            BadReason::Id => "id",
            BadReason::Data => "data",
            BadReason::RemoteFrame => "remote-frame",
            BadReason::ErrorFrame => "error-frame",
        }
    }
}

impl fmt::Display for BadReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A line that is not a frame, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// Its line number, from 1.
    pub line: usize,
    /// Why it was refused.
    pub reason: BadReason,
    /// What is wrong, for people.
    pub message: String,
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.reason, self.message)
    }
}

/// A log read whole: its frames in file order, and its refused lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CandumpLog {
    /// The frames.
    pub frames: Vec<Frame>,
    /// The refused lines, in file order.
    pub bad: Vec<BadLine>,
}

impl CandumpLog {
    /// Reads every line of a log.
    pub fn parse(text: &str) -> CandumpLog {
        let mut log = CandumpLog::default();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match parse_line(line) {
                Ok(frame) => log.frames.push(frame),
                Err((reason, message)) => log.bad.push(BadLine {
                    line: i + 1,
                    reason,
                    message,
                }),
            }
        }
        log
    }

    /// How many lines were refused, per reason.
    pub fn bad_counts(&self) -> BTreeMap<BadReason, usize> {
        let mut counts = BTreeMap::new();
        for bad in &self.bad {
            *counts.entry(bad.reason).or_insert(0) += 1;
        }
        counts
    }
}

/// Reads one line of a log.
pub fn parse_line(line: &str) -> Result<Frame, (BadReason, String)> {
    let mut fields = line.split_whitespace();
    let (Some(time), Some(interface), Some(frame)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(format_error("fewer than three fields"));
    };
    match (fields.next(), fields.next()) {
        (None | Some("R" | "T"), None) => {}
        _ => return Err(format_error("unexpected fields after the frame")),
    }
    let time = parse_time(time)?;
    let (id, rest) = frame
        .split_once('#')
        .ok_or_else(|| format_error("the frame has no '#'"))?;
    let id = parse_id(id)?;
    let (data, fd) = match rest.strip_prefix('#') {
        Some(fd) => (parse_fd_data(fd)?, true),
        None if rest.starts_with('R') => {
            return Err((
                BadReason::RemoteFrame,
                format!("remote frame {id}: no data to decode"),
            ));
        }
        None => (parse_hex(rest, 8)?, false),
    };
    Ok(Frame {
        time,
        interface: interface.to_owned(),
        id,
        data,
        fd,
    })
}

fn format_error(what: &str) -> (BadReason, String) {
    (
        BadReason::Format,
        format!("{what}; expected `(SECONDS.MICROS) INTERFACE ID#DATA` (candump -l or -L)"),
    )
}

fn parse_time(field: &str) -> Result<Timestamp, (BadReason, String)> {
    let bad = || {
        (
            BadReason::Time,
            format!("time {field} is not (SECONDS.MICROS)"),
        )
    };
    let inner = field
        .strip_prefix('(')
        .and_then(|f| f.strip_suffix(')'))
        .ok_or_else(bad)?;
    let (secs, fraction) = inner.split_once('.').ok_or_else(bad)?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(secs) || !digits(fraction) || fraction.len() > 9 {
        return Err(bad());
    }
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    // Exact: the fraction's digits, padded to nanoseconds, never through a float.
    let nanos: u32 = format!("{fraction:0<9}").parse().map_err(|_| bad())?;
    Timestamp::new(secs, nanos).ok_or_else(bad)
}

fn parse_id(text: &str) -> Result<CanId, (BadReason, String)> {
    let value = (text.len() == 3 || text.len() == 8)
        .then(|| u32::from_str_radix(text, 16).ok())
        .flatten()
        .filter(|_| text.bytes().all(|b| b.is_ascii_hexdigit()));
    match (text.len(), value) {
        (3, Some(id)) if id <= 0x7FF => Ok(CanId::standard(id as u16)),
        (8, Some(id)) if id & ERROR_FLAG != 0 => Err((
            BadReason::ErrorFrame,
            format!("error frame {text} reported by the interface"),
        )),
        (8, Some(id)) if id <= 0x1FFF_FFFF => Ok(CanId::extended(id)),
        _ => Err((
            BadReason::Id,
            format!(
                "id {text} is not 3 hex digits up to 7FF (standard) or 8 up to 1FFFFFFF \
                 (extended)"
            ),
        )),
    }
}

fn parse_fd_data(text: &str) -> Result<Vec<u8>, (BadReason, String)> {
    let mut chars = text.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_hexdigit()) {
        return Err((
            BadReason::Data,
            format!("CAN FD frame ##{text} has no flags digit"),
        ));
    }
    let data = parse_hex(chars.as_str(), 64)?;
    if !FD_LENGTHS.contains(&data.len()) {
        return Err((
            BadReason::Data,
            format!("{} bytes is not a CAN FD length", data.len()),
        ));
    }
    Ok(data)
}

fn parse_hex(text: &str, max_bytes: usize) -> Result<Vec<u8>, (BadReason, String)> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err((
            BadReason::Data,
            format!("data {text} is not whole bytes in hex"),
        ));
    }
    if text.len() / 2 > max_bytes {
        return Err((
            BadReason::Data,
            format!("{} data bytes, more than {max_bytes}", text.len() / 2),
        ));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16))
        .collect::<Result<_, _>>()
        .map_err(|_| (BadReason::Data, format!("data {text} is not hex")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(secs: i64, micros: u32) -> Timestamp {
        Timestamp::new(secs, micros * 1000).expect("valid")
    }

    #[test]
    fn classic_frames_read_with_their_time_interface_id_and_data() {
        let frame = parse_line("(1700000000.123456) can0 123#DEADBEEF").expect("valid");
        assert_eq!(
            frame,
            Frame {
                time: time(1_700_000_000, 123_456),
                interface: "can0".into(),
                id: CanId::standard(0x123),
                data: vec![0xDE, 0xAD, 0xBE, 0xEF],
                fd: false,
            }
        );
        let empty = parse_line("(1700000000.000001) vcan1 7FF#").expect("valid");
        assert_eq!((empty.id, empty.data.len()), (CanId::standard(0x7FF), 0));
        let sent = parse_line("(1700000000.5) can2 100#01 T").expect("valid");
        assert_eq!(sent.time, time(1_700_000_000, 500_000));
    }

    #[test]
    fn extended_ids_have_eight_digits() {
        let frame = parse_line("(1700000000.000000) can1 18FF50FE#0102").expect("valid");
        assert_eq!(frame.id, CanId::extended(0x18FF_50FE));
        // The same number in 8 digits is extended, not standard.
        let frame = parse_line("(1700000000.000000) can1 00000123#01").expect("valid");
        assert_eq!(frame.id, CanId::extended(0x123));
    }

    #[test]
    fn can_fd_frames_are_read_and_their_flags_dropped() {
        let data = "00112233445566778899AABB";
        let frame = parse_line(&format!("(1700000000.000000) can0 123##1{data}")).expect("valid");
        assert!(frame.fd);
        assert_eq!(frame.data.len(), 12);
        let bad =
            parse_line("(1700000000.000000) can0 123##1001122334455667788").expect_err("refused");
        assert_eq!(bad.0, BadReason::Data, "9 bytes is not an FD length");
    }

    #[test]
    fn each_bad_line_is_counted_with_its_number_and_reason() {
        let text = "\
(1700000000.000000) can0 123#01
(1700000000.000100) can0 123#R
garbage

(1700000000.000200) can0 1234#01
(1700000000.000300) can0 800#01
(1700000000.000400) can0 20000004#0000000000000000
(1700000000.000500) can0 123#0
(1700000000.000600) can0 123#010203040506070809
(1700000000,000700) can0 123#01
(1700000000.000800) can0 123
(1700000000.000900) can0 123#01 X Y
(1700000000.001000) can0 18FF50FE#01
";
        let log = CandumpLog::parse(text);
        assert_eq!(log.frames.len(), 2);
        let lines: Vec<(usize, BadReason)> = log.bad.iter().map(|b| (b.line, b.reason)).collect();
        assert_eq!(
            lines,
            [
                (2, BadReason::RemoteFrame),
                (3, BadReason::Format),
                (5, BadReason::Id),
                (6, BadReason::Id),
                (7, BadReason::ErrorFrame),
                (8, BadReason::Data),
                (9, BadReason::Data),
                (10, BadReason::Time),
                (11, BadReason::Format),
                (12, BadReason::Format),
            ]
        );
        let counts = log.bad_counts();
        assert_eq!(counts[&BadReason::Format], 3);
        assert_eq!(counts[&BadReason::Id], 2);
        assert_eq!(counts.values().sum::<usize>(), 10);
        assert!(
            log.bad[3]
                .to_string()
                .starts_with("line 6: id: id 800 is not 3 hex digits up to 7FF"),
            "{}",
            log.bad[3]
        );
    }
}
