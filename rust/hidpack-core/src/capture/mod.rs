//! The capture engine: hook threads push events into a bounded ring; one encoder thread drains it,
//! encodes, compresses and writes.
//!
//! ```text
//!  hook thread ──┐ Producer::push ─┐
//!  hook thread ──┤ (one CAS, no    ├─▶ ring of 64-byte slots ─▶ encoder thread ─▶ file.hpk
//!  Python     ───┘  alloc/lock/IO) ┘   (bounded, fixed)          drain, encode,     file.hpk.wal
//!                                                                  zstd, write       (checkpoints)
//! ```
//!
//! # The realtime contract
//! [`Producer::push`] does nothing but turn the event into one or more fixed 64-byte slots on the
//! stack and claim them with one compare-and-swap: no allocation, no lock, no syscall, no I/O.
//! (Stamping an event without a time reads the monotonic clock, which on Linux and macOS is a
//! vDSO call, not a syscall.) When the ring is full the push fails at once, returns `Ok(false)`
//! and counts the drop; the producer then writes a `gap` event (count, first and last dropped
//! time) in front of its next accepted event, so the file says where and how much was lost.
//!
//! # Variable-length payloads
//! A string (text, focus app and title, marker label) travels in the slots that follow its
//! event: 8 bytes in the event's own slot, 56 in each continuation slot, all claimed with the
//! same single CAS ([`crate::ring::Producer::push_iter`]) and published first-slot-last, so the
//! encoder never sees a message in part. No string is ever allocated on the producer side; the
//! longest string a ring can carry is `(capacity - 1) * 56 + 8` bytes (3.5 MiB for the default
//! 65536 slots), and a longer one is refused with a [`Error::Value`].
//!
//! # Crash loss
//! The encoder closes a block every `block_events` events (or `block_span_ns` of event time),
//! and every `flush_interval` it *checkpoints*: the open block's new events are appended to the
//! write-ahead tail `<file>.wal` (see [`Writer::create_with_tail`]). A process killed at any
//! moment loses at most the events of the last `flush_interval` (plus the time the ring held
//! them); a power loss, with [`SyncPolicy::Interval`], the same. Because the tail is separate,
//! blocks stay large and the file's size does not depend on the interval. A checkpoint that
//! falls due while the encoder handles a drained batch (at most 8,192 slots, or one `extend`
//! batch) is made when the batch is done, or at once when `MAX_UNSAVED` (8,192) events would wait for
//! it: an event-clock replay whose batch spans hundreds of intervals writes one checkpoint, not
//! hundreds. Once a close is requested, the last batches skip the checkpoint: the close writes
//! them into the file.
//!
//! # Clocks
//! [`Clock::Monotonic`] (live capture): times are [`now_ns`] values, stored relative to the
//! recorder's start; checkpoints follow the wall clock. [`Clock::Event`] (imports, replays): times
//! are stored as given and checkpoints and rotation follow the events' own times, so a corpus
//! imported at full speed makes the same files a live capture at its rate would have made.
//! In both modes blocks close on event counts and event time only, so the main file's bytes are
//! a function of the events alone.
//!
//! In [`Clock::Monotonic`] mode with the recorder's own wall-clock anchor, the encoder also
//! compares the wall clock with the recording clock at each timed checkpoint and writes a
//! *clock record* ([`CLOCK_LABEL`]) when their offset has moved (a suspend, a clock step) and
//! every `clock_every_ns`: readers place events in wall time from the last record before them.
//! This runs on the encoder thread; the push path is unchanged.
//!
//! # Layout
//! This module holds the public face (options, [`Producer`], [`Recorder`], stats) and the state
//! producers and the encoder share; `slots` turns events into ring slots and back, `clock` holds
//! the recorder clock and clock records, `encoder` the thread that drains the ring and writes.

mod clock;
mod encoder;
mod slots;

pub use clock::{now_ns, CLOCK_JUMP_NS, CLOCK_LABEL};
pub use slots::Rec;

use clock::{clock_pair, system_unix_ns, ClockRecords};
use encoder::Encoder;
use slots::{to_slots, KIND_BATCH, STR_CONT, STR_INLINE};

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::model::{gap_reason, Event};
use crate::policy::{Enforcer, Policy, PolicyCounts, Verdict};
use crate::ring::{self, PushError};
use crate::table::EventTable;
use crate::writer::{SyncPolicy, WriterOptions};




/// How a recorder interprets event times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// Live capture: times are [`now_ns`] values (or stamped at push); stored relative to the
    /// recorder's start. Checkpoints follow the wall clock.
    Monotonic,
    /// Imports and replays: times are file-relative, stored as given; checkpoints and rotation
    /// follow them.
    Event,
}

/// Called on the encoder thread with the path of each file the recorder has closed (rotation,
/// and the last file at close).
pub type OnClose = Box<dyn FnMut(&Path) + Send>;

/// Options of a [`Recorder`].
pub struct RecorderOptions {
    /// Block size, zstd level, metadata, fsync policy. `wall_clock_ns` defaults to the Unix time
    /// at start in [`Clock::Monotonic`] mode.
    pub writer: WriterOptions,
    /// Checkpoint interval: the most a crash loses (default 1 s).
    pub flush_interval_ns: i64,
    /// Ring slots (rounded up to a power of two). An event takes one slot, plus one per 56
    /// bytes of string beyond the first 8.
    pub ring_capacity: usize,
    pub clock: Clock,
    /// Keep a write-ahead tail (default on). Without it a crash loses the open block.
    pub tail: bool,
    /// Start a new file when event time passes this much since the file's first event.
    pub rotate_every_ns: Option<i64>,
    /// Start a new file when a file reaches this many bytes (checked at block boundaries).
    pub rotate_bytes: Option<u64>,
    /// Most events of [`Recorder::extend`] batches waiting for the encoder; `extend` waits
    /// beyond it.
    pub max_batch_backlog: usize,
    pub on_close: Option<OnClose>,
    /// Test hook: the encoder sleeps this long after each drained batch (a slow disk).
    #[doc(hidden)]
    pub writer_delay: Option<Duration>,
    /// Clock records (see [`CLOCK_LABEL`]): at least this often, in ns of recording (default
    /// 60 s). Written only in [`Clock::Monotonic`] mode when the header's wall clock is the
    /// recorder's own (no `wall_clock_ns` given).
    pub clock_every_ns: i64,
    /// Test hook: the wall clock the recorder reads (Unix ns; default the system clock).
    #[doc(hidden)]
    pub wall_now: Option<fn() -> i64>,
    /// A privacy policy, applied inside every push and `extend` before the ring (see
    /// [`crate::policy`]); described in the header's metadata as `privacy_policy`.
    pub policy: Option<Policy>,
}


impl Default for RecorderOptions {
    fn default() -> Self {
        RecorderOptions {
            writer: WriterOptions { sync: SyncPolicy::Interval, ..WriterOptions::default() },
            flush_interval_ns: 1_000_000_000,
            ring_capacity: 1 << 16,
            clock: Clock::Monotonic,
            tail: true,
            rotate_every_ns: None,
            rotate_bytes: None,
            max_batch_backlog: 1 << 22,
            on_close: None,
            writer_delay: None,
            clock_every_ns: 60_000_000_000,
            wall_now: None,
            policy: None,
        }
    }
}

/// Counters of a recorder. After [`Recorder::close`]: `written + dropped + lost == pushed`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events offered while not paused (accepted or dropped). While recording, events still in
    /// the ring are estimated from its occupancy; exact after [`Recorder::flush`] and close.
    pub pushed: u64,
    /// Refused because the ring was full (each is in a `gap` of reason `dropped`).
    pub dropped: u64,
    /// Offered while paused (withheld; each is in a `gap` of reason `paused`).
    pub paused: u64,
    /// Offered events written to files (the recorder's own gaps not included).
    pub written: u64,
    /// `gap` events the recorder wrote (drops and pauses).
    pub gaps: u64,
    /// Events lost to a write error (see [`Recorder::error`]).
    pub lost: u64,
    /// Withheld by the privacy policy (each is in a `gap` of reason `redacted`; not in
    /// `pushed`).
    pub redacted: u64,
    /// Bytes of the files (closed blocks; the write-ahead tail not included).
    pub bytes: u64,
    pub blocks: u64,
    pub files: u64,
    /// Most slots ever in use.
    pub ring_high_water: u64,
    pub ring_capacity: u64,
}

/// Events not yet reported by a gap, and their time range: a run of drops or of withheld
/// events. The producer adds to it; the producer (before its next event) or the encoder (at a
/// checkpoint and at close) takes it whole and writes its gap.
#[derive(Default)]
struct Run {
    pend: AtomicU64,
    t0: AtomicI64,
    t1: AtomicI64,
}

impl Run {
    #[inline]
    fn note(&self, t: i64) {
        if self.pend.fetch_add(1, SeqCst) == 0 {
            self.t0.store(t, SeqCst);
        }
        self.t1.store(t, SeqCst);
    }
    #[inline]
    fn pending(&self) -> bool {
        self.pend.load(Relaxed) != 0
    }
    /// `(count, first t, last t)` of the run, which is then empty; None if it was.
    fn take(&self) -> Option<(u64, i64, i64)> {
        let n = self.pend.swap(0, SeqCst);
        (n > 0).then(|| (n, self.t0.load(SeqCst), self.t1.load(SeqCst)))
    }
    /// Put back a run whose gap could not be pushed (the ring was full).
    fn restore(&self, (n, t0, t1): (u64, i64, i64)) {
        if self.pend.fetch_add(n, SeqCst) == 0 {
            self.t0.store(t0, SeqCst);
        } else {
            self.t0.fetch_min(t0, SeqCst);
        }
        self.t1.fetch_max(t1, SeqCst);
    }
}

/// Written by one producer (its own cache line: no false sharing with other producers).
#[derive(Default)]
#[repr(align(128))]
struct ProducerState {
    dropped: AtomicU64,
    /// Drops not yet reported by a gap.
    drops: Run,
    /// Events the policy withheld, not yet reported by a `redacted` gap.
    withheld: Run,
    /// What the policy did through this producer.
    policy: [AtomicU64; 5],
}

impl ProducerState {
    fn add_policy(&self, c: &PolicyCounts) {
        let v = [c.withheld_keys, c.withheld_text, c.withheld_titles, c.key_classes, c.titles_hashed];
        for (a, n) in self.policy.iter().zip(v) {
            if n != 0 {
                a.fetch_add(n, Relaxed);
            }
        }
    }
    fn policy_counts(&self) -> PolicyCounts {
        let v = self.policy.each_ref().map(|a| a.load(Relaxed));
        PolicyCounts { withheld_keys: v[0], withheld_text: v[1], withheld_titles: v[2], key_classes: v[3], titles_hashed: v[4] }
    }
}

/// Counters the encoder publishes (once per drained batch), on their own cache line so that
/// producers reading `Shared`'s flags on every push never see it bounce.
#[derive(Default)]
#[repr(align(128))]
struct EncoderCounters {
    written: AtomicU64,
    gaps: AtomicU64,
    lost: AtomicU64,
    bytes: AtomicU64,
    blocks: AtomicU64,
    files: AtomicU64,
    high_water: AtomicU64,
}

#[repr(align(128))]
struct Shared {
    // Read by every push: nothing here is written in the steady state.
    t0: i64,
    clock: Clock,
    capacity: usize,
    max_str: usize,
    closed: AtomicBool,
    paused: AtomicBool,
    /// The encoder met a write error: pushes fail from then on, with it.
    failed: AtomicBool,
    pause_t0: AtomicI64,
    pause_count: AtomicU64,
    paused_total: AtomicU64,
    producers: Mutex<Vec<Arc<ProducerState>>>,
    stop: AtomicBool,
    flush_req: AtomicU64,
    flush_done: AtomicU64,
    batches: Mutex<VecDeque<(u64, EventTable)>>,
    batch_seq: AtomicU64,
    batch_backlog: AtomicU64,
    max_batch_backlog: u64,
    enc: EncoderCounters,
    error: Mutex<Option<String>>,
    policy: Option<Enforcer>,
    /// Events withheld by the policy in batches (`extend`), and what it did there.
    batch_policy: Mutex<PolicyCounts>,
}

/// A producer handle: clone one per hook thread. `Send` and `Sync`; pushes take `&self`.
pub struct Producer {
    ring: ring::Producer<Rec>,
    st: Arc<ProducerState>,
    shared: Arc<Shared>,
}

impl Clone for Producer {
    fn clone(&self) -> Self {
        let st = Arc::new(ProducerState::default());
        if let Ok(mut v) = self.shared.producers.lock() {
            v.push(Arc::clone(&st));
        }
        Producer { ring: self.ring.clone(), st, shared: Arc::clone(&self.shared) }
    }
}


impl Producer {
    /// The file-relative time of a push.
    #[inline]
    fn stamp(&self, t: Option<i64>) -> Result<i64> {
        match (self.shared.clock, t) {
            (Clock::Monotonic, Some(t)) => Ok(t.wrapping_sub(self.shared.t0)),
            (Clock::Monotonic, None) => Ok(now_ns().wrapping_sub(self.shared.t0)),
            (Clock::Event, Some(t)) => Ok(t),
            (Clock::Event, None) => Err(Error::Usage("this recorder uses the event clock: every push needs a time".into())),
        }
    }

    /// Push one event. `t` is a [`now_ns`] value ([`Clock::Monotonic`]; `None` stamps it now) or
    /// a file-relative time ([`Clock::Event`]). `Ok(true)`: in the ring. `Ok(false)`: dropped
    /// (ring full, counted, reported by a gap) or withheld (paused, counted). `Err`: the recorder
    /// is closed, or a value cannot be stored (nothing is counted).
    ///
    /// Under a privacy policy, key, text and focus events go through it first (see
    /// [`crate::policy`]): a withheld event returns `Ok(false)` and is counted in a `redacted`
    /// gap; a kept one may be stored transformed (a key as its class, a title hashed).
    #[inline]
    pub fn push(&self, t: Option<i64>, ev: &Event) -> Result<bool> {
        let t = self.stamp(t)?;
        match &self.shared.policy {
            Some(p) if matches!(ev, Event::Key { .. } | Event::Text { .. } | Event::Focus { .. }) => self.push_policed(p, t, ev),
            _ => self.push_at(t, ev, false),
        }
    }

    /// A key, text or focus event under the policy. The event is judged (and a key transformed)
    /// before the pause state is read: whatever `pause`/`resume` do meanwhile, only the
    /// policy's form of the event can reach the ring.
    fn push_policed(&self, p: &Enforcer, t: i64, ev: &Event) -> Result<bool> {
        let sh = &*self.shared;
        let mut c = PolicyCounts::default();
        let verdict = p.judge(ev, &mut c);
        if sh.paused.load(SeqCst) {
            // Counted as paused, not as what the policy did: nothing of it is stored either way.
            return match verdict {
                Verdict::Keep => self.push_at(t, ev, false),
                Verdict::Replace(e) => self.push_at(t, &e, false),
                Verdict::Withhold => self.count_paused(1).map(|()| false),
            };
        }
        if sh.closed.load(Relaxed) {
            return Err(Error::Usage("the recorder is closed".into()));
        }
        self.st.add_policy(&c);
        if verdict == Verdict::Withhold {
            self.st.withheld.note(t);
            return Ok(false);
        }
        // A kept key, text or focus ends the run of withheld events before it.
        if self.st.withheld.pending() {
            if let Some(run) = self.st.withheld.take() {
                let gap = Event::Gap { count: run.0, reason: gap_reason::REDACTED, t_end: Some(run.2) };
                if !self.push_at(run.1, &gap, true)? {
                    self.st.withheld.restore(run);
                    self.note_drop(t);
                    return Ok(false);
                }
            }
        }
        match verdict {
            Verdict::Replace(e) => self.push_at(t, &e, false),
            _ => self.push_at(t, ev, false),
        }
    }

    /// The encoder's write error, for the calls after it.
    #[cold]
    fn write_error(&self) -> Error {
        write_error(&self.shared)
    }

    #[cold]
    fn count_paused(&self, n: u64) -> Result<()> {
        let sh = &*self.shared;
        if sh.closed.load(Relaxed) {
            return Err(Error::Usage("the recorder is closed".into()));
        }
        sh.pause_count.fetch_add(n, Relaxed);
        sh.paused_total.fetch_add(n, Relaxed);
        Ok(())
    }

    fn push_at(&self, t: i64, ev: &Event, internal: bool) -> Result<bool> {
        let sh = &*self.shared;
        if sh.failed.load(Relaxed) {
            return Err(self.write_error());
        }
        if sh.paused.load(Relaxed) && !internal {
            return self.count_paused(1).map(|()| false);
        }
        let slots = to_slots(t, ev, sh.max_str, internal)?;
        if !internal && self.st.drops.pending() && !self.flush_drops(t) {
            self.note_drop(t);
            return Ok(false);
        }
        let r = if slots.len() == 1 {
            let mut s = slots;
            let head = s.next().expect("one slot");
            self.ring.push(head).map_err(|e| matches!(e, PushError::Closed(_)))
        } else {
            self.ring.push_iter(slots).map_err(|e| matches!(e, PushError::Closed(_)))
        };
        match r {
            // Accepted pushes are not counted here (an atomic add would cost more than the
            // push): the encoder counts what it pops; see `Recorder::stats`.
            Ok(()) => Ok(true),
            Err(true) => Err(Error::Usage("the recorder is closed".into())),
            Err(false) => {
                if internal {
                    return Ok(false);
                }
                self.note_drop(t);
                Ok(false)
            }
        }
    }

    #[cold]
    fn note_drop(&self, t: i64) {
        self.st.dropped.fetch_add(1, Relaxed);
        self.st.drops.note(t);
    }

    /// Write the gap for this producer's pending drops; false if the ring is still full.
    #[cold]
    fn flush_drops(&self, _t: i64) -> bool {
        let Some(run) = self.st.drops.take() else { return true };
        let gap = Event::Gap { count: run.0, reason: gap_reason::DROPPED, t_end: Some(run.2) };
        match self.push_at(run.1, &gap, true) {
            Ok(true) => true,
            _ => {
                self.st.drops.restore(run);
                false
            }
        }
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// The file-relative time of a push time (what [`Producer::push`] stores for `t`): for
    /// times carried inside events, such as a gap's `t_end`.
    pub fn file_time_of(&self, t: i64) -> i64 {
        match self.shared.clock {
            Clock::Monotonic => t.wrapping_sub(self.shared.t0),
            Clock::Event => t,
        }
    }
}

/// A recording in progress: a ring, an encoder thread and the file(s) it writes.
pub struct Recorder {
    shared: Arc<Shared>,
    producer: Producer,
    thread: Option<JoinHandle<Result<()>>>,
    path: PathBuf,
}




impl Recorder {
    /// Start recording to `path` (with rotation, `path` is a pattern whose `{n}` becomes the
    /// part number, 0000, 0001, ...).
    pub fn create(path: impl AsRef<Path>, mut opts: RecorderOptions) -> Result<Recorder> {
        let path = path.as_ref().to_path_buf();
        if opts.flush_interval_ns <= 0 {
            return Err(Error::Usage(format!("flush_interval must be positive, got {} ns", opts.flush_interval_ns)));
        }
        if opts.ring_capacity < 2 || opts.ring_capacity > 1 << 28 {
            return Err(Error::Usage(format!("ring_capacity must be within 2..=2^28, got {}", opts.ring_capacity)));
        }
        if opts.rotate_every_ns.is_some_and(|r| r <= 0) || opts.rotate_bytes == Some(0) {
            return Err(Error::Usage("rotate_every must be positive".into()));
        }
        let rotating = opts.rotate_every_ns.is_some() || opts.rotate_bytes.is_some();
        if rotating && !path.to_string_lossy().contains("{n}") {
            return Err(Error::Usage(format!(
                "with rotation the path must contain {{n}} (the part number), got {}",
                path.display()
            )));
        }
        if opts.clock_every_ns <= 0 {
            return Err(Error::Usage(format!("clock_every must be positive, got {} ns", opts.clock_every_ns)));
        }
        let policy = match opts.policy.take() {
            Some(p) if !p.is_off() => {
                // The policy in force goes into the header, so every reader knows what was withheld.
                let mut meta: serde_json::Value = serde_json::from_str(&opts.writer.metadata)
                    .map_err(|e| Error::Usage(format!("metadata must be a JSON object: {e}")))?;
                let Some(m) = meta.as_object_mut() else {
                    return Err(Error::Usage("metadata must be a JSON object".into()));
                };
                m.insert("privacy_policy".into(), p.describe());
                opts.writer.metadata = meta.to_string();
                Some(Enforcer::new(p)?)
            }
            _ => None,
        };
        let mut clock = None;
        let t0 = match opts.clock {
            Clock::Monotonic => {
                let t0 = now_ns();
                if opts.writer.wall_clock_ns.is_none() {
                    // The anchor and the clock records come from the same clock pair.
                    let wall_now = opts.wall_now.unwrap_or(system_unix_ns);
                    let (t, wall) = clock_pair(t0, wall_now);
                    opts.writer.wall_clock_ns = Some(wall.wrapping_sub(t));
                    clock = Some(ClockRecords { wall_now, every_ns: opts.clock_every_ns, offset: wall.wrapping_sub(t), last_t: 0 });
                }
                t0
            }
            Clock::Event => 0,
        };
        let (prod, cons) = ring::channel::<Rec>(opts.ring_capacity);
        let capacity = prod.capacity();
        let st = Arc::new(ProducerState::default());
        let shared = Arc::new(Shared {
            t0,
            clock: opts.clock,
            capacity,
            max_str: (capacity - 1) * STR_CONT + STR_INLINE,
            closed: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            pause_t0: AtomicI64::new(0),
            pause_count: AtomicU64::new(0),
            paused_total: AtomicU64::new(0),
            producers: Mutex::new(vec![Arc::clone(&st)]),
            stop: AtomicBool::new(false),
            flush_req: AtomicU64::new(0),
            flush_done: AtomicU64::new(0),
            batches: Mutex::new(VecDeque::new()),
            batch_seq: AtomicU64::new(0),
            batch_backlog: AtomicU64::new(0),
            max_batch_backlog: opts.max_batch_backlog as u64,
            enc: EncoderCounters::default(),
            error: Mutex::new(None),
            policy,
            batch_policy: Mutex::new(PolicyCounts::default()),
        });
        let mut enc = Encoder {
            cons,
            shared: Arc::clone(&shared),
            opts_writer: opts.writer.clone(),
            tail: opts.tail,
            pattern: path.clone(),
            part: 0,
            writer: None,
            cur_path: PathBuf::new(),
            file_t0: None,
            rotate_every_ns: opts.rotate_every_ns,
            rotate_bytes: opts.rotate_bytes,
            flush_interval_ns: opts.flush_interval_ns,
            last_ckpt: Instant::now(),
            next_ckpt_t: None,
            ckpt_due: false,
            on_close: opts.on_close.take(),
            delay: opts.writer_delay,
            closed_bytes: 0,
            closed_blocks: 0,
            failed: false,
            n_written: 0,
            n_gaps: 0,
            n_lost: 0,
            clock,
        };
        // Open the first file here, so a bad path or option fails the constructor.
        enc.open_next()?;
        enc.publish_sizes(enc.writer.as_ref());
        let thread = std::thread::Builder::new().name("hidpack-encoder".into()).spawn(move || enc.run())?;
        let producer = Producer { ring: prod, st, shared: Arc::clone(&shared) };
        Ok(Recorder { shared, producer, thread: Some(thread), path })
    }

    /// A new producer handle (one per hook thread).
    pub fn producer(&self) -> Producer {
        self.producer.clone()
    }

    /// Push through the recorder's own producer handle (see [`Producer::push`]).
    #[inline]
    pub fn push(&self, t: Option<i64>, ev: &Event) -> Result<bool> {
        self.producer.push(t, ev)
    }

    /// The path (or pattern) given at creation.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file-relative time of a [`now_ns`] value (monotonic clock).
    pub fn file_time(&self, t: i64) -> i64 {
        match self.shared.clock {
            Clock::Monotonic => t.wrapping_sub(self.shared.t0),
            Clock::Event => t,
        }
    }

    /// Hand a whole table to the encoder, in order with the single pushes around it. Not for
    /// hook threads: it copies nothing more but may wait while more than `max_batch_backlog`
    /// batch events are queued (backpressure), and takes a short lock. Times as in
    /// [`Producer::push`] (monotonic times are shifted to the file's clock).
    pub fn extend(&self, table: EventTable) -> Result<()> {
        table.validate()?;
        self.extend_validated(table)
    }

    /// [`Recorder::extend`] for a table the caller has just validated ([`EventTable::validate`]);
    /// an invalid table here would make the encoder fail.
    #[doc(hidden)]
    pub fn extend_validated(&self, mut table: EventTable) -> Result<()> {
        if table.is_empty() {
            return Ok(());
        }
        let sh = &*self.shared;
        if sh.closed.load(Relaxed) {
            return Err(Error::Usage("the recorder is closed".into()));
        }
        if sh.failed.load(SeqCst) {
            return Err(write_error(sh));
        }
        if let Some(p) = &sh.policy {
            // Rows in order through the policy: withheld rows become `redacted` gaps, keys
            // classes, titles digests; focus rows move the settings for the rows after them.
            let mut c = PolicyCounts::default();
            table = p.apply_table(table, &mut c)?;
            if !sh.paused.load(SeqCst) {
                if let Ok(mut g) = sh.batch_policy.lock() {
                    add_counts(&mut g, &c);
                }
            }
        }
        if sh.paused.load(Relaxed) {
            sh.pause_count.fetch_add(table.len() as u64, Relaxed);
            sh.paused_total.fetch_add(table.len() as u64, Relaxed);
            return Ok(());
        }
        if sh.clock == Clock::Monotonic {
            for t in table.t.iter_mut() {
                *t = t.wrapping_sub(sh.t0);
            }
        }
        let n = table.len() as u64;
        while sh.batch_backlog.load(Relaxed) > 0 && sh.batch_backlog.load(Relaxed) + n > sh.max_batch_backlog {
            self.check_alive()?;
            std::thread::sleep(Duration::from_micros(100));
        }
        let seq = sh.batch_seq.fetch_add(1, Relaxed);
        sh.batch_backlog.fetch_add(n, Relaxed);
        sh.batches.lock().map_err(|_| Error::Usage("batch queue poisoned".into()))?.push_back((seq, table));
        let mut head = [0u64; 7];
        head[1] = seq;
        head[5] = KIND_BATCH;
        loop {
            match self.producer.ring.push(head) {
                Ok(()) => break,
                Err(PushError::Closed(_)) => return Err(Error::Usage("the recorder is closed".into())),
                Err(PushError::Full(_)) => {
                    self.check_alive()?;
                    std::thread::sleep(Duration::from_micros(100));
                }
            }
        }
        self.wake();
        Ok(())
    }

    /// Wake the encoder thread if it is idle (a batch, a flush or the close is waiting).
    fn wake(&self) {
        if let Some(th) = &self.thread {
            th.thread().unpark();
        }
    }

    fn check_alive(&self) -> Result<()> {
        if self.thread.as_ref().is_none_or(|t| t.is_finished()) {
            return Err(Error::Usage("the recorder's encoder thread has stopped".into()));
        }
        Ok(())
    }

    /// Stop recording events until [`Recorder::resume`]: pushes are counted and withheld, and
    /// one `gap` (reason `paused`) covers the pause. `t` as in [`Producer::push`].
    pub fn pause(&self, t: Option<i64>) -> Result<()> {
        if self.shared.failed.load(SeqCst) {
            return Err(write_error(&self.shared));
        }
        let t = self.producer.stamp(t)?;
        if !self.shared.paused.load(SeqCst) {
            self.shared.pause_count.store(0, SeqCst);
            self.shared.pause_t0.store(t, SeqCst);
            self.shared.paused.store(true, SeqCst);
        }
        Ok(())
    }

    /// End a pause and write its gap.
    pub fn resume(&self, t: Option<i64>) -> Result<()> {
        let t_end = self.producer.stamp(t)?;
        if !self.shared.paused.swap(false, SeqCst) {
            return Ok(());
        }
        let n = self.shared.pause_count.swap(0, SeqCst);
        let t0 = self.shared.pause_t0.load(SeqCst);
        let gap = Event::Gap { count: n, reason: gap_reason::PAUSED, t_end: Some(t_end) };
        // The gap must not be lost: wait for room (resume is not called from a hook).
        loop {
            match self.producer.push_at(t0, &gap, true) {
                Ok(true) => return Ok(()),
                Ok(false) => {
                    self.check_alive()?;
                    std::thread::sleep(Duration::from_micros(100));
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub fn is_paused(&self) -> bool {
        self.shared.paused.load(Relaxed)
    }

    /// Wait until every event pushed before this call is checkpointed (in the file or its
    /// write-ahead tail, fsynced per the policy).
    pub fn flush(&self) -> Result<()> {
        let req = self.shared.flush_req.fetch_add(1, SeqCst) + 1;
        self.wake();
        while self.shared.flush_done.load(SeqCst) < req {
            if let Some(e) = self.error() {
                return Err(Error::Io(std::io::Error::other(e)));
            }
            self.check_alive()?;
            std::thread::sleep(Duration::from_micros(50));
        }
        Ok(())
    }

    /// What the privacy policy did so far (None without a policy).
    pub fn policy_counts(&self) -> Option<PolicyCounts> {
        self.shared.policy.as_ref()?;
        let mut c = self.shared.batch_policy.lock().map(|g| *g).unwrap_or_default();
        if let Ok(v) = self.shared.producers.lock() {
            for st in v.iter() {
                add_counts(&mut c, &st.policy_counts());
            }
        }
        Some(c)
    }

    /// The policy in force (None without one).
    pub fn policy(&self) -> Option<&Policy> {
        self.shared.policy.as_ref().map(|e| &e.policy)
    }

    /// The write error that stopped the recorder, if any (events after it are counted as lost).
    pub fn error(&self) -> Option<String> {
        self.shared.error.lock().ok().and_then(|g| g.clone())
    }

    pub fn stats(&self) -> Stats {
        let sh = &*self.shared;
        let mut dropped = 0;
        let mut redacted = 0;
        if let Ok(v) = sh.producers.lock() {
            for st in v.iter() {
                dropped += st.dropped.load(Relaxed);
                let c = st.policy_counts();
                redacted += c.withheld_keys + c.withheld_text;
            }
        }
        if let Ok(g) = sh.batch_policy.lock() {
            redacted += g.withheld_keys + g.withheld_text;
        }
        let (written, lost) = (sh.enc.written.load(Relaxed), sh.enc.lost.load(Relaxed));
        // Accepted events are counted when the encoder takes them; those still queued are
        // estimated from the ring's occupancy (slots, so a long string counts more than once)
        // and the batch backlog. Exact once the ring is drained (after flush or close).
        let queued = if self.thread.is_some() {
            self.producer.ring.len() as u64 + sh.batch_backlog.load(Relaxed)
        } else {
            0
        };
        Stats {
            pushed: dropped + written + lost + queued,
            dropped,
            paused: sh.paused_total.load(Relaxed),
            written,
            gaps: sh.enc.gaps.load(Relaxed),
            lost,
            redacted,
            bytes: sh.enc.bytes.load(Relaxed),
            blocks: sh.enc.blocks.load(Relaxed),
            files: sh.enc.files.load(Relaxed),
            ring_high_water: sh.enc.high_water.load(Relaxed),
            ring_capacity: sh.capacity as u64,
        }
    }

    pub fn is_closed(&self) -> bool {
        self.thread.is_none()
    }

    /// Stop: every event pushed before this call is written, pending drops and an open pause
    /// get their gaps, the file is closed (footer written, tail deleted). Later pushes fail.
    /// Idempotent.
    pub fn close(&mut self) -> Result<Stats> {
        if let Some(th) = self.thread.take() {
            self.shared.closed.store(true, SeqCst);
            self.shared.stop.store(true, SeqCst);
            th.thread().unpark();
            match th.join() {
                Ok(r) => r?,
                Err(_) => return Err(Error::Usage("the encoder thread panicked".into())),
            }
        }
        Ok(self.stats())
    }
}

fn write_error(sh: &Shared) -> Error {
    let e = sh.error.lock().ok().and_then(|g| g.clone()).unwrap_or_else(|| "unknown".into());
    Error::Io(std::io::Error::other(format!("the recorder stopped writing after an error, nothing more is recorded: {e}")))
}

fn add_counts(a: &mut PolicyCounts, b: &PolicyCounts) {
    a.withheld_keys += b.withheld_keys;
    a.withheld_text += b.withheld_text;
    a.withheld_titles += b.withheld_titles;
    a.key_classes += b.key_classes;
    a.titles_hashed += b.titles_hashed;
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
