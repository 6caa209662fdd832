//! The capture engine end to end: producers -> ring -> encoder thread -> file (+ write-ahead tail).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hidpack_core::capture::{Clock, Recorder, RecorderOptions};
use hidpack_core::model::gap_reason;
use hidpack_core::reader::ALL_KINDS;
use hidpack_core::writer::tail_path;
use hidpack_core::{Event, EventTable, Reader, Writer, WriterOptions};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hidpack-capture-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn read_all(p: &Path) -> Vec<(i64, Event)> {
    let r = Reader::open(p).unwrap();
    r.read(None, None, ALL_KINDS, None).unwrap().events().collect()
}

fn event_clock() -> RecorderOptions {
    RecorderOptions { clock: Clock::Event, ..RecorderOptions::default() }
}

/// Producer `p` pushes moves with x = p, y = i, t = i.
fn mv(p: i64, i: i64) -> Event {
    Event::Move { x: p << 16, y: i << 16, buttons: None }
}

/// Push every event of `table` one by one, waiting while the ring is full.
fn push_all(rec: &Recorder, table: &EventTable) {
    for (t, e) in table.events() {
        while !rec.push(Some(t), &e).unwrap() {
            std::thread::yield_now();
        }
    }
}

/// The same events through a recorder as one batch and one by one give the same main file.
fn assert_batch_equals_pushes(d: &Path, table: &EventTable, opts: impl Fn() -> RecorderOptions) {
    let (a, b) = (d.join("batch.hpk"), d.join("pushes.hpk"));
    let mut ra = Recorder::create(&a, opts()).unwrap();
    ra.extend(table.clone()).unwrap();
    ra.close().unwrap();
    let mut rb = Recorder::create(&b, opts()).unwrap();
    push_all(&rb, table);
    rb.close().unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(Reader::open(&a).unwrap().read(None, None, ALL_KINDS, None).unwrap().t, table.t);
}

#[test]
fn three_producers_every_event_once_in_order() {
    let d = tmp("three");
    let path = d.join("r.hpk");
    let mut rec = Recorder::create(&path, event_clock()).unwrap();
    const N: i64 = 50_000;
    let handles: Vec<_> = (0..3)
        .map(|p| {
            let prod = rec.producer();
            std::thread::spawn(move || {
                let mut ok = 0u64;
                for i in 0..N {
                    // a full ring drops; keep the test about order by retrying
                    loop {
                        if prod.push(Some(i), &mv(p, i)).unwrap() {
                            ok += 1;
                            break;
                        }
                        std::thread::yield_now();
                    }
                }
                ok
            })
        })
        .collect();
    let accepted: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let st = rec.close().unwrap();
    assert!(!tail_path(&path).exists(), "close deletes the write-ahead tail");
    let evs = read_all(&path);
    let mut next = [0i64; 3];
    let mut drop_gaps = 0u64;
    for (_, e) in &evs {
        match e {
            Event::Move { x, y, .. } => {
                let p = (*x >> 16) as usize;
                assert_eq!(*y >> 16, next[p], "producer {p} out of order or duplicated");
                next[p] += 1;
            }
            Event::Gap { count, reason, .. } => {
                assert_eq!(*reason, gap_reason::DROPPED);
                drop_gaps += count;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(next, [N; 3]);
    assert_eq!(accepted, 3 * N as u64);
    assert_eq!(st.written, 3 * N as u64);
    assert_eq!(st.written + st.dropped, st.pushed);
    assert_eq!(drop_gaps, st.dropped);
    assert_eq!(st.gaps as usize, evs.len() - 3 * N as usize);
}

/// A producer outpaces a writer slowed on purpose: written + dropped == pushed exactly, and each
/// gap stands where its drops were: between the last event before them and the first after,
/// with their count and time range.
#[test]
fn slow_writer_drops_are_counted_and_placed() {
    let d = tmp("slow");
    let path = d.join("r.hpk");
    let opts = RecorderOptions { ring_capacity: 64, writer_delay: Some(Duration::from_micros(300)), ..event_clock() };
    let mut rec = Recorder::create(&path, opts).unwrap();
    const N: i64 = 200_000;
    let mut refused = 0u64;
    for i in 0..N {
        if !rec.push(Some(i), &mv(0, i)).unwrap() {
            refused += 1;
        }
    }
    let st = rec.close().unwrap();
    assert!(st.dropped > 0, "the slowed writer must have made the ring overflow");
    assert_eq!(st.dropped, refused);
    assert_eq!(st.pushed, N as u64);
    assert_eq!(st.written + st.dropped, st.pushed);
    assert_eq!(st.ring_capacity, 64);
    assert!(st.ring_high_water >= 60, "high water {}", st.ring_high_water);
    let evs = read_all(&path);
    let mut expect = 0i64; // next index not yet accounted for
    let mut gap_total = 0;
    for (t, e) in &evs {
        match e {
            Event::Move { y, .. } => {
                assert_eq!(*y >> 16, *t);
                assert_eq!(*t, expect, "event {t} arrived where {expect} was due: a drop without its gap");
                expect += 1;
            }
            Event::Gap { count, reason, t_end } => {
                assert_eq!(*reason, gap_reason::DROPPED);
                assert_eq!(*t, expect, "gap starts at the first dropped event");
                let end = t_end.unwrap();
                assert_eq!(end - *t + 1, *count as i64, "one producer's drops are contiguous");
                expect = end + 1;
                gap_total += count;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(expect, N);
    assert_eq!(gap_total, st.dropped);
    assert_eq!(st.gaps as usize, evs.iter().filter(|(_, e)| matches!(e, Event::Gap { .. })).count());
}

#[test]
fn pause_withholds_and_writes_one_gap() {
    let d = tmp("pause");
    let path = d.join("r.hpk");
    let mut rec = Recorder::create(&path, event_clock()).unwrap();
    rec.push(Some(1), &mv(0, 1)).unwrap();
    rec.pause(Some(2)).unwrap();
    for i in 3..10 {
        assert!(!rec.push(Some(i), &Event::Text { text: "secret".into() }).unwrap());
    }
    rec.resume(Some(10)).unwrap();
    rec.push(Some(11), &mv(0, 11)).unwrap();
    let st = rec.close().unwrap();
    assert_eq!((st.pushed, st.paused, st.written, st.gaps), (2, 7, 2, 1));
    let evs = read_all(&path);
    assert_eq!(
        evs,
        vec![
            (1, mv(0, 1)),
            (2, Event::Gap { count: 7, reason: gap_reason::PAUSED, t_end: Some(10) }),
            (11, mv(0, 11)),
        ]
    );
    assert!(!std::fs::read(&path).unwrap().windows(6).any(|w| w == b"secret"));
}

#[test]
fn strings_travel_through_the_ring() {
    let d = tmp("strings");
    let path = d.join("r.hpk");
    let mut rec = Recorder::create(&path, RecorderOptions { ring_capacity: 16, ..event_clock() }).unwrap();
    let long = "ü".repeat(1000); // 2000 bytes: more slots than a 16-slot ring has
    assert!(rec.push(Some(0), &Event::Text { text: long.clone() }).is_err());
    let evs = vec![
        (1, Event::Text { text: "hello world, more than eight bytes".into() }),
        (2, Event::Focus { app: Some("term".into()), title: Some("~/src — bash".into()), window: Some(7), rect: Some([0, 0, 800, 600]) }),
        (3, Event::Marker { label: "frame 12".into(), value: Some(12) }),
    ];
    for (t, e) in &evs {
        assert!(rec.push(Some(*t), e).unwrap());
    }
    let st = rec.close().unwrap();
    assert_eq!(st.written, 3);
    assert_eq!(read_all(&path), evs);
}

#[test]
fn checkpointed_events_survive_a_writer_that_never_closes() {
    let d = tmp("tail");
    let path = d.join("r.hpk");
    let mut w = Writer::create_with_tail(&path, WriterOptions { block_events: 100, ..WriterOptions::default() }).unwrap();
    let mut want = Vec::new();
    for i in 0..250i64 {
        let e = mv(1, i);
        w.push(i, &e).unwrap();
        want.push((i, e));
        if i % 7 == 0 {
            w.checkpoint().unwrap();
        }
    }
    w.checkpoint().unwrap();
    for i in 250..260i64 {
        w.push(i, &mv(1, i)).unwrap(); // not checkpointed: lost
    }
    std::mem::forget(w); // like SIGKILL: no close, no footer
    let r = Reader::open(&path).unwrap();
    let tail = r.tail().expect("tail merged").clone();
    assert_eq!(tail.events, 50);
    assert_eq!(r.event_count(), 250);
    let got: Vec<_> = r.read(None, None, ALL_KINDS, None).unwrap().events().collect();
    assert_eq!(got, want);
    // Without the tail: only the two closed blocks.
    assert_eq!(Reader::open_without_tail(&path).unwrap().event_count(), 200);
}

#[test]
fn tail_duplicates_of_a_closed_block_are_skipped() {
    // Killed after a block was written but before the tail was truncated: both hold its events.
    let d = tmp("dup");
    let path = d.join("r.hpk");
    let mut w = Writer::create_with_tail(&path, WriterOptions { block_events: 10, ..WriterOptions::default() }).unwrap();
    for i in 0..9i64 {
        w.push(i, &mv(0, i)).unwrap();
    }
    w.checkpoint().unwrap();
    let saved_tail = std::fs::read(tail_path(&path)).unwrap();
    for i in 9..12i64 {
        w.push(i, &mv(0, i)).unwrap(); // event 10 closes the block 0..10
    }
    std::mem::forget(w);
    std::fs::write(tail_path(&path), &saved_tail).unwrap(); // the truncation never happened
    let r = Reader::open(&path).unwrap();
    let t = r.tail().unwrap();
    assert_eq!((t.events, t.duplicate_events), (0, 9));
    let got: Vec<i64> = r.read(None, None, ALL_KINDS, None).unwrap().t.clone();
    assert_eq!(got, (0..10).collect::<Vec<_>>(), "each event once");
}

#[test]
fn a_tail_of_another_recording_is_ignored_and_reported() {
    let d = tmp("other");
    let a = d.join("a.hpk");
    let b = d.join("b.hpk");
    // `a` was not closed either (a complete file never takes a tail at all).
    let mut wa = Writer::create_with_tail(&a, WriterOptions { metadata: r#"{"who":"a"}"#.into(), ..WriterOptions::default() }).unwrap();
    wa.push(0, &mv(0, 0)).unwrap();
    wa.flush().unwrap();
    wa.checkpoint().unwrap();
    std::mem::forget(wa);
    std::fs::remove_file(tail_path(&a)).unwrap();
    let mut wb = Writer::create_with_tail(&b, WriterOptions { metadata: r#"{"who":"b"}"#.into(), ..WriterOptions::default() }).unwrap();
    wb.push(0, &mv(0, 5)).unwrap();
    wb.checkpoint().unwrap();
    std::mem::forget(wb);
    std::fs::copy(tail_path(&b), tail_path(&a)).unwrap();
    let r = Reader::open(&a).unwrap();
    assert!(r.tail().unwrap().not_merged.as_deref().unwrap().contains("another recording"));
    assert!(r.problems().iter().any(|p| p.error.contains("another recording")), "{:?}", r.problems());
    assert_eq!(r.event_count(), 1);
}

#[test]
fn rotation_by_event_time_splits_files_and_reports_each() {
    let d = tmp("rotate");
    let pattern = d.join("part-{n}.hpk");
    let closed = Arc::new(Mutex::new(Vec::<PathBuf>::new()));
    let c2 = Arc::clone(&closed);
    let opts = RecorderOptions {
        rotate_every_ns: Some(1000),
        on_close: Some(Box::new(move |p: &Path| c2.lock().unwrap().push(p.to_path_buf()))),
        ..event_clock()
    };
    let mut rec = Recorder::create(&pattern, opts).unwrap();
    for i in 0..3500i64 {
        rec.push(Some(i), &mv(0, i)).unwrap();
    }
    let st = rec.close().unwrap();
    assert_eq!(st.files, 4);
    let files = closed.lock().unwrap().clone();
    assert_eq!(files, (0..4).map(|n| d.join(format!("part-{n:04}.hpk"))).collect::<Vec<_>>());
    let mut all = Vec::new();
    for (n, f) in files.iter().enumerate() {
        let r = Reader::open(f).unwrap();
        assert!(r.header().metadata.contains(&format!("\"part\":{n}")));
        all.extend(r.read(None, None, ALL_KINDS, None).unwrap().t.clone());
    }
    assert_eq!(all, (0..3500).collect::<Vec<_>>());
    assert!(Recorder::create(d.join("nopattern.hpk"), RecorderOptions { rotate_bytes: Some(10), ..event_clock() }).is_err());
}

/// The event clock makes the main file a function of the events alone: importing the same events
/// through a recorder, in one batch or one by one, gives the same bytes.
#[test]
fn event_clock_files_are_deterministic() {
    let d = tmp("determ");
    let mut table = EventTable::new();
    for i in 0..20_000i64 {
        table.push(i * 1_000_000, &mv(i % 7, i * 3)).unwrap();
    }
    let opts = || RecorderOptions { writer: WriterOptions { block_events: 4096, ..WriterOptions::default() }, ..event_clock() };
    assert_batch_equals_pushes(&d, &table, opts);
}

#[test]
fn monotonic_clock_stamps_relative_to_start_and_flush_checkpoints() {
    let d = tmp("mono");
    let path = d.join("r.hpk");
    let rec = Recorder::create(&path, RecorderOptions::default()).unwrap();
    let now = hidpack_core::capture::now_ns();
    rec.push(Some(now), &mv(0, 0)).unwrap();
    rec.push(None, &mv(0, 1)).unwrap();
    rec.flush().unwrap();
    // The recorder is still running: the events are readable from the file and its tail.
    let r = Reader::open(&path).unwrap();
    let t = r.read(None, None, ALL_KINDS, None).unwrap();
    assert_eq!(t.len(), 2);
    assert!(t.t[0] >= 0 && t.t[0] < 10_000_000_000, "{:?}", t.t);
    assert!(t.t[1] >= t.t[0]);
    assert!(r.header().wall_clock_ns.is_some());
    drop(rec); // Drop closes
    assert!(!tail_path(&path).exists());
    assert_eq!(Reader::open(&path).unwrap().event_count(), 2);
}


/// Irregular event times: bursts, equal times, pauses longer than the flush interval, and 0.05 s
/// steps that land exactly on due times.
fn irregular_table(n: i64) -> EventTable {
    let mut table = EventTable::new();
    let mut t = 0i64;
    for i in 0..n {
        t += match i % 97 {
            0 => 2_500_000_000,
            1..=3 => 0,
            k => (k % 5) * 50_000_000,
        };
        let ev = if i % 11 == 0 { Event::Button { button: 1, pressed: i % 2 == 0, pos: None } } else { mv(i % 7, i) };
        table.push(t, &ev).unwrap();
    }
    table
}

/// Wait until the encoder has taken (and checkpointed) all `n` events.
fn wait_written(rec: &Recorder, n: u64) {
    let t0 = std::time::Instant::now();
    while rec.stats().written < n {
        assert!(t0.elapsed() < Duration::from_secs(30), "encoder stalled: {:?}", rec.stats());
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The crash bound on the event clock, for a batch (`extend`, written column by column) and for
/// single pushes: once the encoder has handled the events, a crash (no close) loses only events
/// within `flush_interval` of the last one, and what survives is a prefix.
#[test]
fn a_crash_after_a_batch_or_single_pushes_loses_at_most_the_interval() {
    let d = tmp("crash-bound");
    let table = irregular_table(9_000);
    let n = table.len();
    let last = *table.t.last().unwrap();
    let within = table.t.iter().filter(|&&t| t > last - 1_000_000_000).count();
    let opts = || RecorderOptions { writer: WriterOptions { block_events: 5_000, ..WriterOptions::default() }, ..event_clock() };
    for single in [false, true] {
        let p = d.join(format!("r{single}.hpk"));
        let rec = Recorder::create(&p, opts()).unwrap();
        if single {
            push_all(&rec, &table);
        } else {
            rec.extend(table.clone()).unwrap();
        }
        wait_written(&rec, n as u64);
        std::mem::forget(rec); // like SIGKILL: no close, no footer
        let got = Reader::open(&p).unwrap().read(None, None, ALL_KINDS, None).unwrap().t;
        assert!(got.len() + within >= n, "single={single}: {} of {n} events survive, {within} within 1 s of the end", got.len());
        assert_eq!(got[..], table.t[..got.len()], "single={single}: a prefix");
    }
    // one batch and the same events one by one make the same main file
    assert_batch_equals_pushes(&d, &table, opts);
}

/// A due checkpoint waits for the end of the drained batch, but never for more than 8,192 events:
/// a 30,000-event batch in one open block (interval 1 ns: a checkpoint is always due) leaves
/// checkpoints after every 8,192 events, and a crash after it loses nothing.
#[test]
fn a_huge_batch_checkpoints_every_8192_events() {
    let d = tmp("huge-batch");
    let p = d.join("r.hpk");
    let mut table = EventTable::new();
    for i in 0..30_000i64 {
        table.push(i * 1_000, &mv(0, i)).unwrap();
    }
    let opts = RecorderOptions {
        writer: WriterOptions { block_events: 1 << 20, ..WriterOptions::default() },
        flush_interval_ns: 1,
        ..event_clock()
    };
    let rec = Recorder::create(&p, opts).unwrap();
    rec.extend(table.clone()).unwrap();
    wait_written(&rec, 30_000);
    std::mem::forget(rec);
    let r = Reader::open(&p).unwrap();
    let tail = r.tail().expect("tail merged").clone();
    // 3 bounded checkpoints (8192, 16384, 24576 rows) and one when the batch is done
    assert_eq!((tail.blocks, tail.events), (4, 30_000));
    assert_eq!(r.read(None, None, ALL_KINDS, None).unwrap().t, table.t);
}

/// A write error part-way through a drained batch: every event after it is counted as lost,
/// none vanishes (written + lost = accepted), for single pushes and for a batch.
#[test]
fn events_after_a_write_error_are_counted_as_lost() {
    for batch in [false, true] {
        let d = tmp(&format!("write-error-{batch}"));
        let dir = d.join("gone");
        std::fs::create_dir_all(&dir).unwrap();
        // rotation every 1000 ns of event time: the second part cannot be created
        let opts = RecorderOptions { rotate_every_ns: Some(1000), ..event_clock() };
        let mut rec = Recorder::create(dir.join("part-{n}.hpk"), opts).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let n = 5000i64;
        if batch {
            let mut table = EventTable::new();
            for i in 0..n {
                table.push(i, &mv(0, i)).unwrap();
            }
            rec.extend(table).unwrap();
        } else {
            for i in 0..n {
                while !rec.push(Some(i), &mv(0, i)).unwrap() {
                    std::thread::yield_now();
                }
            }
        }
        let st = rec.close().unwrap_or_else(|_| rec.stats());
        assert!(rec.error().is_some(), "batch={batch}: the rotation failed");
        assert_eq!(st.written + st.lost, n as u64, "batch={batch}: {st:?}");
        assert!(st.lost >= n as u64 - 1000, "batch={batch}: {st:?}");
    }
}

/// A wall clock that can be stepped (a suspend, an NTP step), for the clock-record tests.
static WALL_SKEW: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

fn skewed_wall() -> i64 {
    let unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
    unix + WALL_SKEW.load(std::sync::atomic::Ordering::SeqCst)
}

/// A live recorder on the steppable wall clock: checkpoints every `flush_ms`, clock records at
/// least every `every_ns`.
fn clock_opts(flush_ms: i64, every_ns: i64) -> RecorderOptions {
    RecorderOptions {
        flush_interval_ns: flush_ms * 1_000_000,
        clock_every_ns: every_ns,
        wall_now: Some(skewed_wall),
        ..RecorderOptions::default()
    }
}

fn clock_records(p: &Path) -> Vec<(i64, i64)> {
    read_all(p)
        .into_iter()
        .filter_map(|(t, e)| match e {
            Event::Marker { label, value: Some(v) } if label == hidpack_core::capture::CLOCK_LABEL => Some((t, v)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_wall_clock_step_is_written_as_a_clock_record_and_periodic_records_follow_the_clock() {
    let d = tmp("clock");
    // a step of the wall clock (as after a suspend: the monotonic clock did not see the 10 s)
    let path = d.join("step.hpk");
    let mut rec = Recorder::create(&path, clock_opts(10, 3_600_000_000_000)).unwrap();
    rec.push(None, &mv(0, 0)).unwrap();
    std::thread::sleep(Duration::from_millis(40));
    WALL_SKEW.store(10_000_000_000, std::sync::atomic::Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(40));
    // The encoder checks the clock at its next checkpoint, 10 ms after the last one; on a loaded
    // machine it may not have run at all during the sleep. The flush serves that checkpoint
    // (more than 10 ms have passed) before it returns, so the record lands before the next move.
    rec.flush().unwrap();
    rec.push(None, &mv(0, 1)).unwrap();
    let st = rec.close().unwrap();
    WALL_SKEW.store(0, std::sync::atomic::Ordering::SeqCst);
    assert_eq!((st.written, st.gaps), (2, 0), "a clock record is neither an event of the caller's nor a gap");
    let anchor = Reader::open(&path).unwrap().header().wall_clock_ns.unwrap();
    let records = clock_records(&path);
    assert_eq!(records.len(), 1, "{records:?}");
    let (t, wall) = records[0];
    let moves: Vec<i64> = read_all(&path).iter().filter(|(_, e)| matches!(e, Event::Move { .. })).map(|(t, _)| *t).collect();
    assert!(moves[0] < t && t < moves[1], "{moves:?} {t}");
    let shift = wall - t - anchor;
    assert!((shift - 10_000_000_000).abs() < 1_000_000, "offset moved by {shift} ns, expected 10 s");

    // while paused nothing but the pause's gap is written: a step during a pause is recorded
    // at the first check after the resume
    let path = d.join("paused.hpk");
    let mut rec = Recorder::create(&path, clock_opts(10, 3_600_000_000_000)).unwrap();
    rec.push(None, &mv(0, 0)).unwrap();
    rec.pause(None).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    WALL_SKEW.store(5_000_000_000, std::sync::atomic::Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(40));
    rec.resume(None).unwrap();
    std::thread::sleep(Duration::from_millis(40));
    rec.close().unwrap();
    WALL_SKEW.store(0, std::sync::atomic::Ordering::SeqCst);
    let events = read_all(&path);
    let gap_end = events.iter().find_map(|(_, e)| match e { Event::Gap { t_end, .. } => *t_end, _ => None }).unwrap();
    let records = clock_records(&path);
    assert_eq!(records.len(), 1, "{events:?}");
    assert!(records[0].0 >= gap_end, "a record at {} inside the pause (ends {gap_end})", records[0].0);

    // periodic records, with a wall clock that does not move against the recording clock
    let path = d.join("periodic.hpk");
    let mut rec = Recorder::create(&path, clock_opts(5, 20_000_000)).unwrap();
    std::thread::sleep(Duration::from_millis(150));
    rec.close().unwrap();
    let anchor = Reader::open(&path).unwrap().header().wall_clock_ns.unwrap();
    let records = clock_records(&path);
    assert!(records.len() >= 3, "{records:?}");
    for w in records.windows(2) {
        assert!(w[1].0 - w[0].0 >= 20_000_000, "{records:?}");
    }
    for &(t, wall) in &records {
        assert!((wall - t - anchor).abs() < 1_000_000, "{records:?} anchor {anchor}");
    }

    // with rotation, each part after the first starts with a record (a part may be read alone)
    let opts = RecorderOptions { rotate_every_ns: Some(40_000_000), ..clock_opts(5, 3_600_000_000_000) };
    let mut rec = Recorder::create(d.join("part-{n}.hpk"), opts).unwrap();
    for i in 0..30 {
        rec.push(None, &mv(0, i)).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    rec.close().unwrap(); // at once: the last part holds its record whether or not a check ran
    let mut parts: Vec<PathBuf> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("part-"))
        .collect();
    parts.sort();
    assert!(parts.len() >= 2, "{parts:?}");
    assert!(clock_records(&parts[0]).is_empty());
    for p in &parts[1..] {
        let anchor = Reader::open(p).unwrap().header().wall_clock_ns.unwrap();
        let records = clock_records(p);
        assert!(!records.is_empty(), "{p:?}");
        let first = read_all(p)[0].clone();
        assert!(matches!(&first.1, Event::Marker { label, .. } if label == hidpack_core::capture::CLOCK_LABEL), "{p:?} starts with {first:?}");
        assert_eq!(first.0, records[0].0);
        assert!(records.iter().all(|&(t, wall)| (wall - t - anchor).abs() < 1_000_000));
    }

    // none on the event clock, and none when the caller gave the wall clock
    for opts in [
        RecorderOptions { clock: Clock::Event, clock_every_ns: 1, ..RecorderOptions::default() },
        RecorderOptions {
            writer: WriterOptions { wall_clock_ns: Some(1_700_000_000_000_000_000), ..RecorderOptions::default().writer },
            flush_interval_ns: 5_000_000,
            clock_every_ns: 1,
            ..RecorderOptions::default()
        },
    ] {
        let path = d.join("none.hpk");
        let _ = std::fs::remove_file(&path);
        let mut rec = Recorder::create(&path, opts).unwrap();
        rec.push(Some(0), &mv(0, 0)).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        rec.close().unwrap();
        assert!(clock_records(&path).is_empty());
    }
}
