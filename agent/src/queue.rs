//! The on-disk queue of readings waiting for the broker's acknowledgement.
//!
//! One file per item, named by a zero-padded counter and its kind: a reading of the Pi's
//! modules (`00000000000000000042.json`) or a SenML pack of a CAN device, many readings in one
//! message (`00000000000000000043.senml`); it holds exactly the bytes to publish. An item is
//! queued only once it is on disk: written to `NAME.tmp`, fsynced, renamed to `NAME` and the
//! folder fsynced, so a power cut leaves either the whole file or none (a stray `.tmp` is
//! removed at the next start). The counter order is the publishing order; the agent restarted
//! lists the folder and carries on where it stopped. A file is deleted only when the broker
//! acknowledged it. A file that cannot be read or holds no reading (or pack) is moved to
//! `quarantine/` in the folder at start (kept, never published), so that one damaged file never
//! stops the agent. Each entry knows its sensor and the `seq` of its last reading, so that
//! sequence numbers carry on, per sensor, after a restart.
//!
//! The queue is bounded by `queue_max_bytes` (the sum of the files' sizes). When a new reading
//! does not fit, the **oldest** readings are dropped and counted, with one warning per overflow
//! episode (a later one when there is room again, with the count).
//!
//! Design: drop the oldest, not the newest, because a live neighbourhood map wants the latest
//! values, an outage that outlasts the queue has lost its start either way, and the readings
//! kept are then one contiguous recent run that receivers see as a single gap in `seq`.
//!
//! Performance: the queue also holds its readings in memory (at most `queue_max_bytes`), so
//! publishing reads no file; disk I/O is one write and rename per reading queued and one unlink
//! per reading acknowledged.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use garonne_payload::Reading;
use tracing::{info, warn};

/// Digits of a queue file's counter (every `u64` fits).
const NAME_DIGITS: usize = 20;
/// Extension of a queued reading.
const EXTENSION: &str = "json";
/// Extension of a queued SenML pack.
const PACK_EXTENSION: &str = "senml";
/// Extension of a reading being written.
const TMP_EXTENSION: &str = "tmp";
/// The folder, in the queue's, where files that hold no reading are moved.
const QUARANTINE: &str = "quarantine";

/// What a queued item is, which says its topic and its file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// One reading (JSON), for the `reading` topic.
    Reading,
    /// A SenML pack of one sensor's readings, for the `senml` topic.
    Pack,
}

impl ItemKind {
    fn extension(self) -> &'static str {
        match self {
            ItemKind::Reading => EXTENSION,
            ItemKind::Pack => PACK_EXTENSION,
        }
    }
}

/// One queued item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its counter: the file name and the publishing order.
    pub id: u64,
    /// A reading or a pack.
    pub kind: ItemKind,
    /// The sensor whose readings it holds.
    pub sensor_id: String,
    /// The `seq` of its (last) reading.
    pub seq: u64,
    /// The bytes to publish (the reading's JSON, the pack's SenML).
    pub bytes: Vec<u8>,
}

/// An item to queue ([`DiskQueue::push_all`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// A reading or a pack.
    pub kind: ItemKind,
    /// The sensor whose readings it holds.
    pub sensor_id: String,
    /// The `seq` of its (last) reading.
    pub seq: u64,
    /// The bytes to publish.
    pub bytes: Vec<u8>,
}

/// What [`DiskQueue::open`] found on disk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Readings found, ready to publish.
    pub readings: usize,
    /// Half-written files removed (the previous run stopped while writing them).
    pub partial: usize,
    /// Files that could not be read or held no reading, moved to `quarantine/`.
    pub unreadable: usize,
}

/// What [`DiskQueue::push`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The new entry's counter (the first's, of several).
    pub id: u64,
    /// How many of the oldest readings were dropped to make room.
    pub dropped: u64,
}

/// The file operations that make a queued reading durable, one call each, so that a test can
/// cut the power between them ([`tests::PowerCut`]: a file system that keeps only what was
/// synced) and prove that [`DiskQueue::push`] returns only once the reading survives a power
/// cut. [`RealDisk`] is the file system.
pub trait Disk: Send + Sync + std::fmt::Debug {
    /// Creates (or truncates) `path` and writes `bytes` into it; nothing is synced.
    fn create_write(&self, path: &Path, bytes: &[u8]) -> io::Result<()>;
    /// Syncs the contents of `path` to the device.
    fn sync_file(&self, path: &Path) -> io::Result<()>;
    /// Renames `from` to `to`, in one folder; nothing is synced.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Syncs the folder `dir`: the renames and removals in it become durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// The file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealDisk;

impl Disk for RealDisk {
    fn create_write(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        File::create(path)?.write_all(bytes)
    }

    fn sync_file(&self, path: &Path) -> io::Result<()> {
        // An fsync of any descriptor of the file flushes its data (POSIX, Linux).
        File::open(path)?.sync_all()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        sync_dir(dir)
    }
}

/// A bounded, crash-safe FIFO of readings in one folder.
#[derive(Debug)]
pub struct DiskQueue {
    disk: Box<dyn Disk>,
    dir: PathBuf,
    max_bytes: u64,
    entries: VecDeque<Entry>,
    bytes: u64,
    next_id: u64,
    dropped_total: u64,
    /// Readings dropped in the overflow episode under way, if one is.
    overflow: Option<u64>,
}

impl DiskQueue {
    /// Opens the queue in `dir` (created if missing), bounded by `max_bytes`, with the readings
    /// a previous run left. Readings beyond the bound (it may have been lowered) are dropped,
    /// oldest first.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<(DiskQueue, Recovered)> {
        fs::create_dir_all(dir)?;
        let mut recovered = Recovered::default();
        let mut found = Vec::new();
        for item in fs::read_dir(dir)? {
            let path = item?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name.ends_with(&format!(".{TMP_EXTENSION}")) {
                fs::remove_file(&path)?;
                recovered.partial += 1;
                continue;
            }
            if name == QUARANTINE {
                continue;
            }
            let Some((id, kind)) = parse_name(name) else {
                warn!(file = %path.display(), "ignoring a file that is not a queued reading");
                continue;
            };
            match read_item(&path, kind) {
                Ok((sensor_id, seq, bytes)) => found.push(Entry {
                    id,
                    kind,
                    sensor_id,
                    seq,
                    bytes,
                }),
                Err(why) => {
                    quarantine(dir, &path, &why);
                    recovered.unreadable += 1;
                }
            }
        }
        found.sort_by_key(|e| e.id);
        recovered.readings = found.len();
        let next_id = found.last().map_or(0, |e| e.id + 1);
        let bytes = found.iter().map(|e| e.bytes.len() as u64).sum();
        let mut queue = DiskQueue {
            disk: Box::new(RealDisk),
            dir: dir.to_owned(),
            max_bytes,
            entries: found.into(),
            bytes,
            next_id,
            dropped_total: 0,
            overflow: None,
        };
        if recovered.partial + recovered.unreadable > 0 {
            sync_dir(dir)?;
        }
        queue.make_room(0)?;
        Ok((queue, recovered))
    }

    /// Queues an item of `kind` (a reading's JSON, a pack's SenML) of `sensor_id`, whose last
    /// reading is numbered `seq`: durable on disk when this returns. Drops the oldest items
    /// first if it would not fit.
    pub fn push(
        &mut self,
        kind: ItemKind,
        sensor_id: &str,
        seq: u64,
        bytes: Vec<u8>,
    ) -> io::Result<Pushed> {
        self.push_all(vec![Item {
            kind,
            sensor_id: sensor_id.to_owned(),
            seq,
            bytes,
        }])
    }

    /// Queues `items` in their order, all durable on disk when this returns, with one sync of
    /// the folder for all of them (the agent catching up, or saving what the CAN source held at
    /// shutdown). Drops the oldest items first if they would not fit. The [`Pushed::id`] is the
    /// first item's; the others follow it. On an error none of them is queued.
    pub fn push_all(&mut self, items: Vec<Item>) -> io::Result<Pushed> {
        let sizes: Vec<u64> = items.iter().map(|i| i.bytes.len() as u64).collect();
        if let Some(&size) = sizes.iter().find(|&&size| size > self.max_bytes) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a reading of {size} bytes is larger than queue_max_bytes ({})",
                    self.max_bytes
                ),
            ));
        }
        let total: u64 = sizes.iter().sum();
        if items.is_empty() {
            return Ok(Pushed {
                id: self.next_id,
                dropped: 0,
            });
        }
        if total > self.max_bytes {
            // Too much for the bound at once (each fits, so there are two at least): in halves,
            // each making its own room.
            let mut second = items;
            let first: Vec<Item> = second.drain(..second.len() / 2).collect();
            let a = self.push_all(first)?;
            let b = self.push_all(second)?;
            return Ok(Pushed {
                id: a.id,
                dropped: a.dropped + b.dropped,
            });
        }
        let dropped = self.make_room(total)?;
        if dropped == 0
            && let Some(episode) = self.overflow.take()
        {
            info!(dir = %self.dir.display(), dropped = episode, "reading queue has room again");
        }
        let first = self.next_id;
        // Design: ids are taken even when writing fails, so that a file a failed write left
        // under its final name is never overwritten by a later item.
        self.next_id += items.len() as u64;
        let paths: Vec<PathBuf> = items
            .iter()
            .zip(first..)
            .map(|(item, id)| self.path(id, item.kind))
            .collect();
        if let Err(error) = self.write_durably(&items, &paths) {
            for path in &paths {
                let _ = fs::remove_file(path.with_extension(TMP_EXTENSION));
                let _ = fs::remove_file(path);
            }
            return Err(error);
        }
        self.bytes += total;
        self.entries
            .extend(items.into_iter().zip(first..).map(|(item, id)| Entry {
                id,
                kind: item.kind,
                sensor_id: item.sensor_id,
                seq: item.seq,
                bytes: item.bytes,
            }));
        Ok(Pushed { id: first, dropped })
    }

    /// Writes each item to its path, durably.
    ///
    /// Design: each file whole and synced under a temporary name, then renamed and the folder
    /// synced: a power cut at any step leaves each item whole or absent (a `.tmp` is removed at
    /// the next open). Only then are they queued. One folder sync covers every rename.
    fn write_durably(&self, items: &[Item], paths: &[PathBuf]) -> io::Result<()> {
        let tmps: Vec<PathBuf> = paths
            .iter()
            .map(|p| p.with_extension(TMP_EXTENSION))
            .collect();
        for (item, tmp) in items.iter().zip(&tmps) {
            self.disk.create_write(tmp, &item.bytes)?;
        }
        for tmp in &tmps {
            self.disk.sync_file(tmp)?;
        }
        for (tmp, path) in tmps.iter().zip(paths) {
            self.disk.rename(tmp, path)?;
        }
        self.disk.sync_dir(&self.dir)
    }

    /// Drops the oldest entries until `incoming` more bytes fit; returns how many.
    fn make_room(&mut self, incoming: u64) -> io::Result<u64> {
        let mut dropped = 0;
        while self.bytes + incoming > self.max_bytes {
            let Some(oldest) = self.entries.front() else {
                break;
            };
            let id = oldest.id;
            self.remove(id)?;
            dropped += 1;
        }
        if dropped > 0 {
            self.dropped_total += dropped;
            match &mut self.overflow {
                Some(episode) => *episode += dropped,
                None => {
                    warn!(
                        dir = %self.dir.display(),
                        max_bytes = self.max_bytes,
                        "reading queue full: dropping the oldest readings until the broker \
                         is back (raise queue_max_bytes to keep more)"
                    );
                    self.overflow = Some(dropped);
                }
            }
        }
        Ok(dropped)
    }

    /// Removes the entry `id` (acknowledged by the broker). Returns whether it was queued: an
    /// entry dropped by an overflow while in flight is simply gone.
    pub fn remove(&mut self, id: u64) -> io::Result<bool> {
        let Ok(index) = self.entries.binary_search_by_key(&id, |e| e.id) else {
            return Ok(false);
        };
        match fs::remove_file(self.path(id, self.entries[index].kind)) {
            Ok(()) => {}
            // Already gone (removed by hand): the entry goes all the same.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        // Design: no fsync of the folder here: if a power cut brings a removed file back, the
        // reading is published twice, which QoS 1 allows, and nothing is lost.
        if let Some(entry) = self.entries.remove(index) {
            self.bytes -= entry.bytes.len() as u64;
        }
        Ok(true)
    }

    /// Makes the queue write through `disk` (tests).
    #[cfg(test)]
    fn with_disk(mut self, disk: Box<dyn Disk>) -> DiskQueue {
        self.disk = disk;
        self
    }

    /// The first entry after `id` (the first of all for `None`), in publishing order.
    pub fn next_after(&self, id: Option<u64>) -> Option<&Entry> {
        match id {
            None => self.entries.front(),
            Some(id) => {
                let start = self.entries.partition_point(|e| e.id <= id);
                self.entries.get(start)
            }
        }
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// How many readings are queued.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no reading is queued.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes queued (the sum of the readings' sizes).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The `seq` of the newest queued reading of `sensor_id`.
    pub fn last_seq(&self, sensor_id: &str) -> Option<u64> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.sensor_id == sensor_id)
            .map(|e| e.seq)
    }

    /// Readings dropped for room since the queue was opened.
    pub fn dropped(&self) -> u64 {
        self.dropped_total
    }

    /// Whether an overflow episode is under way.
    pub fn overflowing(&self) -> bool {
        self.overflow.is_some()
    }

    /// The queue's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, id: u64, kind: ItemKind) -> PathBuf {
        self.dir.join(format!(
            "{id:0width$}.{}",
            kind.extension(),
            width = NAME_DIGITS
        ))
    }
}

/// A queued file's sensor, last `seq` and bytes; or why the file holds no item of its kind.
fn read_item(path: &Path, kind: ItemKind) -> Result<(String, u64, Vec<u8>), String> {
    let bytes = fs::read(path).map_err(|e| format!("cannot be read: {e}"))?;
    let (sensor_id, seq) = match kind {
        ItemKind::Reading => {
            let reading: Reading =
                serde_json::from_slice(&bytes).map_err(|e| format!("holds no reading: {e}"))?;
            (reading.sensor_id, reading.seq)
        }
        ItemKind::Pack => pack_sensor_and_last_seq(&bytes).ok_or("holds no SenML pack")?,
    };
    Ok((sensor_id, seq, bytes))
}

/// The records of a pack that are metadata of the whole pack, not readings' values.
const PACK_METADATA: [&str; 4] = ["lat", "lon", "alt", "seq"];

/// The sensor of a pack the agent encoded, and the `seq` of its last reading: its `seq` record
/// (the first reading's) plus its distinct times, less one (SenML makes one reading of the
/// records of one time). Read without the catalogue: the pack's quantities may be of a profile
/// not loaded yet.
fn pack_sensor_and_last_seq(bytes: &[u8]) -> Option<(String, u64)> {
    type Record = serde_json::Map<String, serde_json::Value>;
    let records: Vec<Record> = serde_json::from_slice(bytes).ok()?;
    fn name(r: &Record) -> Option<&str> {
        r.get("n").and_then(serde_json::Value::as_str)
    }
    let sensor_id = records.first()?.get("bn")?.as_str()?.strip_suffix(':')?;
    let first_seq = records
        .iter()
        .find(|r| name(r) == Some("seq"))?
        .get("v")?
        .as_u64()?;
    let times: std::collections::BTreeSet<u64> = records
        .iter()
        .filter(|r| r.contains_key("v") && !name(r).is_some_and(|n| PACK_METADATA.contains(&n)))
        .map(|r| {
            r.get("t")
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(0.0)
                .to_bits()
        })
        .collect();
    let last = first_seq + (times.len() as u64).saturating_sub(1);
    Some((sensor_id.to_owned(), last))
}

/// Moves a queued file that holds no reading into `quarantine/` in the queue's folder, where it
/// is kept for a look and never published; when even that fails, it is left where it is and
/// skipped. Either way the queue opens: one damaged file never stops the agent.
fn quarantine(dir: &Path, path: &Path, why: &str) {
    let folder = dir.join(QUARANTINE);
    let moved = fs::create_dir_all(&folder)
        .and_then(|()| fs::rename(path, folder.join(path.file_name().unwrap_or_default())));
    match moved {
        Ok(()) => warn!(file = %path.display(), why, to = %folder.display(),
            "a queued file moved to quarantine"),
        Err(error) => warn!(file = %path.display(), why, %error,
            "a queued file that cannot be moved to quarantine is skipped"),
    }
}

/// The counter and kind of a queue file name, `None` for any other name.
fn parse_name(name: &str) -> Option<(u64, ItemKind)> {
    let (stem, kind) = [ItemKind::Reading, ItemKind::Pack]
        .into_iter()
        .find_map(|kind| {
            Some((
                name.strip_suffix(kind.extension())?.strip_suffix('.')?,
                kind,
            ))
        })?;
    if stem.len() != NAME_DIGITS || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((stem.parse().ok()?, kind))
}

/// Makes a rename or removal in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use garonne_payload::{Location, Quantity, Source, Timestamp};

    fn reading(seq: u64) -> Vec<u8> {
        reading_of("pi-test", seq)
    }

    /// Queues the reading `seq` of `pi-test`.
    fn push(q: &mut DiskQueue, seq: u64, bytes: Vec<u8>) -> io::Result<Pushed> {
        q.push(ItemKind::Reading, "pi-test", seq, bytes)
    }

    /// A reading's JSON as the agent queues it, of `sensor_id`, numbered `seq`.
    pub(crate) fn reading_of(sensor_id: &str, seq: u64) -> Vec<u8> {
        let mut r = Reading::new(
            sensor_id,
            crate::agent::KIND,
            Source::RaspberryPi,
            Timestamp::parse("2025-11-24T10:15:00Z").expect("valid"),
            seq,
            Location::new(1.44, 43.6),
        );
        r.quantities.set(Quantity::Temperature, 20.0);
        r.to_json()
    }

    fn seqs(q: &DiskQueue) -> Vec<u64> {
        q.entries().map(|e| e.seq).collect()
    }

    #[test]
    fn readings_come_out_in_the_order_they_went_in() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut q, recovered) = DiskQueue::open(dir.path(), 1 << 20).expect("open");
        assert_eq!(recovered, Recovered::default());
        for seq in 0..12 {
            let pushed = push(&mut q, seq, reading(seq)).expect("push");
            assert_eq!(
                pushed,
                Pushed {
                    id: seq,
                    dropped: 0
                }
            );
        }
        assert_eq!(seqs(&q), (0..12).collect::<Vec<_>>());
        // Walking with next_after visits every entry once, in order.
        let mut walked = Vec::new();
        let mut last = None;
        while let Some(e) = q.next_after(last) {
            walked.push(e.seq);
            last = Some(e.id);
        }
        assert_eq!(walked, (0..12).collect::<Vec<_>>());
        assert!(q.remove(0).expect("remove"));
        assert!(q.remove(1).expect("remove"));
        assert!(!q.remove(1).expect("remove again"), "already gone");
        assert_eq!(q.next_after(None).map(|e| e.seq), Some(2));
        assert_eq!(q.next_after(Some(5)).map(|e| e.seq), Some(6));
        assert_eq!(q.next_after(Some(11)), None);
        // Files sort like the counter: zero-padded names.
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names.first().map(String::as_str),
            Some("00000000000000000002.json")
        );
        assert_eq!(names.len(), 10);
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_counts_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        let size = reading(0).len() as u64;
        let (mut q, _) = DiskQueue::open(dir.path(), size * 5).expect("open");
        for seq in 0..5 {
            assert_eq!(push(&mut q, seq, reading(seq)).expect("push").dropped, 0);
        }
        assert!(!q.overflowing());
        for seq in 5..8 {
            assert_eq!(push(&mut q, seq, reading(seq)).expect("push").dropped, 1);
        }
        assert!(q.overflowing());
        assert_eq!(seqs(&q), [3, 4, 5, 6, 7]);
        assert_eq!(q.dropped(), 3);
        assert!(q.bytes() <= size * 5);
        assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 5);
        // Acknowledgements make room: the episode ends with the next push that fits.
        q.remove(3).expect("ack");
        assert_eq!(push(&mut q, 8, reading(8)).expect("push").dropped, 0);
        assert!(!q.overflowing());
        assert_eq!(seqs(&q), [4, 5, 6, 7, 8]);
        assert_eq!(q.dropped(), 3);
        // A reading larger than the whole bound is refused, not queued.
        assert!(push(&mut q, 9, vec![b' '; (size * 6) as usize]).is_err());
    }

    /// A queue folder left by a run that queued the readings `seqs` and had the first
    /// `acknowledged` of them acknowledged.
    fn left_by_a_run(seqs: std::ops::Range<u64>, acknowledged: u64) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut q, _) = DiskQueue::open(dir.path(), 1 << 20).expect("open");
        for seq in seqs {
            push(&mut q, seq, reading(seq)).expect("push");
        }
        for id in 0..acknowledged {
            q.remove(id).expect("ack");
        }
        dir
    }

    #[test]
    fn a_restarted_queue_finds_its_readings_and_cleans_half_written_ones() {
        let dir = left_by_a_run(40..46, 1);
        // A crash while writing, a stranger, and a damaged file.
        fs::write(dir.path().join("00000000000000000006.tmp"), b"{\"v\":1,").expect("tmp");
        fs::write(dir.path().join("notes.txt"), b"hello").expect("stranger");
        fs::write(dir.path().join("00000000000000000003.json"), b"garbage").expect("damage");

        let (mut q, recovered) = DiskQueue::open(dir.path(), 1 << 20).expect("reopen");
        assert_eq!(
            recovered,
            Recovered {
                readings: 4,
                partial: 1,
                unreadable: 1
            }
        );
        assert_eq!(seqs(&q), [41, 42, 44, 45]);
        assert_eq!(q.last_seq("pi-test"), Some(45));
        assert_eq!(q.last_seq("pi-other"), None);
        // The counter continues after the newest file, so order holds across restarts.
        assert_eq!(push(&mut q, 46, reading(46)).expect("push").id, 6);
        assert_eq!(seqs(&q), [41, 42, 44, 45, 46]);
        assert!(dir.path().join("notes.txt").exists());
        assert!(!dir.path().join("00000000000000000006.tmp").exists());
    }

    /// A file system that keeps, at a power cut, only what was synced: a file's contents once
    /// `sync_file` ran after they were written, a name once `sync_dir` ran after the rename.
    /// It writes nothing to disk; `durable()` is what a power cut now would leave.
    #[derive(Debug, Default)]
    pub(crate) struct PowerCut {
        state: std::sync::Mutex<Files>,
    }

    #[derive(Debug, Default)]
    struct Files {
        /// Contents by file identity, as written and as synced.
        written: Vec<Vec<u8>>,
        synced: Vec<Option<Vec<u8>>>,
        /// Names: as the folder reads now, and as last synced.
        names: std::collections::BTreeMap<PathBuf, usize>,
        durable_names: std::collections::BTreeMap<PathBuf, usize>,
    }

    impl PowerCut {
        /// What a power cut now would leave: each durable name with its synced contents.
        pub(crate) fn durable(&self) -> std::collections::BTreeMap<PathBuf, Option<Vec<u8>>> {
            let files = self.state.lock().expect("state");
            files
                .durable_names
                .iter()
                .map(|(name, &file)| (name.clone(), files.synced[file].clone()))
                .collect()
        }
    }

    impl Disk for std::sync::Arc<PowerCut> {
        fn create_write(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
            let mut files = self.state.lock().expect("state");
            files.written.push(bytes.to_vec());
            files.synced.push(None);
            let file = files.written.len() - 1;
            files.names.insert(path.to_owned(), file);
            Ok(())
        }

        fn sync_file(&self, path: &Path) -> io::Result<()> {
            let mut files = self.state.lock().expect("state");
            let file = *files.names.get(path).ok_or(io::ErrorKind::NotFound)?;
            files.synced[file] = Some(files.written[file].clone());
            Ok(())
        }

        fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
            let mut files = self.state.lock().expect("state");
            let file = files.names.remove(from).ok_or(io::ErrorKind::NotFound)?;
            files.names.insert(to.to_owned(), file);
            Ok(())
        }

        fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
            let mut files = self.state.lock().expect("state");
            files.durable_names = files.names.clone();
            Ok(())
        }
    }

    /// A queue in `dir` that writes through a [`PowerCut`] file system, and that file system.
    fn on_power_cut(dir: &Path) -> (DiskQueue, std::sync::Arc<PowerCut>) {
        let disk = std::sync::Arc::new(PowerCut::default());
        let (q, _) = DiskQueue::open(dir, 1 << 20).expect("open");
        (q.with_disk(Box::new(std::sync::Arc::clone(&disk))), disk)
    }

    #[test]
    fn a_reading_is_queued_only_once_a_power_cut_would_keep_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut q, disk) = on_power_cut(dir.path());
        for seq in 0..3 {
            let pushed = push(&mut q, seq, reading(seq)).expect("push");
            // The moment push returns, the power goes: the reading is on the device, whole,
            // under its final name (a power cut before would leave it, or a .tmp, or nothing).
            let durable = disk.durable();
            let name = dir.path().join(format!("{:020}.{EXTENSION}", pushed.id));
            assert_eq!(
                durable.get(&name),
                Some(&Some(reading(seq))),
                "reading {seq} not durable when push returned: {durable:?}"
            );
            assert!(
                durable
                    .keys()
                    .all(|n| n.extension() == Some(EXTENSION.as_ref())),
                "a temporary name left durable: {durable:?}"
            );
        }
    }

    /// The readings `seqs` of `pi-test`, as items to queue together.
    fn items(seqs: std::ops::Range<u64>) -> Vec<Item> {
        seqs.map(|seq| Item {
            kind: ItemKind::Reading,
            sensor_id: "pi-test".to_owned(),
            seq,
            bytes: reading(seq),
        })
        .collect()
    }

    #[test]
    fn items_queued_together_are_each_kept_by_a_power_cut_when_the_call_returns() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut q, disk) = on_power_cut(dir.path());
        push(&mut q, 0, reading(0)).expect("push");
        let pushed = q.push_all(items(1..5)).expect("push all");
        assert_eq!(pushed, Pushed { id: 1, dropped: 0 });
        let durable = disk.durable();
        for seq in 0..5 {
            let name = dir.path().join(format!("{seq:020}.{EXTENSION}"));
            assert_eq!(durable.get(&name), Some(&Some(reading(seq))), "{seq}");
        }
        assert_eq!(durable.len(), 5, "no temporary name left: {durable:?}");
        assert_eq!(seqs(&q), (0..5).collect::<Vec<_>>());
        // Nothing to queue: nothing written.
        assert_eq!(q.push_all(Vec::new()).expect("none").id, 5);
        assert_eq!(disk.durable().len(), 5);
    }

    #[test]
    fn items_queued_together_beyond_the_bound_keep_the_newest_within_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        // Two-digit seqs: readings of one size.
        let size = reading(10).len() as u64;
        let (mut q, _) = DiskQueue::open(dir.path(), size * 4).expect("open");
        push(&mut q, 10, reading(10)).expect("push");
        // Ten readings where four fit: queued in halves, the oldest dropped to make room.
        let pushed = q.push_all(items(11..21)).expect("push all");
        assert_eq!(pushed, Pushed { id: 1, dropped: 7 });
        assert_eq!(seqs(&q), [17, 18, 19, 20]);
        assert!(q.bytes() <= size * 4);
        assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 4);
        // One item larger than the bound: none is queued.
        let mut too_large = items(21..23);
        too_large[1].bytes = vec![b' '; (size * 5) as usize];
        assert!(q.push_all(too_large).is_err());
        assert_eq!(seqs(&q), [17, 18, 19, 20]);
    }

    #[test]
    fn a_file_that_cannot_be_read_is_quarantined_and_the_queue_opens() {
        let dir = left_by_a_run(10..13, 0);
        // A directory where a queued reading should be: reading it fails (also as root).
        fs::create_dir(dir.path().join("00000000000000000007.json")).expect("a directory");
        fs::write(dir.path().join("00000000000000000008.json"), b"{\"v\":").expect("damage");

        let (q, recovered) = DiskQueue::open(dir.path(), 1 << 20).expect("the queue opens");
        assert_eq!(recovered.readings, 3);
        assert_eq!(recovered.unreadable, 2);
        assert_eq!(seqs(&q), [10, 11, 12]);
        let quarantine = dir.path().join(QUARANTINE);
        assert!(quarantine.join("00000000000000000007.json").is_dir());
        assert_eq!(
            fs::read(quarantine.join("00000000000000000008.json")).expect("kept"),
            b"{\"v\":"
        );
        // The next start finds the queue clean and leaves the quarantine alone.
        let (q, recovered) = DiskQueue::open(dir.path(), 1 << 20).expect("reopens");
        assert_eq!((recovered.readings, recovered.unreadable), (3, 0));
        assert_eq!(seqs(&q), [10, 11, 12]);
    }

    #[test]
    fn a_lowered_bound_is_applied_at_open() {
        let dir = tempfile::tempdir().expect("temp dir");
        let size = reading(0).len() as u64;
        {
            let (mut q, _) = DiskQueue::open(dir.path(), 1 << 20).expect("open");
            for seq in 0..6 {
                push(&mut q, seq, reading(seq)).expect("push");
            }
        }
        let (q, recovered) = DiskQueue::open(dir.path(), size * 2).expect("reopen");
        assert_eq!(recovered.readings, 6);
        assert_eq!(seqs(&q), [4, 5]);
        assert_eq!(q.dropped(), 4);
    }

    #[test]
    fn file_names_are_exactly_twenty_digits() {
        assert_eq!(
            parse_name("00000000000000000042.json"),
            Some((42, ItemKind::Reading))
        );
        assert_eq!(
            parse_name("18446744073709551615.json"),
            Some((u64::MAX, ItemKind::Reading))
        );
        assert_eq!(
            parse_name("00000000000000000043.senml"),
            Some((43, ItemKind::Pack))
        );
        for bad in [
            "42.json",
            "0000000000000000004a.json",
            "00000000000000000042.tmp",
            "00000000000000000042senml",
            "x",
        ] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
    }

    /// A pack of `sensor_id`'s readings `first..first + count`, 10 ms apart, as the agent
    /// encodes it.
    fn pack_of(sensor_id: &str, first: u64, count: u64) -> Vec<u8> {
        let readings: Vec<Reading> = (first..first + count)
            .map(|seq| {
                let mut r: Reading =
                    serde_json::from_slice(&reading_of(sensor_id, seq)).expect("reading");
                r.time = r.time.add_nanos(seq as i64 * 10_000_000);
                r
            })
            .collect();
        garonne_payload::encode_senml(&readings).expect("one sensor")
    }

    #[test]
    fn packs_and_readings_share_the_queue_and_each_sensors_seq_carries_on() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let (mut q, _) = DiskQueue::open(dir.path(), 1 << 20).expect("open");
            push(&mut q, 3, reading(3)).expect("push");
            q.push(ItemKind::Pack, "car-1", 19, pack_of("car-1", 10, 10))
                .expect("push");
            push(&mut q, 4, reading(4)).expect("push");
        }
        // The pack is a .senml file beside the readings.
        assert!(dir.path().join("00000000000000000001.senml").is_file());
        let (q, recovered) = DiskQueue::open(dir.path(), 1 << 20).expect("reopen");
        assert_eq!(recovered.readings, 3);
        let kinds: Vec<_> = q
            .entries()
            .map(|e| (e.kind, e.sensor_id.as_str(), e.seq))
            .collect();
        assert_eq!(
            kinds,
            [
                (ItemKind::Reading, "pi-test", 3),
                (ItemKind::Pack, "car-1", 19),
                (ItemKind::Reading, "pi-test", 4)
            ]
        );
        // Each sensor's numbers carry on from its own last item.
        assert_eq!(q.last_seq("car-1"), Some(19));
        assert_eq!(q.last_seq("pi-test"), Some(4));
        // The same values at one time are one reading: its seq counts once.
        let mut r: Reading = serde_json::from_slice(&reading_of("car-2", 5)).expect("reading");
        r.quantities
            .set(garonne_payload::Quantity::RelativeHumidity, 0.5);
        let one = garonne_payload::encode_senml(&[r]).expect("pack");
        assert_eq!(
            pack_sensor_and_last_seq(&one),
            Some(("car-2".to_owned(), 5))
        );
        assert_eq!(pack_sensor_and_last_seq(b"[{\"n\":\"x\"}]"), None);
    }
}
