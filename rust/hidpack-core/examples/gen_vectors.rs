//! Writes the conformance vectors: `cargo run -p hidpack-core --example gen_vectors -- OUT_DIR`
//! (default `tests/vectors/v1`). Each vector is `NAME.hpk` plus `NAME.json`, the events a reader
//! must return and the losses it must report. Golden copies in `tests/golden/v1/` are never
//! regenerated: they pin what released writers produced.

#[path = "../tests/common/mod.rs"]
mod common;

use hidpack_core::bytes::{put_varint, zigzag};
use hidpack_core::codec::{encode_segment, Mode};
use hidpack_core::frame::{skippable_record, Header};
use hidpack_core::model::{gap_reason, COORD_MAX_RAW};
use hidpack_core::reader::{Problem, ALL_KINDS};
use hidpack_core::{Event, Reader, Writer, WriterOptions};
use serde_json::json;
use std::path::{Path, PathBuf};

fn header(meta: serde_json::Value) -> Header {
    let mut h = Header::new(meta.to_string(), Some(1_700_000_000_123_456_789));
    h.created_by = "hidpack conformance generator".into();
    h
}

fn write(events: &[(i64, Event)], block_events: usize, span: Option<i64>, h: Header) -> Vec<u8> {
    let opts = WriterOptions { block_events, block_span_ns: span, level: 3, binned: false, ..Default::default() };
    let mut w = Writer::with_header(Vec::new(), opts, h).unwrap();
    for (t, e) in events {
        w.push(*t, e).unwrap();
    }
    w.into_inner().unwrap()
}

/// The JSON a reader must produce for `bytes`.
pub fn dump(bytes: Vec<u8>) -> serde_json::Value {
    dump_reader(Reader::from_source(bytes).unwrap())
}

/// The JSON a reader must produce for the file at `path`, with its write-ahead tail if one lies
/// beside it (`<path>.wal`).
pub fn dump_path(path: &Path) -> serde_json::Value {
    dump_reader(Reader::open(path).unwrap())
}

fn dump_reader<S: hidpack_core::reader::Source>(r: Reader<S>) -> serde_json::Value {
    let t = r.read(None, None, ALL_KINDS, None).unwrap();
    let h = r.header();
    let problems: Vec<_> = r
        .problems()
        .iter()
        .map(|p: &Problem| json!({"offset": p.offset, "length": p.length, "events_lost": p.events_lost}))
        .collect();
    json!({
        "header": {
            "version": format!("{}.{}", h.major, h.minor),
            "wall_clock_ns": h.wall_clock_ns,
            "metadata": serde_json::from_str::<serde_json::Value>(&h.metadata).unwrap(),
            "created_by": h.created_by,
        },
        "blocks": r.blocks().len(),
        "events": t.to_json_rows(),
        "problems": problems,
    })
}

/// A recording whose writer was killed: two closed blocks in the file, the open block's first
/// events in two checkpoints of its write-ahead tail, the last events never checkpointed (lost).
/// Returns (file bytes, tail bytes).
fn killed_with_tail() -> (Vec<u8>, Vec<u8>) {
    let dir = std::env::temp_dir().join(format!("hidpack-gen-tail-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("killed.hpk");
    let opts = WriterOptions { block_events: 16, level: 3, binned: false, ..Default::default() };
    let mut w = Writer::create_with_header(&path, opts, header(json!({"note": "writer killed; tail beside"})), true).unwrap();
    for (i, (t, e)) in common::sample_events(45).into_iter().enumerate() {
        w.push(t, &e).unwrap();
        if i == 20 || i == 36 || i == 40 {
            w.checkpoint().unwrap(); // 32..37 and 37..41 land in the tail; 41..45 are lost
        }
    }
    std::mem::forget(w); // as if killed: no footer, nothing more written
    let out = (std::fs::read(&path).unwrap(), std::fs::read(hidpack_core::writer::tail_path(&path)).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
    out
}

fn vectors() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    let meta = json!({"session": "conformance", "screen": {"width": 1920, "height": 1080, "scale": 2.0}, "source": "gen_vectors"});
    out.push(("empty", write(&[], 16, None, header(json!({})))));
    out.push(("minimal", write(&[(0, Event::Move { x: 0, y: 0, buttons: None })], 16, None, header(json!({})))));
    let all = common::sample_events(300);
    out.push(("all_kinds", write(&all, 64, None, header(meta.clone()))));
    let mut dec = common::sample_events(200);
    for (i, e) in dec.iter_mut().enumerate() {
        if i % 7 == 3 {
            e.0 -= 20_000_000; // decreasing timestamps are kept in push order
        }
    }
    let multi = write(&dec, 16, None, header(meta.clone()));
    out.push(("multi_block", multi.clone()));
    let extremes = vec![
        (i64::MIN, Event::Move { x: COORD_MAX_RAW, y: -COORD_MAX_RAW, buttons: Some(u32::MAX) }),
        (i64::MAX, Event::RawMove { dx: -COORD_MAX_RAW, dy: 1 }),
        (0, Event::Text { text: String::new() }),
        (0, Event::Text { text: "naïve 日本語 🙂 \u{0}".into() }),
        (-1, Event::Key { pressed: true, usage: Some(u16::MAX), native: Some(u32::MAX) }),
        (1, Event::Focus { app: Some(String::new()), title: None, window: Some(i64::MIN), rect: Some([i32::MIN, i32::MAX, -1, 0]) }),
        (2, Event::Marker { label: "frame".into(), value: Some(i64::MAX) }),
        (3, Event::Gap { count: i64::MAX as u64, reason: gap_reason::PAUSED, t_end: Some(i64::MIN) }),
        (4, Event::Button { button: 255, pressed: false, pos: None }),
        (5, Event::Scroll { dx: -7, dy: 120 << 16, pos: Some((1, -1)) }),
    ];
    out.push(("extremes", write(&extremes, 3, None, header(json!({"note": "values at the limits"})))));
    // macOS points on a 1/256 grid, as in DuckTrack recordings.
    let frac: Vec<(i64, Event)> = (0..500)
        .map(|i| {
            let x = (1175 << 16) + i * 59 * 256; // 1175 + i*59/256
            let y = (50 << 16) - i * 256 * 3;
            (i * 1_000_000 + (i % 3) * 1234, Event::Move { x, y, buttons: None })
        })
        .collect();
    out.push(("fractional", write(&frac, 4096, None, header(json!({"coords": "1/256 grid"})))));
    let clock: Vec<(i64, Event)> = (0..300).map(|i| (i * 37_000_000, Event::Move { x: (i % 50) << 16, y: (i / 50) << 16, buttons: None })).collect();
    out.push(("event_clock", write(&clock, 65536, Some(1_000_000_000), header(json!({})))));
    // Torn: the writer was killed inside the last block.
    let r = Reader::from_source(multi.clone()).unwrap();
    let last = r.blocks().last().unwrap().clone();
    out.push(("torn", multi[..(last.offset + u64::from(last.length) / 2) as usize].to_vec()));
    // One byte flipped inside block 1.
    let b1 = r.blocks()[1].clone();
    let mut bad = multi.clone();
    bad[(b1.offset + u64::from(b1.length) / 2) as usize] ^= 0x20;
    out.push(("corrupt_block", bad));
    // A newer minor version with header fields this reader does not know.
    let mut h = header(json!({"minor": "future"}));
    h.minor = 3;
    h.extra = b"future fields".to_vec();
    out.push(("future_minor", write(&common::sample_events(50), 16, None, h)));
    // Unknown records between blocks (footer cut, so the scan meets them).
    let r2 = Reader::from_source(multi.clone()).unwrap();
    let b2 = r2.blocks()[2].clone();
    let cut_at = (b2.offset) as usize; // just before block 2's data frame
    let end = {
        let l = r2.blocks().last().unwrap();
        (l.offset + u64::from(l.length)) as usize + 8 + hidpack_core::frame::BLOCK_INFO_LEN + 4 + 4
    };
    let mut unk = multi[..cut_at].to_vec();
    unk.extend_from_slice(&0x184D_2A53u32.to_le_bytes());
    unk.extend_from_slice(&5u32.to_le_bytes());
    unk.extend_from_slice(b"other");
    unk.extend_from_slice(&skippable_record(b"HPKZsomething new"));
    unk.extend_from_slice(&multi[cut_at..end]);
    out.push(("unknown_records", unk));
    // One block whose payload holds two segments (a writer may flush a segment at a time).
    {
        let evs = common::sample_events(60);
        let (a, b) = evs.split_at(25);
        let mut ta = hidpack_core::EventTable::new();
        let mut tb = hidpack_core::EventTable::new();
        for (t, e) in a {
            ta.push(*t, e).unwrap();
        }
        for (t, e) in b {
            tb.push(*t, e).unwrap();
        }
        let mut payload = Vec::new();
        encode_segment(&ta, &mut payload, Mode::Bytes);
        encode_segment(&tb, &mut payload, Mode::Bytes);
        let mut all = ta.clone();
        all.extend_from(&tb);
        let mut w = Writer::with_header(Vec::new(), WriterOptions { binned: false, ..Default::default() }, header(json!({}))).unwrap();
        w.write_raw_block(&payload, all.len() as u32, all.t_range().unwrap(), all.counts().map(|c| c as u32)).unwrap();
        out.push(("multi_segment", w.into_inner().unwrap()));
    }
    // Events of a kind this reader does not know (code 9) and a field it does not know (id 0x40):
    // readers skip both and keep the rest.
    {
        let zz = |v: i64, o: &mut Vec<u8>| put_varint(o, zigzag(v));
        let chunk = |id: u8, vals: &[i64]| {
            let mut body = Vec::new();
            for v in vals {
                zz(*v, &mut body);
            }
            let mut c = vec![id, 1];
            put_varint(&mut c, body.len() as u64);
            c.extend_from_slice(&body);
            c
        };
        let mut seg = Vec::new();
        put_varint(&mut seg, 4);
        seg.extend(chunk(0xF0, &[10, 11, 12, 13]));
        seg.extend(chunk(0xF1, &[0, 9, 0, 9]));
        put_varint(&mut seg, 2);
        let unknown_group = b"\x01\x02 a future kind's columns";
        seg.push(9);
        put_varint(&mut seg, unknown_group.len() as u64);
        seg.extend_from_slice(unknown_group);
        let mut g = Vec::new();
        g.extend(chunk(0, &[100 << 16, 101 << 16]));
        g.extend(chunk(1, &[-(7 << 16), 3]));
        g.extend(chunk(0x40, &[1, 2]));
        seg.push(0);
        put_varint(&mut seg, g.len() as u64);
        seg.extend(g);
        let mut payload = Vec::new();
        put_varint(&mut payload, seg.len() as u64);
        payload.extend(seg);
        let mut counts = [0u32; hidpack_core::model::NUM_KINDS];
        counts[0] = 2;
        let mut w = Writer::with_header(Vec::new(), WriterOptions { binned: false, ..Default::default() }, header(json!({}))).unwrap();
        w.write_raw_block(&payload, 4, (10, 13), counts).unwrap();
        out.push(("unknown_kind_and_field", w.into_inner().unwrap()));
    }
    out
}

/// A file using the `BINNED` encoding (FORMAT.md §5.5) with every predictor: t on a 125/3 ns clock
/// (split), a random-walk x (order 1), a smooth y (order 2), a cubic raw dx (order 3), random wide
/// marker values (order 0, bins wider than 32 bits), key codes (move-to-front), press flags (XOR).
fn binned() -> Vec<u8> {
    let mut r = 0x9E37_79B9_7F4A_7C15u64;
    let mut rnd = move || {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        r
    };
    let mut evs = Vec::new();
    let (mut tick, mut x, mut mv) = (0i64, 500i64 << 16, 0i64);
    for i in 0..1200i64 {
        tick += 2000 + (rnd() % 300) as i64;
        let t = (tick * 125 + 2) / 3;
        let e = match i % 6 {
            0..=2 => {
                x += ((rnd() % 9) as i64 - 4) << 16;
                mv += 1;
                Event::Move { x, y: (mv * mv * 3) << 10, buttons: Some(((i / 50) % 2) as u32) }
            }
            3 => {
                let j = i / 6;
                Event::RawMove { dx: j * j * j - 40 * j * j, dy: (rnd() % 7) as i64 - 3 }
            }
            4 => Event::Marker { label: "m".into(), value: Some(((rnd() % 3) << 40 | (rnd() & 0xF_FFFF_FFFF)) as i64) },
            _ => {
                let keys = [0x04u16, 0x08, 0x0F, 0x2C, 0x16];
                let k = keys[((i / 12) as usize * 3 + (i / 6 % 2) as usize) % keys.len()];
                Event::Key { pressed: (i / 6) % 2 == 0, usage: Some(k), native: Some(u32::from(k) + 93) }
            }
        };
        evs.push((t, e));
    }
    // minor 0: the vector pins BINNED as format 1.0 wrote it (no PREDICTED chunk)
    let opts = WriterOptions { block_events: 4096, level: 3, binned: true, minor: 0, ..Default::default() };
    let mut w = Writer::with_header(Vec::new(), opts, header(json!({"note": "BINNED, every predictor"}))).unwrap();
    for (t, e) in &evs {
        w.push(*t, e).unwrap();
    }
    let bytes = w.into_inner().unwrap();
    // The vector must exercise what it claims to.
    let r = Reader::from_source(bytes.clone()).unwrap();
    let b = &r.blocks()[0];
    let frame = &bytes[b.offset as usize..(b.offset + u64::from(b.length)) as usize];
    let payload = zstd::decode_all(frame).unwrap();
    let layout = hidpack_core::codec::chunk_layout(&payload).unwrap();
    let preds: std::collections::BTreeSet<u8> = layout.iter().filter_map(|c| c.predictor).collect();
    assert_eq!(preds.into_iter().collect::<Vec<_>>(), vec![0, 1, 2, 3, 4, 5, 6]);
    bytes
}

/// Encodings 6 (`PREDICTED`) used in the first block of `bytes`: their source bytes.
fn predicted_sources(bytes: &[u8], block: usize) -> std::collections::BTreeSet<u8> {
    let r = Reader::from_source(bytes.to_vec()).unwrap();
    let b = &r.blocks()[block];
    let frame = &bytes[b.offset as usize..(b.offset + u64::from(b.length)) as usize];
    let payload = zstd::decode_all(frame).unwrap();
    let layout = hidpack_core::codec::chunk_layout(&payload).unwrap();
    layout.iter().filter(|c| c.encoding == hidpack_core::codec::enc::PREDICTED).filter_map(|c| c.predictor).collect()
}

/// A file of format 1.`minor` (1: compact records, `PREDICTED` allowed; 2: also no trailer
/// before the index) of `events`; with `flush`, the last block is closed before the file.
fn write_minor(events: &[(i64, Event)], block_events: usize, note: &str, minor: u16, flush: bool) -> Vec<u8> {
    // the 1.3 and 1.4 vectors hold the clock grid: asked for (whatever the format's default)
    let opts = WriterOptions { block_events, level: 3, minor, clock_grid: Some(true), ..Default::default() };
    let mut w = Writer::with_header(Vec::new(), opts, header(json!({"note": note, "native_keyspace": "js_keycode"}))).unwrap();
    for (t, e) in events {
        w.push(*t, e).unwrap();
    }
    if flush {
        w.flush().unwrap();
    }
    let bytes = w.into_inner().unwrap();
    assert_eq!(&bytes[12..16], &[1, 0, minor as u8, 0], "version 1.{minor}");
    bytes
}

/// A format 1.1 file (compact records, `PREDICTED` allowed) of `events`. Pinned to minor 1: the
/// 1.1 vectors stay as 1.1 wrote them whatever the writer's default.
fn write_1_1(events: &[(i64, Event)], block_events: usize, note: &str) -> Vec<u8> {
    write_minor(events, block_events, note, 1, false)
}

/// Typing with every kind of key row (FORMAT.md §5.6 sources 0 and 2): usages the map predicts,
/// a remapped key, key classes without native, a code without usage, autorepeat, a code whose
/// map entry changes.
fn v1_1_keys() -> Vec<u8> {
    let bytes = write_1_1(&typing(), 4096, "format 1.1: PREDICTED usage and pressed from native");
    assert_eq!(predicted_sources(&bytes, 0).into_iter().collect::<Vec<_>>(), vec![0, 2]);
    bytes
}

/// The key rows of [`v1_1_keys`].
fn typing() -> Vec<(i64, Event)> {
    let text = b"the quick brown fox jumps over the lazy dog while hidpack counts keys ";
    let mut evs = Vec::new();
    let mut t = 0i64;
    for (i, &ch) in text.iter().cycle().take(180).enumerate() {
        let native = u32::from(ch.to_ascii_uppercase());
        let usage = match ch {
            b'a'..=b'z' => Some(u16::from(ch - b'a') + 4),
            _ => Some(0x2C), // space
        };
        let (usage, native) = match i {
            17 => (Some(0xFFF3), None),         // a key class, native withheld
            40 => (None, Some(native)),         // no usage for this code
            61 => (usage.map(|u| u + 1), Some(native)), // remapped: the map mispredicts it
            _ => (usage, Some(native)),
        };
        t += 40_000_000 + (i as i64 * 7919 % 50) * 1_000_000;
        evs.push((t, Event::Key { pressed: true, usage, native }));
        if i % 29 == 3 {
            t += 30_000_000;
            evs.push((t, Event::Key { pressed: true, usage, native })); // autorepeat
        }
        t += 60_000_000 + (i as i64 * 104_729 % 40) * 1_000_000;
        evs.push((t, Event::Key { pressed: false, usage, native }));
    }
    evs
}

/// Clicks and scrolls at and away from the last move (FORMAT.md §5.6 source 1), some without a
/// position, some before any move of their block (block_events 50: each block a segment).
fn v1_1_clicks() -> Vec<u8> {
    let mut evs = Vec::new();
    let mut t = 0i64;
    let (mut x, mut y) = (640i64 << 16, 400i64 << 16);
    for i in 0..150i64 {
        t += 8_000_000;
        if i % 50 == 0 {
            // the block's first event: a click with no move before it in its segment
            evs.push((t, Event::Button { button: 1, pressed: true, pos: Some((x, y)) }));
            continue;
        }
        x += ((i * 37) % 7 - 3) << 16;
        y += ((i * 11) % 5 - 2) << 15;
        evs.push((t, Event::Move { x, y, buttons: None }));
        match i % 6 {
            1 => evs.push((t + 1, Event::Button { button: 1, pressed: true, pos: Some((x, y)) })),
            2 => evs.push((t + 1, Event::Button { button: 1, pressed: false, pos: Some((x, y)) })),
            3 => evs.push((t + 1, Event::Scroll { dx: 0, dy: -1, pos: Some((x, y)) })),
            4 if i % 12 == 4 => evs.push((t + 1, Event::Button { button: 2, pressed: true, pos: Some((x + (1 << 15), y - (3 << 16))) })),
            5 => evs.push((t + 1, Event::Button { button: 2, pressed: false, pos: None })),
            _ => {}
        }
    }
    let bytes = write_1_1(&evs, 50, "format 1.1: PREDICTED click positions");
    assert!(predicted_sources(&bytes, 0).contains(&1));
    bytes
}

/// Compact trailers and index (FORMAT.md §4.5) over several blocks of several kinds.
fn v1_1_compact() -> Vec<u8> {
    let bytes = write_1_1(&mixed(), 16, "format 1.1: compact records");
    let r = Reader::from_source(bytes.clone()).unwrap();
    assert_eq!((r.layout(), r.blocks().len()), (hidpack_core::reader::Layout::Index, 5));
    bytes
}

/// 70 events of several kinds (5 blocks of 16), from a negative `t`.
fn mixed() -> Vec<(i64, Event)> {
    let mut evs = Vec::new();
    for i in 0..70i64 {
        let e = match i % 7 {
            0 => Event::Marker { label: format!("m{i}"), value: Some(i * 1_000_000_007) },
            1 => Event::Key { pressed: i % 2 == 0, usage: Some(4 + (i % 3) as u16), native: Some(65 + (i % 3) as u32) },
            2 => Event::Focus { app: Some("editor".into()), title: None, window: Some(i), rect: None },
            _ => Event::Move { x: (i * 3) << 16, y: (100 - i) << 16, buttons: Some((i % 2) as u32) },
        };
        evs.push((i * 250_000_000 - 1_000_000_000, e)); // t starts negative: t_min is a zigzag varint
    }
    evs
}

/// [`v1_1_compact`] cut inside its last data frame: no index, so its compact trailers are found
/// by the scan path, and the torn block is reported.
fn v1_1_compact_torn() -> Vec<u8> {
    let bytes = v1_1_compact();
    let r = Reader::from_source(bytes.clone()).unwrap();
    let last = r.blocks().last().unwrap();
    bytes[..(last.offset + u64::from(last.length) / 2) as usize].to_vec()
}

/// The tag of the hidpack record at `at`, if one starts there.
fn record_tag(bytes: &[u8], at: u64) -> Option<[u8; 4]> {
    let b = bytes.get(at as usize..at as usize + 12)?;
    (b[..4] == hidpack_core::frame::HIDPACK_SKIPPABLE.to_le_bytes()).then(|| b[8..12].try_into().unwrap())
}

/// Checks a closed 1.2 file's layout (FORMAT.md §4.6): an `HPKT` after every data frame but the
/// last, and after the last one the `HPKX` index (`last_trailer`: or its trailer, then the index).
fn assert_1_2_layout(bytes: &[u8], blocks: usize, last_trailer: bool) {
    let r = Reader::from_source(bytes.to_vec()).unwrap();
    assert_eq!((r.layout(), r.blocks().len()), (hidpack_core::reader::Layout::Index, blocks));
    for (i, b) in r.blocks().iter().enumerate() {
        let after = record_tag(bytes, b.offset + u64::from(b.length));
        let want = if i + 1 < blocks || last_trailer { *b"HPKT" } else { *b"HPKX" };
        assert_eq!(after, Some(want), "after block {i}");
    }
}

/// One block of typing, as `hidpack import` writes a session (FORMAT.md §4.6): no trailer.
fn v1_2_keys() -> Vec<u8> {
    let bytes = write_minor(&typing(), 4096, "format 1.2: no trailer before the index", 2, false);
    assert_1_2_layout(&bytes, 1, false);
    bytes
}

/// Several blocks: a trailer after each but the last.
fn v1_2_blocks() -> Vec<u8> {
    let bytes = write_minor(&mixed(), 16, "format 1.2: the last block's trailer left out", 2, false);
    assert_1_2_layout(&bytes, 5, false);
    bytes
}

/// The last block closed (flushed) before the file: its trailer is written, then the index.
fn v1_2_flushed() -> Vec<u8> {
    let bytes = write_minor(&mixed(), 16, "format 1.2: last block flushed before close", 2, true);
    assert_1_2_layout(&bytes, 5, true);
    bytes
}

/// [`v1_2_blocks`] cut at the end of its last data frame (a writer killed before the index):
/// the scan path resolves the last frame by decoding it; nothing is lost.
fn v1_2_torn() -> Vec<u8> {
    let bytes = v1_2_blocks();
    let r = Reader::from_source(bytes.clone()).unwrap();
    let last = r.blocks().last().unwrap();
    let torn = bytes[..(last.offset + u64::from(last.length)) as usize].to_vec();
    let t = Reader::from_source(torn.clone()).unwrap();
    assert_eq!((t.layout(), t.blocks().len()), (hidpack_core::reader::Layout::Scanned, 5));
    torn
}

/// [`v1_2_blocks`] without its seek table, a byte of its last data frame flipped: the scan path
/// takes the last block's info from the index entry after it, so the block fails its hash and its
/// events are reported lost (FORMAT.md §4.6, §7.3).
fn v1_2_no_seek_table() -> Vec<u8> {
    let bytes = v1_2_blocks();
    let r = Reader::from_source(bytes.clone()).unwrap();
    let last = r.blocks().last().unwrap().clone();
    let index_at = last.offset + u64::from(last.length);
    let index_len = 8 + u64::from(u32::from_le_bytes(bytes[index_at as usize + 4..index_at as usize + 8].try_into().unwrap()));
    let mut cut = bytes[..(index_at + index_len) as usize].to_vec();
    cut[(last.offset + u64::from(last.length) / 2) as usize] ^= 0x20;
    let c = Reader::from_source(cut.clone()).unwrap();
    assert_eq!((c.layout(), c.blocks().len()), (hidpack_core::reader::Layout::Scanned, 5));
    assert_eq!(c.blocks()[4].hash, last.hash, "the last block's info comes from the index");
    cut
}

/// Pointer moves on a Windows clock (FORMAT.md §5.5, 1.3): `t` is a 15.6 ms tick floored to whole
/// milliseconds (seven ticks between most moves, same-tick pairs, long pauses, a few stamps off the
/// grid), the pointer sweeps keep their direction for a while; clicks between the moves.
fn windows_pointer(n: usize) -> Vec<(i64, Event)> {
    let mut r = 0x2545_F491_4F6C_DD1Du64;
    let mut rnd = move || {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        r
    };
    let (mut tick, mut x, mut y, mut dx, mut dy) = (3i64, 400i64, 300i64, 5i64, -3i64);
    let mut evs = Vec::new();
    for i in 0..n {
        let u = rnd();
        tick += [7, 7, 7, 7, 0, 8, 6, 1, 14, 64][(u % 10) as usize];
        let mut t = (tick * 15_600_000 + 250_000) / 1_000_000 * 1_000_000;
        if u.is_multiple_of(97) {
            t += 3_000_000; // off the grid: a residue, the interval restarts
        }
        if u.is_multiple_of(5) {
            dx = -dx;
        }
        if u.is_multiple_of(7) {
            dy = -dy;
        }
        x += dx.signum() * ((u >> 24) % 12) as i64;
        y += dy.signum() * ((u >> 32) % 9) as i64;
        let e = if i % 40 == 39 {
            Event::Button { button: 1, pressed: i % 80 == 39, pos: Some((x << 16, y << 16)) }
        } else {
            Event::Move { x: x << 16, y: y << 16, buttons: None }
        };
        evs.push((t, e));
    }
    evs.sort_by_key(|e| e.0);
    evs
}

/// The predictor bytes of the `BINNED` chunks of block `block` of `bytes`.
fn binned_predictors(bytes: &[u8], block: usize) -> std::collections::BTreeSet<u8> {
    let r = Reader::from_source(bytes.to_vec()).unwrap();
    let b = &r.blocks()[block];
    let frame = &bytes[b.offset as usize..(b.offset + u64::from(b.length)) as usize];
    let payload = zstd::decode_all(frame).unwrap();
    let layout = hidpack_core::codec::chunk_layout(&payload).unwrap();
    layout.iter().filter(|c| c.encoding == hidpack_core::codec::enc::BINNED).filter_map(|c| c.predictor).collect()
}

/// One block of a Windows pointer (FORMAT.md §5.5): `t` under the clock grid (7), `x`/`y` under
/// signed steps (8).
fn v1_3_clock() -> Vec<u8> {
    let bytes = write_minor(&windows_pointer(600), 4096, "format 1.3: clock grid and signed steps", 3, false);
    let preds = binned_predictors(&bytes, 0);
    assert!(preds.contains(&7) && preds.contains(&8), "{preds:?}");
    bytes
}

/// Several blocks of the same: a trailer after each but the last; each block's `t` restarts its
/// grid (the writer chooses per block: some blocks keep order-1 differences).
fn v1_3_blocks() -> Vec<u8> {
    let bytes = write_minor(&windows_pointer(1200), 300, "format 1.3: several blocks", 3, false);
    assert_1_2_layout(&bytes, 4, false);
    let clocked = (0..4).filter(|&b| binned_predictors(&bytes, b).contains(&7)).count();
    assert!(clocked >= 2, "{clocked} blocks under the clock grid");
    bytes
}

/// Two blocks of a Windows pointer in format 1.4 (FORMAT.md §5.5): `t` under the clock grid with
/// sparse residues (9; its stamps off the grid stored as non-zero residues), `x`/`y` under signed
/// steps (8).
fn v1_4_clock() -> Vec<u8> {
    let bytes = write_minor(&windows_pointer(1200), 600, "format 1.4: clock grid with sparse residues", 4, false);
    assert_1_2_layout(&bytes, 2, false);
    for b in 0..2 {
        let preds = binned_predictors(&bytes, b);
        assert!(preds.contains(&9) && preds.contains(&8) && !preds.contains(&7), "{preds:?}");
    }
    bytes
}

fn main() {
    let dir: PathBuf = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| Path::new("tests/vectors/v1").to_path_buf());
    std::fs::create_dir_all(&dir).unwrap();
    let (file, tail) = killed_with_tail();
    let p = dir.join("killed_with_tail.hpk");
    std::fs::write(&p, &file).unwrap();
    std::fs::write(hidpack_core::writer::tail_path(&p), &tail).unwrap();
    let j = dump_path(&p);
    std::fs::write(dir.join("killed_with_tail.json"), serde_json::to_string_pretty(&j).unwrap() + "\n").unwrap();
    println!("killed_with_tail: {} + {} tail bytes, {} events", file.len(), tail.len(), j["events"].as_array().unwrap().len());
    let mut all = vectors();
    all.push(("binned", binned()));
    all.push(("v1_1_keys", v1_1_keys()));
    all.push(("v1_1_clicks", v1_1_clicks()));
    all.push(("v1_1_compact", v1_1_compact()));
    all.push(("v1_1_compact_torn", v1_1_compact_torn()));
    all.push(("v1_2_keys", v1_2_keys()));
    all.push(("v1_2_blocks", v1_2_blocks()));
    all.push(("v1_2_flushed", v1_2_flushed()));
    all.push(("v1_2_torn", v1_2_torn()));
    all.push(("v1_2_no_seek_table", v1_2_no_seek_table()));
    all.push(("v1_3_clock", v1_3_clock()));
    all.push(("v1_3_blocks", v1_3_blocks()));
    all.push(("v1_4_clock", v1_4_clock()));
    for (name, bytes) in all {
        let j = dump(bytes.clone());
        std::fs::write(dir.join(format!("{name}.hpk")), &bytes).unwrap();
        std::fs::write(dir.join(format!("{name}.json")), serde_json::to_string_pretty(&j).unwrap() + "\n").unwrap();
        println!("{name}: {} bytes, {} events, {} problems", bytes.len(), j["events"].as_array().unwrap().len(), j["problems"].as_array().unwrap().len());
    }
}
