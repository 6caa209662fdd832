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
