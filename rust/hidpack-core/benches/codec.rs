//! Criterion benches of the core's encode and decode paths on real data: the first 65,536
//! events of the balabit-mouse corpus (moves, buttons, scrolls, as the normalized CSV gives them),
//! read from `$HIDPACK_DATA` (default `<repo>/../shared/data`; never copied into the repository).
//!
//! * `codec/encode_block`: a whole block, `Writer::write_table` + close into memory (column
//!   encoding, zstd level 3, trailer, index, seek table);
//! * `codec/writer_push`: the same events one `Writer::push` at a time (the encoder thread's path);
//! * `codec/decode_block`: `Reader::from_source` + `read` of every event back into columns;
//! * `codec/encode_block_v1`, `codec/decode_block_v1`: the same with `binned: false` (format 1.0's
//!   byte encodings under zstd), to show what the `BINNED` encoding costs or saves in time;
//! * `codec/encode_small_files`, `codec/decode_small_files`: the same events as 24 files of 2,731
//!   events each (the size of a balabit session in `benches/compare.py`), each with its own
//!   header, block, index and seek table: what a file and a small block cost beyond their events.
//!
//! Run: `cargo bench -p hidpack-core --bench codec` (add `-- --quick` for a short run).

use std::hint::black_box;
use std::io::Read;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hidpack_core::reader::ALL_KINDS;
use hidpack_core::{Event, EventTable, Reader, Writer, WriterOptions};

const N: usize = 65536;

fn corpus() -> EventTable {
    let data = std::env::var_os("HIDPACK_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let path = data.join("balabit-mouse/events.csv.zst");
    let f = std::fs::File::open(&path)
        .unwrap_or_else(|e| panic!("corpus {} not found ({e}); set HIDPACK_DATA", path.display()));
    let mut text = String::new();
    zstd::stream::read::Decoder::new(f).unwrap().take(16 << 20).read_to_string(&mut text).unwrap();
    let mut t = EventTable::new();
    for line in text.lines().skip(1) {
        if t.len() == N {
            break;
        }
        let c: Vec<&str> = line.split(',').collect();
        if c.len() < 6 {
            break; // the last, cut line
        }
        let ts: i64 = c[0].parse().unwrap();
        let px = |s: &str| s.parse::<i64>().map(|v| v << 16).ok();
        let (x, y) = (px(c[2]), px(c[3]));
        let button: Option<u8> = c[4].parse().ok();
        let ev = match c[1] {
            "move" => Event::Move { x: x.unwrap(), y: y.unwrap(), buttons: button.map(u32::from) },
            "down" | "up" => Event::Button { button: button.unwrap_or(1), pressed: c[1] == "down", pos: x.zip(y) },
            "scroll" => Event::Scroll { dx: 0, dy: i64::from(button.unwrap_or(1)) << 16, pos: x.zip(y) },
            _ => continue,
        };
        t.push(ts, &ev).unwrap();
    }
    assert_eq!(t.len(), N, "fewer than {N} events read from {}", path.display());
    t
}

fn codec(c: &mut Criterion) {
    let table = corpus();
    let events: Vec<(i64, Event)> = table.events().collect();
    let encode_with = |t: &EventTable, binned: bool| {
        let mut w = Writer::new(Vec::with_capacity(1 << 20), WriterOptions { binned, ..WriterOptions::default() }).unwrap();
        w.write_table(t).unwrap();
        w.into_inner().unwrap()
    };
    let encode = |t: &EventTable| encode_with(t, true);
    let bytes = encode(&table);
    let bytes_v1 = encode_with(&table, false);
    eprintln!(
        "codec bench: {N} balabit events -> {} bytes ({:.3} B/event); without BINNED {} bytes ({:.3} B/event)",
        bytes.len(),
        bytes.len() as f64 / N as f64,
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
    eprintln!(
        "codec bench: as {FILES} files: {} bytes ({:.3} B/event)",
        small.iter().map(Vec::len).sum::<usize>(),
        small.iter().map(Vec::len).sum::<usize>() as f64 / N as f64
    );
    g.bench_function("encode_small_files", |b| b.iter(|| black_box(parts.iter().map(encode).collect::<Vec<_>>())));
    g.bench_function("decode_small_files", |b| b.iter(|| assert_eq!(small.iter().map(|f| black_box(decode(f)).len()).sum::<usize>(), N)));
    g.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
