//! Single-thread throughput of the capture ring against crossbeam's `ArrayQueue` and rtrb, and of
//! the recorder's push.
//!
//! * `push_pop_batch_1024/*`: push 1024 56-byte records, then pop them all, on one thread; the
//!   queues have the recorder's default capacity, 65536, so successive batches walk the slots.
//! * `recorder_push/move_event_clock`: `capture::Producer::push` of one `Event::Move` in
//!   `Clock::Event` mode. Pushes are timed in chunks of 1024; between chunks (untimed) the bench
//!   waits for the encoder thread to write them, so the ring never fills and every push is
//!   accepted (checked at the end).
//!
//! Run: `cargo bench -p hidpack-core --bench ring_throughput` (add `-- --quick` for a short run).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hidpack_core::capture::{Clock, Rec, RecorderOptions};
use hidpack_core::{ring, Event, Recorder};

const CAPACITY: usize = 65536;
const BATCH: u64 = 1024;

fn rec(i: u64) -> Rec {
    [i, i ^ 0x5555, i.wrapping_mul(3), 0, 1, 2, i >> 3]
}

fn push_pop(c: &mut Criterion) {
    let mut g = c.benchmark_group("push_pop_batch_1024");
    g.throughput(Throughput::Elements(BATCH));

    let (p, mut cons) = ring::channel::<Rec>(CAPACITY);
    let mut buf = Vec::with_capacity(BATCH as usize);
    g.bench_function("hidpack_ring", |b| {
        b.iter(|| {
            for i in 0..BATCH {
                if p.push(rec(black_box(i))).is_err() {
                    panic!("ring full");
                }
            }
            let n = cons.drain(&mut buf, BATCH as usize);
            assert_eq!(n, BATCH as usize);
            black_box(&buf);
            buf.clear();
        })
    });

    let q = crossbeam_queue::ArrayQueue::<Rec>::new(CAPACITY);
    g.bench_function("crossbeam_ArrayQueue", |b| {
        b.iter(|| {
            for i in 0..BATCH {
                if q.push(rec(black_box(i))).is_err() {
                    panic!("queue full");
                }
            }
            let mut n = 0;
            while let Some(v) = q.pop() {
                black_box(v);
                n += 1;
            }
            assert_eq!(n, BATCH);
        })
    });

    let (mut p, mut cons) = rtrb::RingBuffer::<Rec>::new(CAPACITY);
    g.bench_function("rtrb", |b| {
        b.iter(|| {
            for i in 0..BATCH {
                if p.push(rec(black_box(i))).is_err() {
                    panic!("ring full");
                }
            }
            let mut n = 0;
            while let Ok(v) = cons.pop() {
                black_box(v);
                n += 1;
            }
            assert_eq!(n, BATCH);
        })
    });
    g.finish();
}

fn recorder_push(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("hidpack-ring-throughput-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the temp dir");
    let opts = RecorderOptions { clock: Clock::Event, ring_capacity: CAPACITY, ..RecorderOptions::default() };
    let mut recorder = Recorder::create(dir.join("rec.hpk"), opts).expect("create the recorder");
    let p = recorder.producer();
    let mut t: i64 = 0;
    let mut pushed: u64 = 0;

    let mut g = c.benchmark_group("recorder_push");
    g.throughput(Throughput::Elements(1));
    g.bench_function("move_event_clock", |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let k = left.min(BATCH);
                let start = Instant::now();
                for _ in 0..k {
                    t += 1000;
                    let ev = Event::Move { x: (t & 0xFFFF) << 8, y: (t >> 16 & 0xFFFF) << 8, buttons: None };
                    black_box(p.push(Some(t), black_box(&ev)).expect("recorder push"));
                }
                elapsed += start.elapsed();
                left -= k;
                pushed += k;
                // Untimed: let the encoder catch up so the next chunk finds an empty ring.
                while recorder.stats().written < pushed {
                    std::thread::sleep(Duration::from_micros(20));
                }
            }
            elapsed
        })
    });
    g.finish();

    let st = recorder.close().expect("close the recorder");
    assert_eq!(st.dropped, 0, "pushes were refused: {st:?}");
    assert_eq!(st.written, pushed);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = push_pop, recorder_push
}
criterion_main!(benches);
