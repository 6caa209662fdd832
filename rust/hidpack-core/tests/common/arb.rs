//! Proptest strategies shared by the property tests (roundtrip.rs, tokens.rs): events of every
//! kind with present and absent optional fields, weighted towards moves as recordings are, with
//! the values at the edges of the model (full-range coordinates, any u8/u16/u32/i64, empty and
//! non-ASCII text, NUL) mixed in.

use hidpack_core::model::COORD_MAX_RAW;
use hidpack_core::{Event, EventTable};
use proptest::prelude::*;

/// A coordinate in raw units (1/65536 px): small, whole, half-grid and extreme values.
pub fn coord() -> impl Strategy<Value = i64> {
    prop_oneof![
        -5000i64..5000,
        (-3000i64..3000).prop_map(|v| v << 16),
        (-300i64..300).prop_map(|v| v << 8),
        Just(COORD_MAX_RAW),
        Just(-COORD_MAX_RAW),
        -COORD_MAX_RAW..=COORD_MAX_RAW,
    ]
}

pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[a-z]{0,5}", "\\PC{0,12}", Just("\0nul\u{1F600}".to_string())]
}

/// Any event (moves four times as likely as each other kind).
pub fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        4 => (coord(), coord(), proptest::option::of(prop_oneof![Just(0u32), Just(1), any::<u32>()]))
            .prop_map(|(x, y, buttons)| Event::Move { x, y, buttons }),
        1 => (coord(), coord()).prop_map(|(dx, dy)| Event::RawMove { dx, dy }),
        1 => (prop_oneof![1u8..6, any::<u8>()], any::<bool>(), proptest::option::of((coord(), coord())))
            .prop_map(|(button, pressed, pos)| Event::Button { button, pressed, pos }),
        1 => (coord(), coord(), proptest::option::of((coord(), coord()))).prop_map(|(dx, dy, pos)| Event::Scroll { dx, dy, pos }),
        1 => (any::<bool>(), proptest::option::of(prop_oneof![0u16..256, any::<u16>()]), proptest::option::of(any::<u32>()))
            .prop_map(|(pressed, usage, native)| Event::Key { pressed, usage, native }),
        1 => text().prop_map(|text| Event::Text { text }),
        1 => (proptest::option::of(text()), proptest::option::of(text()), proptest::option::of(any::<i64>()), proptest::option::of(any::<[i32; 4]>()))
            .prop_map(|(app, title, window, rect)| Event::Focus { app, title, window, rect }),
        1 => (text(), proptest::option::of(any::<i64>())).prop_map(|(label, value)| Event::Marker { label, value }),
        1 => (0u64..=i64::MAX as u64, any::<u8>(), proptest::option::of(any::<i64>()))
            .prop_map(|(count, reason, t_end)| Event::Gap { count, reason, t_end }),
    ]
}

/// Any timestamp (ns), in any order: the extremes, zero, sub-second and whole milliseconds.
pub fn timestamp() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        Just(i64::MIN),
        Just(i64::MAX),
        Just(0),
        0i64..1_000_000_000,
        (0i64..100_000).prop_map(|v| v * 1_000_000),
    ]
}

/// The events pushed into one table, in order.
pub fn table(evs: &[(i64, Event)]) -> EventTable {
    let mut t = EventTable::new();
    for (ts, e) in evs {
        t.push(*ts, e).unwrap();
    }
    t
}
