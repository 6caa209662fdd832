//! The writer's shortcuts write the bytes of the long way: a compression context reused from an
//! earlier writer of the same thread (of another level in between), a validated table handed
//! over whole instead of copied row by row, and a file written through a temporary in one
//! piece instead of block by block.

use hidpack_core::{Event, EventTable, Writer, WriterOptions};

/// A mixed table: moves on a millisecond clock, clicks and key presses among them.
fn table(n: i64) -> EventTable {
    let mut t = EventTable::new();
    for i in 0..n {
        let ts = i * 1_000_000 + (i * 7919) % 1000;
        let ev = match i % 13 {
            5 => Event::Button { button: 1, pressed: i % 2 == 0, pos: Some(((i % 640) << 16, (i % 480) << 16)) },
            9 => Event::Key { usage: Some(4 + (i % 20) as u16), native: Some(30 + (i % 20) as u32), pressed: i % 2 == 1 },
            _ => Event::Move { x: ((i * 37) % 1920) << 16, y: ((i * 11) % 1080) << 16, buttons: None },
        };
        t.push(ts, &ev).unwrap();
    }
    t
}

fn opts(level: i32, block_events: usize) -> WriterOptions {
    WriterOptions { level, block_events, wall_clock_ns: Some(0), ..WriterOptions::default() }
}

/// The file of `t` written with `write_table` by a writer in memory.
fn with_write_table(t: &EventTable, o: WriterOptions) -> Vec<u8> {
    let mut w = Writer::new(Vec::new(), o).unwrap();
    w.write_table(t).unwrap();
    w.into_inner().unwrap()
}

#[test]
fn a_reused_compression_context_writes_the_bytes_of_a_fresh_one() {
    let t = table(5000);
    // a new thread starts with no cached context
    let fresh = |level: i32| {
        let t = t.clone();
        std::thread::spawn(move || with_write_table(&t, opts(level, 1000))).join().unwrap()
    };
    let (fresh3, fresh19) = (fresh(3), fresh(19));
    assert_ne!(fresh3, fresh19, "the levels must differ for this test to tell them apart");
    // this thread: level 3, 19, 3, 3, each from the context the writer before it left
    for level in [3, 19, 3, 3] {
        let want = if level == 3 { &fresh3 } else { &fresh19 };
        assert_eq!(&with_write_table(&t, opts(level, 1000)), want, "level {level}");
    }
}

#[test]
fn a_validated_table_handed_over_writes_the_bytes_of_write_table() {
    for (n, block_events) in [(1, 65536), (3000, 65536), (3000, 1000), (3000, 2999), (3000, 3000), (3000, 7)] {
        let t = table(n);
        let want = with_write_table(&t, opts(3, block_events));
        let mut w = Writer::new(Vec::new(), opts(3, block_events)).unwrap();
        w.write_validated(t.clone()).unwrap();
        assert_eq!(w.into_inner().unwrap(), want, "{n} rows, blocks of {block_events}");
        // after rows already in the open block: they and the table share it
        let mut a = Writer::new(Vec::new(), opts(3, block_events)).unwrap();
        let mut b = Writer::new(Vec::new(), opts(3, block_events)).unwrap();
        a.push(-5, &Event::Move { x: 0, y: 0, buttons: None }).unwrap();
        b.push(-5, &Event::Move { x: 0, y: 0, buttons: None }).unwrap();
        a.write_table(&t).unwrap();
        b.write_validated(t.clone()).unwrap();
        assert_eq!(b.into_inner().unwrap(), a.into_inner().unwrap(), "{n} rows after one, blocks of {block_events}");
    }
}

#[test]
fn an_atomic_file_holds_the_bytes_of_a_writer_in_memory() {
    let d = std::env::temp_dir().join(format!("hidpack-writer-bytes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    for block_events in [65536, 1000] {
        let t = table(3000);
        let path = d.join(format!("f{block_events}.hpk"));
        let mut w = Writer::create(&path, WriterOptions { atomic: true, ..opts(3, block_events) }).unwrap();
        w.write_validated(t.clone()).unwrap();
        w.close().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), with_write_table(&t, opts(3, block_events)), "blocks of {block_events}");
    }
    std::fs::remove_dir_all(&d).unwrap();
}
