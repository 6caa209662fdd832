//! Format 1.4 (FORMAT.md §5.5, §9): the clock grid with sparse residues (predictor 9). A 1.4 writer
//! asked for the clock grid writes predictor 9 where 1.3 wrote 7, sets required feature bit 3 (which a
//! 1.3 reader refuses by name) and reads back exactly; `minor: 3` still writes 1.3 files (predictor
//! 7, bit 3 clear); a 1.4 writer not trying the grid leaves bit 3 clear.

mod common;
use common::*;
use hidpack_core::frame::{FEATURE_CLOCK_SPARSE, FORMAT_MINOR};
use hidpack_core::writer::CLOCK_GRID_DEFAULT_1_4;
use hidpack_core::WriterOptions;

#[test]
fn a_1_4_writer_writes_the_clock_grid_as_predictor_9_and_reads_back() {
    assert_eq!(FORMAT_MINOR, 4);
    let events = windows_pointer(3000, 11);
    let v14 = write_events(&events, WriterOptions { block_events: 1000, clock_grid: Some(true), ..Default::default() });
    assert_eq!(&v14[12..16], &[1, 0, 4, 0]);
    assert_eq!(required_features(&v14), 0b1111);
    let p = predictors(&v14);
    assert!(p.contains(&9) && p.contains(&8) && !p.contains(&7), "{p:?}");
    let (back, r) = read_all(v14.clone());
    assert_eq!(back, events);
    assert!(r.problems().is_empty());

    let v13 = write_events(&events, WriterOptions { block_events: 1000, minor: 3, clock_grid: Some(true), ..Default::default() });
    assert_eq!(&v13[12..16], &[1, 0, 3, 0]);
    assert_eq!(required_features(&v13), 0b111);
    let p = predictors(&v13);
    assert!(p.contains(&7) && !p.contains(&9), "{p:?}");
    assert_eq!(read_all(v13.clone()).0, events);
    // the same columns, the residues stored otherwise: about the same size
    assert!(v14.len() * 100 < v13.len() * 101, "{} vs {}", v14.len(), v13.len());
}

#[test]
fn bit_3_is_set_only_where_the_grid_is_tried() {
    let events = windows_pointer(2000, 5);
    let off = write_events(&events, WriterOptions { clock_grid: Some(false), ..Default::default() });
    assert_eq!(&off[12..16], &[1, 0, 4, 0]);
    assert_eq!(required_features(&off) & FEATURE_CLOCK_SPARSE, 0);
    assert!(!predictors(&off).contains(&9));
    // the format's default (WriterOptions::tries_clock_grid decides it in one place)
    let dflt = write_events(&events, WriterOptions::default());
    assert_eq!(required_features(&dflt) & FEATURE_CLOCK_SPARSE != 0, CLOCK_GRID_DEFAULT_1_4);
    assert_eq!(predictors(&dflt).contains(&9), CLOCK_GRID_DEFAULT_1_4);
    assert!(WriterOptions::default().tries_clock_grid() == CLOCK_GRID_DEFAULT_1_4);
    // a 1.3 writer never tries the grid unless asked, whatever the 1.4 default
    assert!(!WriterOptions { minor: 3, ..Default::default() }.tries_clock_grid());
    let v13 = write_events(&events, WriterOptions { minor: 3, ..Default::default() });
    assert!(!predictors(&v13).contains(&7));
}
