//! Nothing lost, nothing outside the target: how writers create and replace files, how tails are
//! merged (and when not), and `recover` across a kill at any point. Each test names the finding
//! of issue 16 it guards.

use std::path::{Path, PathBuf};

use hidpack_core::capture::{Clock, Recorder, RecorderOptions};
use hidpack_core::reader::ALL_KINDS;
use hidpack_core::recover::recover;
use hidpack_core::writer::tail_path;
use hidpack_core::{Error, Event, Reader, Writer, WriterOptions};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hidpack-files-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn mv(i: i64) -> Event {
    Event::Move { x: i << 16, y: 0, buttons: None }
}

fn times(p: &Path) -> Vec<i64> {
    Reader::open(p).unwrap().read(None, None, ALL_KINDS, None).unwrap().t.clone()
}

fn kind_of(e: &Error) -> Option<std::io::ErrorKind> {
    match e {
        Error::File { source, .. } => Some(source.kind()),
        _ => None,
    }
}

/// A recording killed after `closed` events went into closed blocks (of 10) and `tail` more
/// into checkpoints of its tail: returns its path.
fn killed(d: &Path, closed: i64, tail: i64) -> PathBuf {
    let path = d.join("r.hpk");
    let mut w = Writer::create_with_tail(&path, WriterOptions { block_events: 10, ..WriterOptions::default() }).unwrap();
    for i in 0..closed + tail {
        w.push(i, &mv(i)).unwrap();
        w.checkpoint().unwrap();
    }
    w.crash(); // SIGKILL: no close
    path
}

#[test]
fn files_are_created_exclusively_and_replaced_only_when_asked() {
    let d = tmp("excl");
    let p = d.join("a.hpk");
    std::fs::write(&p, b"precious").unwrap();
    let e = Writer::create(&p, WriterOptions::default()).err().unwrap();
    assert_eq!(kind_of(&e), Some(std::io::ErrorKind::AlreadyExists), "{e}");
    assert!(e.to_string().contains("a.hpk") && e.to_string().contains("overwrite"), "{e}");
    assert_eq!(std::fs::read(&p).unwrap(), b"precious");
    let mut w = Writer::create(&p, WriterOptions { overwrite: true, ..WriterOptions::default() }).unwrap();
    w.push(0, &mv(0)).unwrap();
    w.close().unwrap();
    assert_eq!(times(&p), vec![0]);
    // The same for a recorder.
    let e = Recorder::create(&p, RecorderOptions { clock: Clock::Event, ..RecorderOptions::default() }).err().unwrap();
    assert_eq!(kind_of(&e), Some(std::io::ErrorKind::AlreadyExists), "{e}");
    assert_eq!(times(&p), vec![0]);
}

#[test]
fn a_path_with_an_unrecovered_tail_is_refused_naming_recover() {
    // Finding: Recorder(path) truncated a killed, unrecovered recording and its .wal.
    let d = tmp("unrecovered");
    let p = killed(&d, 20, 5);
    let before = times(&p);
    assert_eq!(before.len(), 25);
    for overwrite in [false, true] {
        let opts = RecorderOptions { clock: Clock::Event, writer: WriterOptions { overwrite, ..WriterOptions::default() }, ..RecorderOptions::default() };
        let e = Recorder::create(&p, opts).err().unwrap();
        assert!(e.to_string().contains("hidpack recover"), "{e}");
        let e = Writer::create(&p, WriterOptions { overwrite, atomic: true, ..WriterOptions::default() }).err().unwrap();
        assert!(e.to_string().contains("hidpack recover"), "{e}");
    }
    assert_eq!(times(&p), before, "nothing was touched");
}

#[test]
fn two_writers_cannot_share_a_path() {
    // Finding: two Recorders on one path both "succeeded" and left 0 readable events.
    let d = tmp("two");
    let p = d.join("r.hpk");
    let mut a = Recorder::create(&p, RecorderOptions { clock: Clock::Event, tail: false, ..RecorderOptions::default() }).unwrap();
    a.push(Some(0), &mv(0)).unwrap();
    let opts = RecorderOptions { clock: Clock::Event, tail: false, writer: WriterOptions { overwrite: true, ..WriterOptions::default() }, ..RecorderOptions::default() };
    let e = Recorder::create(&p, opts).err().unwrap();
    assert_eq!(kind_of(&e), Some(std::io::ErrorKind::WouldBlock), "{e}");
    let e = Writer::create(&p, WriterOptions { overwrite: true, atomic: true, ..WriterOptions::default() }).err().unwrap();
    assert_eq!(kind_of(&e), Some(std::io::ErrorKind::WouldBlock), "{e}");
    let e = recover(&p, &p, false).err().unwrap();
    assert_eq!(kind_of(&e), Some(std::io::ErrorKind::WouldBlock), "{e}");
    a.close().unwrap();
    assert_eq!(times(&p), vec![0]);
}

#[test]
fn atomic_writes_leave_the_old_file_or_the_new_one() {
    // Finding: write_table over a file killed mid-write left 0 bytes.
    let d = tmp("atomic");
    let p = d.join("t.hpk");
    let mut w = Writer::create(&p, WriterOptions::default()).unwrap();
    w.push(0, &mv(0)).unwrap();
    w.close().unwrap();
    let old = std::fs::read(&p).unwrap();
    let mut w = Writer::create(&p, WriterOptions { overwrite: true, atomic: true, ..WriterOptions::default() }).unwrap();
    for i in 0..100 {
        w.push(i, &mv(i)).unwrap();
    }
    w.flush().unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), old, "the old file stays until the new one is complete");
    drop(w); // dropped unclosed (an error, a panic): the temporary goes, the old file stays
    assert_eq!(std::fs::read(&p).unwrap(), old);
    let names: Vec<_> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "{names:?}");
    let mut w = Writer::create(&p, WriterOptions { overwrite: true, atomic: true, ..WriterOptions::default() }).unwrap();
    w.push(5, &mv(5)).unwrap();
    w.close().unwrap();
    assert_eq!(times(&p), vec![5]);
    // Without overwrite an atomic write refuses an existing file, and one that appears meanwhile.
    let q = d.join("new.hpk");
    let mut w = Writer::create(&q, WriterOptions { atomic: true, ..WriterOptions::default() }).unwrap();
    w.push(1, &mv(1)).unwrap();
    std::fs::write(&q, b"appeared").unwrap();
    let e = w.close().err().unwrap();
    assert_eq!(kind_of(&e), Some(std::io::ErrorKind::AlreadyExists), "{e}");
    assert_eq!(std::fs::read(&q).unwrap(), b"appeared");
}

#[cfg(unix)]
#[test]
fn symlinked_side_files_are_never_followed() {
    // Finding: a symlinked <file>.wal was followed and the link target overwritten.
    let d = tmp("symlink");
    let victim = d.join("victim.txt");
    std::fs::write(&victim, b"keep me").unwrap();
    let p = d.join("r.hpk");
    std::os::unix::fs::symlink(&victim, tail_path(&p)).unwrap();
    let e = Recorder::create(&p, RecorderOptions { clock: Clock::Event, ..RecorderOptions::default() }).err().unwrap();
    assert!(e.to_string().contains("hidpack recover"), "{e}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
    assert!(!p.exists(), "nothing created");
    // A reader does not follow it either: the tail is not merged, and says why.
    std::fs::remove_file(tail_path(&p)).unwrap();
    let p = killed(&d, 10, 3);
    std::fs::remove_file(tail_path(&p)).unwrap();
    std::os::unix::fs::symlink(&victim, tail_path(&p)).unwrap();
    let r = Reader::open(&p).unwrap();
    assert!(r.tail().unwrap().not_merged.is_some());
}

#[cfg(unix)]
#[test]
fn a_fifo_never_makes_a_reader_hang() {
    // Finding: a FIFO named <file>.wal made open/info/recover hang forever.
    let d = tmp("fifo");
    let p = killed(&d, 10, 3);
    std::fs::remove_file(tail_path(&p)).unwrap();
    let c = std::ffi::CString::new(tail_path(&p).to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let r = Reader::open(&p).unwrap();
    let t = r.tail().unwrap();
    assert!(t.not_merged.as_deref().unwrap().contains("not a regular file"), "{t:?}");
    assert_eq!(r.event_count(), 10);
    // recover keeps the FIFO (moved aside), and does not hang
    let rep = recover(&p, &p, false).unwrap();
    assert_eq!(rep.events, 10);
    assert!(rep.tail_moved_to.is_some());
    // a FIFO as the recording itself
    let f = d.join("f.hpk");
    let c = std::ffi::CString::new(f.to_str().unwrap()).unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let e = Reader::open(&f).err().unwrap();
    assert!(e.to_string().contains("not a regular file"), "{e}");
}

#[test]
fn recover_is_idempotent_across_a_kill_before_the_tail_is_removed() {
    // Finding: SIGKILL of in-place recover between rename and tail delete re-applied the tail
    // on reopen (20,001 duplicated events), made permanent by a second recover.
    let d = tmp("idem");
    let p = killed(&d, 30, 7);
    let want: Vec<i64> = (0..37).collect();
    assert_eq!(times(&p), want);
    let saved_tail = std::fs::read(tail_path(&p)).unwrap();
    let rep = recover(&p, &p, false).unwrap();
    assert_eq!((rep.events, rep.tail_events), (37, 7));
    assert!(!tail_path(&p).exists(), "a tail merged whole is removed");
    // The kill: the new file is in place, the tail is still there.
    std::fs::write(tail_path(&p), &saved_tail).unwrap();
    assert_eq!(times(&p), want, "a complete file never takes its old tail again");
    let rep = recover(&p, &p, false).unwrap();
    assert_eq!(rep.events, 37);
    assert_eq!(times(&p), want);
    let moved = rep.tail_moved_to.expect("the stale tail is kept, moved aside");
    assert_eq!(std::fs::read(moved).unwrap(), saved_tail);
}

#[test]
fn recover_never_replaces_an_unrelated_file_without_force() {
    // Finding: `hidpack recover X -o EXISTING` replaced an unrelated file without --force.
    let d = tmp("force");
    let p = killed(&d, 10, 2);
    let other = d.join("other.txt");
    std::fs::write(&other, b"unrelated").unwrap();
    let e = recover(&p, &other, false).err().unwrap();
    assert_eq!(kind_of(&e), Some(std::io::ErrorKind::AlreadyExists), "{e}");
    assert_eq!(std::fs::read(&other).unwrap(), b"unrelated");
    recover(&p, &other, true).unwrap();
    assert_eq!(times(&other), (0..12).collect::<Vec<_>>());
    // no temporary left behind
    let names: Vec<String> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");
}

#[test]
fn crafted_tails_are_deduplicated_ordered_and_reported() {
    // Finding: a crafted tail with a checkpoint twice or reversed was merged silently.
    let d = tmp("crafted");
    let p = d.join("r.hpk");
    let mut w = Writer::create_with_tail(&p, WriterOptions { block_events: 1000, ..WriterOptions::default() }).unwrap();
    for i in 0..12 {
        w.push(i, &mv(i)).unwrap();
        if i % 4 == 3 {
            w.checkpoint().unwrap();
        }
    }
    w.crash();
    let want: Vec<i64> = (0..12).collect();
    assert_eq!(times(&p), want);
    // The tail's three checkpoints, re-laid in a crafted order with valid trailers (each
    // trailer names its frame's new offset, as a writer would have).
    let tail = std::fs::read(tail_path(&p)).unwrap();
    let tr = Reader::open_without_tail(tail_path(&p)).unwrap();
    let blocks = tr.blocks().to_vec();
    let header_len = blocks[0].offset as usize;
    let frame = |b: &hidpack_core::frame::BlockInfo| tail[b.offset as usize..(b.offset + u64::from(b.length)) as usize].to_vec();
    drop(tr);
    for (order, what) in [(vec![0, 1, 1, 2], "repeats"), (vec![2, 1, 0], "out of order"), (vec![0, 2], "missing")] {
        let mut out = tail[..header_len].to_vec();
        for &k in &order {
            let mut b = blocks[k].clone();
            b.offset = out.len() as u64;
            out.extend_from_slice(&frame(&blocks[k]));
            out.extend_from_slice(&b.encode_trailer());
        }
        std::fs::write(tail_path(&p), &out).unwrap();
        let r = Reader::open(&p).unwrap();
        let got = r.read(None, None, ALL_KINDS, None).unwrap().t.clone();
        let mut expect: Vec<i64> = order.iter().flat_map(|&k| (k as i64 * 4)..(k as i64 * 4 + 4)).collect();
        expect.sort_unstable();
        expect.dedup();
        assert_eq!(got, expect, "{what}: each event once, in order; {:?}", r.problems());
        assert!(!r.tail().unwrap().whole, "{what}");
        assert!(r.problems().iter().any(|pr| pr.error.contains(what)), "{what}: {:?}", r.problems());
    }
    // A frame whose trailer does not match it (moved bytes) is reported, not dropped silently.
    let mut out = tail[..header_len].to_vec();
    out.extend_from_slice(&frame(&blocks[1]));
    out.extend_from_slice(&blocks[1].encode_trailer()); // names the old offset
    out.extend_from_slice(&frame(&blocks[2]));
    let mut b2 = blocks[2].clone();
    b2.offset = (out.len() - frame(&blocks[2]).len()) as u64;
    out.extend_from_slice(&b2.encode_trailer());
    std::fs::write(tail_path(&p), &out).unwrap();
    let r = Reader::open(&p).unwrap();
    assert!(r.problems().iter().any(|pr| pr.error.contains("no matching trailer")), "{:?}", r.problems());
}

#[test]
fn a_tail_with_a_damaged_header_keeps_its_checkpoints() {
    // Finding: a .wal with one flipped header bit was ignored, then deleted by recover.
    let d = tmp("hdr");
    let p = killed(&d, 10, 6);
    let mut tail = std::fs::read(tail_path(&p)).unwrap();
    tail[12] ^= 0x01; // inside the header record
    std::fs::write(tail_path(&p), &tail).unwrap();
    let r = Reader::open(&p).unwrap();
    assert_eq!(r.event_count(), 16);
    assert!(r.problems().iter().any(|pr| pr.error.contains("header is damaged")), "{:?}", r.problems());
    drop(r);
    let rep = recover(&p, &p, false).unwrap();
    assert_eq!(rep.events, 16);
    // reported, so not deleted: moved aside with its bytes
    let moved = rep.tail_moved_to.expect("moved aside");
    assert_eq!(std::fs::read(moved).unwrap(), tail);
}

#[test]
fn event_clock_checkpoints_on_a_timer_when_input_stops() {
    // Finding: with clock="event", events that arrived within one flush interval and then
    // stopped were never checkpointed (SIGKILL 1 s later: a 0-byte file).
    let d = tmp("evtimer");
    let p = d.join("r.hpk");
    let opts = RecorderOptions { clock: Clock::Event, flush_interval_ns: 50_000_000, ..RecorderOptions::default() };
    let rec = Recorder::create(&p, opts).unwrap();
    for i in 0..3 {
        rec.push(Some(i), &mv(i)).unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let tail = tail_path(&p);
    // the tail grows past its header within a few intervals, without another push or flush
    let header = std::fs::metadata(&tail).unwrap().len();
    while std::fs::metadata(&tail).unwrap().len() <= header {
        assert!(std::time::Instant::now() < deadline, "no checkpoint was written");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // what a SIGKILL now would leave: the file and its tail, with the three events
    let copy = d.join("copy.hpk");
    std::fs::copy(&p, &copy).unwrap();
    std::fs::copy(&tail, tail_path(&copy)).unwrap();
    assert_eq!(times(&copy), vec![0, 1, 2]);
    drop(rec);
}

#[test]
fn a_kill_between_the_last_frame_and_the_index_loses_nothing() {
    // Format 1.2 (FORMAT §4.6): the block closed by `close` has no trailer, the index follows it.
    // A writer killed after that data frame and before the index leaves a file whose last frame
    // has no trailer, with the tail still holding the block's checkpoints: the scan decodes the
    // frame, and the tail's copies of its events are duplicates, skipped.
    let d = tmp("lastframe");
    let p = d.join("r.hpk");
    let mut w = Writer::create_with_tail(&p, WriterOptions { block_events: 10, ..WriterOptions::default() }).unwrap();
    for i in 0..25 {
        w.push(i, &mv(i)).unwrap();
        w.checkpoint().unwrap();
    }
    let tail = std::fs::read(tail_path(&p)).unwrap();
    w.close().unwrap();
    let full = std::fs::read(&p).unwrap();
    let r = Reader::open(&p).unwrap();
    let last = r.blocks().last().unwrap().clone();
    let end = (last.offset + u64::from(last.length)) as usize;
    assert_eq!(&full[end + 8..end + 12], b"HPKX", "the index follows the last data frame");
    drop(r);
    std::fs::write(&p, &full[..end]).unwrap();
    std::fs::write(tail_path(&p), &tail).unwrap();
    let want: Vec<i64> = (0..25).collect();
    assert_eq!(times(&p), want);
    let r = Reader::open(&p).unwrap();
    assert!(r.problems().is_empty(), "{:?}", r.problems());
    drop(r);
    let rep = recover(&p, &p, false).unwrap();
    assert_eq!((rep.events, rep.events_lost), (25, 0));
    assert!(!tail_path(&p).exists());
    assert_eq!(times(&p), want);
}
