//! Property tests: arbitrary sequences of every kind, written with arbitrary block sizes, read
//! back equal; time windows return exactly the matching events.

mod common;
use common::arb::{event, table, timestamp};
use common::*;
use hidpack_core::model::{COORD_MAX_RAW, KIND_NAMES};
use hidpack_core::reader::{kind_mask, ALL_KINDS};
use hidpack_core::{Event, Kind, Reader, WriterOptions};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn any_sequence_roundtrips(evs in proptest::collection::vec((timestamp(), event()), 0..200), block in 1usize..50, level in 1i32..6) {
        let bytes = write_events(&evs, WriterOptions { block_events: block, level, ..Default::default() });
        let (got, r) = read_all(bytes);
        prop_assert_eq!(&got, &evs);
        prop_assert!(r.problems().is_empty());
        prop_assert!(r.verify().ok);
    }

    /// `Writer::write_rows` over consecutive ranges (the recorder's batch path, with the per-kind
    /// cursors chained) writes the same bytes as pushing every event, for any cut points.
    #[test]
    fn write_rows_in_ranges_equals_single_pushes(evs in proptest::collection::vec((timestamp(), event()), 0..200),
                                                  cuts in proptest::collection::vec(0usize..200, 0..6),
                                                  block in 1usize..50, span in proptest::option::of(1i64..1_000_000)) {
        let opts = || WriterOptions { block_events: block, block_span_ns: span, ..Default::default() };
        let pushed = write_events(&evs, opts());
        let table = table(&evs);
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (evs.len() + 1)).collect();
        bounds.push(0);
        bounds.push(evs.len());
        bounds.sort_unstable();
        let mut w = hidpack_core::Writer::new(Vec::new(), opts()).unwrap();
        let mut kind_pos = [0usize; hidpack_core::model::NUM_KINDS];
        for r in bounds.windows(2) {
            w.write_rows(&table, r[0], r[1], &mut kind_pos).unwrap();
        }
        prop_assert_eq!(w.into_inner().unwrap(), pushed);
    }

    #[test]
    fn time_window_and_kind_filter_are_exact(evs in proptest::collection::vec((-1000i64..1000, event()), 0..150),
                                             t0 in -1200i64..1200, span in 0i64..800, block in 1usize..20,
                                             kinds in proptest::collection::vec(0u8..9, 1..4)) {
        let bytes = write_events(&evs, WriterOptions { block_events: block, block_span_ns: Some(300), ..Default::default() });
        let r = Reader::from_source(bytes).unwrap();
        let ks: Vec<Kind> = kinds.iter().map(|k| Kind::from_code(*k).unwrap()).collect();
        let got: Vec<_> = r.read(Some(t0), Some(t0 + span), kind_mask(&ks), None).unwrap().events().collect();
        let expect: Vec<_> = evs.iter().filter(|(t, e)| *t >= t0 && *t < t0 + span && ks.contains(&e.kind())).cloned().collect();
        prop_assert_eq!(&got, &expect);
        // decoding blocks on several threads gives the same events, in the same order
        for threads in [2, 3, 8] {
            let par: Vec<_> = r.read_threads(Some(t0), Some(t0 + span), kind_mask(&ks), None, threads).unwrap().events().collect();
            prop_assert_eq!(&par, &expect, "threads {}", threads);
            // and as parts (one per block with wanted events), stacked: the same again
            let parts = r.read_parts(Some(t0), Some(t0 + span), kind_mask(&ks), None, threads).unwrap();
            prop_assert!(parts.iter().all(|p| !p.is_empty()));
            let stacked: Vec<_> = parts.iter().flat_map(|p| p.events().collect::<Vec<_>>()).collect();
            prop_assert_eq!(&stacked, &expect, "parts, threads {}", threads);
        }
    }
}

#[test]
fn event_clock_blocks_close_on_span() {
    let evs: Vec<(i64, Event)> = (0..100).map(|i| (i * 100_000_000, Event::Move { x: i << 16, y: 0, buttons: None })).collect();
    let bytes = write_events(&evs, WriterOptions { block_span_ns: Some(1_000_000_000), ..Default::default() });
    let (got, r) = read_all(bytes);
    assert_eq!(got, evs);
    assert_eq!(r.blocks().len(), 10); // 10 s of events at 10 Hz, one block per second
    for b in r.blocks() {
        assert!(b.t_max - b.t_min < 1_000_000_000);
    }
}

#[test]
fn out_of_range_values_are_refused_with_row_and_field() {
    let mut w = hidpack_core::Writer::new(Vec::new(), WriterOptions::default()).unwrap();
    let e = w.push(0, &Event::Move { x: COORD_MAX_RAW + 1, y: 0, buttons: None }).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("`x`") && msg.contains("2^37"), "{msg}");
    let e = hidpack_core::model::coord_from_f64(0.1, "x", Some(3)).unwrap_err().to_string();
    assert!(e.contains("row 3") && e.contains("1/65536"), "{e}");
    assert!(hidpack_core::model::coord_from_f64(f64::NAN, "y", None).is_err());
    assert_eq!(hidpack_core::model::coord_from_f64(1175.421875, "x", None).unwrap(), (1175.421875 * 65536.0) as i64);
    assert_eq!(KIND_NAMES.len(), 9);
    let _ = ALL_KINDS;
}

/// Files at most `FileSource::WHOLE` bytes long are read whole when opened; larger ones block by
/// block. Both read back the events written, and a file on disk reads the same as its bytes.
#[test]
fn files_read_whole_or_by_block_read_the_same() {
    use hidpack_core::reader::FileSource;
    let dir = std::env::temp_dir().join(format!("hidpack-whole-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // moves on a noisy path (the sample's periodic events compress to almost nothing)
    let noisy = |n: usize| -> Vec<(i64, Event)> {
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        let mut rnd = move || {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (s >> 33) as i64
        };
        let (mut t, mut x, mut y) = (0i64, 0i64, 0i64);
        (0..n)
            .map(|_| {
                t += rnd() % 20_000_000;
                x += rnd() % 200_000 - 100_000;
                y += rnd() % 200_000 - 100_000;
                (t, Event::Move { x, y, buttons: None })
            })
            .collect()
    };
    for n in [10usize, 2_000, 400_000] {
        let evs = if n < 400_000 { sample_events(n) } else { noisy(n) };
        let bytes = write_events(&evs, WriterOptions::default());
        let path = dir.join(format!("{n}.hpk"));
        std::fs::write(&path, &bytes).unwrap();
        let big = bytes.len() as u64 > FileSource::WHOLE;
        assert_eq!(big, n == 400_000, "{n} events: {} bytes", bytes.len());
        let r = Reader::open(&path).unwrap();
        let got: Vec<_> = r.read(None, None, ALL_KINDS, None).unwrap().events().collect();
        assert_eq!(got, evs);
        assert!(r.problems().is_empty());
        // the file changes after the open: a whole-read file keeps what it held at the open
        if !big {
            std::fs::write(&path, b"not hidpack any more").unwrap();
            let again: Vec<_> = r.read(None, None, ALL_KINDS, None).unwrap().events().collect();
            assert_eq!(again, evs);
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
