//! Shared helpers for the integration tests.
#![allow(dead_code)]

pub mod arb;

use hidpack_core::model::gap_reason;
use hidpack_core::reader::ALL_KINDS;
use hidpack_core::{Event, EventTable, Reader, Writer, WriterOptions};

/// A deterministic mixed recording: every kind, absent and present optional fields.
pub fn sample_events(n: usize) -> Vec<(i64, Event)> {
    let mut out = Vec::with_capacity(n);
    let mut t = 0i64;
    let (mut x, mut y) = (500i64 << 16, 400i64 << 16);
    for i in 0..n {
        t += [1_000_000, 8_000_000, 0, 16_000_000][i % 4];
        x += ((i as i64 * 7919) % 23 - 11) << 16;
        y += ((i as i64 * 104729) % 17 - 8) << 12;
        let ev = match i % 23 {
            5 => Event::Button { button: 1 + (i % 5) as u8, pressed: i % 2 == 0, pos: (i % 3 != 0).then_some((x, y)) },
            7 => Event::Scroll { dx: 0, dy: (-(i as i64 % 3)) << 16, pos: Some((x, y)) },
            9 => Event::Key { pressed: i % 2 == 1, usage: (i % 4 != 0).then_some(4 + (i % 26) as u16), native: Some(65 + (i % 26) as u32) },
            11 => Event::Text { text: ["a", "é", "日本", "", "🙂x"][i % 5].to_string() },
            13 => Event::Focus {
                app: Some("Firefox".into()),
                title: (i % 2 == 0).then(|| format!("Tab {}", i % 3)),
                window: Some(0x5000 + (i % 3) as i64),
                rect: (i % 3 == 0).then_some([0, 0, 1920, 1080]),
            },
            15 => Event::Marker { label: "frame".into(), value: Some(i as i64 * 33_333_333) },
            17 => Event::Gap { count: i as u64, reason: gap_reason::DROPPED, t_end: Some(t + 5) },
            19 => Event::RawMove { dx: (i as i64 % 5 - 2) << 16, dy: 3 << 16 },
            _ => Event::Move { x, y, buttons: (i % 10 == 0).then_some(1) },
        };
        out.push((t, ev));
    }
    out
}

pub fn write_events(events: &[(i64, Event)], opts: WriterOptions) -> Vec<u8> {
    let mut w = Writer::new(Vec::new(), opts).unwrap();
    for (t, e) in events {
        w.push(*t, e).unwrap();
    }
    w.into_inner().unwrap()
}

pub fn read_all(bytes: Vec<u8>) -> (Vec<(i64, Event)>, Reader<Vec<u8>>) {
    let r = Reader::from_source(bytes).unwrap();
    let t: EventTable = r.read(None, None, ALL_KINDS, None).unwrap();
    (t.events().collect(), r)
}

/// A pointer on a 15.6 ms tick floored to milliseconds (ns), moving in sweeps.
pub fn windows_pointer(n: usize, seed: u64) -> Vec<(i64, Event)> {
    let mut r = seed | 1;
    let (mut tick, mut x, mut dx) = (0i64, 500i64, 4i64);
    (0..n)
        .map(|_| {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            tick += [7, 7, 7, 0, 8, 6, 1, 30][(r % 8) as usize];
            if r.is_multiple_of(9) {
                dx = -dx;
            }
            x += dx + (r >> 20) as i64 % 3 - 1;
            let y = 300 + (x / 3) + (r >> 40) as i64 % 2;
            ((tick * 15_600_000) / 1_000_000 * 1_000_000, Event::Move { x: x << 16, y: y << 16, buttons: None })
        })
        .collect()
}

/// The `BINNED` predictor bytes of every chunk of a file (FORMAT.md §5.5).
pub fn predictors(bytes: &[u8]) -> std::collections::BTreeSet<u8> {
    let r = Reader::from_source(bytes.to_vec()).unwrap();
    let mut out = std::collections::BTreeSet::new();
    for b in r.blocks() {
        let frame = &bytes[b.offset as usize..(b.offset + u64::from(b.length)) as usize];
        let payload = zstd::decode_all(frame).unwrap();
        for c in hidpack_core::codec::chunk_layout(&payload).unwrap() {
            if c.encoding == hidpack_core::codec::enc::BINNED {
                out.extend(c.predictor);
            }
        }
    }
    out
}

/// The header's required feature bits (FORMAT.md §4.2).
pub fn required_features(bytes: &[u8]) -> u64 {
    // header record: skippable magic, length, tag, major, minor, then required features (§4.2)
    assert_eq!(u32::from_le_bytes(bytes[..4].try_into().unwrap()), hidpack_core::frame::HIDPACK_SKIPPABLE);
    u64::from_le_bytes(bytes[16..24].try_into().unwrap())
}
