//! Clocks: the recorder clock ([`now_ns`]) and clock records, which put events in wall time
//! across a suspend or a clock step.

use std::sync::OnceLock;
use std::time::Instant;

static ANCHOR: OnceLock<Instant> = OnceLock::new();

/// The recorder clock: nanoseconds on a monotonic clock since a process-wide anchor (the first
/// call). Push times in [`super::Clock::Monotonic`] mode are on this clock.
#[inline]
pub fn now_ns() -> i64 {
    ANCHOR.get_or_init(Instant::now).elapsed().as_nanos() as i64
}

/// The label of a *clock record*: a `marker` whose value is the Unix time in ns at its `t`.
/// The monotonic clock that stamps events stops while the machine sleeps and does not follow
/// steps of the system clock, so the header's anchor (Unix ns at t = 0) alone would put every
/// event after a suspend too early by the time slept. A live recorder writes a clock record
/// when the two clocks' offset has moved by [`CLOCK_JUMP_NS`] or more, and at least every
/// `clock_every_ns`; a reader maps `t` to wall time from the last record at or before it
/// (docs/FORMAT.md, "Clock records").
pub const CLOCK_LABEL: &str = "hidpack:clock";
/// Offset change (wall clock minus recording clock) that makes a clock record due at once.
pub const CLOCK_JUMP_NS: i64 = 1_000_000;

pub(super) fn system_unix_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The recording clock (ns since `t0` on [`now_ns`]) and the wall clock at one moment: the
/// closest of three pairs of readings (a preemption between two readings would otherwise look
/// like a clock jump).
pub(super) fn clock_pair(t0: i64, wall_now: fn() -> i64) -> (i64, i64) {
    let mut best = (i64::MAX, 0, 0);
    for _ in 0..3 {
        let a = now_ns();
        let w = wall_now();
        let b = now_ns();
        if b - a < best.0 {
            best = (b - a, a + (b - a) / 2 - t0, w);
        }
        if b - a < 20_000 {
            break;
        }
    }
    (best.1, best.2)
}

/// What the encoder needs to write clock records.
pub(super) struct ClockRecords {
    pub(super) wall_now: fn() -> i64,
    pub(super) every_ns: i64,
    /// The offset (wall minus recording clock) in force: the header's, then the last record's.
    pub(super) offset: i64,
    /// `t` of the last record (`i64::MIN`: none in this file yet; one is due).
    pub(super) last_t: i64,
}
