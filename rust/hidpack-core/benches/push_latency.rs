//! Push latency of the capture path, compared in one run against crossbeam's `ArrayQueue` and
//! rtrb.
//!
//! For every queue and 1, 2 and 4 producer threads, a consumer thread drains continuously while
//! each producer makes its share of the pushes, timing every push on its own. The timer is the
//! TSC on x86_64 (`lfence; rdtsc; lfence` before, `rdtscp; lfence` after), `Instant` elsewhere.
//! Its own cost is measured by timing an empty region the same way; that median is subtracted
//! from every sample before the percentiles, its mean from the samples' mean, and both are
//! reported. The timer's step is measured and printed too: on AMD Zen the TSC is updated at
//! 100 MHz (in steps of ~10 ns), so the percentiles are multiples of 10 ns there, while the mean
//! (the phase of the steps is random against the pushes) resolves below that. Pushes refused
//! because the queue was full are not in the latency columns: they are counted in `refused`.
//!
//! Queues (all of capacity 65536, the recorder's default):
//! * `hidpack ring`: `ring::channel::<Rec>`, `Producer::push` of one 56-byte record.
//! * `hidpack Recorder`: `capture::Producer::push` of an `Event::Move` in `Clock::Event` mode
//!   (validation, building the record, the ring push, the counters). Its consumer is the
//!   recorder's own encoder thread, which encodes, compresses and writes to a file in a temp dir;
//!   it is slower than the producers, so refusals here measure the encoder, not the ring.
//! * `crossbeam ArrayQueue`: `ArrayQueue<Rec>::push` (MPMC).
//! * `rtrb`: `RingBuffer<Rec>` producer push. SPSC: measured with 1 producer only.
//!
//! Run: `cargo bench -p hidpack-core --bench push_latency [-- --json PATH]`. 2,000,000 pushes per
//! (queue, producers) in total, split over the producers; `HIDPACK_BENCH_QUICK=1` makes it
//! 200,000. The cases run in 5 interleaved rounds whose samples are pooled
//! (`HIDPACK_BENCH_ROUNDS=N` to change). Run without `--bench` (as `cargo test --benches` does)
//! it only checks that every case runs, with a few pushes.
//!
//! On a machine with fewer cores than producers + 1, the consumer and the producers share cores:
//! the tails of those rows include scheduler preemption (a time slice is milliseconds), and a
//! descheduled consumer lets the queue fill, so their refusals say little about the queue.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use hidpack_core::capture::{Clock, Rec, RecorderOptions};
use hidpack_core::{ring, Event, Recorder};

const CAPACITY: usize = 65536;
const PRODUCERS: [usize; 3] = [1, 2, 4];
/// Interleaved rounds per case (see [`Config::rounds`]).
const ROUNDS: usize = 5;

/// A pair of time stamps around a region. `start` and `stop` return ticks; [`calibrate`] finds
/// the ns per tick.
trait Timer {
    const NAME: &'static str;
    fn start() -> u64;
    fn stop() -> u64;
    /// One read, unserialised (for measuring the timer's step).
    fn raw() -> u64;
}

/// The time stamp counter, serialised so the region's instructions stay between the stamps.
#[cfg(target_arch = "x86_64")]
struct Tsc;

#[cfg(target_arch = "x86_64")]
impl Tsc {
    /// rdtscp present and the TSC invariant (constant rate, runs in every C-state), so ticks
    /// are comparable across cores and convertible to ns. Read from Linux's /proc/cpuinfo (no
    /// `cpuid` call to keep safe); elsewhere the `Instant` timer is used.
    fn usable() -> bool {
        let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else { return false };
        let Some(flags) = info.lines().find(|l| l.starts_with("flags")) else { return false };
        let has = |f: &str| flags.split_whitespace().any(|w| w == f);
        has("rdtscp") && has("constant_tsc") && has("nonstop_tsc")
    }
}

#[cfg(target_arch = "x86_64")]
impl Timer for Tsc {
    const NAME: &'static str = "TSC (lfence;rdtsc;lfence .. rdtscp;lfence)";
    #[inline(always)]
    fn start() -> u64 {
        use std::arch::x86_64::{_mm_lfence, _rdtsc};
        // SAFETY: lfence (SSE2, baseline on x86_64) and rdtsc exist on every x86_64 CPU; they
        // read no memory and write none.
        unsafe {
            _mm_lfence();
            let t = _rdtsc();
            _mm_lfence();
            t
        }
    }
    #[inline(always)]
    fn stop() -> u64 {
        use std::arch::x86_64::{__rdtscp, _mm_lfence};
        let mut aux = 0u32;
        // SAFETY: rdtscp is checked with `Tsc::usable` before this timer is chosen; it writes
        // only `aux`, a local. lfence is SSE2, baseline on x86_64.
        unsafe {
            let t = __rdtscp(&mut aux);
            _mm_lfence();
            t
        }
    }
    #[inline(always)]
    fn raw() -> u64 {
        // SAFETY: rdtsc exists on every x86_64 CPU; it reads no memory and writes none.
        unsafe { std::arch::x86_64::_rdtsc() }
    }
}

/// `Instant` (clock_gettime through the vDSO on Linux), for machines without a usable TSC.
struct Mono;

static MONO_ANCHOR: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

impl Timer for Mono {
    const NAME: &'static str = "Instant (monotonic clock)";
    #[inline(always)]
    fn start() -> u64 {
        MONO_ANCHOR.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
    #[inline(always)]
    fn stop() -> u64 {
        Self::start()
    }
    #[inline(always)]
    fn raw() -> u64 {
        Self::start()
    }
}

/// Nanoseconds per tick of `T`, against `Instant` over 200 ms.
fn calibrate<T: Timer>() -> f64 {
    let (i0, t0) = (Instant::now(), T::stop());
    std::thread::sleep(Duration::from_millis(200));
    let (i1, t1) = (Instant::now(), T::stop());
    (i1 - i0).as_nanos() as f64 / (t1 - t0) as f64
}

/// The timer's update step, in ticks: the most frequent jump (above 2 ticks) between raw reads
/// in a tight loop, and the share of reads that moved by only 1 or 2 ticks. A counter updated
/// in coarse steps that is kept strictly increasing (AMD's TSC) shows many such small moves; a
/// fine counter never does, and then the jump is just the cost of one read.
fn timer_step<T: Timer>() -> (u64, f64) {
    let mut reads = vec![0u64; 200_000];
    for r in reads.iter_mut() {
        *r = T::raw();
    }
    let mut d: Vec<u64> = reads.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    let small = d.iter().filter(|&&x| x <= 2).count() as f64 / d.len() as f64;
    d.retain(|&x| x > 2);
    d.sort_unstable();
    let mut best = (1, 0usize);
    for run in d.chunk_by(|a, b| a == b) {
        if run.len() > best.1 {
            best = (run[0], run.len());
        }
    }
    (best.0, small)
}

/// The timer's own cost: `n` empty regions timed like a push, in ticks, sorted.
fn empty_regions<T: Timer>(n: usize) -> Vec<u64> {
    let mut v = vec![0u64; n];
    for s in v.iter_mut() {
        let a = T::start();
        let b = T::stop();
        *s = b.wrapping_sub(a);
    }
    v.sort_unstable();
    v
}

struct Config {
    /// Pushes per (queue, producers) case, over all rounds and producers.
    total: usize,
    /// The cases run in this many interleaved rounds (each with `total / rounds` pushes), and
    /// their samples are pooled: one run's luck (where the scheduler puts the threads, whether
    /// the consumer happens to poll the producer's slot) weighs less.
    rounds: usize,
    ns_per_tick: f64,
    /// Median cost of an empty timed region, in ticks; subtracted from every sample.
    overhead: u64,
    /// Mean cost of an empty timed region, in ticks; subtracted from the mean.
    overhead_mean: f64,
    cores: usize,
}

struct Row {
    queue: &'static str,
    producers: usize,
    /// None: not measured (rtrb is SPSC).
    stats: Option<Stats>,
    note: String,
}

struct Stats {
    attempted: u64,
    refused: u64,
    mean: f64,
    p50: f64,
    p99: f64,
    p999: f64,
    max: f64,
}

fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Samples of one case, pooled over rounds.
#[derive(Default)]
struct Raw {
    /// Ticks per accepted push, timer overhead not subtracted.
    samples: Vec<u64>,
    attempted: u64,
    refused: u64,
}

impl Raw {
    fn add(&mut self, r: Raw) {
        self.samples.extend(r.samples);
        self.attempted += r.attempted;
        self.refused += r.refused;
    }

    fn stats(mut self, cfg: &Config) -> Stats {
        let n = self.samples.len();
        let mean = if n == 0 { 0.0 } else { self.samples.iter().sum::<u64>() as f64 / n as f64 };
        for t in self.samples.iter_mut() {
            *t = t.saturating_sub(cfg.overhead);
        }
        self.samples.sort_unstable();
        let ns = |t: u64| t as f64 * cfg.ns_per_tick;
        Stats {
            attempted: self.attempted,
            refused: self.refused,
            mean: ((mean - cfg.overhead_mean) * cfg.ns_per_tick).max(0.0),
            p50: ns(percentile(&self.samples, 0.50)),
            p99: ns(percentile(&self.samples, 0.99)),
            p999: ns(percentile(&self.samples, 0.999)),
            max: ns(self.samples.last().copied().unwrap_or(0)),
        }
    }
}

/// One run: `producers.len()` threads each make `per` timed pushes of `make(i)` (after an untimed
/// warm-up) while `consume` (if any) drains on its own thread until the producers are done and
/// the queue is empty. `push` returns whether the queue took the value.
fn run<T, P, V, M, F, C>(cfg: &Config, producers: Vec<P>, make: M, push: F, consume: Option<C>) -> Raw
where
    P: Send,
    M: Fn(u64) -> V + Sync,
    F: Fn(&mut P, V) -> bool + Sync,
    C: FnMut() -> usize + Send,
    T: Timer,
{
    let n = producers.len();
    let per = cfg.total / cfg.rounds / n;
    let warmup = (per / 10).min(20_000);
    let stop = AtomicBool::new(false);
    let start = Barrier::new(n);
    let (samples, refused) = std::thread::scope(|s| {
        let consumer = consume.map(|mut c| {
            let stop = &stop;
            s.spawn(move || loop {
                let done = stop.load(Ordering::Acquire);
                if c() == 0 {
                    if done {
                        break;
                    }
                    std::thread::yield_now();
                }
            })
        });
        let (make, push, start) = (&make, &push, &start);
        let handles: Vec<_> = producers
            .into_iter()
            .enumerate()
            .map(|(id, mut p)| {
                s.spawn(move || {
                    let base = (id as u64) << 40;
                    for i in 0..warmup as u64 {
                        black_box(push(&mut p, make(base | i)));
                    }
                    // Touch every page of the sample buffer before timing.
                    let mut lat = Vec::with_capacity(per);
                    lat.resize(per, u64::MAX);
                    let mut ok = 0usize;
                    let mut refused = 0u64;
                    start.wait();
                    for i in warmup as u64..(warmup + per) as u64 {
                        let v = make(base | i);
                        let t0 = T::start();
                        let accepted = push(&mut p, v);
                        let t1 = T::stop();
                        if accepted {
                            lat[ok] = t1.wrapping_sub(t0);
                            ok += 1;
                        } else {
                            refused += 1;
                        }
                    }
                    lat.truncate(ok);
                    (lat, refused)
                })
            })
            .collect();
        let mut all = Vec::with_capacity(per * n);
        let mut refused = 0;
        for h in handles {
            let (lat, r) = h.join().expect("producer thread panicked");
            all.extend(lat);
            refused += r;
        }
        stop.store(true, Ordering::Release);
        if let Some(c) = consumer {
            c.join().expect("consumer thread panicked");
        }
        (all, refused)
    });
    Raw { samples, attempted: (per * n) as u64, refused }
}

fn rec(i: u64) -> Rec {
    [i, i ^ 0x5555, i.wrapping_mul(3), 0, 1, 2, i >> 3]
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Queue {
    Ring,
    Recorder,
    Crossbeam,
    Rtrb,
}

const QUEUES: [Queue; 4] = [Queue::Ring, Queue::Recorder, Queue::Crossbeam, Queue::Rtrb];

impl Queue {
    fn name(self) -> &'static str {
        match self {
            Queue::Ring => "hidpack ring",
            Queue::Recorder => "hidpack Recorder",
            Queue::Crossbeam => "crossbeam ArrayQueue",
            Queue::Rtrb => "rtrb",
        }
    }
}

/// Totals of the recorders of one case, over its rounds.
#[derive(Default)]
struct RecorderTotals {
    written: u64,
    dropped: u64,
    gaps: u64,
    bytes: u64,
}

/// One round of one case (`None`: not measured, rtrb with several producers).
fn run_case<T: Timer>(
    cfg: &Config,
    q: Queue,
    n: usize,
    path: &std::path::Path,
    tot: &mut RecorderTotals,
) -> Option<Raw> {
    Some(match q {
        Queue::Ring => {
            let (p, mut c) = ring::channel::<Rec>(CAPACITY);
            let mut buf = Vec::with_capacity(4096);
            let consume = move || {
                let k = c.drain(&mut buf, 4096);
                black_box(&buf);
                buf.clear();
                k
            };
            run::<T, _, _, _, _, _>(cfg, vec![p; n], rec, |p, v| p.push(v).is_ok(), Some(consume))
        }
        Queue::Recorder => {
            let opts = RecorderOptions { clock: Clock::Event, ring_capacity: CAPACITY, ..RecorderOptions::default() };
            let mut recorder = Recorder::create(path, opts).expect("create the recorder");
            let producers: Vec<_> = (0..n).map(|_| recorder.producer()).collect();
            // Event time: 1 µs apart per producer (a 1 MHz device), so checkpoints and blocks
            // fall as they would for such a capture.
            let make = |i: u64| {
                let j = (i & 0xFF_FFFF) as i64;
                (j * 1000, Event::Move { x: (j & 0xFFF) << 16, y: ((j >> 12) & 0xFFF) << 16, buttons: None })
            };
            let push = |p: &mut hidpack_core::capture::Producer, (t, ev): (i64, Event)| {
                p.push(Some(t), &ev).expect("recorder push")
            };
            let raw = run::<T, _, _, _, _, fn() -> usize>(cfg, producers, make, push, None);
            let st = recorder.close().expect("close the recorder");
            assert_eq!(st.written + st.dropped, st.pushed, "recorder lost events: {st:?}");
            tot.written += st.written;
            tot.dropped += st.dropped;
            tot.gaps += st.gaps;
            tot.bytes += st.bytes;
            let _ = std::fs::remove_file(path);
            raw
        }
        Queue::Crossbeam => {
            let q = crossbeam_queue::ArrayQueue::<Rec>::new(CAPACITY);
            let qr = &q;
            let consume = move || {
                let mut k = 0;
                while k < 4096 {
                    match qr.pop() {
                        Some(v) => {
                            black_box(v);
                            k += 1;
                        }
                        None => break,
                    }
                }
                k
            };
            run::<T, _, _, _, _, _>(cfg, vec![qr; n], rec, |q, v| q.push(v).is_ok(), Some(consume))
        }
        Queue::Rtrb if n != 1 => return None,
        Queue::Rtrb => {
            let (p, mut c) = rtrb::RingBuffer::<Rec>::new(CAPACITY);
            let consume = move || {
                let mut k = 0;
                while k < 4096 {
                    match c.pop() {
                        Ok(v) => {
                            black_box(v);
                            k += 1;
                        }
                        Err(_) => break,
                    }
                }
                k
            };
            run::<T, _, _, _, _, _>(cfg, vec![p], rec, |p, v| p.push(v).is_ok(), Some(consume))
        }
    })
}

/// Every case, in `cfg.rounds` rounds; each round runs the producer counts in turn and, for each,
/// the queues in an order rotated by one per round.
fn bench_all<T: Timer>(cfg: &Config) -> Vec<Row> {
    let dir = std::env::temp_dir().join(format!("hidpack-push-latency-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the temp dir");
    let mut raws: Vec<Vec<Option<Raw>>> =
        QUEUES.iter().map(|_| PRODUCERS.iter().map(|_| Some(Raw::default())).collect()).collect();
    let mut totals: Vec<RecorderTotals> = PRODUCERS.iter().map(|_| RecorderTotals::default()).collect();
    for round in 0..cfg.rounds {
        for (pi, &n) in PRODUCERS.iter().enumerate() {
            for k in 0..QUEUES.len() {
                let qi = (k + round) % QUEUES.len();
                let path = dir.join(format!("rec-{n}p-{round}.hpk"));
                let r = run_case::<T>(cfg, QUEUES[qi], n, &path, &mut totals[pi]);
                match (r, &mut raws[qi][pi]) {
                    (Some(r), Some(acc)) => acc.add(r),
                    (None, slot) => *slot = None,
                    (Some(_), None) => unreachable!("a case is measured in every round or none"),
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);

    let mut rows = Vec::new();
    for (qi, q) in QUEUES.into_iter().enumerate() {
        for (pi, &n) in PRODUCERS.iter().enumerate() {
            let mut notes = Vec::new();
            if n + 1 > cfg.cores && !(q == Queue::Rtrb && n != 1) {
                notes.push(format!("oversubscribed ({} threads on {} cores)", n + 1, cfg.cores));
            }
            match q {
                Queue::Recorder => {
                    let t = &totals[pi];
                    notes.push(format!(
                        "consumer = encoder thread (encode+zstd+file); files: {} events, {} dropped, {} gaps, {} bytes",
                        t.written, t.dropped, t.gaps, t.bytes
                    ));
                }
                Queue::Rtrb if n == 1 => notes.push("SPSC".into()),
                Queue::Rtrb => notes.push("not measured: rtrb is SPSC (one producer only)".into()),
                _ => {}
            }
            let stats = raws[qi][pi].take().map(|r| r.stats(cfg));
            rows.push(Row { queue: q.name(), producers: n, stats, note: notes.join("; ") });
        }
    }
    rows
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json_path = args.iter().position(|a| a == "--json").and_then(|i| args.get(i + 1)).cloned();
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`) only check that it runs.
    let bench_mode = args.iter().any(|a| a == "--bench");
    let quick = std::env::var("HIDPACK_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let total = if !bench_mode {
        4_000
    } else if quick {
        200_000
    } else {
        2_000_000
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    #[cfg(target_arch = "x86_64")]
    let tsc = Tsc::usable();
    #[cfg(not(target_arch = "x86_64"))]
    let tsc = false;

    let (timer, ns_per_tick, empty) = if tsc {
        #[cfg(target_arch = "x86_64")]
        {
            (Tsc::NAME, calibrate::<Tsc>(), empty_regions::<Tsc>(200_000))
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!()
    } else {
        (Mono::NAME, calibrate::<Mono>(), empty_regions::<Mono>(200_000))
    };
    let overhead = percentile(&empty, 0.5);
    let overhead_mean = empty.iter().sum::<u64>() as f64 / empty.len() as f64;
    let (step, small_moves) = if tsc {
        #[cfg(target_arch = "x86_64")]
        {
            timer_step::<Tsc>()
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!()
    } else {
        timer_step::<Mono>()
    };
    let rounds = match std::env::var("HIDPACK_BENCH_ROUNDS").ok().and_then(|v| v.parse::<usize>().ok()) {
        Some(r) if r > 0 => r,
        _ if bench_mode => ROUNDS,
        _ => 1,
    };
    let cfg = Config { total, rounds, ns_per_tick, overhead, overhead_mean, cores };
    let ns = |t: u64| t as f64 * ns_per_tick;

    println!("hidpack push latency: one push timed at a time, consumer draining on its own thread");
    println!(
        "pushes per case: {total} in total, in {rounds} interleaved rounds (samples pooled), split over the producers{}; queue capacity {CAPACITY}",
        if !bench_mode {
            " (test mode: run with --bench for real numbers)"
        } else if quick {
            " (HIDPACK_BENCH_QUICK)"
        } else {
            ""
        }
    );
    println!(
        "timer: {timer}, {:.4} ns/tick; updates in steps of {step} ticks = {:.1} ns ({:.1}% of back-to-back reads moved by 1-2 ticks{}): \
         percentiles are multiples of the step, the mean is finer",
        ns_per_tick,
        ns(step),
        small_moves * 100.0,
        if small_moves > 0.001 { ", so the counter is coarse" } else { "; a fine counter: the step is the cost of a read" },
    );
    println!(
        "timer overhead (empty region timed the same way): min {:.1} / p50 {:.1} / mean {:.2} / p99 {:.1} ns; \
         p50 subtracted from every sample, mean from the mean",
        ns(empty[0]),
        ns(overhead),
        overhead_mean * ns_per_tick,
        ns(percentile(&empty, 0.99))
    );
    let over: Vec<String> = PRODUCERS.iter().filter(|&&n| n + 1 > cores).map(|n| n.to_string()).collect();
    if over.is_empty() {
        println!("machine: {cores} cores: every producer count plus the consumer fits on its own core.");
    } else {
        println!(
            "machine: {cores} cores, so the rows with {} producers OVERSUBSCRIBE them (producers + a busy consumer > cores; \
             4 producers + consumer = 5 threads on {cores} cores): their tails include scheduler preemption, and their \
             refusals mostly come from a descheduled consumer.",
            over.join(" and ")
        );
    }
    println!("rtrb is SPSC: measured with 1 producer only. refused = pushes refused because the queue was full (not in the percentiles).");
    println!();

    let rows = if tsc {
        #[cfg(target_arch = "x86_64")]
        {
            bench_all::<Tsc>(&cfg)
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!()
    } else {
        bench_all::<Mono>(&cfg)
    };

    println!(
        "{:<22} {:>9} {:>8} {:>8} {:>8} {:>9} {:>11} {:>9} {:>9}  note",
        "queue", "producers", "mean ns", "p50 ns", "p99 ns", "p99.9 ns", "max ns", "pushes", "refused"
    );
    for r in &rows {
        match &r.stats {
            Some(s) => println!(
                "{:<22} {:>9} {:>8.2} {:>8.1} {:>8.1} {:>9.1} {:>11.1} {:>9} {:>9}  {}",
                r.queue, r.producers, s.mean, s.p50, s.p99, s.p999, s.max, s.attempted, s.refused, r.note
            ),
            None => println!(
                "{:<22} {:>9} {:>8} {:>8} {:>8} {:>9} {:>11} {:>9} {:>9}  {}",
                r.queue, r.producers, "-", "-", "-", "-", "-", "-", "-", r.note
            ),
        }
    }

    if let Some(path) = json_path {
        let rows_json: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                let mut o = serde_json::json!({
                    "queue": r.queue,
                    "producers": r.producers,
                    "measured": r.stats.is_some(),
                    "oversubscribed": r.stats.is_some() && r.producers + 1 > cores,
                    "note": r.note,
                });
                if let Some(s) = &r.stats {
                    let m = o.as_object_mut().expect("an object");
                    m.insert("pushes".into(), s.attempted.into());
                    m.insert("refused".into(), s.refused.into());
                    m.insert("mean_ns".into(), s.mean.into());
                    m.insert("p50_ns".into(), s.p50.into());
                    m.insert("p99_ns".into(), s.p99.into());
                    m.insert("p999_ns".into(), s.p999.into());
                    m.insert("max_ns".into(), s.max.into());
                }
                o
            })
            .collect();
        let doc = serde_json::json!({
            "bench": "push_latency",
            "mode": if !bench_mode { "test" } else if quick { "quick" } else { "full" },
            "pushes_per_case": total,
            "rounds": rounds,
            "capacity": CAPACITY,
            "cores": cores,
            "timer": timer,
            "ns_per_tick": ns_per_tick,
            "timer_step_ns": ns(step),
            "timer_small_moves_fraction": small_moves,
            "timer_overhead_ns": {
                "min": ns(empty[0]),
                "p50": ns(overhead),
                "mean": overhead_mean * ns_per_tick,
                "p99": ns(percentile(&empty, 0.99)),
                "subtracted_from_samples": ns(overhead),
                "subtracted_from_mean": overhead_mean * ns_per_tick,
            },
            "notes": [
                "latency percentiles cover accepted pushes only; refused pushes are counted in `refused`",
                "rtrb is SPSC: 1 producer only",
                "rows with producers + 1 consumer > cores are oversubscribed: tails include preemption",
            ],
            "rows": rows_json,
        });
        std::fs::write(&path, serde_json::to_string_pretty(&doc).expect("serialise") + "\n")
            .expect("write the JSON file");
        println!("\nJSON written to {path}");
    }
}
