//! The live CAN source of `garonne pi` (issue 16): a car's SocketCAN interfaces, or a `candump`
//! log replayed at its own pace, decoded through the DBC into readings and cut into packs for
//! the agent's disk queue.
//!
//! Three stages, each a thread or a task joined by bounded channels (a full channel slows the
//! stage before it, nothing is dropped on the way):
//! - **frames in**: one blocking thread per interface (`recvmsg` with the kernel's receive time,
//!   `SO_TIMESTAMPNS`), or one thread reading the log line by line and sleeping until each
//!   frame's time, scaled by `log_speed`; both send batches of frames;
//! - **decode and cut** (a task): frames through the DBC ([`FrameDecoder`]) into readings, cut
//!   into packs ([`PackCutter`]); a pack goes when full, or `pack_max_span_ms` after its first
//!   reading came in;
//! - the agent numbers each pack's readings (`seq` per sensor), encodes the SenML and queues it.
//!
//! Shutdown (Ctrl-C, SIGTERM) drops nothing that was read: the readers stop reading and pass
//! on the batch they hold, the decoder decodes every batch left and passes on its pending pack
//! at once, and the agent writes every pack to its disk queue before it goes offline. That is
//! bounded in time (the agent's `CAN_DRAIN_GRACE`, 10 s): past it, the values left are counted
//! and logged as lost. The channels stay bounded.
//!
//! Every value keeps its frame's time: the log's, or the kernel's receive time, to the
//! microsecond (SenML's resolution). What is not a value is counted and logged once per kind:
//! log lines that are not frames, remote and error frames, frames of an id the DBC lacks,
//! values out of their profile's range, readings timed before 2000 (the clock not set yet).
//!
//! Design: replaying a log, not following it as it grows: a log is a finished run (a test
//! bench's, a car's SD card), and a live car is read from its interfaces. The replay keeps the
//! log's times, so a run logged yesterday is stored as yesterday's.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;
use std::time::Duration;

use garonne_payload::profile::Profile;
use garonne_payload::{Limits, Location, ProfileId, Quantity, Reading};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::PiError;
use crate::can::candump::{BadReason, Frame, parse_line};
use crate::can::dbc::CanDb;
use crate::can::profile::{Channel, channels, profile_toml};
use crate::can::readings::{DecodeReport, Device, FrameDecoder, PackCutter, PackPolicy};
use crate::config::{CanConfig, PiConfig};

/// The `kind` of a CAN device's readings.
pub(crate) const CAN_KIND: &str = "can-logger";
/// Batches of frames waiting to be decoded.
const FRAME_BATCHES: usize = 64;
/// Packs waiting for the disk queue.
pub(crate) const PACKS: usize = 64;
/// Most frames in one batch.
const BATCH_FRAMES: usize = 512;

/// A started CAN source: the packs, each one sensor's readings to number, encode and queue.
pub(crate) struct CanSource {
    /// The packs' sensor id.
    pub(crate) sensor_id: String,
    /// Closed when the source has ended (a log replayed whole) or stopped.
    pub(crate) packs: mpsc::Receiver<Vec<Reading>>,
}

/// What the CAN source needs from the DBC: its signals, and the quantity of each.
struct Decoding {
    db: CanDb,
    channels: Vec<Channel>,
    device: Device,
    policy: PackPolicy,
}

/// The `[can]` section with its DBC read and its profile in the catalogue, ready to start.
pub(crate) struct Prepared {
    decoding: Decoding,
    can: CanConfig,
}

/// Reads the DBC and finds or makes its profile, when the configuration has a `[can]`
/// section; fails with what to fix.
pub(crate) fn prepare(config: &PiConfig, location: Location) -> Result<Option<Prepared>, PiError> {
    let (Some(can), Some(sensor_id)) = (&config.can, config.can_sensor_id()) else {
        return Ok(None);
    };
    Ok(Some(Prepared {
        decoding: decoding(can, sensor_id, location)?,
        can: can.clone(),
    }))
}

impl Prepared {
    /// Opens the interfaces (or the log) and starts the stages; fails with what to fix.
    pub(crate) fn start(self, shutdown: &CancellationToken) -> Result<CanSource, PiError> {
        let Prepared { decoding, can } = self;
        let (frames_tx, frames_rx) = mpsc::channel(FRAME_BATCHES);
        match &can.log_file {
            Some(path) => {
                let file = std::fs::File::open(path).map_err(|source| PiError::Can {
                    what: format!(
                        "cannot open the candump log {} (can.log_file)",
                        path.display()
                    ),
                    source: source.into(),
                })?;
                let (path, speed, shutdown) = (path.clone(), can.log_speed, shutdown.clone());
                std::thread::spawn(move || replay_log(&path, file, speed, &frames_tx, &shutdown));
            }
            None => start_interfaces(&can.interfaces, &frames_tx, shutdown)?,
        }
        let (packs_tx, packs) = mpsc::channel(PACKS);
        let sensor_id = decoding.device.sensor_id.clone();
        info!(
            sensor = %sensor_id,
            profile = decoding.device.profile.name(),
            channels = decoding.channels.len(),
            interfaces = ?can.interfaces,
            log_file = ?can.log_file,
            "CAN source running"
        );
        tokio::spawn(decode_and_cut(decoding, frames_rx, packs_tx));
        Ok(CanSource { sensor_id, packs })
    }
}

/// The DBC's channels and the profile they follow: the catalogue's of that name (loaded from
/// the profiles folder), else the one made from the DBC, registered now.
fn decoding(can: &CanConfig, sensor_id: &str, location: Location) -> Result<Decoding, PiError> {
    let fail = |what: String, source: Box<dyn std::error::Error + Send + Sync>| PiError::Can {
        what,
        source,
    };
    let dbc = &can.dbc;
    let text = std::fs::read_to_string(dbc).map_err(|e| {
        fail(
            format!("cannot read the DBC file {} (can.dbc)", dbc.display()),
            e.into(),
        )
    })?;
    let db = CanDb::parse(&text).map_err(|e| {
        fail(
            format!("the DBC file {} is not valid", dbc.display()),
            e.into(),
        )
    })?;
    let channels = channels(&db).map_err(|e| {
        fail(
            format!("the signals of {} cannot be quantities", dbc.display()),
            e.into(),
        )
    })?;
    let name = can.profile_name();
    let profile = match ProfileId::from_name(&name) {
        Some(id) => id,
        None => {
            let text = profile_toml(&db, &name, &dbc.display().to_string()).map_err(|e| {
                fail(
                    format!("cannot make profile {name} from {}", dbc.display()),
                    e.into(),
                )
            })?;
            let profile = Profile::parse(&text).map_err(|e| {
                fail(
                    format!("the profile made from {} does not parse", dbc.display()),
                    format!("{e:?}").into(),
                )
            })?;
            Quantity::register(profile).map_err(|e| {
                fail(
                    format!(
                        "profile {name}, made from {}, clashes with the loaded profiles (check \
                         it with `garonne profile from-dbc`)",
                        dbc.display()
                    ),
                    e.into(),
                )
            })?;
            ProfileId::from_name(&name)
                .ok_or_else(|| fail(format!("profile {name} was not registered"), "a bug".into()))?
        }
    };
    // Every channel's quantity must be known: a profile of that name from the profiles folder
    // made from another DBC would lack some.
    FrameDecoder::new(&db, &channels).map_err(|e| {
        fail(
            format!(
                "profile {name} does not match {} (make it again with `garonne profile \
                 from-dbc`)",
                dbc.display()
            ),
            e.into(),
        )
    })?;
    Ok(Decoding {
        db,
        channels,
        device: Device {
            sensor_id: sensor_id.to_owned(),
            kind: CAN_KIND.to_owned(),
            location,
            profile,
        },
        policy: PackPolicy {
            max_records: can.pack_max_values,
            max_span_ms: can.pack_max_span_ms,
        },
    })
}

/// Decodes batches of frames and cuts the readings into packs, until the frames end.
async fn decode_and_cut(
    decoding: Decoding,
    mut frames: mpsc::Receiver<Vec<Frame>>,
    packs: mpsc::Sender<Vec<Reading>>,
) {
    let Decoding {
        db,
        channels,
        device,
        policy,
    } = &decoding;
    let Ok(decoder) = FrameDecoder::new(db, channels) else {
        return; // checked by `prepare`
    };
    let mut cutter = PackCutter::new(*policy);
    let mut counts = Counts::default();
    let span = Duration::from_millis(policy.max_span_ms);
    // When the pending pack must go, if it is not full before.
    let mut deadline: Option<Instant> = None;
    loop {
        let batch = tokio::select! {
            batch = frames.recv() => batch,
            () = sleep_until(deadline) => {
                deadline = None;
                if let Some(pack) = cutter.take()
                    && let Err(refused) = packs.send(pack).await
                {
                    return lost(values(&refused.0), &decoder, device, &mut frames);
                }
                continue;
            }
        };
        // The readers have stopped (shutdown) or the log has ended: what they sent is decoded.
        let Some(batch) = batch else { break };
        let (readings, report) = decoder.readings(&batch, device, 0);
        counts.add(&report);
        let mut readings = readings.into_iter();
        while let Some(reading) = readings.next() {
            if reading.time < Limits::default().earliest {
                counts.before_2000(&reading);
                continue;
            }
            if cutter.is_empty() {
                deadline = Some(Instant::now() + span);
            }
            if let Some(pack) = cutter.push(reading) {
                deadline = Some(Instant::now() + span);
                if let Err(refused) = packs.send(pack).await {
                    let held = values(&refused.0) + values(&readings.collect::<Vec<_>>());
                    let pending = cutter.take().map_or(0, |p| values(&p));
                    return lost(held + pending, &decoder, device, &mut frames);
                }
            }
        }
    }
    // Design: the pending pack goes on at once, not at its span's end: the log has ended, or
    // the agent is shutting down and waits for it to write it to the disk queue.
    if let Some(pack) = cutter.take()
        && let Err(refused) = packs.send(pack).await
    {
        return lost(values(&refused.0), &decoder, device, &mut frames);
    }
    info!(
        frames = counts.frames,
        values = counts.values,
        "CAN source ended"
    );
}

/// The values of `readings`.
pub(crate) fn values(readings: &[Reading]) -> usize {
    readings.iter().map(|r| r.quantities.len()).sum()
}

/// The agent stopped taking packs before the source was drained (its shutdown took too long):
/// logs how many values are lost, the `held` ones and those of the frames still waiting.
fn lost(
    held: usize,
    decoder: &FrameDecoder<'_>,
    device: &Device,
    frames: &mut mpsc::Receiver<Vec<Frame>>,
) {
    frames.close();
    let mut values = held;
    while let Ok(batch) = frames.try_recv() {
        values += decoder.readings(&batch, device, 0).1.values;
    }
    error!(
        values,
        "CAN values decoded or read but not written to the disk queue before shutdown: lost"
    );
}

/// Sleeps until `deadline`, or for ever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// What the source decoded and left out, each kind logged the first time it happens.
#[derive(Default)]
struct Counts {
    frames: usize,
    values: usize,
    report: DecodeReport,
    before_2000: usize,
}

impl Counts {
    fn add(&mut self, report: &DecodeReport) {
        self.frames += report.frames;
        self.values += report.values;
        for (id, count) in &report.unknown_ids {
            let seen = self.report.unknown_ids.entry(*id).or_insert(0);
            if *seen == 0 {
                warn!(id = %id, "CAN frames of an id the DBC lacks: left out (counted)");
            }
            *seen += count;
        }
        if report.short_frames > 0 && self.report.short_frames == 0 {
            warn!("CAN frames shorter than their DBC message: left out (counted)");
        }
        self.report.short_frames += report.short_frames;
        for (signal, (count, value)) in &report.out_of_range {
            let seen = self
                .report
                .out_of_range
                .entry(signal.clone())
                .or_insert((0, *value));
            if seen.0 == 0 {
                warn!(
                    signal,
                    value, "CAN value outside its profile's range: left out (counted)"
                );
            }
            seen.0 += count;
        }
    }

    fn before_2000(&mut self, reading: &Reading) {
        if self.before_2000 == 0 {
            warn!(
                time = %reading.time,
                "CAN frames timed before 2000: the clock is not set yet (NTP), left out"
            );
        }
        self.before_2000 += 1;
    }
}

/// Replays a candump log at its own pace, `speed` times faster (0: at once), in batches of the
/// frames due; each bad line is counted, the first of each reason logged.
fn replay_log(
    path: &Path,
    file: std::fs::File,
    speed: f64,
    frames: &mpsc::Sender<Vec<Frame>>,
    shutdown: &CancellationToken,
) {
    let mut bad: BTreeMap<BadReason, usize> = BTreeMap::new();
    let mut batch = Vec::new();
    // The first frame's log time and when it was replayed.
    let mut origin: Option<(i128, std::time::Instant)> = None;
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        if shutdown.is_cancelled() {
            // What was read goes on to be decoded and queued; the rest of the log is not read.
            send(frames, &mut batch);
            info!(file = %path.display(), line = i + 1, "candump log replay stopped by the shutdown");
            return;
        }
        let line = match line {
            Ok(line) => line,
            Err(error) => {
                warn!(file = %path.display(), %error, "cannot read the candump log further");
                break;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let frame = match parse_line(&line) {
            Ok(frame) => frame,
            Err((reason, message)) => {
                let count = bad.entry(reason).or_insert(0);
                if *count == 0 {
                    warn!(file = %path.display(), line = i + 1, %reason, message,
                        "candump log line left out (counted; the first of its kind)");
                }
                *count += 1;
                continue;
            }
        };
        let nanos = frame.time.unix_nanos();
        let (start, started) = *origin.get_or_insert((nanos, std::time::Instant::now()));
        if speed > 0.0 {
            let offset = Duration::from_secs_f64(((nanos - start).max(0) as f64 / 1e9) / speed);
            let due = started + offset;
            if due > std::time::Instant::now() + Duration::from_millis(1) {
                if !send(frames, &mut batch) {
                    return;
                }
                sleep_until_due(due, shutdown);
            }
        }
        batch.push(frame);
        if batch.len() >= BATCH_FRAMES && !send(frames, &mut batch) {
            return;
        }
    }
    send(frames, &mut batch);
    info!(file = %path.display(), bad_lines = ?bad, "candump log replayed");
}

/// Sends the batch, if any; false when the decoder has gone (the agent stopped taking packs
/// before the source was drained: the batch is lost, and logged).
fn send(frames: &mpsc::Sender<Vec<Frame>>, batch: &mut Vec<Frame>) -> bool {
    if batch.is_empty() {
        return true;
    }
    let Err(refused) = frames.blocking_send(std::mem::take(batch)) else {
        return true;
    };
    error!(
        frames = refused.0.len(),
        "CAN frames read but not decoded before shutdown: lost"
    );
    false
}

/// Sleeps until `due`, in slices short enough to see a shutdown.
fn sleep_until_due(due: std::time::Instant, shutdown: &CancellationToken) {
    while !shutdown.is_cancelled() {
        let left = due.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

/// Opens each interface and starts its reading thread.
#[cfg(target_os = "linux")]
fn start_interfaces(
    interfaces: &[String],
    frames: &mpsc::Sender<Vec<Frame>>,
    shutdown: &CancellationToken,
) -> Result<(), PiError> {
    for interface in interfaces {
        let socket = socket::open(interface).map_err(|source| PiError::Can {
            what: format!(
                "cannot open CAN interface {interface} (can.interfaces): is it up? (`ip link \
                 set {interface} up type can bitrate 500000`; `ip link` lists them)"
            ),
            source: source.into(),
        })?;
        let (interface, frames, shutdown) = (interface.clone(), frames.clone(), shutdown.clone());
        std::thread::spawn(move || socket::read(&socket, &interface, &frames, &shutdown));
    }
    Ok(())
}

/// SocketCAN is Linux's ([`CanConfig`] validation says so first).
#[cfg(not(target_os = "linux"))]
fn start_interfaces(
    _interfaces: &[String],
    _frames: &mpsc::Sender<Vec<Frame>>,
    _shutdown: &CancellationToken,
) -> Result<(), PiError> {
    Err(PiError::Can {
        what: "SocketCAN interfaces are Linux's".into(),
        source: "use can.log_file on this system".into(),
    })
}

/// SocketCAN: one raw socket per interface, classic and FD frames, each with the kernel's
/// receive time.
#[cfg(target_os = "linux")]
mod socket {
    use std::io;
    use std::time::{Duration, SystemTime};

    use garonne_payload::Timestamp;
    use socketcan::{CanAnyFrame, CanFdSocket, EmbeddedFrame, Id, Socket, SocketOptions};
    use tokio::sync::mpsc;
    use tokio_util::sync::CancellationToken;
    use tracing::warn;

    use super::{BATCH_FRAMES, send};
    use crate::can::candump::{BadReason, Frame};
    use crate::can::dbc::CanId;

    /// How long a read waits before the thread looks at the shutdown and sends its batch.
    const READ_TIMEOUT: Duration = Duration::from_millis(10);

    /// Opens `interface` for classic and FD frames, with receive times.
    pub(super) fn open(interface: &str) -> io::Result<CanFdSocket> {
        let socket = CanFdSocket::open(interface)?;
        socket.set_recv_timestamp(true)?;
        socket.set_read_timeout(READ_TIMEOUT)?;
        Ok(socket)
    }

    /// Reads frames until shutdown or the decoder is gone, sending a batch at each pause of the
    /// bus (a read timeout) or when it is full.
    pub(super) fn read(
        socket: &CanFdSocket,
        interface: &str,
        frames: &mpsc::Sender<Vec<Frame>>,
        shutdown: &CancellationToken,
    ) {
        let mut batch = Vec::new();
        let mut failing = false;
        let mut refused = 0u64;
        while !shutdown.is_cancelled() {
            match socket.read_frame_with_timestamp() {
                Ok((frame, time)) => {
                    failing = false;
                    match frame_of(&frame, time, interface) {
                        Ok(frame) => batch.push(frame),
                        Err(reason) => {
                            if refused == 0 {
                                warn!(interface, %reason, "CAN frame left out (counted)");
                            }
                            refused += 1;
                        }
                    }
                    if batch.len() >= BATCH_FRAMES && !send(frames, &mut batch) {
                        return;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if !send(frames, &mut batch) {
                        return;
                    }
                }
                Err(error) => {
                    if !failing {
                        warn!(interface, %error, "cannot read the CAN interface; retrying");
                        failing = true;
                    }
                    if !send(frames, &mut batch) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        }
        // Shutdown: the frames read go on to be decoded and queued.
        send(frames, &mut batch);
    }

    /// A frame read from SocketCAN as the log reader gives it: its id, data and receive time
    /// (to the microsecond, SenML's resolution). Remote and error frames carry no values.
    pub(super) fn frame_of(
        frame: &CanAnyFrame,
        time: SystemTime,
        interface: &str,
    ) -> Result<Frame, BadReason> {
        let (id, data, fd) = match frame {
            CanAnyFrame::Normal(f) => (f.id(), f.data(), false),
            CanAnyFrame::Fd(f) => (f.id(), f.data(), true),
            CanAnyFrame::Remote(_) => return Err(BadReason::RemoteFrame),
            CanAnyFrame::Error(_) => return Err(BadReason::ErrorFrame),
        };
        let time = Timestamp::from_system_time(time);
        let micros = time.subsec_nanos() / 1000 * 1000;
        Ok(Frame {
            time: Timestamp::new(time.unix_secs(), micros).unwrap_or(time),
            interface: interface.to_owned(),
            id: match id {
                Id::Standard(id) => CanId::standard(id.as_raw()),
                Id::Extended(id) => CanId::extended(id.as_raw()),
            },
            data: data.to_vec(),
            fd,
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use socketcan::{
            CanDataFrame, CanErrorFrame, CanFdFrame, CanRemoteFrame, ExtendedId, StandardId,
        };

        #[test]
        fn socket_frames_become_log_frames_with_their_receive_time_to_the_microsecond() {
            let at = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
            let id = StandardId::new(0x100).expect("valid");
            let classic = CanDataFrame::new(id, &[1, 2, 3]).expect("frame");
            let frame = frame_of(&CanAnyFrame::Normal(classic), at, "can0").expect("data");
            assert_eq!(
                frame,
                Frame {
                    time: Timestamp::new(1_700_000_000, 123_456_000).expect("valid"),
                    interface: "can0".into(),
                    id: CanId::standard(0x100),
                    data: vec![1, 2, 3],
                    fd: false,
                }
            );
            // Extended ids stay extended; FD frames keep their 64 bytes.
            let ext = ExtendedId::new(0x18FF_50FE).expect("valid");
            let fd = CanFdFrame::new(ext, &[7; 64]).expect("frame");
            let frame = frame_of(&CanAnyFrame::Fd(fd), at, "can1").expect("data");
            assert_eq!(
                (frame.id, frame.data.len(), frame.fd),
                (CanId::extended(0x18FF_50FE), 64, true)
            );
            // Remote and error frames carry no values.
            let remote = CanRemoteFrame::new_remote(id, 2).expect("frame");
            assert_eq!(
                frame_of(&CanAnyFrame::Remote(remote), at, "can0"),
                Err(BadReason::RemoteFrame)
            );
            let error = CanErrorFrame::new_error(0x004, &[0; 8]).expect("frame");
            assert_eq!(
                frame_of(&CanAnyFrame::Error(error), at, "can0"),
                Err(BadReason::ErrorFrame)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example DBC's decoding (signals renamed with `tag`, so its profile is new to the
    /// process's catalogue), packs of up to 100 values within 10 s.
    fn example_decoding(tag: &str) -> Decoding {
        let dir = tempfile::tempdir().expect("temp dir");
        let dbc = dir.path().join("car.dbc");
        let text = include_str!("can/example.dbc").replace("\n SG_ ", &format!("\n SG_ {tag}"));
        std::fs::write(&dbc, text).expect("DBC written");
        let can = CanConfig {
            interfaces: Vec::new(),
            log_file: None,
            log_speed: 1.0,
            dbc,
            sensor_id: None,
            profile: Some(format!("test-{}", tag.to_lowercase())),
            pack_max_values: 100,
            pack_max_span_ms: 10_000,
        };
        decoding(&can, "car-source", Location::new(1.44, 43.6)).expect("valid")
    }

    /// `count` engine frames (4 values each), 10 ms apart.
    fn engine_frames(count: u32) -> Vec<Frame> {
        (0..count)
            .map(|i| {
                let line = format!("(1700000000.{:06}) can0 100#401F823200000000", i * 10_000);
                parse_line(&line).expect("a frame")
            })
            .collect()
    }

    #[tokio::test]
    async fn when_the_frames_end_the_pending_pack_goes_on_at_once_not_at_its_span() {
        let (frames_tx, frames_rx) = mpsc::channel(FRAME_BATCHES);
        let (packs_tx, mut packs) = mpsc::channel(PACKS);
        let decoder = tokio::spawn(decode_and_cut(
            example_decoding("Ends"),
            frames_rx,
            packs_tx,
        ));
        frames_tx.send(engine_frames(3)).await.expect("sent");
        // The readers stop (shutdown): the 12 values come now, not 10 s later.
        drop(frames_tx);
        let pack = tokio::time::timeout(Duration::from_secs(2), packs.recv())
            .await
            .expect("at once")
            .expect("a pack");
        assert_eq!(values(&pack), 12);
        assert!(packs.recv().await.is_none(), "the source has ended");
        decoder.await.expect("the decoder ends");
    }

    #[tokio::test]
    async fn a_decoder_whose_packs_are_no_longer_taken_ends_and_its_readers_stop() {
        let (frames_tx, frames_rx) = mpsc::channel(2);
        let (packs_tx, packs) = mpsc::channel(1);
        let mut decoding = example_decoding("Gone");
        decoding.policy.max_records = 4;
        let decoder = tokio::spawn(decode_and_cut(decoding, frames_rx, packs_tx));
        // The agent gave up draining (its grace passed): the decoder counts what it held, logs
        // it as lost and ends, and a reader's next batch is refused instead of blocking.
        drop(packs);
        frames_tx.send(engine_frames(5)).await.expect("sent");
        tokio::time::timeout(Duration::from_secs(2), decoder)
            .await
            .expect("the decoder ends")
            .expect("no panic");
        let reader = tokio::task::spawn_blocking(move || send(&frames_tx, &mut engine_frames(1)));
        assert!(!reader.await.expect("no panic"), "the batch is refused");
    }
}
