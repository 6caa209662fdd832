//! Criterion benches of the core's encode and decode paths on real data: the first 65,536
//! events of the balabit-mouse corpus (moves, buttons, scrolls, as the normalized CSV gives them),
//! read from `$HIDPACK_DATA` (default `<repo>/../shared/data`; never copied into the repository).
//!
//! * `codec/encode_block`: a whole block, `Writer::write_table` + close into memory (column
//!   encoding, zstd level 3, trailer, index, seek table);
//! * `codec/writer_push`: the same events one `Writer::push` at a time (the encoder thread's path);
//! * `codec/decode_block`: `Reader::from_source` + `read` of every event back into columns;
//! * `codec/encode_block_v1_2`, `codec/decode_block_v1_2`, `codec/{en,de}code_small_files_v1_2`:
//!   the same written as format 1.2 (`minor: 2`: without 1.3's clock-grid and signed-steps
//!   predictors), to show what they cost in time;
//! * `codec/encode_block_v1`, `codec/decode_block_v1`: the same with `binned: false` (format 1.0's
//!   byte encodings under zstd), to show what the `BINNED` encoding costs or saves in time;
//! * `codec/encode_small_files`, `codec/decode_small_files`: the same events as 24 files of 2,731
//!   events each (the size of a balabit session in `benches/compare.py`), each with its own
//!   header, block, index and seek table: what a file and a small block cost beyond their events.
//!
//! * `codec/read_moves_1t`: the moves of 1,048,576 balabit events written as one file
//!   (`Writer::write_table`, 16 blocks) into their own columns with x/y in float64 pixels,
//!   `narrow::read_kind_in_pixels` on one thread: what `hidpack.open(p, threads=1).moves()` runs
//!   in the core (benches/compare.py's `long-numpy/hidpack-1`).
//!
//! * `grid/decode_t_clock_grid`, `grid/decode_t_clock_sparse` (format 1.4, predictor 9), `grid/decode_t_order1`: the `t` column of the first 65,536
//!   balabit events (one block's worth; its sessions laid end to end) as one `BINNED` column body, written with the 1.3 clock
//!   grid (predictor 7) and as the 1.2 writer chooses (order-1 differences), decoded by
//!   `binned::decode_column`: what the grid's undo costs per value against order 1.
//!
//! * `codec/decode_key_files`, `codec/decode_key_files_v1_0`: key sessions of the aalto corpus,
//!   one file each, in format 1.1 (usage and pressed `PREDICTED` from native) and in 1.0.
//!
//! Run: `cargo bench -p hidpack-core --bench codec` (add `-- --quick` for a short run).

use std::hint::black_box;

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hidpack_core::model::Kind;
use hidpack_core::narrow::read_kind_in_pixels;
use hidpack_core::reader::ALL_KINDS;
use hidpack_core::{Event, EventTable, Reader, Writer, WriterOptions};

const N: usize = 65536;

fn corpus() -> EventTable {
    common::balabit(N)
}

fn codec(c: &mut Criterion) {
    let table = corpus();
    let events: Vec<(i64, Event)> = table.events().collect();
    let encode_minor = |t: &EventTable, binned: bool, minor: u16| {
        let mut w = Writer::new(Vec::with_capacity(1 << 20), WriterOptions { binned, minor, ..WriterOptions::default() }).unwrap();
        w.write_table(t).unwrap();
        w.into_inner().unwrap()
    };
    let encode_with = |t: &EventTable, binned: bool| encode_minor(t, binned, WriterOptions::default().minor);
    let encode = |t: &EventTable| encode_with(t, true);
    let encode_1_2 = |t: &EventTable| encode_minor(t, true, 2);
    let bytes = encode(&table);
    let bytes_1_2 = encode_1_2(&table);
    let bytes_v1 = encode_with(&table, false);
    eprintln!(
        "codec bench: {N} balabit events -> {} bytes ({:.3} B/event); as 1.2 {} bytes; without BINNED {} bytes ({:.3} B/event)",
        bytes.len(),
        bytes.len() as f64 / N as f64,
        bytes_1_2.len(),
        bytes_v1.len(),
        bytes_v1.len() as f64 / N as f64
    );
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("encode_block", |b| b.iter(|| black_box(encode(black_box(&table)))));
    g.bench_function("writer_push", |b| {
        b.iter(|| {
            let mut w = Writer::new(Vec::with_capacity(1 << 20), WriterOptions::default()).unwrap();
            for (t, e) in &events {
                w.push(*t, e).unwrap();
            }
            black_box(w.into_inner().unwrap())
        })
    });
    // open a file held in memory and read every event back into columns
    let decode = |f: &Vec<u8>| Reader::from_source(black_box(f.clone())).unwrap().read(None, None, ALL_KINDS, None).unwrap();
    g.bench_function("decode_block", |b| b.iter(|| assert_eq!(black_box(decode(&bytes)).len(), N)));
    g.bench_function("encode_block_v1_2", |b| b.iter(|| black_box(encode_1_2(black_box(&table)))));
    g.bench_function("decode_block_v1_2", |b| b.iter(|| assert_eq!(black_box(decode(&bytes_1_2)).len(), N)));
    g.bench_function("encode_block_v1", |b| b.iter(|| black_box(encode_with(black_box(&table), false))));
    g.bench_function("decode_block_v1", |b| b.iter(|| assert_eq!(black_box(decode(&bytes_v1)).len(), N)));
    const FILES: usize = 24;
    let per = N.div_ceil(FILES);
    let parts: Vec<EventTable> = (0..FILES)
        .map(|i| {
            let mut p = EventTable::new();
            for (t, e) in &events[i * per..((i + 1) * per).min(N)] {
                p.push(*t, e).unwrap();
            }
            p
        })
        .collect();
    let small: Vec<Vec<u8>> = parts.iter().map(encode).collect();
    let small_1_2: Vec<Vec<u8>> = parts.iter().map(encode_1_2).collect();
    eprintln!(
        "codec bench: as {FILES} files: {} bytes ({:.3} B/event); as 1.2 {} bytes",
        small.iter().map(Vec::len).sum::<usize>(),
        small.iter().map(Vec::len).sum::<usize>() as f64 / N as f64,
        small_1_2.iter().map(Vec::len).sum::<usize>()
    );
    g.bench_function("encode_small_files", |b| b.iter(|| black_box(parts.iter().map(encode).collect::<Vec<_>>())));
    g.bench_function("decode_small_files", |b| b.iter(|| assert_eq!(small.iter().map(|f| black_box(decode(f)).len()).sum::<usize>(), N)));
    g.bench_function("encode_small_files_v1_2", |b| b.iter(|| black_box(parts.iter().map(encode_1_2).collect::<Vec<_>>())));
    g.bench_function("decode_small_files_v1_2", |b| b.iter(|| assert_eq!(small_1_2.iter().map(|f| black_box(decode(f)).len()).sum::<usize>(), N)));
    g.finish();
    moves(c);
    keys(c);
}

/// One long file's moves on one thread (the throughput counts every event stored, as
/// benches/compare.py's user paths do).
fn moves(c: &mut Criterion) {
    const LONG: usize = 1 << 20;
    let table = common::balabit(LONG);
    let mut w = Writer::new(Vec::with_capacity(8 << 20), WriterOptions::default()).unwrap();
    w.write_table(&table).unwrap();
    let bytes = w.into_inner().unwrap();
    let reader = Reader::from_source(bytes).unwrap();
    let moves = table.kind.iter().filter(|&&k| k == Kind::Move.code()).count();
    drop(table);
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(LONG as u64));
    g.bench_function("read_moves_1t", |b| {
        b.iter(|| assert_eq!(black_box(read_kind_in_pixels(&reader, None, None, Kind::Move, u32::MAX, None, 1).unwrap()).len(), moves))
    });
    g.finish();
}

/// The `t` column of one block of balabit events, clock grid against order-1 differences.
fn grid(c: &mut Criterion) {
    use hidpack_core::binned::{decode_column, encode_column, encode_column_v1_3, ClockGrid, PRED_CLOCK, PRED_CLOCK_SPARSE};
    use hidpack_core::bytes::Cursor;
    // the sessions' clocks each start at 0: laid end to end, 10 s apart (one non-decreasing clock)
    let mut t = corpus().t;
    let mut shift = 0;
    for i in 1..N {
        if t[i] + shift < t[i - 1] {
            shift = t[i - 1] + 10_000_000_000 - t[i];
        }
        t[i] += shift;
    }
    let mut clock = Vec::new();
    encode_column_v1_3(&t, &mut clock, ClockGrid::Dense);
    assert_eq!(clock[0], PRED_CLOCK, "balabit's t takes the clock grid");
    let mut sparse = Vec::new();
    encode_column_v1_3(&t, &mut sparse, ClockGrid::Sparse);
    assert_eq!(sparse[0], PRED_CLOCK_SPARSE, "balabit's t takes the clock grid (1.4)");
    let mut order1 = Vec::new();
    encode_column(&t, &mut order1);
    eprintln!(
        "grid bench: {N} balabit stamps: clock grid {} bytes, sparse residues {} bytes, 1.2 choice (predictor {}) {} bytes",
        clock.len(),
        sparse.len(),
        order1[0],
        order1.len()
    );
    let mut g = c.benchmark_group("grid");
    g.throughput(Throughput::Elements(N as u64));
    let mut out = Vec::with_capacity(N);
    for (name, body) in [("decode_t_clock_grid", &clock), ("decode_t_clock_sparse", &sparse), ("decode_t_order1", &order1)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                decode_column(&mut Cursor::new(black_box(body), 0, "t"), N, &mut out).unwrap();
                assert_eq!(out.len(), N);
            })
        });
    }
    if !out.is_empty() {
        assert_eq!(out, t); // (empty when criterion's filter left these benches out)
    }
    g.finish();
}

/// Key sessions of the aalto corpus as small files, format 1.1 (`PREDICTED` usage and pressed
/// from native) against 1.0 (`minor: 0`, both stored as they are).
fn keys(c: &mut Criterion) {
    const KEYS: usize = 32768;
    let sessions = common::aalto_sessions(KEYS);
    let encode = |t: &EventTable, minor: u16| {
        let mut w = Writer::new(Vec::new(), WriterOptions { minor, ..WriterOptions::default() }).unwrap();
        w.write_table(t).unwrap();
        w.into_inner().unwrap()
    };
    let files = |minor| sessions.iter().map(|t| encode(t, minor)).collect::<Vec<_>>();
    let (v11, v10) = (files(1), files(0));
    let size = |f: &[Vec<u8>]| f.iter().map(Vec::len).sum::<usize>() as f64 / KEYS as f64;
    eprintln!("codec bench: {KEYS} aalto key events as {} files: 1.1 {:.3} B/event, 1.0 {:.3}", sessions.len(), size(&v11), size(&v10));
    let decode = |f: &Vec<u8>| Reader::from_source(black_box(f.clone())).unwrap().read(None, None, ALL_KINDS, None).unwrap();
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(KEYS as u64));
    g.bench_function("decode_key_files", |b| b.iter(|| assert_eq!(v11.iter().map(|f| decode(f).len()).sum::<usize>(), KEYS)));
    g.bench_function("decode_key_files_v1_0", |b| b.iter(|| assert_eq!(v10.iter().map(|f| decode(f).len()).sum::<usize>(), KEYS)));
    g.finish();
}

criterion_group!(benches, codec, grid);
criterion_main!(benches);
