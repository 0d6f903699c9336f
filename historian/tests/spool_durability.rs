//! Durability proven, not assumed (issue 13, items 10 and 15): the spool's file operations go
//! through a fault-injecting [`Filesystem`] that remembers what was synced, and a simulated
//! power cut keeps only that. SIGKILL keeps the page cache, so the kill tests would pass even
//! without `sync_data`; these would not.
//!
//! The power-cut model: a file's content is what it held at its last `sync_data` (empty if
//! never synced); a rename counts once its directory is synced.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use garonne_historian::spool::{
    DurableFile, Filesystem, Record, Recovered, Spool, SpoolConfig, SpoolReader, SpoolWriter,
};
use garonne_payload::Timestamp;

/// A file system on a real directory that remembers what is durable, and fails on demand.
#[derive(Default)]
struct FaultyDisk {
    /// Each file's content as of its last sync.
    durable: Mutex<HashMap<PathBuf, Vec<u8>>>,
    /// Renames not yet made durable by a directory sync.
    renames: Mutex<Vec<(PathBuf, PathBuf)>>,
    /// A write that fails (a full disk): after letting this many writes through, the next one
    /// stops after this many bytes and fails.
    fail_write: Mutex<Option<(u32, usize)>>,
    /// The next this many `set_len` calls fail.
    fail_set_len: AtomicU32,
    /// `sync_data` calls.
    syncs: AtomicU32,
}

impl FaultyDisk {
    /// The power cut: every file of `dir` goes back to what was durable.
    fn power_cut(&self, dir: &Path) {
        let durable = self.durable.lock().expect("lock");
        for entry in fs::read_dir(dir).expect("spool directory") {
            let path = entry.expect("entry").path();
            match durable.get(&path) {
                Some(bytes) => fs::write(&path, bytes).expect("rewrite"),
                None => fs::remove_file(&path).expect("remove"),
            }
        }
    }
}

struct FaultyFile {
    path: PathBuf,
    file: File,
    disk: Arc<FaultyDisk>,
}

impl DurableFile for FaultyFile {
    fn append_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut fail = self.disk.fail_write.lock().expect("lock");
        match *fail {
            Some((0, n)) => {
                *fail = None;
                self.file.write_all(&bytes[..n.min(bytes.len())])?;
                Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    "injected: no space left",
                ))
            }
            Some((through, n)) => {
                *fail = Some((through - 1, n));
                self.file.write_all(bytes)
            }
            None => self.file.write_all(bytes),
        }
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.file.sync_data()?;
        self.disk.syncs.fetch_add(1, Ordering::Relaxed);
        let content = fs::read(&self.path)?;
        self.disk
            .durable
            .lock()
            .expect("lock")
            .insert(self.path.clone(), content);
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        let failing = self.disk.fail_set_len.load(Ordering::Relaxed);
        if failing > 0 {
            self.disk.fail_set_len.store(failing - 1, Ordering::Relaxed);
            return Err(io::Error::other("injected: set_len failed"));
        }
        self.file.set_len(len)
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }
}

/// The seam's handle: an `Arc` so that the test keeps it while the spool uses it.
#[derive(Clone, Default)]
struct Faulty(Arc<FaultyDisk>);

impl Faulty {
    fn file(&self, path: &Path, file: File) -> Box<dyn DurableFile> {
        Box::new(FaultyFile {
            path: path.to_owned(),
            file,
            disk: Arc::clone(&self.0),
        })
    }
}

impl Filesystem for Faulty {
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn DurableFile>> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(self.file(path, file))
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn DurableFile>> {
        Ok(self.file(path, File::create(path)?))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)?;
        let pending = (from.to_owned(), to.to_owned());
        self.0.renames.lock().expect("lock").push(pending);
        Ok(())
    }

    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        let mut durable = self.0.durable.lock().expect("lock");
        for (from, to) in self.0.renames.lock().expect("lock").drain(..) {
            let content = durable.remove(&from).unwrap_or_default();
            durable.insert(to, content);
        }
        Ok(())
    }
}

fn config(dir: &Path, segment_bytes: u64) -> SpoolConfig {
    SpoolConfig {
        dir: dir.to_owned(),
        max_bytes: u64::MAX,
        segment_bytes,
    }
}

fn at(n: u64) -> Timestamp {
    Timestamp::new(1_764_000_000 + n as i64, 0).expect("time")
}

/// Appends records `range` (topic `t/{n}`, payload `payload {n}`) as one group and syncs it:
/// once this returns, the historian acknowledges them.
fn append_group(writer: &mut SpoolWriter, range: std::ops::Range<u64>) {
    append_unsynced(writer, range);
    writer.sync().expect("sync");
}

fn append_unsynced(writer: &mut SpoolWriter, range: std::ops::Range<u64>) {
    for n in range {
        writer
            .append(at(n), &format!("t/{n}"), format!("payload {n}").as_bytes())
            .expect("append");
    }
}

/// The numbers of `records`, checking each one's content.
fn numbers(records: &[Record]) -> Vec<u64> {
    records
        .iter()
        .map(|r| {
            let n: u64 = r.topic[2..].parse().expect("a number");
            assert_eq!(r.payload, format!("payload {n}").into_bytes());
            assert_eq!(r.received, at(n));
            n
        })
        .collect()
}

fn read_all(reader: &mut SpoolReader) -> Vec<u64> {
    let mut out = Vec::new();
    reader.read(usize::MAX, &mut out).expect("read");
    numbers(&out)
}

/// A spool in `dir` on the faulty file system `disk`.
fn open_faulty(dir: &Path, segment_bytes: u64, disk: &Faulty) -> Spool {
    Spool::open_with(config(dir, segment_bytes), Arc::new(disk.clone())).expect("open")
}

/// Cuts the power, opens the spool again (on the real file system) and checks that it gives
/// back exactly the records `kept`.
fn assert_kept_after_power_cut(
    dir: &Path,
    segment_bytes: u64,
    disk: &Faulty,
    kept: std::ops::Range<u64>,
) {
    disk.0.power_cut(dir);
    let spool = Spool::open(config(dir, segment_bytes)).expect("reopen");
    let recovered = spool.recovered;
    assert_eq!(recovered.records, kept.end - kept.start, "{recovered:?}");
    let mut reader = spool.reader;
    assert_eq!(read_all(&mut reader), kept.collect::<Vec<_>>());
}

/// Fails if `sync_data` is taken out of `SpoolWriter::sync`: the acknowledged records would
/// then be only in the page cache, and the power cut takes them.
#[test]
fn acknowledged_records_survive_a_power_cut() {
    let dir = tempfile::tempdir().expect("temp dir");
    let disk = Faulty::default();
    {
        let mut writer = open_faulty(dir.path(), 200, &disk).writer;
        append_group(&mut writer, 0..3);
        append_group(&mut writer, 3..10); // across segments
        append_group(&mut writer, 10..11);
        // Appended, never synced, never acknowledged: the cut may take it.
        append_unsynced(&mut writer, 11..12);
    }
    assert_kept_after_power_cut(dir.path(), 200, &disk, 0..11);
}

/// Fails if the cursor is saved without a sync (the spool before the fix wrote it with
/// `fs::write` and a rename): after a power cut the store's progress is forgotten and every
/// record is written again.
#[test]
fn a_saved_cursor_survives_a_power_cut() {
    let dir = tempfile::tempdir().expect("temp dir");
    let disk = Faulty::default();
    {
        let spool = open_faulty(dir.path(), 1 << 20, &disk);
        let (mut writer, mut reader) = (spool.writer, spool.reader);
        append_group(&mut writer, 0..10);
        let mut out = Vec::new();
        let to = reader.read(4, &mut out).expect("read");
        reader.commit(to, 4).expect("commit");
    }
    assert_kept_after_power_cut(dir.path(), 1 << 20, &disk, 4..10);
}

/// A failed write whose cut-back also failed: before the fix the error of `set_len` was
/// ignored and the next group was appended after the partial one, so the reader met garbage
/// where the durable position said records were.
#[test]
fn a_failed_write_is_cut_back_before_the_next_one_even_if_the_first_cut_fails() {
    let dir = tempfile::tempdir().expect("temp dir");
    let disk = Faulty::default();
    let spool = open_faulty(dir.path(), 1 << 20, &disk);
    let (mut writer, mut reader, stats) = (spool.writer, spool.reader, spool.stats);
    append_group(&mut writer, 0..3);
    *disk.0.fail_write.lock().expect("lock") = Some((0, 20));
    disk.0.fail_set_len.store(1, Ordering::Relaxed);
    append_unsynced(&mut writer, 3..6);
    assert!(writer.sync().is_err(), "the disk is full");
    assert_eq!(writer.buffered(), 3, "nothing acknowledged, all kept");
    // Room again, and a cut that works.
    writer.sync().expect("sync once the disk has room");
    append_group(&mut writer, 6..8);
    assert_eq!(read_all(&mut reader), (0..8).collect::<Vec<_>>());
    assert_eq!(stats.damaged.load(Ordering::Relaxed), 0);
    drop((writer, reader));
    let spool = Spool::open(config(dir.path(), 1 << 20)).expect("reopen");
    assert_eq!(
        spool.recovered,
        Recovered {
            records: 8,
            torn_bytes: 0,
            damaged_bytes: 0
        }
    );
}

/// A group split across segments that fails half-way goes on from where it stopped: no record
/// is written twice, none is lost.
#[test]
fn a_split_group_that_fails_half_way_goes_on_without_duplicates() {
    let dir = tempfile::tempdir().expect("temp dir");
    let disk = Faulty::default();
    // 30 bytes a record, 100 a segment: three records a segment.
    let spool = open_faulty(dir.path(), 100, &disk);
    let (mut writer, mut reader) = (spool.writer, spool.reader);
    append_unsynced(&mut writer, 0..9);
    let syncs = disk.0.syncs.load(Ordering::Relaxed);
    writer.sync().expect("sync");
    assert!(
        disk.0.syncs.load(Ordering::Relaxed) - syncs >= 3,
        "one sync a segment's part"
    );
    assert_eq!(read_all(&mut reader), (0..9).collect::<Vec<_>>());

    append_unsynced(&mut writer, 9..15);
    // The first part goes through; the second stops after 10 bytes.
    *disk.0.fail_write.lock().expect("lock") = Some((1, 10));
    assert!(writer.sync().is_err(), "the disk is full");
    assert!(
        writer.buffered() > 0 && writer.buffered() < 6,
        "the first part is written"
    );
    writer.sync().expect("sync once the disk has room");
    assert_eq!(writer.buffered(), 0);
    assert_eq!(read_all(&mut reader), (9..15).collect::<Vec<_>>());
    drop((writer, reader));
    let spool = Spool::open(config(dir.path(), 100)).expect("reopen");
    assert_eq!(spool.recovered.records, 15, "each record once");
}

/// Flips byte `at` of the frame that starts at `frame_start` in `path`.
fn damage(path: &Path, frame_start: usize, at: usize) {
    let mut bytes = fs::read(path).expect("segment");
    bytes[frame_start + at] ^= 0xff;
    fs::write(path, bytes).expect("damage");
}

/// The start of each frame in a segment.
fn frame_starts(path: &Path) -> Vec<usize> {
    let bytes = fs::read(path).expect("segment");
    let mut starts = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        starts.push(at);
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("header")) as usize;
        at += 8 + len;
    }
    starts
}

fn only_segment(dir: &Path) -> PathBuf {
    let segments: Vec<PathBuf> = fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    assert_eq!(segments.len(), 1);
    segments.into_iter().next().expect("one")
}

/// A spool of one segment holding records `0..records`, synced, then byte `at_byte` of record
/// `damaged` flipped: the spool's directory, the segment, and where each record starts.
fn damaged_spool(
    records: u64,
    damaged: usize,
    at_byte: usize,
) -> (tempfile::TempDir, PathBuf, Vec<usize>) {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let mut writer = Spool::open(config(dir.path(), 1 << 20))
            .expect("open")
            .writer;
        append_group(&mut writer, 0..records);
    }
    let path = only_segment(dir.path());
    let starts = frame_starts(&path);
    damage(&path, starts[damaged], at_byte);
    (dir, path, starts)
}

/// Before the fix, a damaged record in the last segment was taken for a torn write: the
/// segment was cut there, and the 6 synced, acknowledged records after it were lost.
#[test]
fn a_damaged_record_in_the_last_segment_keeps_the_records_after_it() {
    for (what, at_byte) in [("its body", 14), ("its length", 0)] {
        let (dir, _, starts) = damaged_spool(10, 3, at_byte);
        let spool = Spool::open(config(dir.path(), 1 << 20)).expect("reopen");
        assert_eq!(
            spool.recovered,
            Recovered {
                records: 9,
                torn_bytes: 0,
                damaged_bytes: (starts[4] - starts[3]) as u64,
            },
            "damage in {what}"
        );
        let (mut writer, mut reader, stats) = (spool.writer, spool.reader, spool.stats);
        append_group(&mut writer, 10..11);
        let expected: Vec<u64> = (0..11).filter(|&n| n != 3).collect();
        assert_eq!(read_all(&mut reader), expected, "damage in {what}");
        assert_eq!(stats.damaged.load(Ordering::Relaxed), 1, "counted");
    }
}

/// The torn end of a real crash is still cut, with damage before it skipped.
#[test]
fn a_torn_end_after_a_damaged_record_is_still_cut() {
    let (dir, path, starts) = damaged_spool(5, 1, 14);
    let whole = fs::read(&path).expect("segment");
    let mut torn = OpenOptions::new().append(true).open(&path).expect("open");
    torn.write_all(&whole[starts[2]..starts[2] + 12])
        .expect("a torn write");
    drop(torn);
    let spool = Spool::open(config(dir.path(), 1 << 20)).expect("reopen");
    assert_eq!(
        spool.recovered,
        Recovered {
            records: 4,
            torn_bytes: 12,
            damaged_bytes: (starts[2] - starts[1]) as u64,
        }
    );
    let mut reader = spool.reader;
    assert_eq!(read_all(&mut reader), [0, 2, 3, 4]);
}
