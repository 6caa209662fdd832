//! Choosing the bins of a chunk: greedy merges of adjacent value ranges under the cost model in
//! the module docs, the frequency precision, and each value's bin.

use super::MAX_BINS;
use crate::bytes::varint_len;

/// Distinct values above which the writer first groups them into about this many equal-count bins.
pub(super) const MAX_INITIAL_BINS: usize = 512;
/// The same for the estimates that choose a predictor (coarser: a ranking needs less).
pub(super) const ESTIMATE_INITIAL_BINS: usize = 32;
/// Approximate bits one bin costs in the table (lo delta, bits byte, frequency).
pub(super) const TABLE_BITS: f64 = 28.0;

#[derive(Debug, Clone, Copy)]
pub(super) struct Bin {
    pub(super) lo: i64,
    pub(super) hi: i64,
    pub(super) count: u64,
}

#[inline]
pub(super) fn width_bits(lo: i64, hi: i64) -> u32 {
    let span = hi.wrapping_sub(lo) as u64;
    64 - span.leading_zeros()
}

#[inline]
pub(super) fn bin_cost(b: &Bin) -> f64 {
    let c = b.count as f64;
    -c_log2_c(b.count) + c * f64::from(width_bits(b.lo, b.hi)) + TABLE_BITS
}

/// `c · log2(c)`, from a table below 4096 (the merges evaluate it for every candidate pair; the
/// same values as computing it, so the bins do not change).
#[inline]
pub(super) fn c_log2_c(c: u64) -> f64 {
    pub(super) const N: usize = 4096;
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
pub(super) fn build_bins(distinct: Vec<Bin>, n: usize, initial: usize) -> Vec<Bin> {
    let mut bins = match groups(distinct.len(), n, initial) {
        Some(groups) => grouped(&distinct, n, groups),
        None => distinct,
    };
    merge_bins(&mut bins);
    bins
}

/// [`build_bins`] of distinct values it may not take (the estimates keep theirs for the
/// encoder): copied only when they are not grouped first.
pub(super) fn build_bins_of(distinct: &[Bin], n: usize, initial: usize) -> Vec<Bin> {
    let mut bins = match groups(distinct.len(), n, initial) {
        Some(groups) => grouped(distinct, n, groups),
        None => distinct.to_vec(),
    };
    merge_bins(&mut bins);
    bins
}

/// How many equal-count groups `d` distinct values of `n` start as (`None`: a bin each).
/// Mostly unique values (a tail of rare, wide values) would stay single bins: merging two
/// singletons never pays for itself, though merging many does. Those start as groups.
fn groups(d: usize, n: usize, initial: usize) -> Option<usize> {
    let sparse = d * 4 > n;
    (d > initial || sparse).then(|| if sparse { 64.min(initial) } else { initial })
}

/// The distinct values in about `groups` equal-count groups; a value holding a whole group's
/// share stays alone.
fn grouped(distinct: &[Bin], n: usize, groups: usize) -> Vec<Bin> {
    let share = (n / groups).max(1) as u64;
    let mut out: Vec<Bin> = Vec::with_capacity(MAX_INITIAL_BINS * 2);
    for &d in distinct {
        match out.last_mut() {
            Some(last) if last.count < share && d.count < share => {
                last.hi = d.hi;
                last.count += d.count;
            }
            _ => out.push(d),
        }
    }
    out
}

/// The candidate merge of bin `left` with its right neighbour, as one integer whose order is the
/// merge order: the saving (an f64 mapped to u64 keeping `total_cmp`'s order), then the leftmost
/// pair. Unique per pair, so the merges are deterministic.
pub(super) fn cand_key(saving: f64, left: usize) -> u128 {
    let bits = saving.to_bits();
    // total order of f64 as unsigned: flip all bits of negatives, the sign bit of positives
    let ordered = if bits >> 63 == 1 { !bits } else { bits | (1 << 63) };
    (u128::from(ordered) << 64) | u128::from(u64::MAX - left as u64)
}

pub(super) fn cand_saving(key: u128) -> f64 {
    let ordered = (key >> 64) as u64;
    f64::from_bits(if ordered >> 63 == 1 { ordered & !(1 << 63) } else { !ordered })
}

/// The current candidate merges, one per adjacent pair (keyed by its left bin), as a tournament
/// tree: leaf `l` holds pair `l`'s key (0 once the pair is gone: every real key is above 0, its low
/// half being `u64::MAX - left`), each inner node the larger key of its two children, the root the
/// next merge. Setting a key recomputes the nodes above it, the same steps whatever the keys, each a
/// comparison and a select: a binary heap's sifts branched on the keys at every level and were
/// mispredicted about every other time (the merges were a sixth of a key column's encode). Keys
/// are unique, so the next merge is the same whatever the structure that finds it.
pub(super) struct PairTree {
    size: usize,
    t: Vec<u128>,
}

impl PairTree {
    pub(super) fn new(keys: &[u128]) -> Self {
        let size = keys.len().next_power_of_two();
        let mut t = vec![0u128; 2 * size];
        t[size..size + keys.len()].copy_from_slice(keys);
        for i in (1..size).rev() {
            t[i] = t[2 * i].max(t[2 * i + 1]);
        }
        PairTree { size, t }
    }
    /// The pair with the largest key, and the key (`None`: no pair left).
    pub(super) fn top(&self) -> Option<(usize, u128)> {
        let k = self.t[1];
        (k != 0).then(|| ((u64::MAX - k as u64) as usize, k))
    }
    /// Sets the key of pair `l` (0: the pair is gone).
    ///
    /// The node just set stays in a register on the way up: each level loads only the sibling
    /// (reading both children back made each level wait for the store of the level below).
    pub(super) fn set(&mut self, l: usize, key: u128) {
        let mut i = self.size + l;
        self.t[i] = key;
        let mut m = key;
        while i > 1 {
            m = m.max(self.t[i ^ 1]);
            i >>= 1;
            if self.t[i] == m {
                break; // this node, so every node above it, holds what it held
            }
            self.t[i] = m;
        }
    }
    /// [`PairTree::set`] of the pair that is the [`PairTree::top`]: every node above it held its
    /// key, which no node holds now (keys are unique), so each changes and none is compared.
    pub(super) fn set_top(&mut self, l: usize, key: u128) {
        let mut i = self.size + l;
        debug_assert_eq!(self.t[1], self.t[i]);
        self.t[i] = key;
        let mut m = key;
        while i > 1 {
            m = m.max(self.t[i ^ 1]);
            i >>= 1;
            self.t[i] = m;
        }
    }
    /// Takes pair `l` out.
    pub(super) fn remove(&mut self, l: usize) {
        self.set(l, 0);
    }
}

pub(super) fn merge_bins(bins: &mut Vec<Bin>) {
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
    let keys: Vec<u128> = (0..k - 1).map(|l| cand(bins, &cost, l, l + 1)).collect();
    let mut pairs = PairTree::new(&keys);
    let mut live = k;
    while let Some((l, key)) = pairs.top() {
        if live <= 1 || (cand_saving(key) <= 0.0 && live <= MAX_BINS) {
            break;
        }
        let r = next[l];
        bins[l] = merged(&bins[l], &bins[r]);
        cost[l] = bin_cost(&bins[l]);
        let rn = next[r];
        next[l] = rn;
        if rn < k {
            pairs.remove(r); // pair (r, rn) is gone
            prev[rn] = l;
            let c = cand(bins, &cost, l, rn);
            pairs.set_top(l, c);
        } else {
            pairs.set_top(l, 0);
        }
        let p = prev[l];
        if p < k {
            let c = cand(bins, &cost, p, l);
            pairs.set(p, c);
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
pub(super) fn quantise(bins: &[Bin], order: &[usize], n: u64, scale: u8) -> Vec<u32> {
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
pub(super) const MIN_SCALE_BITS: u8 = 8;
/// Finest frequency precision the writer tries (the format allows [`MAX_SCALE_BITS`]).
pub(super) const WRITER_MAX_SCALE_BITS: u8 = 12;

/// `log2(f)` for `f` in `1..=2^12` from a table (the scale search evaluates it for every bin at
/// every precision).
#[inline]
pub(super) fn log2_freq(f: u32) -> f64 {
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
pub(super) fn best_quantisation(bins: &[Bin], n: u64) -> (u8, Vec<u32>) {
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

/// The values of a column of latents counted: the table, and the distinct values ascending with
/// their counts (each a bin of one value), as [`Counted::of`] makes them from the table.
pub(super) struct Counted {
    pub(super) map: Counts,
    pub(super) distinct: Vec<Bin>,
}

impl Counted {
    /// `map` (every value counted) with its distinct values listed.
    pub(super) fn of(map: Counts) -> Counted {
        let bin = |v: i64, c: u32| Bin { lo: v, hi: v, count: u64::from(c) };
        let distinct = match map.dense {
            // the array's slots are the values in order: listed, nothing to sort
            Some(lo) => map.dense_values(lo, bin),
            None => {
                let mut distinct: Vec<Bin> = Vec::with_capacity(map.len);
                distinct.extend(map.keys.iter().zip(&map.vals).filter(|(_, &c)| c != 0).map(|(&k, &c)| bin(k, c)));
                distinct.sort_unstable_by_key(|b| b.lo);
                distinct
            }
        };
        Counted { map, distinct }
    }
}

/// The least and greatest of `v` ((i64::MAX, i64::MIN) when empty), and the trailing zero bits
/// common to every `v[i] − v[0]` (64 when they are all 0), which are those of every `v[i] − lo`
/// too (each is a difference of two of the former). In four independent lanes: one running
/// minimum and maximum made each step wait for the step before it (a compare and a conditional
/// move), and this pass is in every estimate of every predictor.
#[inline]
pub(super) fn spread(v: &[i64]) -> (i64, i64, u32) {
    let (mut lo, mut hi, mut bits) = ([i64::MAX; 4], [i64::MIN; 4], [0u64; 4]);
    let first = v.first().copied().unwrap_or(0);
    let mut chunks = v.chunks_exact(4);
    for q in &mut chunks {
        for j in 0..4 {
            lo[j] = lo[j].min(q[j]);
            hi[j] = hi[j].max(q[j]);
            bits[j] |= q[j].wrapping_sub(first) as u64;
        }
    }
    for &x in chunks.remainder() {
        lo[0] = lo[0].min(x);
        hi[0] = hi[0].max(x);
        bits[0] |= x.wrapping_sub(first) as u64;
    }
    let tz = (bits[0] | bits[1] | bits[2] | bits[3]).trailing_zeros();
    (lo[0].min(lo[1]).min(lo[2].min(lo[3])), hi[0].max(hi[1]).max(hi[2].max(hi[3])), tz)
}

/// Counts of distinct i64 values, then each value's bin. Values within a span of 2^16 and of at
/// most 8 slots per value (most latents: steps, ticks, codes) are counted in a plain array, one
/// slot per multiple of the largest power of two dividing every difference (order 0 of whole
/// pixels, stored as multiples of 2^16, has a slot per pixel, not a hash probe per value); others
/// in an open-addressing hash table (linear probing, grown at half load; a wide array cost more to
/// clear and list than the values it counted). Sorting every latent cost more than all the rest of
/// the encoder.
pub(super) struct Counts {
    pub(super) dense: Option<i64>, // Some(min): vals[(v - min) >> tz]
    pub(super) tz: u32,
    pub(super) keys: Vec<i64>,
    pub(super) vals: Vec<u32>, // 0 = empty slot; else count (then bin + 1)
    pub(super) len: usize,
    pub(super) shift: u32,
}
impl Counts {
    pub(super) const DENSE_SPAN: u64 = 1 << 16;

    pub(super) fn for_values(v: &[i64]) -> Self {
        Self::for_spread(v.len(), spread(v))
    }

    /// Whether a table for `n` values of [`spread`] `sp` is a plain array (its span in slots),
    /// `None` for a hash table.
    #[inline]
    pub(super) fn dense_slots(n: usize, (lo, hi, tz): (i64, i64, u32)) -> Option<u64> {
        let span = (hi.wrapping_sub(lo) as u64) >> tz.min(63); // tz 64: one value, a span of 0
        // A plain array costs its span to clear and to list; a hash table costs a probe per value.
        // The array, while it is at most a few slots per value.
        (n != 0 && span < Self::DENSE_SPAN && span <= (8 * n as u64).max(4096)).then_some(span)
    }

    /// [`Counts::for_values`] of `n` values whose [`spread`] is `sp`.
    pub(super) fn for_spread(n: usize, sp: (i64, i64, u32)) -> Self {
        if let Some(span) = Self::dense_slots(n, sp) {
            Counts { dense: Some(sp.0), tz: sp.2.min(63), keys: Vec::new(), vals: vec![0; span as usize + 1], len: 0, shift: 0 }
        } else {
            // room for half the values distinct without growing (more grow as they come); no
            // larger than that for a short column (a table of 2^10 slots at the least was most
            // of a short clock's estimates: zeroed, then scanned for the values)
            let bits = (n.next_power_of_two().trailing_zeros()).clamp(6, 14);
            Counts { dense: None, tz: 0, keys: vec![0; 1 << bits], vals: vec![0; 1 << bits], len: 0, shift: 64 - bits }
        }
    }
    #[inline]
    pub(super) fn slot(&self, k: i64) -> usize {
        if let Some(lo) = self.dense {
            return (k.wrapping_sub(lo) as u64 >> self.tz) as usize;
        }
        let mask = self.keys.len() - 1;
        let mut i = ((k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize;
        while self.vals[i] != 0 && self.keys[i] != k {
            i = (i + 1) & mask;
        }
        i
    }
    #[inline(always)]
    pub(super) fn add(&mut self, k: i64) {
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
    /// Puts `k`, not in the table, at its empty slot `i` ([`Counts::slot`]) with `val` (≥ 1) in
    /// place of a count: what [`Counts::add`] does for a new value, with the value given.
    #[inline]
    pub(super) fn put_new(&mut self, i: usize, k: i64, val: u32) {
        debug_assert!(val >= 1 && self.vals[i] == 0);
        self.vals[i] = val;
        self.len += 1;
        if self.dense.is_none() {
            self.keys[i] = k;
            if self.len * 2 > self.keys.len() {
                self.grow();
            }
        }
    }
    /// Counts every value of `v` (what [`Counts::add`] does one by one). Values within a span of
    /// 256 are counted into four interleaved tables, so a run of one value (kinds, buttons) does
    /// not make each increment wait for the one before it.
    pub(super) fn add_all(&mut self, v: &[i64]) {
        let Some(lo) = self.dense else {
            for &x in v {
                self.add(x);
            }
            return;
        };
        if self.vals.len() > 256 {
            let mut len = 0;
            for &x in v {
                let c = &mut self.vals[(x.wrapping_sub(lo) as u64 >> self.tz) as usize];
                len += usize::from(*c == 0);
                *c += 1;
            }
            self.len += len;
            return;
        }
        let mut c = [[0u32; 256]; 4];
        let mut chunks = v.chunks_exact(4);
        for q in &mut chunks {
            for (t, &x) in c.iter_mut().zip(q) {
                t[(x.wrapping_sub(lo) as u64 >> self.tz) as usize & 255] += 1;
            }
        }
        for &x in chunks.remainder() {
            c[0][(x.wrapping_sub(lo) as u64 >> self.tz) as usize & 255] += 1;
        }
        for (i, slot) in self.vals.iter_mut().enumerate() {
            let n = c[0][i] + c[1][i] + c[2][i] + c[3][i];
            if *slot == 0 && n > 0 {
                self.len += 1;
            }
            *slot += n;
        }
    }
    /// The value of a dense table's slot `i` (table from `lo`).
    #[inline]
    pub(super) fn value_at(&self, lo: i64, i: usize) -> i64 {
        lo.wrapping_add(((i as u64) << self.tz) as i64)
    }
    /// The greatest value a dense table (from `lo`) can hold: its last slot's.
    pub(super) fn dense_hi(&self, lo: i64) -> i64 {
        self.value_at(lo, self.vals.len() - 1)
    }
    /// A dense table's counted values ascending, as bins made by `bin`. Without a branch per
    /// slot (a table of a few slots per value mispredicted the test of every slot about as
    /// often as it held a value: a fifth of the estimates' mispredictions on balabit): each slot
    /// is written at the end of the list, which moves past it only when it counts a value, and
    /// a run of 16 empty slots is passed at once.
    fn dense_values(&self, lo: i64, bin: impl Fn(i64, u32) -> Bin) -> Vec<Bin> {
        const RUN: usize = 16;
        let mut out = vec![Bin { lo: 0, hi: 0, count: 0 }; self.len + 1];
        let mut k = 0;
        for (r, run) in self.vals.chunks(RUN).enumerate() {
            if run.iter().fold(0, |a, &c| a | c) == 0 {
                continue;
            }
            for (j, &c) in run.iter().enumerate() {
                out[k] = bin(self.value_at(lo, r * RUN + j), c);
                k += usize::from(c != 0);
            }
        }
        debug_assert_eq!(k, self.len);
        out.truncate(k);
        out
    }
    #[cold]
    #[inline(never)]
    pub(super) fn grow(&mut self) {
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
    #[cfg(test)]
    pub(super) fn entries(&self) -> Vec<(i64, u32)> {
        match self.dense {
            Some(lo) => self
                .vals
                .iter()
                .enumerate()
                .filter(|(_, &c)| c != 0)
                .map(|(i, &c)| (self.value_at(lo, i), c))
                .collect(),
            None => self.keys.iter().zip(&self.vals).filter(|(_, &v)| v != 0).map(|(&k, &v)| (k, v)).collect(),
        }
    }
    /// Replaces the count of `k` (present) with `bin`.
    pub(super) fn set(&mut self, k: i64, bin: u32) {
        let i = self.slot(k);
        self.vals[i] = bin + 1;
    }
    #[inline]
    pub(super) fn get(&self, k: i64) -> u32 {
        self.vals[self.slot(k)] - 1
    }
    /// The bin of each of `v` (every one [`Counts::set`] to a bin under 256) into `out`, as
    /// [`Counts::get`] gives it, with the table's kind tested once, not per value (the
    /// encoder's loop over the values kept the table's fields in memory, spilled, and
    /// branched on its kind for every value).
    pub(super) fn bins_into(&self, v: &[i64], out: &mut [u8]) {
        debug_assert_eq!(v.len(), out.len());
        match self.dense {
            Some(lo) => {
                let (tz, vals) = (self.tz, &self.vals[..]);
                for (&x, o) in v.iter().zip(out.iter_mut()) {
                    *o = vals[(x.wrapping_sub(lo) as u64 >> tz) as usize].wrapping_sub(1) as u8;
                }
            }
            None => {
                for (&x, o) in v.iter().zip(out.iter_mut()) {
                    *o = self.get(x) as u8;
                }
            }
        }
    }
}

