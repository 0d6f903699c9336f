//! The historian's on-disk spool: every MQTT message is written here and synced to disk before
//! it is acknowledged to the broker, and stays until the store has taken it.
//!
//! # Layout
//! A directory of numbered segment files (`00000000000000000001.seg`, ...) and a `cursor` file.
//! A segment is a sequence of records, each framed as
//!
//! ```text
//! u32 little-endian  body length
//! u32 little-endian  CRC-32 of the body
//! body:  i64 LE received-at (ns since the epoch) · u16 LE topic length · topic · payload
//! ```
//!
//! The writer appends to the newest segment and starts a new one past [`SpoolConfig::segment_bytes`]:
//! a sync group that does not fit in the rest of the active segment starts a new one, and a group
//! larger than a whole segment is split across segments at record boundaries (a single record
//! larger than a segment gets a segment of its own). The reader follows behind; the `cursor`
//! file says how far the store has taken, and a segment is deleted once the cursor has moved
//! past it.
//!
//! # Guarantees
//! - Design: [`SpoolWriter::sync`] returns only after the appended records are on disk
//!   (`fdatasync`); the caller acknowledges the messages to the broker after that, never before.
//!   A crash can only lose records not yet synced, hence not yet acknowledged: the broker hands
//!   them over again. The file operations go through [`Filesystem`], the seam through which the
//!   tests (`tests/spool_durability.rs`) check that order by simulating a power cut.
//! - A crash in the middle of a write leaves a torn end; [`Spool::open`] cuts the last segment
//!   after its last whole record, and only there: a damaged record with whole records after it
//!   (bit rot, not a torn write) is skipped, counted ([`Recovered::damaged_bytes`],
//!   [`SpoolStats::damaged`]) and logged, and the records after it are kept.
//! - A failed write is taken back (the file is cut to its last synced length) before anything
//!   else is appended; if even that fails, [`SpoolWriter::sync`] keeps failing until it succeeds,
//!   so a record is never appended after a partial one.
//! - The cursor is saved after the store confirmed a batch: written to a temporary file, synced,
//!   renamed, and the directory synced. If it is older than the truth after a crash, records
//!   are written to the store again: the store's writes are idempotent, so that costs time, not
//!   correctness.
//! - A full spool ([`SpoolConfig::max_bytes`]) makes [`SpoolWriter::wait_for_room`] wait: the
//!   historian stops taking messages, the broker queues them. Nothing is dropped. The bound is
//!   checked before a group is taken, so the spool may exceed it by one group; every commit
//!   wakes the writer, including one that deletes no segment.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use garonne_payload::Timestamp;
use tokio::sync::{Notify, watch};
use tracing::warn;

/// Bytes of a frame header: length and CRC.
const HEADER: usize = 8;
/// Smallest record body: the time and the topic length.
const MIN_BODY: usize = 10;
/// Largest record body accepted: an MQTT packet cannot be larger than 256 MiB, and a body
/// length above that in a header means the file is damaged.
const MAX_BODY: usize = 268_435_455 + 8 + 2 + 65_535;
const CURSOR: &str = "cursor";
const CURSOR_TMP: &str = "cursor.tmp";
const SUFFIX: &str = ".seg";

/// Where records are and how much room they may take.
#[derive(Debug, Clone)]
pub struct SpoolConfig {
    /// The spool directory (created if missing).
    pub dir: PathBuf,
    /// Largest total size of the segments; past it, the writer waits for the reader.
    pub max_bytes: u64,
    /// Size past which the writer starts a new segment.
    pub segment_bytes: u64,
}

/// Why the spool failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// A file or directory of the spool could not be used.
    #[error(
        "spool {path}: cannot {action} (check the disk and the permissions of the spool directory)"
    )]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done: "create", "write", "sync", "read", "truncate", "delete".
        action: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A record cannot be framed (its topic is over 65,535 bytes, which MQTT does not allow).
    #[error("a message on topic {topic:.60}... is too large for the spool")]
    TooLarge {
        /// The start of the topic.
        topic: String,
    },
}

fn io_error<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(io::Error) -> SpoolError + 'a {
    move |source| SpoolError::Io {
        path: path.to_owned(),
        action,
        source,
    }
}

/// The file operations through which the spool makes data durable: the seam where tests inject
/// faults (a failed write, a failed truncation) and simulate a power cut (only what was synced
/// survives). [`RealFilesystem`] is the one the historian uses. Reading and deleting go straight
/// to the disk: they make nothing durable.
pub trait Filesystem: Send + Sync + 'static {
    /// Opens `path` for appending, creating it if missing.
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn DurableFile>>;
    /// Creates `path` empty for writing (truncating it if it exists).
    fn create(&self, path: &Path) -> io::Result<Box<dyn DurableFile>>;
    /// Renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Syncs the entries of directory `dir` (files created, renamed or deleted in it).
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// A file open for writing, as [`Filesystem`] gives it.
pub trait DurableFile: Send + Sync {
    /// Writes all of `bytes` at the end of the file (not yet durable).
    fn append_all(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Makes what was written durable (`fdatasync`).
    fn sync_data(&mut self) -> io::Result<()>;
    /// Cuts (or extends) the file to `len` bytes.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// The file's length now, bytes.
    fn size(&self) -> io::Result<u64>;
}

/// The operating system's file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFilesystem;

impl Filesystem for RealFilesystem {
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn DurableFile>> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Box::new(file))
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn DurableFile>> {
        Ok(Box::new(File::create(path)?))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

impl DurableFile for File {
    fn append_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.write_all(bytes)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        File::sync_data(self)
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
}

/// One MQTT message as spooled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// When the historian received it.
    pub received: Timestamp,
    /// Its topic.
    pub topic: String,
    /// Its payload.
    pub payload: Vec<u8>,
}

/// A place in the spool: a segment and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    /// Segment number.
    pub segment: u64,
    /// Byte offset in the segment.
    pub offset: u64,
}

/// Counters shared by the writer, the reader and `/metrics`.
#[derive(Debug, Default)]
pub struct SpoolStats {
    /// Records on disk not yet taken by the store.
    pub records: AtomicU64,
    /// Bytes of the segment files on disk.
    pub bytes: AtomicU64,
    /// Records appended since start.
    pub appended: AtomicU64,
    /// Syncs (group commits) since start.
    pub syncs: AtomicU64,
    /// Damaged stretches the reader skipped (each one a damaged record, or several in a row).
    pub damaged: AtomicU64,
}

/// What [`Spool::open`] found on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recovered {
    /// Records waiting for the store.
    pub records: u64,
    /// Bytes cut from the end of the last segment (a torn write of never-acknowledged records).
    pub torn_bytes: u64,
    /// Bytes of damaged records with whole records after them: skipped (the reader counts them
    /// in [`SpoolStats::damaged`]), and the records after them kept.
    pub damaged_bytes: u64,
}

/// An opened spool, to be split into its writer and reader.
pub struct Spool {
    /// The writing half.
    pub writer: SpoolWriter,
    /// The reading half.
    pub reader: SpoolReader,
    /// Shared counters.
    pub stats: Arc<SpoolStats>,
    /// What was found on disk.
    pub recovered: Recovered,
}

fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{segment:020}{SUFFIX}"))
}

/// The segment numbers in `dir`, ascending.
fn list_segments(dir: &Path) -> Result<Vec<u64>, SpoolError> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir, "read"))? {
        let entry = entry.map_err(io_error(dir, "read"))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(number) = name.strip_suffix(SUFFIX)
            && let Ok(n) = number.parse::<u64>()
        {
            segments.push(n);
        }
    }
    segments.sort_unstable();
    Ok(segments)
}

/// The body length in a frame header, if a body could have it.
fn body_len(header: &[u8]) -> Option<usize> {
    let len = u32::from_le_bytes(header.get(0..4)?.try_into().ok()?) as usize;
    (MIN_BODY..=MAX_BODY).contains(&len).then_some(len)
}

/// Reads one frame at the reader's position. `Ok(None)` at a clean end of data; `Err(())` for
/// a short or damaged frame.
fn read_frame(reader: &mut impl Read, body: &mut Vec<u8>) -> io::Result<Option<Result<(), ()>>> {
    let mut header = [0u8; HEADER];
    let mut got = 0;
    while got < HEADER {
        match reader.read(&mut header[got..])? {
            0 if got == 0 => return Ok(None),
            0 => return Ok(Some(Err(()))),
            n => got += n,
        }
    }
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let Some(len) = body_len(&header) else {
        return Ok(Some(Err(())));
    };
    body.resize(len, 0);
    if let Err(error) = reader.read_exact(body) {
        return if error.kind() == io::ErrorKind::UnexpectedEof {
            Ok(Some(Err(())))
        } else {
            Err(error)
        };
    }
    Ok(Some(if crc32fast::hash(body) == crc {
        Ok(())
    } else {
        Err(())
    }))
}

fn decode_body(body: &[u8]) -> Option<Record> {
    let nanos = i64::from_le_bytes(body.get(0..8)?.try_into().ok()?);
    let topic_len = u16::from_le_bytes(body.get(8..10)?.try_into().ok()?) as usize;
    let topic = std::str::from_utf8(body.get(10..10 + topic_len)?).ok()?;
    let payload = body.get(10 + topic_len..)?;
    Some(Record {
        received: Timestamp::new(
            nanos.div_euclid(1_000_000_000),
            nanos.rem_euclid(1_000_000_000) as u32,
        )?,
        topic: topic.to_owned(),
        payload: payload.to_vec(),
    })
}

/// Whether `data` starts with a whole frame whose CRC matches; its length if so.
fn whole_frame(data: &[u8]) -> Option<usize> {
    let len = body_len(data)?;
    let body = data.get(HEADER..HEADER + len)?;
    // Performance: cheap checks first, so that a search through damaged bytes rarely computes
    // a CRC: the topic must fit in the body and be UTF-8.
    let topic_len = u16::from_le_bytes([body[8], body[9]]) as usize;
    std::str::from_utf8(body.get(MIN_BODY..MIN_BODY + topic_len)?).ok()?;
    let crc = u32::from_le_bytes(data[4..HEADER].try_into().ok()?);
    (crc32fast::hash(body) == crc).then_some(HEADER + len)
}

/// After a damaged frame at `from` in segment `path`, the offset where whole records start
/// again before `end`; `None` when none follows (a torn end, or damage up to `end`).
///
/// Design: the damaged frame's own length is tried first (a flipped bit in a body leaves the
/// header right); else every later offset is tried for a whole frame with a matching CRC. A
/// payload that happens to contain a whole frame could be taken for one there, but only
/// after damage, and the store then gets one stray message: counted and logged as damage.
/// Performance: reads the rest of the segment, once per damaged stretch.
fn resync(path: &Path, from: u64, end: u64) -> Result<Option<u64>, SpoolError> {
    let mut file = File::open(path).map_err(io_error(path, "read"))?;
    file.seek(SeekFrom::Start(from))
        .map_err(io_error(path, "read"))?;
    let mut data = Vec::new();
    file.take(end.saturating_sub(from))
        .read_to_end(&mut data)
        .map_err(io_error(path, "read"))?;
    if let Some(len) = body_len(&data).map(|l| HEADER + l)
        && len < data.len()
        && whole_frame(&data[len..]).is_some()
    {
        return Ok(Some(from + len as u64));
    }
    Ok((1..data.len())
        .find(|&at| whole_frame(&data[at..]).is_some())
        .map(|at| from + at as u64))
}

/// What a scan of one segment found.
#[derive(Debug, Default)]
struct Scanned {
    /// Whole records.
    records: u64,
    /// The end of the last whole record.
    end: u64,
    /// Bytes of damaged records skipped before whole ones.
    damaged_bytes: u64,
}

/// Counts the whole records of a segment from `from`, skipping damaged ones that have whole
/// records after them.
fn scan(path: &Path, from: u64) -> Result<Scanned, SpoolError> {
    let file = File::open(path).map_err(io_error(path, "read"))?;
    let len = file.metadata().map_err(io_error(path, "read"))?.len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    reader
        .seek(SeekFrom::Start(from))
        .map_err(io_error(path, "read"))?;
    let mut scanned = Scanned {
        end: from,
        ..Scanned::default()
    };
    let mut at = from;
    let mut body = Vec::new();
    loop {
        match read_frame(&mut reader, &mut body).map_err(io_error(path, "read"))? {
            Some(Ok(())) => {
                scanned.records += 1;
                at += (HEADER + body.len()) as u64;
                scanned.end = at;
            }
            None => return Ok(scanned),
            Some(Err(())) => match resync(path, at, len)? {
                Some(next) => {
                    warn!(segment = %path.display(), at, bytes = next - at, "damaged record in the spool, skipped: the records after it are kept");
                    scanned.damaged_bytes += next - at;
                    at = next;
                    reader
                        .seek(SeekFrom::Start(at))
                        .map_err(io_error(path, "read"))?;
                }
                None => return Ok(scanned),
            },
        }
    }
}

impl Spool {
    /// Opens (or creates) the spool in `config.dir`, checks the end of the last segment, and
    /// counts the records still waiting for the store.
    pub fn open(config: SpoolConfig) -> Result<Spool, SpoolError> {
        Spool::open_with(config, Arc::new(RealFilesystem))
    }

    /// [`Spool::open`] through the file system `fs` (a test's fault-injecting one).
    pub fn open_with(config: SpoolConfig, fs: Arc<dyn Filesystem>) -> Result<Spool, SpoolError> {
        let dir = config.dir.clone();
        fs::create_dir_all(&dir).map_err(io_error(&dir, "create"))?;
        let mut segments = list_segments(&dir)?;
        let cursor = read_cursor(&dir);
        // Segments before the cursor's were taken by the store; one may be left by a crash
        // between saving the cursor and deleting it.
        let start = match cursor {
            Some(c) if segments.contains(&c.segment) => c,
            _ => Position {
                segment: segments.first().copied().unwrap_or(1),
                offset: 0,
            },
        };
        for &s in segments.iter().filter(|&&s| s < start.segment) {
            let _ = fs::remove_file(segment_path(&dir, s));
        }
        segments.retain(|&s| s >= start.segment);

        let mut recovered = Recovered::default();
        let mut bytes = 0;
        let last = segments.last().copied();
        for &s in &segments {
            let path = segment_path(&dir, s);
            let from = if s == start.segment { start.offset } else { 0 };
            let scanned = scan(&path, from)?;
            recovered.records += scanned.records;
            recovered.damaged_bytes += scanned.damaged_bytes;
            let len = fs::metadata(&path).map_err(io_error(&path, "read"))?.len();
            if scanned.end < len {
                if Some(s) == last {
                    // A torn write: no whole record follows, so these bytes were never
                    // synced, so never acknowledged.
                    cut(fs.as_ref(), &path, scanned.end)?;
                    recovered.torn_bytes = len - scanned.end;
                    warn!(
                        segment = %path.display(),
                        bytes = len - scanned.end,
                        "cut a torn record from the end of the spool (never acknowledged: the broker sends it again)"
                    );
                    bytes += scanned.end;
                    continue;
                }
                // Damage up to the end of an older segment: the reader skips it, counting it.
                warn!(segment = %path.display(), at = scanned.end, "damaged end of a spool segment");
            }
            bytes += len;
        }

        let active = last.unwrap_or(start.segment);
        let active_path = segment_path(&dir, active);
        let file = fs
            .open_append(&active_path)
            .map_err(io_error(&active_path, "create"))?;
        let active_len = file.size().map_err(io_error(&active_path, "read"))?;
        fs.sync_dir(&dir).map_err(io_error(&dir, "sync"))?;

        let stats = Arc::new(SpoolStats::default());
        stats.records.store(recovered.records, Ordering::Relaxed);
        stats.bytes.store(bytes.max(active_len), Ordering::Relaxed);
        let durable = Position {
            segment: active,
            offset: active_len,
        };
        let (durable_tx, durable_rx) = watch::channel(durable);
        let room = Arc::new(Notify::new());
        let writer = SpoolWriter {
            dir: dir.clone(),
            config,
            fs: Arc::clone(&fs),
            file,
            segment: active,
            len: active_len,
            torn_tail: false,
            buffer: Vec::with_capacity(1 << 20),
            buffered: 0,
            durable: durable_tx,
            stats: Arc::clone(&stats),
            room: Arc::clone(&room),
        };
        let reader = SpoolReader {
            dir,
            fs,
            at: start,
            file: None,
            durable: durable_rx,
            stats: Arc::clone(&stats),
            room,
            body: Vec::new(),
        };
        Ok(Spool {
            writer,
            reader,
            stats,
            recovered,
        })
    }
}

/// Cuts the segment at `path` to `len` bytes, durably.
fn cut(fs: &dyn Filesystem, path: &Path, len: u64) -> Result<(), SpoolError> {
    let mut file = fs.open_append(path).map_err(io_error(path, "write"))?;
    file.set_len(len).map_err(io_error(path, "truncate"))?;
    file.sync_data().map_err(io_error(path, "sync"))
}

fn read_cursor(dir: &Path) -> Option<Position> {
    let text = fs::read_to_string(dir.join(CURSOR)).ok()?;
    let (segment, offset) = text.trim().split_once(' ')?;
    Some(Position {
        segment: segment.parse().ok()?,
        offset: offset.parse().ok()?,
    })
}

/// The writing half: appends records, syncs them, starts new segments.
pub struct SpoolWriter {
    dir: PathBuf,
    config: SpoolConfig,
    fs: Arc<dyn Filesystem>,
    file: Box<dyn DurableFile>,
    segment: u64,
    /// Bytes in the active segment, written and synced.
    len: u64,
    /// A failed write may have left bytes past `len` that could not be cut yet: cut them before
    /// anything else is appended.
    torn_tail: bool,
    /// Framed records appended and not yet synced.
    buffer: Vec<u8>,
    /// Records in `buffer`.
    buffered: u64,
    durable: watch::Sender<Position>,
    stats: Arc<SpoolStats>,
    room: Arc<Notify>,
}

impl SpoolWriter {
    /// Whether the spool has room for more records: under its size bound, or with every record
    /// taken by the store (the active segment alone may then exceed a tiny bound).
    pub fn has_room(&self) -> bool {
        self.stats.bytes.load(Ordering::Relaxed) < self.config.max_bytes
            || self.stats.records.load(Ordering::Relaxed) == 0
    }

    /// Waits until the spool has room (the store took records: every commit wakes it).
    pub async fn wait_for_room(&self) {
        while !self.has_room() {
            // Design: registered before the check, so a commit between the check and the
            // wait still wakes it (`notify_waiters` reaches every `Notified` created before).
            let notified = self.room.notified();
            if self.has_room() {
                break;
            }
            notified.await;
        }
    }

    /// Appends one record to the buffer. It is durable only after [`SpoolWriter::sync`].
    pub fn append(
        &mut self,
        received: Timestamp,
        topic: &str,
        payload: &[u8],
    ) -> Result<(), SpoolError> {
        let topic_len = u16::try_from(topic.len()).map_err(|_| SpoolError::TooLarge {
            topic: topic.chars().take(60).collect(),
        })?;
        let body_len = 8 + 2 + topic.len() + payload.len();
        let start = self.buffer.len();
        self.buffer
            .extend_from_slice(&(body_len as u32).to_le_bytes());
        self.buffer.extend_from_slice(&[0; 4]);
        let nanos = received
            .unix_nanos()
            .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        self.buffer.extend_from_slice(&nanos.to_le_bytes());
        self.buffer.extend_from_slice(&topic_len.to_le_bytes());
        self.buffer.extend_from_slice(topic.as_bytes());
        self.buffer.extend_from_slice(payload);
        let crc = crc32fast::hash(&self.buffer[start + HEADER..]);
        self.buffer[start + 4..start + HEADER].copy_from_slice(&crc.to_le_bytes());
        self.buffered += 1;
        Ok(())
    }

    /// Records appended and not yet synced.
    pub fn buffered(&self) -> u64 {
        self.buffered
    }

    /// Writes the buffered records and syncs them to disk; returns once they are durable (the
    /// moment to acknowledge them). A group that does not fit in the rest of the active segment
    /// starts a new one; a group larger than a segment is written a segment at a time, each
    /// part synced before the next. On error what is not yet synced stays buffered, and a later
    /// call goes on from there.
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let mut done = 0;
        let result = self.write_buffer(&mut done);
        // Performance: what is durable leaves the buffer once, not after each part.
        self.buffer.drain(..done);
        result?;
        self.stats.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Writes the buffer from `done` on, part by part, moving `done` past each part synced.
    fn write_buffer(&mut self, done: &mut usize) -> Result<(), SpoolError> {
        self.cut_torn_tail()?;
        if self.len > 0 && self.len + self.buffer.len() as u64 > self.config.segment_bytes {
            self.rotate()?;
        }
        loop {
            let (bytes, records) = self.next_part(*done);
            self.write_part(*done, bytes, records)?;
            *done += bytes;
            if *done == self.buffer.len() {
                return Ok(());
            }
            self.rotate()?;
        }
    }

    /// The records of the buffer from `from` on that fit in the rest of the active segment (at
    /// least one in an empty segment): their bytes and their count.
    fn next_part(&self, from: usize) -> (usize, u64) {
        let room = self.config.segment_bytes.saturating_sub(self.len) as usize;
        let rest = &self.buffer[from..];
        let (mut bytes, mut records) = (0, 0);
        while bytes < rest.len() {
            let frame = HEADER + body_len(&rest[bytes..]).expect("the writer frames every record");
            if bytes + frame > room && !(bytes == 0 && self.len == 0) {
                break;
            }
            bytes += frame;
            records += 1;
        }
        (bytes, records)
    }

    /// Writes and syncs `bytes` of the buffer from `from` (`records` records), then publishes
    /// them to the reader.
    fn write_part(&mut self, from: usize, bytes: usize, records: u64) -> Result<(), SpoolError> {
        let path = segment_path(&self.dir, self.segment);
        let part = &self.buffer[from..from + bytes];
        if let Err(error) = self
            .file
            .append_all(part)
            .and_then(|()| self.file.sync_data())
        {
            // Disk full or an I/O error: take back what part reached the file, keep the records
            // buffered, and let the caller try again. Nothing was acknowledged.
            if let Err(cut) = self.file.set_len(self.len) {
                warn!(segment = %path.display(), error = %cut, "cannot cut a failed write back: cutting again before the next write");
                self.torn_tail = true;
            }
            return Err(io_error(&path, "write")(error));
        }
        self.len += bytes as u64;
        self.buffered -= records;
        self.stats.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.stats.records.fetch_add(records, Ordering::Relaxed);
        self.stats.appended.fetch_add(records, Ordering::Relaxed);
        self.durable.send_replace(Position {
            segment: self.segment,
            offset: self.len,
        });
        Ok(())
    }

    /// Cuts what a failed write left past the synced length, if an earlier cut failed.
    fn cut_torn_tail(&mut self) -> Result<(), SpoolError> {
        if self.torn_tail {
            let path = segment_path(&self.dir, self.segment);
            self.file
                .set_len(self.len)
                .map_err(io_error(&path, "truncate"))?;
            self.torn_tail = false;
        }
        Ok(())
    }

    fn rotate(&mut self) -> Result<(), SpoolError> {
        let next = self.segment + 1;
        let path = segment_path(&self.dir, next);
        let file = self
            .fs
            .open_append(&path)
            .map_err(io_error(&path, "create"))?;
        self.fs
            .sync_dir(&self.dir)
            .map_err(io_error(&self.dir, "sync"))?;
        self.file = file;
        self.segment = next;
        self.len = 0;
        Ok(())
    }
}

/// The reading half: hands records to the drain in order, and deletes what the store took.
pub struct SpoolReader {
    dir: PathBuf,
    fs: Arc<dyn Filesystem>,
    /// The next record to read.
    at: Position,
    file: Option<(u64, BufReader<File>)>,
    durable: watch::Receiver<Position>,
    stats: Arc<SpoolStats>,
    room: Arc<Notify>,
    body: Vec<u8>,
}

impl SpoolReader {
    /// The position of the next record to read.
    pub fn position(&self) -> Position {
        self.at
    }

    /// Waits until a durable record lies past the reader's position, or `timeout` passes.
    /// Returns whether there is one.
    pub async fn wait(&mut self, timeout: std::time::Duration) -> bool {
        let at = self.at;
        let ready = |durable: &Position| *durable > at;
        if ready(&self.durable.borrow()) {
            return true;
        }
        matches!(
            tokio::time::timeout(timeout, self.durable.wait_for(ready)).await,
            Ok(Ok(_))
        )
    }

    /// Reads up to `max` durable records from the reader's position, appending them to `out`,
    /// and returns the position after the last one. Records are not taken off the spool until
    /// [`SpoolReader::commit`].
    pub fn read(&mut self, max: usize, out: &mut Vec<Record>) -> Result<Position, SpoolError> {
        let durable = *self.durable.borrow();
        let mut taken = 0;
        while taken < max && self.at < durable {
            let path = segment_path(&self.dir, self.at.segment);
            let mut body = std::mem::take(&mut self.body);
            let frame = read_frame(self.reader()?, &mut body);
            self.body = body;
            match frame.map_err(io_error(&path, "read"))? {
                Some(Ok(())) => {
                    self.at.offset += (HEADER + self.body.len()) as u64;
                    match decode_body(&self.body) {
                        Some(record) => {
                            out.push(record);
                            taken += 1;
                        }
                        None => {
                            self.stats.damaged.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                // The end of an older segment: on to the next one. (The active segment is only
                // read up to its synced length, so it cannot end here.)
                None if self.at.segment < durable.segment => self.next_segment(),
                None => break,
                Some(Err(())) => self.skip_damage(&path, durable)?,
            }
        }
        Ok(self.at)
    }

    /// Skips a damaged stretch at the reader's position, to the next whole record of the
    /// segment, or to its end (of its synced part, for the active segment); counts it.
    fn skip_damage(&mut self, path: &Path, durable: Position) -> Result<(), SpoolError> {
        let end = if self.at.segment < durable.segment {
            fs::metadata(path).map_err(io_error(path, "read"))?.len()
        } else {
            durable.offset
        };
        let next = resync(path, self.at.offset, end)?.unwrap_or(end);
        warn!(segment = %path.display(), at = self.at.offset, bytes = next - self.at.offset, "skipping a damaged stretch of a spool segment");
        self.stats.damaged.fetch_add(1, Ordering::Relaxed);
        self.at.offset = next;
        self.file = None;
        Ok(())
    }

    fn next_segment(&mut self) {
        self.at = Position {
            segment: self.at.segment + 1,
            offset: 0,
        };
        self.file = None;
    }

    fn reader(&mut self) -> Result<&mut BufReader<File>, SpoolError> {
        let wanted = self.at.segment;
        if self.file.as_ref().is_none_or(|(s, _)| *s != wanted) {
            let path = segment_path(&self.dir, wanted);
            let mut file = File::open(&path).map_err(io_error(&path, "read"))?;
            file.seek(SeekFrom::Start(self.at.offset))
                .map_err(io_error(&path, "read"))?;
            self.file = Some((wanted, BufReader::with_capacity(1 << 20, file)));
        }
        Ok(&mut self.file.as_mut().expect("just opened").1)
    }

    /// The handle that takes records off the spool once the store has them: it can live in
    /// another task than the reader, so the next batch is read while this one is written.
    pub fn committer(&self) -> SpoolCommitter {
        SpoolCommitter {
            dir: self.dir.clone(),
            fs: Arc::clone(&self.fs),
            stats: Arc::clone(&self.stats),
            room: Arc::clone(&self.room),
        }
    }

    /// Takes `records` records up to `position` off the spool (see [`SpoolCommitter::commit`]).
    pub fn commit(&mut self, position: Position, records: u64) -> Result<(), SpoolError> {
        self.committer().commit(position, records)
    }
}

/// Takes records off the spool once the store has them. Commits must come in order.
pub struct SpoolCommitter {
    dir: PathBuf,
    fs: Arc<dyn Filesystem>,
    stats: Arc<SpoolStats>,
    room: Arc<Notify>,
}

impl SpoolCommitter {
    /// Takes `records` records up to `position` off the spool: the store has them. Saves the
    /// cursor durably, deletes the segments before it and wakes a writer waiting for room.
    pub fn commit(&self, position: Position, records: u64) -> Result<(), SpoolError> {
        self.save_cursor(position)?;
        self.stats.records.fetch_sub(
            records.min(self.stats.records.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        let mut freed = 0;
        let mut gone = Vec::new();
        for s in list_segments(&self.dir)? {
            if s < position.segment {
                gone.push(s);
            }
        }
        for s in gone {
            let seg = segment_path(&self.dir, s);
            let len = fs::metadata(&seg).map(|m| m.len()).unwrap_or(0);
            match fs::remove_file(&seg) {
                Ok(()) => freed += len,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error(&seg, "delete")(e)),
            }
        }
        if freed > 0 {
            self.stats.bytes.fetch_sub(
                freed.min(self.stats.bytes.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
        }
        // Every commit, not only one that freed a segment: taking the last records of the
        // active segment also makes room (see `SpoolWriter::has_room`).
        self.room.notify_waiters();
        Ok(())
    }

    /// Writes the cursor to a temporary file, syncs it, renames it over the cursor and syncs
    /// the directory: after a crash the cursor is the old one or the new one, never older.
    fn save_cursor(&self, position: Position) -> Result<(), SpoolError> {
        let path = self.dir.join(CURSOR);
        let tmp = self.dir.join(CURSOR_TMP);
        let text = format!("{} {}\n", position.segment, position.offset);
        let mut file = self.fs.create(&tmp).map_err(io_error(&tmp, "write"))?;
        file.append_all(text.as_bytes())
            .map_err(io_error(&tmp, "write"))?;
        file.sync_data().map_err(io_error(&tmp, "sync"))?;
        drop(file);
        self.fs
            .rename(&tmp, &path)
            .map_err(io_error(&path, "write"))?;
        self.fs
            .sync_dir(&self.dir)
            .map_err(io_error(&self.dir, "sync"))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn config(dir: &Path, segment_bytes: u64, max_bytes: u64) -> SpoolConfig {
        SpoolConfig {
            dir: dir.to_owned(),
            max_bytes,
            segment_bytes,
        }
    }

    fn at(n: i64) -> Timestamp {
        Timestamp::new(1_700_000_000 + n, 123_456_789).expect("time")
    }

    /// Appends records `range` (topic `t/{n}`, payload `payload {n}`, 33 bytes framed) and
    /// syncs them, in one group.
    fn append(writer: &mut SpoolWriter, range: std::ops::Range<i64>) {
        for n in range {
            writer
                .append(at(n), &format!("t/{n}"), format!("payload {n}").as_bytes())
                .expect("append");
        }
        writer.sync().expect("sync");
    }

    /// Appends records `range`, each synced on its own (a group that fits in a segment is
    /// never split across two).
    fn append_one_by_one(writer: &mut SpoolWriter, range: std::ops::Range<i64>) {
        for n in range {
            append(writer, n..n + 1);
        }
    }

    fn numbers(records: &[Record]) -> Vec<i64> {
        records
            .iter()
            .map(|r| {
                let n: i64 = r.topic[2..].parse().expect("a number");
                assert_eq!(r.payload, format!("payload {n}").into_bytes());
                assert_eq!(r.received, at(n));
                n
            })
            .collect()
    }

    fn segment_files(dir: &Path) -> usize {
        list_segments(dir).expect("list").len()
    }

    #[test]
    fn records_come_back_in_order_across_segments_and_leave_once_committed() {
        let dir = tempfile::tempdir().expect("temp dir");
        // About 40 bytes a record: a few records per segment.
        let spool = Spool::open(config(dir.path(), 100, u64::MAX)).expect("open");
        let (mut writer, mut reader, stats) = (spool.writer, spool.reader, spool.stats);
        append_one_by_one(&mut writer, 0..10);
        assert!(segment_files(dir.path()) > 2, "several segments");
        assert_eq!(stats.records.load(Ordering::Relaxed), 10);

        let mut out = Vec::new();
        let first = reader.read(4, &mut out).expect("read");
        assert_eq!(numbers(&out), [0, 1, 2, 3]);
        reader.commit(first, 4).expect("commit");
        out.clear();
        let rest = reader.read(100, &mut out).expect("read");
        assert_eq!(numbers(&out), (4..10).collect::<Vec<_>>());
        reader.commit(rest, 6).expect("commit");
        assert_eq!(stats.records.load(Ordering::Relaxed), 0);
        assert_eq!(
            segment_files(dir.path()),
            1,
            "only the active segment is left"
        );
        let active = fs::metadata(segment_path(dir.path(), rest.segment)).expect("active");
        assert_eq!(stats.bytes.load(Ordering::Relaxed), active.len());
    }

    #[test]
    fn unsynced_records_are_not_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        let spool = Spool::open(config(dir.path(), 1 << 20, u64::MAX)).expect("open");
        let (mut writer, mut reader) = (spool.writer, spool.reader);
        append(&mut writer, 0..2);
        writer.append(at(2), "t/2", b"payload 2").expect("append");
        let mut out = Vec::new();
        reader.read(100, &mut out).expect("read");
        assert_eq!(numbers(&out), [0, 1]);
        writer.sync().expect("sync");
        out.clear();
        reader.read(100, &mut out).expect("read");
        assert_eq!(numbers(&out), [2]);
    }

    #[test]
    fn a_reopened_spool_gives_back_what_was_not_committed() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let spool = Spool::open(config(dir.path(), 150, u64::MAX)).expect("open");
            let (mut writer, mut reader) = (spool.writer, spool.reader);
            append(&mut writer, 0..10);
            let mut out = Vec::new();
            let to = reader.read(3, &mut out).expect("read");
            reader.commit(to, 3).expect("commit");
            // Read but not committed: the store never confirmed them.
            reader.read(3, &mut out).expect("read");
        }
        let spool = Spool::open(config(dir.path(), 150, u64::MAX)).expect("reopen");
        assert_eq!(
            spool.recovered,
            Recovered {
                records: 7,
                torn_bytes: 0,
                damaged_bytes: 0,
            }
        );
        let (mut writer, mut reader) = (spool.writer, spool.reader);
        append(&mut writer, 10..12);
        let mut out = Vec::new();
        reader.read(100, &mut out).expect("read");
        assert_eq!(numbers(&out), (3..12).collect::<Vec<_>>());
    }

    #[test]
    fn a_torn_last_record_is_cut_at_start_up() {
        let dir = tempfile::tempdir().expect("temp dir");
        let segment = {
            let spool = Spool::open(config(dir.path(), 1 << 20, u64::MAX)).expect("open");
            let mut writer = spool.writer;
            append(&mut writer, 0..3);
            writer.segment
        };
        let path = segment_path(dir.path(), segment);
        let whole = fs::read(&path).expect("segment");
        // A crash in the middle of the next write: a header and half a body.
        let mut torn = OpenOptions::new().append(true).open(&path).expect("open");
        let partial = &whole[..HEADER + 7];
        torn.write_all(partial).expect("write");
        drop(torn);

        let spool = Spool::open(config(dir.path(), 1 << 20, u64::MAX)).expect("reopen");
        assert_eq!(
            spool.recovered,
            Recovered {
                records: 3,
                torn_bytes: partial.len() as u64,
                damaged_bytes: 0,
            }
        );
        assert_eq!(
            fs::read(&path).expect("segment"),
            whole,
            "cut back to the last whole record"
        );
        let (mut writer, mut reader) = (spool.writer, spool.reader);
        append(&mut writer, 3..4);
        let mut out = Vec::new();
        reader.read(100, &mut out).expect("read");
        assert_eq!(numbers(&out), [0, 1, 2, 3]);
    }

    #[test]
    fn a_damaged_record_in_an_older_segment_is_skipped_and_counted() {
        let dir = tempfile::tempdir().expect("temp dir");
        let spool = Spool::open(config(dir.path(), 100, u64::MAX)).expect("open");
        let (mut writer, mut reader, stats) = (spool.writer, spool.reader, spool.stats);
        // Two records a segment (about 40 bytes each).
        append(&mut writer, 0..2);
        append(&mut writer, 2..4);
        append(&mut writer, 4..6);
        let first = list_segments(dir.path()).expect("list")[0];
        let path = segment_path(dir.path(), first);
        let mut bytes = fs::read(&path).expect("segment");
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff; // the second record's payload
        fs::write(&path, bytes).expect("damage");
        let mut out = Vec::new();
        reader.read(100, &mut out).expect("read");
        assert_eq!(numbers(&out), [0, 2, 3, 4, 5]);
        assert_eq!(stats.damaged.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_full_spool_waits_for_the_store_instead_of_dropping() {
        let dir = tempfile::tempdir().expect("temp dir");
        let spool = Spool::open(config(dir.path(), 100, 200)).expect("open");
        let (mut writer, mut reader) = (spool.writer, spool.reader);
        append_one_by_one(&mut writer, 0..9);
        assert!(!writer.has_room());
        let waited = tokio::time::timeout(Duration::from_millis(50), writer.wait_for_room()).await;
        assert!(waited.is_err(), "no room until the store takes records");

        let waiter = tokio::spawn(async move {
            writer.wait_for_room().await;
            writer
        });
        assert!(reader.wait(Duration::from_secs(1)).await);
        let mut out = Vec::new();
        let to = reader.read(100, &mut out).expect("read");
        reader.commit(to, out.len() as u64).expect("commit");
        let writer = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("room again once committed")
            .expect("task");
        assert!(writer.has_room());
    }

    #[tokio::test]
    async fn the_reader_wakes_when_records_are_synced() {
        let dir = tempfile::tempdir().expect("temp dir");
        let spool = Spool::open(config(dir.path(), 1 << 20, u64::MAX)).expect("open");
        let (mut writer, mut reader) = (spool.writer, spool.reader);
        assert!(!reader.wait(Duration::from_millis(20)).await, "nothing yet");
        let waiting =
            tokio::spawn(async move { (reader.wait(Duration::from_secs(5)).await, reader) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        append(&mut writer, 0..1);
        let (woke, mut reader) = waiting.await.expect("task");
        assert!(woke);
        let mut out = Vec::new();
        reader.read(100, &mut out).expect("read");
        assert_eq!(numbers(&out), [0]);
    }
}
