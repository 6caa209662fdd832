//! The `BINNED` integer encoding: each value is a *bin* (an entropy-coded symbol) and an *offset*
//! inside the bin (raw bits). `docs/FORMAT.md` §5.5 is the byte layout; this module teaches the idea.
//!
//! A column of pointer deltas or clock ticks is a few sharp peaks (0, ±1, a 15.625 ms timer tick, a
//! 8.33 ms display frame) on a long, flat tail. A byte-oriented coder (varints, then zstd's order-0
//! Huffman) pays whole bits per byte and cannot see that `109` and `110` are neighbours. Here the
//! writer cuts the sorted values into at most 256 contiguous ranges, `[lo, lo + 2^bits)`, chosen to
//! minimise the total cost:
//!
//! ```text
//!   cost = Σ_bins  count·log2(N / count)   (the bin, entropy-coded)
//!        + Σ_bins  count·bits              (the offset, raw)
//!        + Σ_bins  table bits              (the bin's description)
//! ```
//!
//! A peak becomes a bin of width 1 (`bits = 0`, no offset at all); the tail becomes a few wide bins.
//! This is pcodec's idea (quantile bins, then merges), done greedily: every
//! distinct value starts as its own bin (or, for many distinct values, an equal-count group), and the
//! adjacent pair whose merge saves the most bits is merged until no merge saves any and at most 256
//! bins remain.
//!
//! The bins are coded with **rANS** (Duda; the byte-wise formulation of Giesen's `rans_word`): two
//! interleaved 32-bit states over one stream of 16-bit words, frequencies quantised to `2^S`
//! (`S ≤ 14`). Decoding a bin is one table lookup, one multiply and at most one word read; the two
//! states are independent, so a CPU overlaps them. Offsets are a separate LSB-first bit stream.
//!
//! Every input is untrusted: the decoder checks the bin table (frequencies sum to `2^S`, widths
//! ≤ 64 bits), never reads past either stream, and requires both states to end at `2^16` with every
//! word and offset byte consumed: a flipped bit anywhere is an error, not a wrong value.

use crate::codec::{gcd, put_varint, unzigzag, varint_len, zigzag, Cursor};
use crate::error::Result;

/// Most bins in one chunk (the bin index is one byte).
pub const MAX_BINS: usize = 256;
/// Largest frequency precision: `2^14` slots (a 16 KiB decode table).
pub const MAX_SCALE_BITS: u8 = 14;
/// rANS lower bound: states live in `[2^16, 2^32)`.
const RANS_L: u32 = 1 << 16;
/// Distinct values above which the writer first groups them into about this many equal-count bins.
const MAX_INITIAL_BINS: usize = 512;
/// The same for the estimates that choose a predictor (coarser: a ranking needs less).
const ESTIMATE_INITIAL_BINS: usize = 32;
/// Approximate bits one bin costs in the table (lo delta, bits byte, frequency).
const TABLE_BITS: f64 = 28.0;

#[derive(Debug, Clone, Copy)]
struct Bin {
    lo: i64,
    hi: i64,
    count: u64,
}

#[inline]
fn width_bits(lo: i64, hi: i64) -> u32 {
    let span = hi.wrapping_sub(lo) as u64;
    64 - span.leading_zeros()
}

#[inline]
fn bin_cost(b: &Bin) -> f64 {
    let c = b.count as f64;
    -c_log2_c(b.count) + c * f64::from(width_bits(b.lo, b.hi)) + TABLE_BITS
}

/// `c · log2(c)`, from a table below 4096 (the merges evaluate it for every candidate pair; the
/// same values as computing it, so the bins do not change).
#[inline]
fn c_log2_c(c: u64) -> f64 {
    const N: usize = 4096;
    static TABLE: std::sync::OnceLock<Box<[f64]>> = std::sync::OnceLock::new();
    let t = TABLE.get_or_init(|| (0..N).map(|c| c as f64 * (c as f64).log2()).collect());
    match t.get(c as usize) {
        Some(&v) if c > 0 => v,
        _ => {
            let c = c as f64;
            c * c.log2()
        }
    }
}

/// Greedy binning of the `distinct` values (ascending, with their counts; `n` in all) into at most
/// [`MAX_BINS`] bins.
fn build_bins(distinct: Vec<Bin>, n: usize, initial: usize) -> Vec<Bin> {
    // Mostly unique values (a tail of rare, wide values) would stay single bins: merging two
    // singletons never pays for itself, though merging many does. Start them as groups.
    let sparse = distinct.len() * 4 > n;
    let mut bins = if distinct.len() > initial || sparse {
        // Equal-count groups; a value holding a whole group's share stays alone.
        let groups = if sparse { 64.min(initial) } else { initial };
        let share = (n / groups).max(1) as u64;
        let mut out: Vec<Bin> = Vec::with_capacity(MAX_INITIAL_BINS * 2);
        for d in distinct {
            match out.last_mut() {
                Some(last) if last.count < share && d.count < share => {
                    last.hi = d.hi;
                    last.count += d.count;
                }
                _ => out.push(d),
            }
        }
        out
    } else {
        distinct
    };
    merge_bins(&mut bins);
    bins
}

/// The candidate merge of bin `left` with its right neighbour, as one integer whose order is the
/// merge order: the saving (an f64 mapped to u64 keeping `total_cmp`'s order), then the leftmost
/// pair. Unique per pair, so the merges are deterministic.
fn cand_key(saving: f64, left: usize) -> u128 {
    let bits = saving.to_bits();
    // total order of f64 as unsigned: flip all bits of negatives, the sign bit of positives
    let ordered = if bits >> 63 == 1 { !bits } else { bits | (1 << 63) };
    (u128::from(ordered) << 64) | u128::from(u64::MAX - left as u64)
}

fn cand_saving(key: u128) -> f64 {
    let ordered = (key >> 64) as u64;
    f64::from_bits(if ordered >> 63 == 1 { ordered & !(1 << 63) } else { !ordered })
}

/// A max-heap of the current candidate merges, one per adjacent pair (keyed by its left bin),
/// updated in place when a merge changes a pair. (A heap with stale copies, skipped when popped,
/// spent a fifth of a small mouse column's encode in `pop`.)
struct PairHeap {
    heap: Vec<u32>, // left bins, heap-ordered by key
    pos: Vec<u32>,  // left bin -> index in `heap`
    key: Vec<u128>,
}

impl PairHeap {
    fn new(key: Vec<u128>) -> Self {
        let n = key.len();
        let mut h = PairHeap { heap: (0..n as u32).collect(), pos: (0..n as u32).collect(), key };
        for i in (0..n / 2).rev() {
            h.down(i);
        }
        h
    }
    fn top(&self) -> Option<usize> {
        self.heap.first().map(|&l| l as usize)
    }
    fn swap(&mut self, i: usize, j: usize) {
        self.heap.swap(i, j);
        self.pos[self.heap[i] as usize] = i as u32;
        self.pos[self.heap[j] as usize] = j as u32;
    }
    fn k(&self, i: usize) -> u128 {
        self.key[self.heap[i] as usize]
    }
    fn up(&mut self, mut i: usize) {
        while i > 0 {
            let p = (i - 1) / 2;
            if self.k(p) >= self.k(i) {
                break;
            }
            self.swap(i, p);
            i = p;
        }
    }
    fn down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let (a, b) = (2 * i + 1, 2 * i + 2);
            let mut m = i;
            if a < n && self.k(a) > self.k(m) {
                m = a;
            }
            if b < n && self.k(b) > self.k(m) {
                m = b;
            }
            if m == i {
                return;
            }
            self.swap(i, m);
            i = m;
        }
    }
    /// Sets the key of pair `l` (in the heap).
    fn set(&mut self, l: usize, key: u128) {
        let old = std::mem::replace(&mut self.key[l], key);
        let i = self.pos[l] as usize;
        if key > old {
            self.up(i);
        } else {
            self.down(i);
        }
    }
    /// Takes pair `l` out of the heap.
    fn remove(&mut self, l: usize) {
        let i = self.pos[l] as usize;
        let last = self.heap.len() - 1;
        self.swap(i, last);
        self.heap.pop();
        if i < last {
            self.down(i);
            self.up(i);
        }
    }
}

fn merge_bins(bins: &mut Vec<Bin>) {
    let k = bins.len();
    if k <= 1 {
        return;
    }
    let mut next: Vec<usize> = (1..=k).collect();
    let mut prev: Vec<usize> = (0..k).map(|i| i.wrapping_sub(1)).collect();
    let mut cost: Vec<f64> = bins.iter().map(bin_cost).collect();
    let merged = |a: &Bin, b: &Bin| Bin {
        lo: a.lo,
        hi: b.hi,
        count: a.count + b.count,
    };
    let cand = |bins: &[Bin], cost: &[f64], l: usize, r: usize| {
        let m = merged(&bins[l], &bins[r]);
        cand_key(cost[l] + cost[r] - bin_cost(&m), l)
    };
    // pair l = (l, next[l]); the last bin starts no pair
    let mut heap = PairHeap::new((0..k - 1).map(|l| cand(bins, &cost, l, l + 1)).collect());
    let mut live = k;
    while let Some(l) = heap.top() {
        if live <= 1 || (cand_saving(heap.key[l]) <= 0.0 && live <= MAX_BINS) {
            break;
        }
        let r = next[l];
        bins[l] = merged(&bins[l], &bins[r]);
        cost[l] = bin_cost(&bins[l]);
        let rn = next[r];
        next[l] = rn;
        if rn < k {
            heap.remove(r); // pair (r, rn) is gone
            prev[rn] = l;
            let c = cand(bins, &cost, l, rn);
            heap.set(l, c);
        } else {
            heap.remove(l);
        }
        let p = prev[l];
        if p < k {
            let c = cand(bins, &cost, p, l);
            heap.set(p, c);
        }
        live -= 1;
    }
    let mut out = Vec::with_capacity(live);
    let mut i = 0;
    while i < k {
        out.push(bins[i]);
        i = next[i];
    }
    *bins = out;
}

/// Frequencies summing to `2^scale`, each ≥ 1, roughly proportional to the counts. `order`: the
/// bins by count, largest first (ties by index).
fn quantise(bins: &[Bin], order: &[usize], n: u64, scale: u8) -> Vec<u32> {
    let total = 1u64 << scale;
    let mut f: Vec<u32> = bins
        .iter()
        .map(|b| ((b.count * total + n / 2) / n).max(1) as u32)
        .collect();
    let mut sum: i64 = f.iter().map(|&x| i64::from(x)).sum();
    let target = total as i64;
    // Give or take the difference from the largest frequencies (they lose the least by it).
    while sum != target {
        let mut changed = false;
        for &i in order {
            if sum < target {
                let add = ((target - sum) as u32).min(f[i]);
                f[i] += add;
                sum += i64::from(add);
            } else if f[i] > 1 {
                let take = ((sum - target) as u32).min(f[i] - 1).min(f[i].div_ceil(2));
                f[i] -= take;
                sum -= i64::from(take);
            }
            changed = true;
            if sum == target {
                break;
            }
        }
        if !changed {
            break;
        }
    }
    debug_assert_eq!(sum, target);
    f
}

/// Coarsest frequency precision the writer tries.
const MIN_SCALE_BITS: u8 = 8;
/// Finest frequency precision the writer tries (the format allows [`MAX_SCALE_BITS`]).
const WRITER_MAX_SCALE_BITS: u8 = 12;

/// `log2(f)` for `f` in `1..=2^12` from a table (the scale search evaluates it for every bin at
/// every precision).
#[inline]
fn log2_freq(f: u32) -> f64 {
    static TABLE: std::sync::OnceLock<Box<[f64]>> = std::sync::OnceLock::new();
    let t = TABLE.get_or_init(|| (0..=1u32 << WRITER_MAX_SCALE_BITS).map(|f| f64::from(f).log2()).collect());
    t.get(f as usize).copied().unwrap_or_else(|| f64::from(f).log2())
}

/// The frequency precision (`scale`) and frequencies that code `bins` in the fewest bits: the
/// bins' rANS bits at that precision plus the table's frequency varints. A coarse precision
/// rounds rare bins up, a fine one costs table bytes; for a column of a few thousand values the
/// coarsest (2^8 slots) usually wins, and its decode table is 16 times smaller than 2^12's. Ties
/// go to the coarser; the search stops at the first precision that costs more than the one
/// before.
fn best_quantisation(bins: &[Bin], n: u64) -> (u8, Vec<u32>) {
    let need = (usize::BITS - (bins.len().max(2) - 1).leading_zeros()) as u8; // ceil(log2(bins))
    let mut order: Vec<usize> = (0..bins.len()).collect();
    order.sort_by(|&a, &b| bins[b].count.cmp(&bins[a].count).then(a.cmp(&b)));
    let lo = need.max(MIN_SCALE_BITS);
    let mut best: Option<(f64, u8, Vec<u32>)> = None;
    for scale in lo..=WRITER_MAX_SCALE_BITS.max(lo) {
        let f = quantise(bins, &order, n, scale);
        let coded: f64 = bins
            .iter()
            .zip(&f)
            .map(|(b, &fi)| b.count as f64 * (f64::from(scale) - log2_freq(fi)))
            .sum();
        let table = 8 * f.iter().map(|&fi| varint_len(u64::from(fi))).sum::<usize>();
        let bits = coded + table as f64;
        if best.as_ref().is_none_or(|(c, _, _)| bits < *c) {
            best = Some((bits, scale, f));
        } else {
            break; // past the minimum (the cost falls, then rises, with the precision)
        }
    }
    let (_, scale, f) = best.expect("at least one precision is tried");
    (scale, f)
}

/// Appends the binned encoding of `latents` (at least one) to `out`.
pub fn encode(latents: &[i64], out: &mut Vec<u8>) {
    debug_assert!(!latents.is_empty());
    let n = latents.len();
    let mut map = Counts::for_values(latents);
    map.add_all(latents);
    let mut distinct: Vec<Bin> = map.entries().into_iter().map(|(v, c)| Bin { lo: v, hi: v, count: u64::from(c) }).collect();
    distinct.sort_unstable_by_key(|b| b.lo);
    // Each distinct value learns its bin (bins are contiguous ranges of the sorted values).
    let keys: Vec<i64> = distinct.iter().map(|b| b.lo).collect();
    let bins = build_bins(distinct, n, MAX_INITIAL_BINS);
    let mut b = 0usize;
    for &k in &keys {
        while k > bins[b].hi {
            b += 1;
        }
        map.set(k, b as u32);
    }
    let (scale, freq) = best_quantisation(&bins, n as u64);
    let mut start = Vec::with_capacity(bins.len());
    let mut acc = 0u32;
    for &f in &freq {
        start.push(acc);
        acc += f;
    }
    // table
    put_varint(out, bins.len() as u64);
    out.push(scale);
    let mut prev = 0i64;
    for (i, b) in bins.iter().enumerate() {
        put_varint(out, zigzag(b.lo.wrapping_sub(prev)));
        out.push(width_bits(b.lo, b.hi) as u8);
        put_varint(out, u64::from(freq[i]));
        prev = b.lo;
    }
    // symbols
    let syms: Vec<u8> = if bins.len() == 1 {
        vec![0; n]
    } else {
        latents.iter().map(|&v| map.get(v) as u8).collect()
    };
    // offsets, forward
    let mut bits = BitWriter::with_capacity(n);
    for (&v, &s) in latents.iter().zip(&syms) {
        let b = &bins[s as usize];
        let w = width_bits(b.lo, b.hi);
        if w > 0 {
            bits.put(v.wrapping_sub(b.lo) as u64, w);
        }
    }
    let offsets = bits.finish();
    // rANS, backward
    let mut x = [RANS_L; 2];
    let mut words: Vec<u16> = Vec::with_capacity(n / 2 + 2);
    let shift = 32 - u32::from(scale);
    // x / f by multiplication: m = ceil(2^(32+l) / f), l = ceil(log2 f), exact for x < 2^32.
    let recip: Vec<(u128, u32)> = freq
        .iter()
        .map(|&f| {
            let l = 32 - (f - 1).leading_zeros();
            ((1u128 << (32 + l)).div_ceil(u128::from(f)), l)
        })
        .collect();
    for i in (0..n).rev() {
        let s = syms[i] as usize;
        let f = freq[s];
        let st = &mut x[i & 1];
        if u64::from(*st) >= u64::from(f) << shift {
            words.push(*st as u16);
            *st >>= 16;
        }
        let (m, l) = recip[s];
        let q = ((u128::from(*st) * m) >> (32 + l)) as u32;
        debug_assert_eq!(q, *st / f);
        *st = (q << scale) + (*st - q * f) + start[s];
    }
    words.reverse();
    out.extend_from_slice(&x[0].to_le_bytes());
    out.extend_from_slice(&x[1].to_le_bytes());
    put_varint(out, words.len() as u64);
    out.reserve(words.len() * 2);
    for w in &words {
        out.extend_from_slice(&w.to_le_bytes());
    }
    put_varint(out, offsets.len() as u64);
    out.extend_from_slice(&offsets);
}

/// Counts of distinct i64 values, then each value's bin. Values within a span of 2^16 (most
/// latents: steps, ticks, codes) are counted in a plain array; others in an open-addressing hash
/// table (linear probing, grown at half load). Sorting every latent cost more than all the rest of
/// the encoder.
struct Counts {
    dense: Option<i64>, // Some(min): vals[v - min]
    keys: Vec<i64>,
    vals: Vec<u32>, // 0 = empty slot; else count (then bin + 1)
    len: usize,
    shift: u32,
}
impl Counts {
    const DENSE_SPAN: u64 = 1 << 16;

    fn for_values(v: &[i64]) -> Self {
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        for &x in v {
            lo = lo.min(x);
            hi = hi.max(x);
        }
        let span = hi.wrapping_sub(lo) as u64;
        if !v.is_empty() && span < Self::DENSE_SPAN {
            Counts { dense: Some(lo), keys: Vec::new(), vals: vec![0; span as usize + 1], len: 0, shift: 0 }
        } else {
            Counts { dense: None, keys: vec![0; 1024], vals: vec![0; 1024], len: 0, shift: 64 - 10 }
        }
    }
    #[inline]
    fn slot(&self, k: i64) -> usize {
        if let Some(lo) = self.dense {
            return k.wrapping_sub(lo) as u64 as usize;
        }
        let mask = self.keys.len() - 1;
        let mut i = ((k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize;
        while self.vals[i] != 0 && self.keys[i] != k {
            i = (i + 1) & mask;
        }
        i
    }
    #[inline(always)]
    fn add(&mut self, k: i64) {
        let i = self.slot(k);
        if self.vals[i] == 0 {
            self.len += 1;
            if self.dense.is_none() {
                self.keys[i] = k;
                if self.len * 2 > self.keys.len() {
                    self.vals[i] = 1;
                    self.grow();
                    return;
                }
            }
        }
        self.vals[i] += 1;
    }
    /// Counts every value of `v` (what [`Counts::add`] does one by one). Values within a span of
    /// 256 are counted into four interleaved tables, so a run of one value (kinds, buttons) does
    /// not make each increment wait for the one before it.
    fn add_all(&mut self, v: &[i64]) {
        let Some(lo) = self.dense.filter(|_| self.vals.len() <= 256) else {
            for &x in v {
                self.add(x);
            }
            return;
        };
        let mut c = [[0u32; 256]; 4];
        let mut chunks = v.chunks_exact(4);
        for q in &mut chunks {
            for (t, &x) in c.iter_mut().zip(q) {
                t[(x.wrapping_sub(lo) as u64 as usize) & 255] += 1;
            }
        }
        for &x in chunks.remainder() {
            c[0][(x.wrapping_sub(lo) as u64 as usize) & 255] += 1;
        }
        for (i, slot) in self.vals.iter_mut().enumerate() {
            let n = c[0][i] + c[1][i] + c[2][i] + c[3][i];
            if *slot == 0 && n > 0 {
                self.len += 1;
            }
            *slot += n;
        }
    }
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let old_k = std::mem::take(&mut self.keys);
        let old_v = std::mem::take(&mut self.vals);
        let cap = old_k.len() * 2;
        self.keys = vec![0; cap];
        self.vals = vec![0; cap];
        self.shift -= 1;
        for (k, v) in old_k.into_iter().zip(old_v) {
            if v != 0 {
                let i = self.slot(k);
                self.keys[i] = k;
                self.vals[i] = v;
            }
        }
    }
    fn entries(&self) -> Vec<(i64, u32)> {
        match self.dense {
            Some(lo) => self
                .vals
                .iter()
                .enumerate()
                .filter(|(_, &c)| c != 0)
                .map(|(i, &c)| (lo.wrapping_add(i as i64), c))
                .collect(),
            None => self.keys.iter().zip(&self.vals).filter(|(_, &v)| v != 0).map(|(&k, &v)| (k, v)).collect(),
        }
    }
    /// Replaces the count of `k` (present) with `bin`.
    fn set(&mut self, k: i64, bin: u32) {
        let i = self.slot(k);
        self.vals[i] = bin + 1;
    }
    #[inline]
    fn get(&self, k: i64) -> u32 {
        self.vals[self.slot(k)] - 1
    }
}

struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}
impl BitWriter {
    fn with_capacity(n: usize) -> Self {
        BitWriter {
            out: Vec::with_capacity(n),
            acc: 0,
            n: 0,
        }
    }
    #[inline]
    fn put(&mut self, v: u64, bits: u32) {
        if bits > 32 {
            self.put(v & 0xFFFF_FFFF, 32);
            self.put(v >> 32, bits - 32);
            return;
        }
        let v = if bits == 64 {
            v
        } else {
            v & ((1u64 << bits) - 1)
        };
        self.acc |= v << self.n;
        self.n += bits;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }
    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

/// Decodes `count` latents (at least one) written by [`encode`], appending them to `out`.
pub fn decode(c: &mut Cursor, count: usize, out: &mut Vec<i64>) -> Result<()> {
    let nb = c.varint()?;
    if nb == 0 || nb > MAX_BINS as u64 {
        return Err(c.err(format!(
            "binned chunk has {nb} bins; expected 1..={MAX_BINS}"
        )));
    }
    let nb = nb as usize;
    let scale = c.u8()?;
    if scale == 0 || scale > MAX_SCALE_BITS {
        return Err(c.err(format!(
            "binned chunk scale {scale}; expected 1..={MAX_SCALE_BITS}"
        )));
    }
    let total = 1u32 << scale;
    let mut lo = [0i64; MAX_BINS];
    let mut bits = [0u8; MAX_BINS];
    let mut freq = [0u32; MAX_BINS];
    let mut start = [0u32; MAX_BINS];
    let mut prev = 0i64;
    let mut acc = 0u32;
    for i in 0..nb {
        prev = prev.wrapping_add(unzigzag(c.varint()?));
        lo[i] = prev;
        bits[i] = c.u8()?;
        if bits[i] > 64 {
            return Err(c.err(format!("bin {i} is {} bits wide; at most 64", bits[i])));
        }
        let f = c.varint()?;
        if f == 0 || f > u64::from(total - acc) {
            return Err(c.err(format!(
                "bin {i} frequency {f}: frequencies must be ≥ 1 and sum to {total}"
            )));
        }
        start[i] = acc;
        freq[i] = f as u32;
        acc += f as u32;
    }
    if acc != total {
        return Err(c.err(format!("bin frequencies sum to {acc}; expected {total}")));
    }
    let mut x = [0u32; 2];
    for s in &mut x {
        *s = u32::from_le_bytes(c.bytes(4)?.try_into().unwrap());
        if *s < RANS_L {
            return Err(c.err(format!("rANS state {s:#x} below 2^16")));
        }
    }
    let nw = c.varint_usize((count as u64) + 2, "rANS word count")?;
    let words = c.bytes(nw * 2)?;
    let no = c.varint_usize(c.remaining() as u64, "offset byte count")?;
    let offs = c.bytes(no)?;
    // slot -> (freq << 16 | slot - start) for the state update, and slot -> bin for the value
    let mut upd = vec![0u32; total as usize];
    let mut sym = vec![0u8; total as usize];
    for i in 0..nb {
        for sl in start[i]..start[i] + freq[i] {
            upd[sl as usize] = (freq[i] << 16) | (sl - start[i]);
            sym[sl as usize] = i as u8;
        }
    }
    // Offsets padded with 16 zero bytes: a read of up to 64 bits at a position within the stream
    // never leaves the buffer, so the loop checks the position only.
    let mut offp = Vec::with_capacity(offs.len() + 16);
    offp.extend_from_slice(offs);
    offp.extend_from_slice(&[0; 16]);
    let limit_bits = offs.len() * 8;
    let mask = total - 1;
    let mut wp = 0usize;
    let mut pos = 0usize; // offset stream position, in bits
    let base = out.len();
    out.resize(base + count, 0);
    let dst = &mut out[base..];
    // the words in place (little-endian u16 pairs), at a clamped index: no copy
    let last_word = nw.saturating_sub(1);
    let word = |wp: usize| -> u32 {
        let i = wp.min(last_word) * 2;
        words.get(i..i + 2).map_or(0, |w| u32::from(u16::from_le_bytes([w[0], w[1]])))
    };
    let mut bmask = [0u64; MAX_BINS];
    for i in 0..nb {
        bmask[i] = if bits[i] == 0 { 0 } else { u64::MAX >> (64 - u32::from(bits[i])) };
    }
    // Two lanes: even values from x[0], odd from x[1]. The lane in use is `cur`; the pair is
    // swapped after every value so both stay in registers (indexing x[i & 1] kept them in memory,
    // on the critical path).
    let (mut cur, mut other) = (x[0], x[1]);
    for (i, d) in dst.iter_mut().enumerate() {
        let st = &mut cur;
        let sl = (*st & mask) as usize;
        let e = upd[sl];
        let s = sym[sl] as usize;
        *st = (e >> 16) * (*st >> scale) + (e & 0xFFFF);
        // Renormalise without a branch: read a word (clamped index) and keep it if needed.
        let need = *st < RANS_L;
        let w = word(wp);
        *st = if need { (*st << 16) | w } else { *st };
        wp += usize::from(need);
        if pos > limit_bits {
            return Err(c.err(format!("offset bits end at value {i} of {count}")));
        }
        let b = u32::from(bits[s]);
        let byte = pos >> 3;
        let v = u64::from_le_bytes(offp[byte..byte + 8].try_into().unwrap()) >> (pos & 7);
        let off = if b <= 56 {
            v & bmask[s]
        } else {
            // 57 to 64 bits: the low 32, then the rest
            let lo32 = v & 0xFFFF_FFFF;
            let p2 = pos + 32;
            let v2 = u64::from_le_bytes(offp[p2 >> 3..(p2 >> 3) + 8].try_into().unwrap()) >> (p2 & 7);
            lo32 | ((v2 & (u64::MAX >> (96 - b))) << 32)
        };
        pos += b as usize;
        *d = lo[s].wrapping_add(off as i64);
        std::mem::swap(&mut cur, &mut other);
    }
    let x = if count.is_multiple_of(2) { [cur, other] } else { [other, cur] };
    if x != [RANS_L, RANS_L] || wp != nw || pos > limit_bits || pos.div_ceil(8) != offs.len() {
        return Err(c.err(
            "binned chunk does not end where its streams say (corrupt rANS or offset stream)",
        ));
    }
    Ok(())
}

fn decode_mtf(c: &mut Cursor, m: usize, out: &mut Vec<i64>) -> Result<()> {
    let d = c.varint()?;
    if d == 0 || d > MAX_MTF_ALPHABET as u64 {
        return Err(c.err(format!(
            "move-to-front alphabet of {d} values; expected 1..={MAX_MTF_ALPHABET}"
        )));
    }
    let mut alphabet = Vec::with_capacity(d as usize);
    for _ in 0..d {
        alphabet.push(unzigzag(c.varint()?));
    }
    let g = c.varint()?;
    if g != 1 {
        return Err(c.err(format!("move-to-front chunk with divisor {g}; expected 1")));
    }
    let base = out.len();
    decode(c, m, out)?;
    let mut list = MtfList::new();
    for (i, v) in out[base..].iter_mut().enumerate() {
        let r = *v as u64;
        if r >= d {
            return Err(c.err(format!(
                "move-to-front rank {r} at value {i}; the alphabet has {d}"
            )));
        }
        *v = alphabet[usize::from(list.take(r as usize))];
    }
    Ok(())
}

/// The move-to-front list of a chunk: the alphabet's indexes (at most [`MAX_MTF_ALPHABET`], so one
/// byte each), most recent first.
///
/// Nearly every rank is small, so the first 16 entries live in one 128-bit word (in a register
/// across a loop): taking a rank under 8 is a few 64-bit shifts and masks, under 16 the same on 128
/// bits. A `copy_within` per value (what this replaced) was a `memmove` call per value, a quarter
/// of reading a file of key presses.
struct MtfList {
    head: u128, // entries 0..16, entry i in byte i
    // boxed: the list itself is then two registers' worth, and the head stays in a register in
    // the loops (with the tail inline, the head lived in memory, on the loop's critical path)
    tail: Box<[u8; MAX_MTF_ALPHABET - 16]>,
}

impl MtfList {
    /// Indexes `0..256` in order (a chunk of `d` values only ever takes ranks under `d`, so the
    /// entries from `d` on stay where they are).
    fn new() -> Self {
        MtfList {
            head: u128::from_le_bytes(std::array::from_fn(|i| i as u8)),
            tail: Box::new(std::array::from_fn(|i| (i + 16) as u8)),
        }
    }

    /// The entry at rank `r` (< 256), moved to the front (entries `0..r` move up by one).
    #[inline]
    fn take(&mut self, r: usize) -> u8 {
        if r == 0 {
            // a run (a column's usual case): nothing moves, and nothing waits on the last value
            self.head as u8
        } else if r < 8 {
            let lo = self.head as u64;
            let x = (lo >> (8 * r)) as u8;
            let below = (1u64 << (8 * r)) - 1; // bytes 0..r
            let lo = (lo & !((below << 8) | 0xFF)) | ((lo & below) << 8) | u64::from(x);
            self.head = (self.head & !u128::from(u64::MAX)) | u128::from(lo);
            x
        } else if r < 16 {
            let w = self.head;
            let x = (w >> (8 * r)) as u8;
            let below = (1u128 << (8 * r)) - 1;
            self.head = (w & !((below << 8) | 0xFF)) | ((w & below) << 8) | u128::from(x);
            x
        } else {
            let x;
            (self.head, x) = Self::take_far(&mut self.tail, self.head, r);
            x
        }
    }

    /// [`MtfList::take`] of a rank ≥ 16: the new head and the entry (out of line, the head by value).
    #[cold]
    #[inline(never)]
    fn take_far(tail: &mut [u8; MAX_MTF_ALPHABET - 16], head: u128, r: usize) -> (u128, u8) {
        let x = tail[r - 16];
        tail.copy_within(0..r - 16, 1);
        tail[0] = (head >> 120) as u8;
        ((head << 8) | u128::from(x), x)
    }

    /// The rank of index `x`, moved to the front.
    #[inline]
    fn find(&mut self, x: u8) -> usize {
        // the first zero byte of head ^ x·0x0101…: exact at the lowest set bit
        const ONES: u128 = u128::MAX / 255;
        let z = self.head ^ (ONES * u128::from(x));
        let hit = z.wrapping_sub(ONES) & !z & (ONES << 7);
        let r = if hit != 0 {
            (hit.trailing_zeros() / 8) as usize
        } else {
            16 + self.tail.iter().position(|&e| e == x).unwrap_or(0)
        };
        self.take(r);
        r
    }

    #[cfg(test)]
    fn entries(&self) -> Vec<u8> {
        self.head.to_le_bytes().iter().chain(self.tail.iter()).copied().collect()
    }
}

// ---------------------------------------------------------------- the column layer

/// Highest order of differences the writer tries.
pub const MAX_ORDER: u8 = 3;

/// Division by a fixed g ≥ 1 that is known to divide (or is to be tested against) a value,
/// without a hardware divide: g = odd·2^tz, and the odd part has an inverse mod 2^64.
#[derive(Clone, Copy)]
pub(crate) struct ExactDiv {
    tz: u32,
    inv: u64,
    limit: u64, // u64::MAX / odd
}
impl ExactDiv {
    pub(crate) fn new(g: u64) -> Self {
        debug_assert!(g >= 1);
        let tz = g.trailing_zeros();
        let odd = g >> tz;
        let mut inv = odd; // correct to 3 bits; each Newton step doubles them
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(odd.wrapping_mul(inv)));
        }
        ExactDiv { tz, inv, limit: u64::MAX / odd }
    }
    /// `a` is a multiple of g.
    #[inline]
    fn divides(&self, a: u64) -> bool {
        a == 0 || (a.trailing_zeros() >= self.tz && (a >> self.tz).wrapping_mul(self.inv) <= self.limit)
    }
    /// x / g for a multiple x of g (two's complement: exact for negative x too).
    #[inline]
    pub(crate) fn div(&self, x: i64) -> i64 {
        ((x >> self.tz) as u64).wrapping_mul(self.inv) as i64
    }
}

/// The greatest common divisor of `v` (1 when there is none larger), stopping at the first 1.
pub(crate) fn common_divisor(v: &[i64]) -> u64 {
    gcd_of(v).max(1)
}

/// The greatest common divisor of `v`: 0 when every value is 0, stopping at the first 1.
fn gcd_of(v: &[i64]) -> u64 {
    let mut g = 0u64;
    let mut d = ExactDiv::new(1);
    for &x in v {
        let a = x.unsigned_abs();
        // 0 is a multiple of everything; checked first, so that a column of mostly zeros (the
        // differences of kinds and buttons) does not build a divider per value while g is 0
        if a == 0 || (g != 0 && d.divides(a)) {
            continue;
        }
        g = gcd(g, a);
        if g == 1 {
            return 1;
        }
        d = ExactDiv::new(g);
    }
    g
}



/// Appends a whole `BINNED` chunk body for `vals` (more than [`MAX_ORDER`] values): the predictor
/// order k (k-th differences), the k moments, the common divisor g, then the bins of the latents.
/// The two orders with the smallest magnitudes are encoded in full and the smaller kept.
pub fn encode_column(vals: &[i64], out: &mut Vec<u8>) {
    encode_column_opts(vals, out, true)
}

fn encode_column_no_split(vals: &[i64], out: &mut Vec<u8>) {
    encode_column_opts(vals, out, false)
}

/// A way to predict a column, before its latents are binned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pred {
    Order(u8),
    Mtf,
    Split(u64),
}

/// Columns longer than this choose their predictor on a sample of [`SAMPLE_SLICES`] slices of
/// [`SAMPLE_SLICE`] values spread over the column (BtrBlocks' idea), then encode once.
const SAMPLE_OVER: usize = 2048;
const SAMPLE_SLICES: usize = 4;
const SAMPLE_SLICE: usize = 512;

/// The header bytes (predictor, moments or alphabet, divisor) and the latents of `vals` under
/// predictor `p` (not the split); `None` when `p` does not apply.
fn latents_for(vals: &[i64], p: Pred) -> Option<(Vec<u8>, Vec<i64>)> {
    let mut head = Vec::with_capacity(16);
    match p {
        Pred::Order(0) => Some(Level::divided(Vec::new(), 1, vals.to_vec()).into_parts()),
        Pred::Order(k) => {
            if vals.len() <= k as usize {
                return None;
            }
            let mut l = Level::first(vals);
            for _ in 1..k {
                l = l.next()?;
            }
            Some(l.into_parts())
        }
        Pred::Mtf => {
            let mut alphabet: Vec<i64> = Vec::new();
            let mut seen = Counts::for_values(vals);
            for &v in vals {
                let before = seen.len;
                seen.add(v);
                if seen.len != before {
                    if alphabet.len() == MAX_MTF_ALPHABET {
                        return None;
                    }
                    alphabet.push(v);
                }
            }
            head.push(PRED_MTF);
            put_varint(&mut head, alphabet.len() as u64);
            for &a in &alphabet {
                put_varint(&mut head, zigzag(a));
            }
            put_varint(&mut head, 1);
            // each value's alphabet index + 1 in the table's slots (nonzero: a probe still sees
            // the slot taken; no more adds, so no growth)
            for (j, &a) in alphabet.iter().enumerate() {
                let i = seen.slot(a);
                seen.vals[i] = j as u32 + 1;
            }
            let mut list = MtfList::new();
            let ranks = vals
                .iter()
                .map(|&v| list.find((seen.vals[seen.slot(v)] - 1) as u8) as i64)
                .collect();
            Some((head, ranks))
        }
        Pred::Split(_) => None,
    }
}

/// Estimated bytes of [`encode`]'s output (the binning's own cost model, without quantising,
/// mapping or coding anything: what choosing a predictor needs), and the distinct values.
fn estimate(latents: &[i64]) -> (usize, usize) {
    let n = latents.len();
    if n == 0 {
        return (0, 0);
    }
    let mut map = Counts::for_values(latents);
    if map.dense.is_some() && map.vals.len() <= 256 {
        // few values: counted at once (the early exit below is for mostly distinct ones, which
        // cannot be: the span is under 256)
        map.add_all(latents);
        if map.len * 2 > n && n >= 64 {
            let (lo, hi) = latents.iter().fold((i64::MAX, i64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
            return (n * width_bits(lo, hi) as usize / 8 + 12, n);
        }
    } else {
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        for &v in latents {
            map.add(v);
            lo = lo.min(v);
            hi = hi.max(v);
            if map.len * 2 > n && n >= 64 {
                // Mostly distinct values (absolute clocks and coordinates under order 0): binning
                // cannot beat their spread by much, and counting them all is the estimate's cost.
                for &v in latents {
                    lo = lo.min(v);
                    hi = hi.max(v);
                }
                return (n * width_bits(lo, hi) as usize / 8 + 12, n);
            }
        }
    }
    let mut distinct: Vec<Bin> = map.entries().into_iter().map(|(v, c)| Bin { lo: v, hi: v, count: u64::from(c) }).collect();
    let d = distinct.len();
    distinct.sort_unstable_by_key(|b| b.lo);
    let bins = build_bins(distinct, n, ESTIMATE_INITIAL_BINS);
    let nf = n as f64;
    let bits: f64 = nf * nf.log2() + bins.iter().map(bin_cost).sum::<f64>();
    ((bits / 8.0) as usize + 12, d)
}

/// The latents of predictor order k (k-th differences divided by their common divisor g),
/// with what the chunk header needs: the k moments (first values of the differences of orders
/// 0..k) and g.
struct Level {
    moments: Vec<i64>,
    g: u64,
    lat: Vec<i64>,
}

impl Level {
    /// Order 1 of `vals` (at least two values).
    fn first(vals: &[i64]) -> Level {
        Level::divided(vec![vals[0]], 1, diffs(vals))
    }

    /// The next order, from this one: the differences of the latents are the next differences
    /// divided by `g`, so only their own divisor is left to take out. (Each order from the values
    /// anew cost k passes, a copy and a shift of the whole column.) `None` at one latent.
    fn next(&self) -> Option<Level> {
        if self.lat.len() < 2 {
            return None;
        }
        let mut moments = self.moments.clone();
        moments.push(self.lat[0].wrapping_mul(self.g as i64));
        Some(Level::divided(moments, self.g, diffs(&self.lat)))
    }

    /// `d` (differences already divided by `g0`) divided by their own common divisor.
    fn divided(moments: Vec<i64>, g0: u64, mut d: Vec<i64>) -> Level {
        let c = gcd_of(&d);
        // all zero: divisor 1, as written from the start (any g would decode the same)
        let g = if c == 0 { 1 } else { g0.checked_mul(c).unwrap_or(0) };
        if g == 0 {
            // the divisor overflows: take none out beyond g0 (exact, only larger)
            return Level { moments, g: g0, lat: d };
        }
        if c > 1 {
            let e = ExactDiv::new(c);
            for x in d.iter_mut() {
                *x = e.div(*x);
            }
        }
        Level { moments, g, lat: d }
    }

    /// The chunk header and the latents.
    fn into_parts(self) -> (Vec<u8>, Vec<i64>) {
        (self.head(), self.lat)
    }

    fn head(&self) -> Vec<u8> {
        let mut head = Vec::with_capacity(16);
        head.push(self.moments.len() as u8);
        for &m in &self.moments {
            put_varint(&mut head, zigzag(m));
        }
        put_varint(&mut head, self.g);
        head
    }
}

/// Columns with at most this many distinct values are not tried with orders 2 and 3.
const FEW_VALUES: usize = 16;

/// The (wrapping) differences of consecutive values.
pub(crate) fn diffs(v: &[i64]) -> Vec<i64> {
    v.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect()
}

/// A predictor with its estimated size, and its header and latents when they were made from the
/// whole column (not a sample), for the encoder to use as they are.
struct Choice {
    size: usize,
    pred: Pred,
    made: Option<(Vec<u8>, Vec<i64>)>,
}

/// The predictors `encode_column` may use for `vals`, smallest estimated size first. Orders 0 and
/// 1 are always estimated; order 2 above [`FEW_VALUES`] distinct values; order 3 only when order 2
/// beat order 1; move-to-front only when the column has at most 256 distinct values; the split
/// only above 256 distinct values, when a base is found.
fn choose(vals: &[i64], split: bool) -> Vec<Choice> {
    let sample: Vec<i64>;
    let whole = vals.len() <= SAMPLE_OVER;
    let probe: &[i64] = if !whole {
        let step = vals.len() / SAMPLE_SLICES;
        sample = (0..SAMPLE_SLICES).flat_map(|i| &vals[i * step..i * step + SAMPLE_SLICE]).copied().collect();
        &sample
    } else {
        vals
    };
    let mut sized: Vec<Choice> = Vec::with_capacity(6);
    // estimated size of a header and latents
    let cost = |head: &[u8], lat: &[i64]| head.len() + estimate(lat).0;
    let choice = |pred: Pred, size: usize, made: (Vec<u8>, Vec<i64>)| Choice { size, pred, made: whole.then_some(made) };
    let (e0, distinct) = estimate(probe);
    sized.push(Choice { size: e0 + 2, pred: Pred::Order(0), made: None });
    let o1 = Level::first(probe);
    // Codes of a few values (kinds, buttons): their second differences only spread them.
    let o2 = if distinct > FEW_VALUES { o1.next() } else { None };
    let s1 = cost(&o1.head(), &o1.lat);
    sized.push(choice(Pred::Order(1), s1, o1.into_parts()));
    if let Some(l2) = o2 {
        let s2 = cost(&l2.head(), &l2.lat);
        let o3 = if s2 < s1 { l2.next() } else { None };
        sized.push(choice(Pred::Order(2), s2, l2.into_parts()));
        if let Some(l3) = o3 {
            let s3 = cost(&l3.head(), &l3.lat);
            sized.push(choice(Pred::Order(3), s3, l3.into_parts()));
        }
    }
    // Categorical columns (key codes, buttons): ranks in a move-to-front list. A key's release
    // repeats the code of a press a moment ago, which is rank 0 or 1 here and costs a fraction of
    // a bit, where its value alone costs the entropy of the whole key distribution.
    if distinct <= MAX_MTF_ALPHABET {
        if let Some((h, l)) = latents_for(probe, Pred::Mtf) {
            sized.push(choice(Pred::Mtf, cost(&h, &l), (h, l)));
        }
    }
    // A few hundred distinct values are each a bin of their own already: nothing to split.
    if split && distinct > MAX_MTF_ALPHABET {
        if let Some(b) = find_split_base(vals) {
            let (q, r) = split_parts(probe, b);
            sized.push(Choice { size: 10 + choose(&q, false)[0].size + choose(&r, false)[0].size, pred: Pred::Split(b), made: None });
        }
    }
    sized.sort_by_key(|c| c.size);
    sized
}

fn split_parts(vals: &[i64], base: u64) -> (Vec<i64>, Vec<i64>) {
    let b = base as i64;
    (vals.iter().map(|&v| v.div_euclid(b)).collect(), vals.iter().map(|&v| v.rem_euclid(b)).collect())
}

fn encode_column_opts(vals: &[i64], out: &mut Vec<u8>, split: bool) {
    debug_assert!(vals.len() > MAX_ORDER as usize);
    for c in choose(vals, split) {
        match c.pred {
            Pred::Split(base) => {
                encode_split_top(vals, base, out);
                return;
            }
            p => {
                if let Some((head, lat)) = c.made.or_else(|| latents_for(vals, p)) {
                    out.extend_from_slice(&head);
                    encode(&lat, out);
                    return;
                }
            }
        }
    }
    unreachable!("order 0 always applies");
}

/// Predictor code of the split `v = base·q + r`: a clock with a non-integer period in integer
/// units (DuckTrack's 125/3 ns Mach ticks) is an integer tick count q and a few remainders r.
pub const PRED_SPLIT: u8 = 6;

/// A base b ≥ 17 such that many values share a few remainders mod b, found from the greatest
/// common divisors of differences of value pairs (a pair in the same residue class has a
/// difference divisible by b). Deterministic: the pairs are a fixed stride through the column.
fn find_split_base(vals: &[i64]) -> Option<u64> {
    let n = vals.len();
    if n < 256 {
        return None;
    }
    let samples = 512usize;
    // The pairs are (7919·i, 104729·i + 13) and (3571·i + 5, 65537·i + 29), mod n: each index
    // advanced by its step mod n, without a division per sample.
    let mut idx = [0usize, 13 % n, 5 % n, 29 % n];
    let step = [7919 % n, 104_729 % n, 3571 % n, 65_537 % n];
    let mut found: Vec<u64> = Vec::with_capacity(samples);
    for _ in 0..samples {
        let a = vals[idx[0]].wrapping_sub(vals[idx[1]]).unsigned_abs();
        let b = vals[idx[2]].wrapping_sub(vals[idx[3]]).unsigned_abs();
        let g = gcd(a, b);
        if g >= 17 {
            found.push(g);
        }
        for (j, s) in idx.iter_mut().zip(step) {
            *j += s;
            if *j >= n {
                *j -= n;
            }
        }
    }
    // the most frequent divisor (the largest of equally frequent ones)
    found.sort_unstable();
    let (mut g, mut c) = (0u64, 0usize);
    for run in found.chunk_by(|a, b| a == b) {
        if run.len() >= c {
            (g, c) = (run[0], run.len());
        }
    }
    if c == 0 || c < samples / 32 {
        return None;
    }
    // A base every value shares one remainder of is a common divisor of the differences, which
    // the predictors' own divisor already takes out (pixel coordinates in 2^-16 units, clocks in
    // whole milliseconds): the split would only cost a second choice of predictor.
    let r0 = vals[0].rem_euclid(g as i64);
    let step = (n / 64).max(1);
    (0..n).step_by(step).any(|i| vals[i].rem_euclid(g as i64) != r0).then_some(g)
}

fn encode_split_top(vals: &[i64], base: u64, out: &mut Vec<u8>) {
    let (q, r) = split_parts(vals, base);
    out.push(PRED_SPLIT);
    put_varint(out, base);
    let mut body = Vec::new();
    encode_column_no_split(&q, &mut body);
    put_varint(out, body.len() as u64);
    out.extend_from_slice(&body);
    encode_column_no_split(&r, out);
}

/// Predictor code of "XOR with the previous value" (booleans: a press/release flag flips).
pub const PRED_XOR: u8 = 5;

/// Appends a `BINNED` chunk body for a boolean column (`vals` are 0 or 1, at least two): the
/// first value, then whether each value differs from the one before.
pub fn encode_flips(vals: &[i64], out: &mut Vec<u8>) {
    debug_assert!(vals.len() > 1);
    out.push(PRED_XOR);
    put_varint(out, zigzag(vals[0]));
    put_varint(out, 1);
    let lat: Vec<i64> = vals.windows(2).map(|w| w[0] ^ w[1]).collect();
    encode(&lat, out);
}

/// Predictor code of the move-to-front transform.
pub const PRED_MTF: u8 = 4;
/// Most distinct values a move-to-front chunk may have (bounds the decoder's work per value).
pub const MAX_MTF_ALPHABET: usize = 256;

/// Decodes a `BINNED` chunk body of `m` values (see [`encode_column`]), appending them to `out`.
pub fn decode_column(c: &mut Cursor, m: usize, out: &mut Vec<i64>) -> Result<()> {
    decode_column_inner(c, m, out, true)
}

fn decode_column_inner(c: &mut Cursor, m: usize, out: &mut Vec<i64>, top: bool) -> Result<()> {
    if m == 0 {
        return Ok(());
    }
    let k = c.u8()?;
    if k == PRED_SPLIT && !top {
        return Err(c.err("a split inside a split"));
    }
    if k == PRED_MTF {
        return decode_mtf(c, m, out);
    }
    if k == PRED_SPLIT {
        let base = c.varint()?;
        if !(2..=i64::MAX as u64).contains(&base) {
            return Err(c.err(format!("split base {base}; expected 2..=2^63-1")));
        }
        let qlen = c.varint_usize(c.remaining() as u64, "split quotient length")?;
        let qbytes = c.bytes(qlen)?;
        let mut qc = Cursor::new(qbytes, 0, "split quotient");
        let mut q = Vec::new();
        decode_column_inner(&mut qc, m, &mut q, false)?;
        let mut r = Vec::new();
        decode_column_inner(c, m, &mut r, false)?;
        let b = base as i64;
        out.extend(
            q.iter()
                .zip(&r)
                .map(|(&q, &r)| q.wrapping_mul(b).wrapping_add(r)),
        );
        return Ok(());
    }
    if k == PRED_XOR {
        if m < 2 {
            return Err(c.err(format!(
                "binned chunk of {m} values with the XOR predictor; needs 2 or more"
            )));
        }
        let v0 = unzigzag(c.varint()?);
        let g = c.varint()?;
        if g != 1 {
            return Err(c.err(format!("XOR chunk with divisor {g}; expected 1")));
        }
        let base = out.len();
        out.push(v0);
        decode(c, m - 1, out)?;
        let mut acc = v0;
        for v in &mut out[base + 1..] {
            acc ^= *v;
            *v = acc;
        }
        return Ok(());
    }
    if k > MAX_ORDER {
        return Err(c.err(format!(
            "binned predictor {k}; expected 0..={MAX_ORDER}, {PRED_MTF} or {PRED_XOR}"
        )));
    }
    let k = k as usize;
    if m <= k {
        return Err(c.err(format!(
            "binned chunk of {m} values with predictor order {k}; needs more than {k}"
        )));
    }
    let mut moments = [0i64; MAX_ORDER as usize];
    for mo in &mut moments[..k] {
        *mo = unzigzag(c.varint()?);
    }
    let g = c.varint()?;
    if g == 0 {
        return Err(c.err("binned divisor 0; expected ≥ 1"));
    }
    let base = out.len();
    out.resize(base + k, 0);
    decode(c, m - k, out)?;
    let vals = &mut out[base..];
    let g = g as i64;
    if k == 1 {
        // the common case (steps of a pointer or a clock) in one pass: v = v₀ + Σ g·q
        vals[0] = moments[0];
        let mut acc = vals[0];
        for v in &mut vals[1..] {
            acc = acc.wrapping_add(v.wrapping_mul(g));
            *v = acc;
        }
        return Ok(());
    }
    if g != 1 {
        for q in &mut vals[k..] {
            *q = q.wrapping_mul(g);
        }
    }
    for j in (0..k).rev() {
        vals[j] = moments[j];
        let mut acc = vals[j];
        for v in &mut vals[j + 1..] {
            acc = acc.wrapping_add(*v);
            *v = acc;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A xorshift64 generator (deterministic test data).
    fn xorshift(mut r: u64) -> impl FnMut() -> u64 {
        move || {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            r
        }
    }

    fn rt(v: &[i64]) -> usize {
        let mut b = Vec::new();
        encode(v, &mut b);
        let mut c = Cursor::new(&b, 0, "test");
        let mut out = Vec::new();
        decode(&mut c, v.len(), &mut out).unwrap();
        assert_eq!(out, v);
        assert!(c.at_end());
        b.len()
    }

    #[test]
    fn roundtrips_edge_values() {
        rt(&[0]);
        rt(&[5; 1000]);
        rt(&[i64::MIN, i64::MAX, 0, -1, 1, i64::MIN, i64::MAX]);
        rt(&(0..5000)
            .map(|i| (i * 7919) % 1013 - 500)
            .collect::<Vec<_>>());
        rt(&(0..3000)
            .map(|i: i64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15u64 as i64))
            .collect::<Vec<_>>());
    }

    #[test]
    fn the_chosen_precision_is_valid_and_no_worse_than_the_finest() {
        let mut next = xorshift(0x5851_F42D_4C95_7F2D);
        let cost = |bins: &[Bin], f: &[u32], scale: u8| -> f64 {
            let coded: f64 = bins.iter().zip(f).map(|(b, &fi)| b.count as f64 * (f64::from(scale) - f64::from(fi).log2())).sum();
            coded + 8.0 * f.iter().map(|&fi| varint_len(u64::from(fi)) as f64).sum::<f64>()
        };
        for case in 0..300 {
            let nb = 1 + (next() % 256) as usize;
            // skewed counts: a few large bins, a tail of small ones
            let bins: Vec<Bin> = (0..nb)
                .map(|i| Bin { lo: i as i64, hi: i as i64, count: 1 + next() % (1 + 20_000 / (1 + i as u64 * (case % 7))) })
                .collect();
            let n: u64 = bins.iter().map(|b| b.count).sum();
            let (scale, f) = best_quantisation(&bins, n);
            let need = (usize::BITS - (nb.max(2) - 1).leading_zeros()) as u8;
            assert!((need.max(MIN_SCALE_BITS)..=WRITER_MAX_SCALE_BITS).contains(&scale), "case {case}: scale {scale}");
            assert_eq!(f.iter().map(|&x| u64::from(x)).sum::<u64>(), 1 << scale, "case {case}");
            assert!(f.iter().all(|&x| x >= 1));
            let mut order: Vec<usize> = (0..nb).collect();
            order.sort_by(|&a, &b| bins[b].count.cmp(&bins[a].count).then(a.cmp(&b)));
            let finest = quantise(&bins, &order, n, WRITER_MAX_SCALE_BITS);
            assert!(cost(&bins, &f, scale) <= cost(&bins, &finest, WRITER_MAX_SCALE_BITS) + 1e-6, "case {case}");
        }
    }

    #[test]
    fn mtf_list_matches_a_plain_list() {
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
        for d in [1usize, 2, 15, 16, 17, 40, 255, 256] {
            let mut list = MtfList::new();
            let mut plain: Vec<u8> = (0..d).map(|i| i as u8).collect();
            for step in 0..4000 {
                // mostly small ranks (the fast path), some anywhere
                let r = if step % 3 == 0 { next() as usize % d } else { next() as usize % d.min(18) };
                let x = plain.remove(r);
                plain.insert(0, x);
                if step % 2 == 0 {
                    assert_eq!(list.take(r), x, "d {d} step {step} rank {r}");
                } else {
                    assert_eq!(list.find(x), r, "d {d} step {step} index {x}");
                }
                assert_eq!(&list.entries()[..d], &plain[..], "d {d} step {step}");
            }
        }
    }

    #[test]
    fn mtf_columns_roundtrip_with_wide_alphabets() {
        let mut next = xorshift(0x2545_F491_4F6C_DD1D);
        for d in [3u64, 20, 100, 256] {
            // a skewed draw (small ranks common) over d spread-out values
            let v: Vec<i64> = (0..3000)
                .map(|_| {
                    let a = next() % d;
                    let b = next() % d;
                    (a.min(b) as i64) * 1_000_003 - 77
                })
                .collect();
            let (head, ranks) = latents_for(&v, Pred::Mtf).unwrap();
            let mut b = head;
            encode(&ranks, &mut b);
            let mut out = Vec::new();
            decode_column(&mut Cursor::new(&b, 0, "t"), v.len(), &mut out).unwrap();
            assert_eq!(out, v, "alphabet {d}");
        }
        let too_many: Vec<i64> = (0..257).collect();
        assert!(latents_for(&too_many, Pred::Mtf).is_none());
    }

    #[test]
    fn columns_roundtrip_with_every_predictor() {
        let cases: Vec<Vec<i64>> = vec![
            (0..500).map(|i| (i % 7) * 3).collect(), // categorical: MTF or order 0
            (0..500).map(|i| i * i).collect(),       // order 2..3
            (0..500).map(|i| i * 1_000_000 + (i % 3)).collect(), // order 1
            (0..500).map(|i| [4, 4, 9, 9, 22, 22][i % 6]).collect(), // press/release pairs: MTF
            vec![i64::MIN, i64::MAX, 0, 1, -1, i64::MIN, i64::MAX, 5, 5, 5], // wrapping
        ];
        for v in cases {
            let mut b = Vec::new();
            encode_column(&v, &mut b);
            let mut out = vec![42];
            decode_column(&mut Cursor::new(&b, 0, "t"), v.len(), &mut out).unwrap();
            assert_eq!(&out[1..], &v[..]);
        }
        // a clock of 125/3 ns ticks stored in whole ns splits into ticks and three remainders
        let (mut k, mut next) = (0i64, xorshift(0x2545_F491_4F6C_DD1D));
        let t: Vec<i64> = (0..3000)
            .map(|_| {
                k += 20_000 + (next() % 5000) as i64;
                (k * 125 + 1) / 3
            })
            .collect();
        let mut b = Vec::new();
        encode_column(&t, &mut b);
        assert_eq!(b[0], PRED_SPLIT);
        let mut out = Vec::new();
        decode_column(&mut Cursor::new(&b, 0, "t"), t.len(), &mut out).unwrap();
        assert_eq!(out, t);
        for cut in 0..b.len() {
            assert!(decode_column(
                &mut Cursor::new(&b[..cut], 0, "t"),
                t.len(),
                &mut Vec::new()
            )
            .is_err());
        }
        // press/release pairs pick MTF: every second value is rank 0
        let v: Vec<i64> = (0..2000)
            .map(|i| [4, 4, 9, 9, 22, 22, 7, 7][(i * 7 / 2) % 8])
            .collect();
        let mut b = Vec::new();
        encode_column(&v, &mut b);
        assert_eq!(b[0], PRED_MTF);
    }

    #[test]
    fn binary_gcd_matches_euclid() {
        fn euclid(mut a: u64, mut b: u64) -> u64 {
            while b != 0 {
                (a, b) = (b, a % b);
            }
            a
        }
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15u64);
        for (a, b) in [(0, 0), (0, 7), (7, 0), (1, u64::MAX), (u64::MAX, u64::MAX), (1 << 63, 1 << 62), (65_536 * 3, 1_000_000)] {
            assert_eq!(gcd(a, b), euclid(a, b), "gcd({a}, {b})");
        }
        for _ in 0..20_000 {
            let g = next() >> (next() % 64);
            let (a, b) = ((next() >> (next() % 64)).wrapping_mul(g), (next() >> (next() % 64)).wrapping_mul(g));
            assert_eq!(gcd(a, b), euclid(a, b), "gcd({a}, {b})");
        }
    }

    #[test]
    fn counting_at_once_equals_counting_one_by_one() {
        let mut next = xorshift(0x1234_5678_9ABC_DEF1u64);
        for case in 0..2_000 {
            let n = 1 + (next() % 300) as usize;
            let span = [1u64, 2, 16, 255, 256, 257, 5_000, 1 << 40][case % 8];
            let base = (next() % 1_000) as i64 - 500;
            let v: Vec<i64> = (0..n).map(|_| base + (next() % span) as i64).collect();
            let mut one = Counts::for_values(&v);
            for &x in &v {
                one.add(x);
            }
            let mut all = Counts::for_values(&v);
            all.add_all(&v);
            assert_eq!(all.len, one.len, "span {span}");
            assert_eq!(all.entries(), one.entries(), "span {span}");
        }
    }

    #[test]
    fn gcd_of_a_column_is_the_fold_of_gcd_with_zeros_anywhere() {
        let mut next = xorshift(0x2545_F491_4F6C_DD1Du64);
        for case in 0..3_000 {
            let n = (next() % 40) as usize;
            let g = [1u64, 2, 3, 1_000_000, 65_536, 1 << 40][case % 6];
            let v: Vec<i64> = (0..n)
                .map(|_| match next() % 4 {
                    0 | 1 => 0, // mostly zeros: the differences of kinds and buttons
                    _ => ((next() % 1_000) as i64 - 500).wrapping_mul(g as i64),
                })
                .collect();
            let want = v.iter().fold(0u64, |acc, &x| gcd(acc, x.unsigned_abs()));
            assert_eq!(gcd_of(&v), want, "{v:?}");
        }
        assert_eq!(gcd_of(&[0, 0, 0]), 0);
        assert_eq!(gcd_of(&[0, i64::MIN, 0]), 1 << 63);
    }

    #[test]
    fn a_common_divisor_is_not_a_split_base() {
        // whole pixels in 2^-16 units: every difference is a multiple of 65536, and the
        // predictors' divisor takes it out; a split would only cost time
        let v: Vec<i64> = (0..4000i64).map(|i| ((i * 37) % 1000 + 3) << 16).collect();
        assert_eq!(find_split_base(&v), None);
        // 125/3 ns ticks as whole ns: three remainders mod 125, a real split
        let t: Vec<i64> = (0..4000i64).map(|i| (i * 7 + i * i % 5) * 125 / 3).collect();
        assert_eq!(find_split_base(&t), Some(125));
    }

    #[test]
    fn exact_division_and_divisibility_match_the_hardware() {
        let mut next = xorshift(0x2545_F491_4F6C_DD1Du64);
        for g in (1u64..300).chain([1 << 16, 1_000_000, 125_000, 65_536 * 3, u64::MAX / 3, 1 << 63]) {
            let d = ExactDiv::new(g);
            for _ in 0..200 {
                let q = (next() as i64) >> (next() % 64);
                let Some(x) = q.checked_mul(g as i64) else { continue };
                // what the decoder relies on: q·g (wrapping) gives x back
                assert_eq!(d.div(x).wrapping_mul(g as i64), x, "{x} / {g}");
                if g <= i64::MAX as u64 {
                    assert_eq!(d.div(x), x / g as i64, "{x} / {g}");
                }
                let a = next() >> (next() % 64);
                assert_eq!(d.divides(a), a.is_multiple_of(g), "{a} % {g}");
                assert!(d.divides(a - a % g));
            }
        }
    }

    #[test]
    fn the_encoder_division_by_reciprocal_is_exact() {
        let mut next = xorshift(0x2545_F491_4F6C_DD1D);
        for f in 1u32..=1 << MAX_SCALE_BITS {
            let l = 32 - (f - 1).leading_zeros();
            let m = (1u128 << (32 + l)).div_ceil(u128::from(f));
            for x in [0u32, 1, f - 1, f, u32::MAX, u32::MAX - 1, (u32::MAX / f) * f, (u32::MAX / f) * f - 1] {
                assert_eq!(((u128::from(x) * m) >> (32 + l)) as u32, x / f, "{x} / {f}");
            }
            for _ in 0..64 {
                let x = next() as u32;
                assert_eq!(((u128::from(x) * m) >> (32 + l)) as u32, x / f, "{x} / {f}");
            }
        }
    }

    #[test]
    fn peaks_cost_less_than_a_bit_each() {
        // 90 % zeros, the rest ±1: entropy ≈ 0.57 bits per value.
        let v: Vec<i64> = (0..10_000)
            .map(|i| {
                if i % 10 == 0 {
                    if i % 20 == 0 {
                        1
                    } else {
                        -1
                    }
                } else {
                    0
                }
            })
            .collect();
        let n = rt(&v);
        assert!(n < 10_000 * 6 / 80, "{n} bytes");
    }

    /// The greedy merge by rescanning every adjacent pair before each merge: the definition the
    /// heap implements.
    fn merge_by_scan(mut bins: Vec<Bin>) -> Vec<Bin> {
        loop {
            let best = (0..bins.len().saturating_sub(1))
                .map(|l| {
                    let m = Bin { lo: bins[l].lo, hi: bins[l + 1].hi, count: bins[l].count + bins[l + 1].count };
                    (bin_cost(&bins[l]) + bin_cost(&bins[l + 1]) - bin_cost(&m), l, m)
                })
                // larger saving first, then the leftmost pair
                .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)));
            match best {
                Some((saving, l, m)) if bins.len() > MAX_BINS || saving > 0.0 => {
                    bins[l] = m;
                    bins.remove(l + 1);
                }
                _ => return bins,
            }
        }
    }

    #[test]
    fn merging_with_the_heap_equals_the_greedy_definition() {
        let mut s = 12345u64;
        let mut rnd = move |m: u64| {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (s >> 33) % m
        };
        for case in 0..300 {
            let k = 1 + rnd(if case % 10 == 0 { 700 } else { 80 }) as usize;
            let mut lo = rnd(1000) as i64 - 500;
            let bins: Vec<Bin> = (0..k)
                .map(|_| {
                    let w = rnd(4) as i64 * rnd(40) as i64;
                    let big = rnd(3) == 0;
                    let b = Bin { lo, hi: lo + w, count: 1 + rnd(if big { 1000 } else { 4 }) };
                    lo += w + 1 + rnd(50) as i64;
                    b
                })
                .collect();
            let mut got = bins.clone();
            merge_bins(&mut got);
            let want = merge_by_scan(bins);
            let key = |v: &[Bin]| v.iter().map(|b| (b.lo, b.hi, b.count)).collect::<Vec<_>>();
            assert_eq!(key(&got), key(&want), "case {case}, {k} bins");
            assert!(got.len() <= MAX_BINS);
        }
    }

    #[test]
    fn many_distinct_values_stay_within_256_bins() {
        let v: Vec<i64> = (0..200_000)
            .map(|i: i64| (i * 2_654_435_761) % 1_000_003)
            .collect();
        let n = rt(&v);
        // ~20 bits of entropy per value
        assert!(n < 200_000 * 21 / 8, "{n} bytes");
    }

    #[test]
    fn every_truncation_and_bit_flip_is_an_error_or_a_value_list() {
        let v: Vec<i64> = (0..300).map(|i| (i * 37) % 23 - 11).collect();
        let mut b = Vec::new();
        encode(&v, &mut b);
        for cut in 0..b.len() {
            let mut c = Cursor::new(&b[..cut], 0, "t");
            let mut out = Vec::new();
            assert!(decode(&mut c, v.len(), &mut out).is_err(), "cut {cut}");
        }
        for i in 0..b.len() {
            for bit in 0..8 {
                let mut d = b.clone();
                d[i] ^= 1 << bit;
                let mut c = Cursor::new(&d, 0, "t");
                let mut out = Vec::new();
                if decode(&mut c, v.len(), &mut out).is_ok() {
                    assert_eq!(out.len(), v.len());
                }
            }
        }
    }
}
