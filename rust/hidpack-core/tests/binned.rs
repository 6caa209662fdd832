//! Property tests of the `BINNED` encoding (FORMAT.md §5.5) through the public writer and reader:
//! every column shape the predictors are built for, and arbitrary ones, round-trip exactly; damaged
//! chunks are errors, never panics or hangs.

use hidpack_core::binned::{decode_column, encode_column, encode_flips};
use hidpack_core::bytes::Cursor;
use hidpack_core::reader::ALL_KINDS;
use hidpack_core::{Event, Reader, Writer, WriterOptions};
use proptest::prelude::*;

fn roundtrip(v: &[i64]) -> Vec<u8> {
    let mut b = Vec::new();
    encode_column(v, &mut b);
    let mut out = Vec::new();
    let mut c = Cursor::new(&b, 0, "t");
    decode_column(&mut c, v.len(), &mut out).unwrap();
    assert_eq!(out, v);
    assert!(c.at_end());
    b
}

/// Columns like input data: steps from a few peaks, a random walk, a clock, a categorical.
fn column() -> impl Strategy<Value = Vec<i64>> {
    prop_oneof![
        proptest::collection::vec(any::<i64>(), 4..600),
        proptest::collection::vec(-3i64..4, 4..3000).prop_map(|d| d
            .iter()
            .scan(0i64, |a, &x| {
                *a += x;
                Some(*a)
            })
            .collect()),
        (proptest::collection::vec(0u64..40, 4..3000), 1i64..100_000_000, 2u64..200).prop_map(|(ticks, unit, den)| {
            let mut k = 0i64;
            ticks.iter().map(|&d| {
                k += d as i64;
                k.wrapping_mul(unit) / den as i64
            }).collect()
        }),
        proptest::collection::vec(prop_oneof![Just(4i64), Just(8), Just(22), Just(44), Just(-1), any::<i64>()], 4..2000),
        proptest::collection::vec(prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(0i64)], 4..300),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn columns_roundtrip(v in column()) {
        roundtrip(&v);
    }

    #[test]
    fn flips_roundtrip(v in proptest::collection::vec(0i64..2, 2..3000)) {
        let mut b = Vec::new();
        encode_flips(&v, &mut b);
        let mut out = Vec::new();
        decode_column(&mut Cursor::new(&b, 0, "t"), v.len(), &mut out).unwrap();
        prop_assert_eq!(out, v);
    }

    #[test]
    fn damaged_chunks_are_errors_or_values_never_panics(v in column(), at in any::<prop::sample::Index>(), bit in 0u8..8, cut in any::<prop::sample::Index>()) {
        let b = roundtrip(&v);
        let mut d = b.clone();
        let i = at.index(d.len());
        d[i] ^= 1 << bit;
        let mut out = Vec::new();
        if decode_column(&mut Cursor::new(&d, 0, "t"), v.len(), &mut out).is_ok() {
            prop_assert_eq!(out.len(), v.len());
        }
        let cut = cut.index(b.len());
        prop_assert!(decode_column(&mut Cursor::new(&b[..cut], 0, "t"), v.len(), &mut Vec::new()).is_err());
    }

    /// Arbitrary bytes after each predictor byte: an error or m values, never a panic or a hang.
    #[test]
    fn arbitrary_bodies_never_panic(pred in 0u8..8, body in proptest::collection::vec(any::<u8>(), 0..400), m in 1usize..5000) {
        let mut b = vec![pred];
        b.extend_from_slice(&body);
        let mut out = Vec::new();
        if decode_column(&mut Cursor::new(&b, 0, "t"), m, &mut out).is_ok() {
            prop_assert_eq!(out.len(), m);
        }
    }

    /// Whole files: long moves with drags and keys, written with and without BINNED, read equal.
    #[test]
    fn files_with_and_without_binned_read_the_same(steps in proptest::collection::vec((-5i64..6, -5i64..6, 0u64..50), 64..2000)) {
        let mut evs = Vec::new();
        let (mut t, mut x, mut y) = (0i64, 0i64, 0i64);
        for (i, (dx, dy, dt)) in steps.iter().enumerate() {
            t += *dt as i64 * 1_000_000;
            x += dx << 16;
            y += dy << 16;
            evs.push((t, if i % 9 == 4 {
                Event::Key { pressed: i % 2 == 0, usage: Some((i % 7) as u16 + 4), native: None }
            } else {
                Event::Move { x, y, buttons: Some((i / 100 % 2) as u32) }
            }));
        }
        let write = |binned: bool| {
            let mut w = Writer::new(Vec::new(), WriterOptions { binned, block_events: 4096, ..Default::default() }).unwrap();
            for (t, e) in &evs {
                w.push(*t, e).unwrap();
            }
            w.into_inner().unwrap()
        };
        let (a, b) = (write(true), write(false));
        let ra = Reader::from_source(a).unwrap().read(None, None, ALL_KINDS, None).unwrap();
        let rb = Reader::from_source(b).unwrap().read(None, None, ALL_KINDS, None).unwrap();
        prop_assert_eq!(ra.events().collect::<Vec<_>>(), evs.clone());
        prop_assert_eq!(rb.events().collect::<Vec<_>>(), evs);
    }
}
