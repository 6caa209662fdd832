//! Format 1.3 (FORMAT.md §5.5, §9): the clock-grid and signed-steps predictors. A 1.3 file of a
//! Windows-clocked pointer uses them and reads back exactly; it sets required feature bit 2 (which a
//! 1.2 reader refuses by name); `minor: 2` still writes 1.2 bytes (neither predictor, no bit 2).
//! (Format 1.4 writes the clock grid as predictor 9: `minor: 3` here, 1.4 in format_1_4.rs.)

mod common;
use common::*;
use hidpack_core::frame::FEATURE_BINNED_1_3;
use hidpack_core::WriterOptions;

#[test]
fn a_windows_clocked_pointer_uses_both_predictors_and_reads_back() {
    let events = windows_pointer(3000, 11);
    let v13 = write_events(&events, WriterOptions { block_events: 1000, minor: 3, clock_grid: Some(true), ..Default::default() });
    assert_eq!(&v13[12..16], &[1, 0, 3, 0]);
    assert_ne!(required_features(&v13) & FEATURE_BINNED_1_3, 0);
    let p = predictors(&v13);
    assert!(p.contains(&7) && p.contains(&8), "{p:?}");
    let (back, r) = read_all(v13.clone());
    assert_eq!(back, events);
    assert!(r.problems().is_empty());

    let v12 = write_events(&events, WriterOptions { block_events: 1000, minor: 2, ..Default::default() });
    assert_eq!(&v12[12..16], &[1, 0, 2, 0]);
    assert_eq!(required_features(&v12) & FEATURE_BINNED_1_3, 0);
    let p = predictors(&v12);
    assert!(!p.contains(&7) && !p.contains(&8), "{p:?}");
    assert_eq!(read_all(v12.clone()).0, events);
    assert!(v13.len() < v12.len(), "{} vs {}", v13.len(), v12.len());
}

#[test]
fn bit_2_is_the_only_new_required_feature_and_a_1_2_file_does_not_need_it() {
    // A 1.2 reader knows bits 0 and 1 and refuses bit 2 by value; a 1.2 file sets 0 and 1 only.
    let v13 = write_events(&windows_pointer(100, 3), WriterOptions { minor: 3, clock_grid: Some(true), ..Default::default() });
    assert_eq!(required_features(&v13), 0b111);
    let v12 = write_events(&windows_pointer(100, 3), WriterOptions { minor: 2, ..Default::default() });
    assert_eq!(required_features(&v12), 0b011);
    // (a bit this reader does not know is refused by name: damage.rs, future_major_version_...)
}

#[test]
fn the_default_writer_takes_signed_steps_but_not_the_clock_grid() {
    // The clock grid is asked for (WriterOptions::clock_grid): its undo is slow to decode.
    let events = windows_pointer(3000, 11);
    let plain = write_events(&events, WriterOptions { block_events: 1000, minor: 3, ..Default::default() });
    assert_eq!(&plain[12..16], &[1, 0, 3, 0]);
    let p = predictors(&plain);
    assert!(!p.contains(&7) && p.contains(&8), "{p:?}");
    assert_eq!(read_all(plain.clone()).0, events);
    let grid = write_events(&events, WriterOptions { block_events: 1000, minor: 3, clock_grid: Some(true), ..Default::default() });
    assert!(grid.len() < plain.len(), "{} vs {}", grid.len(), plain.len());
}
