//! Criterion benches of the tokenizer (`hidpack_core::tokens`) on real data: the first 262,144
//! events of the balabit-mouse corpus (moves, buttons, scrolls; whole pixels, ms clocks), read
//! from `$HIDPACK_DATA` (default `<repo>/../shared/data`; never copied into the repository).
//! Throughput is in tokens (criterion prints "elem/s" = tokens/s); one core.
//!
//! * `tokens/encode_lossless`, `tokens/decode_lossless`: [`TokenizerOptions::lossless`] (units
//!   found by the encoder: here 1 ms and 1 px, so the stream equals the default mode's);
//! * `tokens/encode_1ms_1px`, `tokens/decode_1ms_1px`: the lossy default (1 ms, whole pixels),
//!   rounding on every value;
//! * `tokens/encode_1us_1_256px`: finer fixed units (1 µs, 1/256 px): longer time shifts and steps.
//!
//! Run: `cargo bench -p hidpack-core --bench tokens` (add `-- --quick` for a short run).

use std::hint::black_box;

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hidpack_core::tokens::{decode, encode, TokenizerOptions};
use hidpack_core::EventTable;

const N: usize = 1 << 18;

fn corpus() -> EventTable {
    common::balabit(N)
}

/// This thread's CPU time, in seconds.
#[cfg(unix)]
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Elsewhere: wall time since the first call.
#[cfg(not(unix))]
fn thread_cpu() -> f64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed().as_secs_f64()
}

/// The least thread CPU time of 5 runs of each (wall time on a loaded machine counts the
/// time other processes had the core).
fn cpu_seconds(mut enc: impl FnMut(), mut dec: impl FnMut()) -> (f64, f64) {
    let mut best = (f64::MAX, f64::MAX);
    for _ in 0..5 {
        let a = thread_cpu();
        enc();
        let b = thread_cpu();
        dec();
        let c = thread_cpu();
        best = (best.0.min(b - a), best.1.min(c - b));
    }
    best
}

fn bench(c: &mut Criterion) {
    let table = corpus();
    let mut g = c.benchmark_group("tokens");
    let modes = [
        ("lossless", TokenizerOptions::lossless()),
        ("1ms_1px", TokenizerOptions::default()),
        ("1us_1_256px", TokenizerOptions { time_unit: Some(1000), coord_unit: Some(256), ..TokenizerOptions::default() }),
    ];
    for (name, opts) in modes {
        let toks = encode(&table, &opts).unwrap().tokens;
        eprintln!("tokens/{name}: {} events -> {} tokens, {:.3} tokens/event", table.len(), toks.len(), toks.len() as f64 / table.len() as f64);
        let (enc_s, dec_s) = cpu_seconds(|| drop(encode(&table, &opts).unwrap()), || drop(decode(&toks).unwrap()));
        eprintln!(
            "tokens/{name}: thread CPU time (the one-core figure on a shared machine): encode {:.1} M tokens/s, decode {:.1} M tokens/s",
            toks.len() as f64 / enc_s / 1e6,
            toks.len() as f64 / dec_s / 1e6
        );
        g.throughput(Throughput::Elements(toks.len() as u64));
        g.bench_function(format!("encode_{name}"), |b| b.iter(|| encode(black_box(&table), &opts).unwrap()));
        if name != "1us_1_256px" {
            g.bench_function(format!("decode_{name}"), |b| b.iter(|| decode(black_box(&toks)).unwrap()));
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
