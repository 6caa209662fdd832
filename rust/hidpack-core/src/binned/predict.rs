//! The column layer: predictors that turn a column into small latents before binning, the choice
//! among them, and undoing them when reading.

use super::bins::*;
use super::rans::{decode, decode_map, encode, encode_counted};
use crate::bytes::{gcd, put_varint, unzigzag, zigzag, Cursor};
use crate::error::Result;
use std::hint::select_unpredictable;

/// The head of a move-to-front chunk (the predictor byte read): its alphabet's size `d` and
/// the alphabet, in a table of every index a list entry can hold (no bound check per value).
fn mtf_head(c: &mut Cursor) -> Result<(u64, [i64; MAX_MTF_ALPHABET])> {
    let d = c.varint()?;
    if d == 0 || d > MAX_MTF_ALPHABET as u64 {
        return Err(c.err(format!(
            "move-to-front alphabet of {d} values; expected 1..={MAX_MTF_ALPHABET}"
        )));
    }
    let mut table = [0i64; MAX_MTF_ALPHABET];
    for a in &mut table[..d as usize] {
        *a = unzigzag(c.varint()?);
    }
    let g = c.varint()?;
    if g != 1 {
        return Err(c.err(format!("move-to-front chunk with divisor {g}; expected 1")));
    }
    Ok((d, table))
}

pub(super) fn decode_mtf(c: &mut Cursor, m: usize, out: &mut Vec<i64>) -> Result<()> {
    let (d, table) = mtf_head(c)?;
    // The ranks undone as they are decoded (no pass over them after): rank 0 (most values: a
    // run) repeats the value before, kept in a register, a test and no more; another rank takes
    // its entry from the list (out of the loop's way, `mtf_take`). A rank past the alphabet is
    // marked, and the chunk decoded again to say which.
    let start = c.clone();
    let mut list = MtfList::new();
    let mut bad = false;
    let mut cur = table[usize::from(list.take(0))];
    {
        let (list, table, bad) = (&mut list, &table, &mut bad);
        decode_map(c, m, out, move |r| {
            if r != 0 {
                cur = mtf_take(list, table, r as u64, d, bad);
            }
            cur
        })?;
    }
    if bad {
        return Err(first_bad_rank(c, start, m, d));
    }
    Ok(())
}

/// The error of the first rank past the alphabet of `d` in the chunk of `m` ranks at `start`
/// (`c` is past it): the chunk decoded again, as ranks.
#[cold]
#[inline(never)]
fn first_bad_rank(c: &Cursor, mut start: Cursor, m: usize, d: u64) -> crate::error::Error {
    let mut ranks = Vec::new();
    if let Err(e) = decode(&mut start, m, &mut ranks) {
        return e;
    }
    // (the ranks decoded before: one is past the alphabet)
    let (i, r) = ranks.iter().enumerate().find(|&(_, &r)| r as u64 >= d).map_or((m, d), |(i, &r)| (i, r as u64));
    rank_error(c, r, i, d)
}

/// A column of byte codes (the segment's `kind` column, FORMAT.md §5.5) at `c`, decoded as
/// bytes with the count of each, when its chunk is a move-to-front one whose alphabet is of
/// bytes or an order-0 one whose values are (every writer's `kind` column): `Ok(None)` with `c`
/// not moved for any other chunk (for [`decode_column`] and a check of each value).
///
/// Decoded as bytes, the column is not narrowed from `i64` after. A move-to-front one is not
/// counted in a pass of its own either: a value repeats the one before but at a rank other
/// than 0, so the counts are the runs' lengths, added where a run ends.
pub fn decode_codes(c: &mut Cursor, m: usize, out: &mut Vec<u8>) -> Result<Option<[usize; 256]>> {
    let counts = [0usize; 256];
    if m == 0 {
        return Ok(Some(counts));
    }
    let start = c.clone();
    let k = c.u8()?;
    if k == 0 {
        return decode_codes_order0(c, start, m, out);
    }
    if k != PRED_MTF {
        *c = start;
        return Ok(None);
    }
    let (d, wide) = mtf_head(c)?;
    if wide[..d as usize].iter().any(|&v| !(0..=255).contains(&v)) {
        *c = start;
        return Ok(None);
    }
    let table: [u8; MAX_MTF_ALPHABET] = std::array::from_fn(|i| wide[i] as u8);
    let ranks = c.clone();
    let mut run = CodeRun { list: MtfList::new(), table, d, bad: false, counts, from: 0 };
    let mut cur = run.table[usize::from(run.list.take(0))];
    let mut i = 0usize;
    {
        let run = &mut run;
        decode_map(c, m, out, move |r| {
            if r != 0 {
                cur = run.take(r as u64, i, cur);
            }
            i += 1;
            cur
        })?;
    }
    if run.bad {
        return Err(first_bad_rank(c, ranks, m, d));
    }
    let last = out[out.len() - 1];
    run.counts[usize::from(last)] += m - run.from;
    Ok(Some(run.counts))
}

/// [`decode_codes`] of an order-0 chunk (the predictor byte read; `start` is the chunk's start):
/// the values as bytes, counted after. A value outside a byte (or a divisor of 0) leaves the
/// chunk to [`decode_column`], `c` back at `start`.
fn decode_codes_order0<'a>(c: &mut Cursor<'a>, start: Cursor<'a>, m: usize, out: &mut Vec<u8>) -> Result<Option<[usize; 256]>> {
    let g = c.varint()?;
    let base = out.len();
    let mut over = false;
    if g != 0 {
        let g = g as i64;
        let over = &mut over;
        decode_map(c, m, out, move |q| {
            let v = q.wrapping_mul(g);
            if v as u64 > 255 {
                *over = true;
            }
            v as u8
        })?;
    }
    if g == 0 || over {
        out.truncate(base);
        *c = start;
        return Ok(None);
    }
    Ok(Some(crate::table::byte_counts(&out[base..])))
}

/// The move-to-front state of [`decode_codes`] beside the value in a register: the list, the
/// alphabet, whether a rank past it was seen, the counts of the runs ended and where the
/// current run started.
struct CodeRun {
    list: MtfList,
    table: [u8; MAX_MTF_ALPHABET],
    d: u64,
    bad: bool,
    counts: [usize; 256],
    from: usize,
}

impl CodeRun {
    /// The code at rank `r` (≥ 1) for value `i`, which ends the run of `cur` (`0` and `bad` set
    /// for a rank past the alphabet).
    #[inline(never)]
    fn take(&mut self, r: u64, i: usize, cur: u8) -> u8 {
        if r >= self.d {
            self.bad = true;
            return 0;
        }
        self.counts[usize::from(cur)] += i - self.from;
        self.from = i;
        self.table[usize::from(self.list.take(r as usize))]
    }
}

/// The value of a move-to-front rank `r` (≥ 1), its entry moved to the front; a rank past the
/// alphabet of `d` sets `bad` (and gives 0).
#[inline(never)]
fn mtf_take(list: &mut MtfList, table: &[i64; MAX_MTF_ALPHABET], r: u64, d: u64, bad: &mut bool) -> i64 {
    if r >= d {
        *bad = true;
        return 0;
    }
    table[usize::from(list.take(r as usize))]
}

/// The error of a move-to-front rank `r` at value `i` past the alphabet of `d` (out of line: its
/// message's arguments, formatted in the loop, were stored to memory on every value).
#[cold]
#[inline(never)]
fn rank_error(c: &Cursor, r: u64, i: usize, d: u64) -> crate::error::Error {
    c.err(format!("move-to-front rank {r} at value {i}; the alphabet has {d}"))
}

/// The move-to-front list of a chunk: the alphabet's indexes (at most [`MAX_MTF_ALPHABET`], so one
/// byte each), most recent first.
///
/// Nearly every rank is small, so the first 16 entries live in one 128-bit word (in a register
/// across a loop): taking a rank under 8 is a few 64-bit shifts and masks, under 16 the same on 128
/// bits. A `copy_within` per value (what this replaced) was a `memmove` call per value, a quarter
/// of reading a file of key presses.
pub(super) struct MtfList {
    head: u128, // entries 0..16, entry i in byte i
    // boxed: the list itself is then two registers' worth, and the head stays in a register in
    // the loops (with the tail inline, the head lived in memory, on the loop's critical path)
    tail: Box<[u8; MAX_MTF_ALPHABET - 16]>,
}

impl MtfList {
    /// Indexes `0..256` in order (a chunk of `d` values only ever takes ranks under `d`, so the
    /// entries from `d` on stay where they are).
    pub(super) fn new() -> Self {
        MtfList {
            head: u128::from_le_bytes(std::array::from_fn(|i| i as u8)),
            tail: Box::new(std::array::from_fn(|i| (i + 16) as u8)),
        }
    }

    /// The entry at rank `r` (< 256), moved to the front (entries `0..r` move up by one).
    #[inline]
    pub(super) fn take(&mut self, r: usize) -> u8 {
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
    pub(super) fn take_far(tail: &mut [u8; MAX_MTF_ALPHABET - 16], head: u128, r: usize) -> (u128, u8) {
        let x = tail[r - 16];
        tail.copy_within(0..r - 16, 1);
        tail[0] = (head >> 120) as u8;
        ((head << 8) | u128::from(x), x)
    }

    /// The rank of index `x`, moved to the front.
    #[inline]
    pub(super) fn find(&mut self, x: u8) -> usize {
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
    pub(super) fn entries(&self) -> Vec<u8> {
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
    /// A divider that divides only 0 (no g has that property: what a gcd of nothing yet tests).
    const ONLY_ZERO: ExactDiv = ExactDiv { tz: 0, inv: 1, limit: 0 };
    /// `a` is a multiple of g (0 is: its trailing zeros are 64 and 0·inv = 0). Both tests are
    /// made, without a branch between them: a column mixing zeros and other values mispredicted
    /// the short-circuit.
    #[inline]
    pub(super) fn divides(&self, a: u64) -> bool {
        (a.trailing_zeros() >= self.tz) & ((a >> self.tz).wrapping_mul(self.inv) <= self.limit)
    }
    /// x / g for a multiple x of g, unsigned.
    #[inline]
    pub(super) fn div_unsigned(&self, x: u64) -> u64 {
        (x >> self.tz).wrapping_mul(self.inv)
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

/// The greatest common divisor of the steps `v[i+1] − v[i]` (wrapping; 1 when there is none
/// larger): order 1's divisor, as [`common_divisor`] of [`diffs`], without making the differences.
pub(super) fn common_step_divisor(v: &[i64]) -> u64 {
    gcd_iter(v.windows(2).map(|w| w[1].wrapping_sub(w[0]))).max(1)
}

/// The divisor `g` written in a difference predictor's head (as [`Level`] writes it: the order,
/// the moments, `g`): what its latents were divided by.
pub(super) fn head_divisor(head: &[u8]) -> Option<u64> {
    let (&k, rest) = head.split_first()?;
    let mut c = Cursor::new(rest, 0, "predictor head");
    for _ in 0..k {
        c.varint().ok()?;
    }
    c.varint().ok()
}

/// The greatest common divisor of `v`: 0 when every value is 0, stopping at the first 1.
pub(super) fn gcd_of(v: &[i64]) -> u64 {
    gcd_iter(v.iter().copied())
}

/// [`gcd_of`] of the values of an iterator.
#[inline]
fn gcd_iter(v: impl Iterator<Item = i64>) -> u64 {
    let mut g = 0u64;
    // while g is 0, a divider of 0 alone: zeros (a multiple of everything) are skipped, so that a
    // column of mostly zeros (the differences of kinds and buttons) does not build a divider per
    // value while g is 0; after, g's divider (which passes 0 too). One test, one branch.
    let mut d = ExactDiv::ONLY_ZERO;
    for x in v {
        let a = x.unsigned_abs();
        if d.divides(a) {
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

pub(super) fn encode_column_no_split(vals: &[i64], out: &mut Vec<u8>) {
    encode_column_opts(vals, out, false)
}

/// A way to predict a column, before its latents are binned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pred {
    Order(u8),
    Mtf,
    Split(u64),
}

/// Columns longer than this choose their predictor on a sample of [`SAMPLE_SLICES`] slices of
/// [`SAMPLE_SLICE`] values spread over the column (BtrBlocks' idea), then encode once.
pub(super) const SAMPLE_OVER: usize = 2048;
pub(super) const SAMPLE_SLICES: usize = 4;
pub(super) const SAMPLE_SLICE: usize = 512;

/// The header bytes (predictor, moments or alphabet, divisor) and the latents of `vals` under
/// predictor `p` (not the split); `None` when `p` does not apply.
pub(super) fn latents_for(vals: &[i64], p: Pred) -> Option<(Vec<u8>, Vec<i64>)> {
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
            let (alphabet, ranks) = mtf_ranks(vals)?;
            head.push(PRED_MTF);
            put_varint(&mut head, alphabet.len() as u64);
            for &a in &alphabet {
                put_varint(&mut head, zigzag(a));
            }
            put_varint(&mut head, 1);
            Some((head, ranks))
        }
        Pred::Split(_) => None,
    }
}

/// The move-to-front alphabet of `vals` (in order of first appearance) and each value's rank,
/// in one pass; `None` past [`MAX_MTF_ALPHABET`] distinct values.
///
/// A value met for the first time is given the next index of the alphabet, and its rank is
/// that index: the list's entries from the alphabet's size on are still in their first order,
/// only the entries already met having moved among the places before them. (Two passes, the
/// alphabet first and then the ranks, looked every value up twice.)
fn mtf_ranks(vals: &[i64]) -> Option<(Vec<i64>, Vec<i64>)> {
    let mut seen = Counts::for_values(vals);
    // the table's slots hold each value's alphabet index + 1 (0: not met yet); the table's kind
    // is tested once, not per value
    fn pass(vals: &[i64], seen: &mut Counts, slot: impl Fn(&Counts, i64) -> usize) -> Option<(Vec<i64>, Vec<i64>)> {
        let mut alphabet: Vec<i64> = Vec::new();
        let mut list = MtfList::new();
        let mut ranks = Vec::with_capacity(vals.len());
        let mut prev = None;
        for &v in vals {
            // the value before again (a run: most values of a column of codes) is rank 0, the
            // list as it is, without a look-up
            if prev == Some(v) {
                ranks.push(0);
                continue;
            }
            prev = Some(v);
            let i = slot(seen, v);
            let mut x = seen.vals[i];
            if x == 0 {
                if alphabet.len() == MAX_MTF_ALPHABET {
                    return None;
                }
                alphabet.push(v);
                x = alphabet.len() as u32;
                seen.put_new(i, v, x);
            }
            ranks.push(list.find((x - 1) as u8) as i64);
        }
        Some((alphabet, ranks))
    }
    match seen.dense {
        Some(lo) => {
            let tz = seen.tz;
            pass(vals, &mut seen, move |_, v| (v.wrapping_sub(lo) as u64 >> tz) as usize)
        }
        None => pass(vals, &mut seen, |s, v| s.slot(v)),
    }
}

/// Estimated bytes of [`encode`]'s output (the binning's own cost model, without quantising,
/// mapping or coding anything: what choosing a predictor needs), and the distinct values.
pub(super) fn estimate(latents: &[i64]) -> (usize, usize) {
    let (size, distinct, _) = estimate_counted(latents);
    (size, distinct)
}

/// [`estimate`], with the counts of every value when it counted them all (not when it stopped
/// at mostly distinct values): [`encode_counted`] starts from them.
pub(super) fn estimate_counted(latents: &[i64]) -> (usize, usize, Option<Counted>) {
    let n = latents.len();
    if n == 0 {
        return (0, 0, None);
    }
    let sp = spread(latents);
    if Counts::dense_slots(n, sp).is_none() && n >= 64 && latents.windows(2).all(|w| w[0] <= w[1]) {
        // Ascending (a clock under order 0): its distinct values are its changes, counted
        // without a probe per value (or a hash table made); mostly distinct, the answer is the
        // early exit's below.
        let d = 1 + latents.windows(2).filter(|w| w[0] != w[1]).count();
        if d * 2 > n {
            return (n * width_bits(latents[0], latents[n - 1]) as usize / 8 + 12, n, None);
        }
    }
    let mut map = Counts::for_spread(n, sp);
    if let Some(lo) = map.dense {
        // a span of a few slots per value: counted at once (cheaper than the early exit below,
        // which answers the same)
        map.add_all(latents);
        if map.len * 2 > n && n >= 64 {
            // the table spans lo..=hi exactly (Counts::for_values): no second pass for them
            let hi = map.dense_hi(lo);
            return (n * width_bits(lo, hi) as usize / 8 + 12, n, None);
        }
    } else {
        for &v in latents {
            map.add(v);
            if map.len * 2 > n && n >= 64 {
                // Mostly distinct values (absolute clocks and coordinates under order 0): binning
                // cannot beat their spread by much, and counting them all is the estimate's cost.
                // (Their least and greatest are the spread's.)
                return (n * width_bits(sp.0, sp.1) as usize / 8 + 12, n, None);
            }
        }
    }
    // the distinct values listed once: the encoder starts from them too (listing and sorting a
    // hash table's values again cost as much as the copy kept here)
    let counted = Counted::of(map);
    let d = counted.distinct.len();
    let bins = build_bins_of(&counted.distinct, n, ESTIMATE_INITIAL_BINS);
    let nf = n as f64;
    let bits: f64 = nf * nf.log2() + bins.iter().map(bin_cost).sum::<f64>();
    ((bits / 8.0) as usize + 12, d, Some(counted))
}

/// The latents of predictor order k (k-th differences divided by their common divisor g),
/// with what the chunk header needs: the k moments (first values of the differences of orders
/// 0..k) and g.
pub(super) struct Level {
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
pub(super) const FEW_VALUES: usize = 16;

/// The (wrapping) differences of consecutive values.
pub(crate) fn diffs(v: &[i64]) -> Vec<i64> {
    v.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect()
}

/// A predictor with its estimated size, and its header and latents when they were made from the
/// whole column (not a sample), for the encoder to use as they are.
pub(super) struct Choice {
    pub(super) size: usize,
    pub(super) pred: Pred,
    pub(super) made: Option<(Vec<u8>, Vec<i64>)>,
    /// The counts of the made latents' values, when their estimate counted them all.
    pub(super) counted: Option<Counted>,
}

/// The predictors `encode_column` may use for `vals`, smallest estimated size first. Orders 0 and
/// 1 are always estimated; order 2 above [`FEW_VALUES`] distinct values; order 3 only when order 2
/// beat order 1; move-to-front only when the column has at most 256 distinct values; the split
/// only above 256 distinct values, when a base is found.
pub(super) fn choose(vals: &[i64], split: bool) -> Vec<Choice> {
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
    // A predictor with its estimated size (of its header and latents); made from the whole
    // column, it keeps its latents and their counts for the encoder.
    let sized_of = |head: &[u8], lat: &[i64]| {
        let (e, _, counted) = estimate_counted(lat);
        (head.len() + e, counted)
    };
    let keep = |pred: Pred, (size, counted): (usize, Option<Counted>), made: (Vec<u8>, Vec<i64>)| {
        if whole {
            Choice { size, pred, made: Some(made), counted }
        } else {
            Choice { size, pred, made: None, counted: None }
        }
    };
    let choice = |pred: Pred, made: (Vec<u8>, Vec<i64>)| keep(pred, sized_of(&made.0, &made.1), made);
    // order 0's counts kept (a column that is its own sample): its latents are the values when
    // their divisor is 1, and the encoder starts from them then
    let (e0, distinct, c0) = estimate_counted(probe);
    sized.push(Choice { size: e0 + 2, pred: Pred::Order(0), made: None, counted: c0.filter(|_| whole) });
    let o1 = Level::first(probe);
    // Codes of a few values (kinds, buttons): their second differences only spread them.
    let o2 = if distinct > FEW_VALUES { o1.next() } else { None };
    let c1 = choice(Pred::Order(1), o1.into_parts());
    let s1 = c1.size;
    sized.push(c1);
    if let Some(l2) = o2 {
        let e2 = sized_of(&l2.head(), &l2.lat);
        let o3 = if e2.0 < s1 { l2.next() } else { None };
        sized.push(keep(Pred::Order(2), e2, l2.into_parts()));
        if let Some(l3) = o3 {
            sized.push(choice(Pred::Order(3), l3.into_parts()));
        }
    }
    // Categorical columns (key codes, buttons): ranks in a move-to-front list. A key's release
    // repeats the code of a press a moment ago, which is rank 0 or 1 here and costs a fraction of
    // a bit, where its value alone costs the entropy of the whole key distribution.
    if distinct <= MAX_MTF_ALPHABET {
        if let Some(made) = latents_for(probe, Pred::Mtf) {
            sized.push(choice(Pred::Mtf, made));
        }
    }
    // A few hundred distinct values are each a bin of their own already: nothing to split.
    if split && distinct > MAX_MTF_ALPHABET {
        if let Some(b) = find_split_base(vals) {
            let (q, r) = split_parts(probe, b);
            let size = 10 + choose(&q, false)[0].size + choose(&r, false)[0].size;
            sized.push(Choice { size, pred: Pred::Split(b), made: None, counted: None });
        }
    }
    sized.sort_by_key(|c| c.size);
    sized
}

pub(super) fn split_parts(vals: &[i64], base: u64) -> (Vec<i64>, Vec<i64>) {
    let b = base as i64;
    (vals.iter().map(|&v| v.div_euclid(b)).collect(), vals.iter().map(|&v| v.rem_euclid(b)).collect())
}

pub(super) fn encode_column_opts(vals: &[i64], out: &mut Vec<u8>, split: bool) {
    debug_assert!(vals.len() > MAX_ORDER as usize);
    encode_chosen(vals, choose(vals, split), out)
}

/// Encodes `vals` with the first of `choices` (from [`choose`]) that applies.
pub(super) fn encode_chosen(vals: &[i64], choices: Vec<Choice>, out: &mut Vec<u8>) {
    for c in choices {
        match c.pred {
            Pred::Split(base) => {
                encode_split_top(vals, base, out);
                return;
            }
            Pred::Order(0) if c.made.is_none() && c.counted.is_some() && gcd_of(vals) <= 1 => {
                // order 0 of divisor 1 (the head `latents_for` writes): the values are the
                // latents, counted by the estimate
                out.extend_from_slice(&[0, 1]);
                encode_counted(vals, c.counted.expect("tested above"), out);
                return;
            }
            p => {
                // the counts are of the made latents only (order 0's are of the values, which
                // its latents are not when their divisor is above 1)
                let (made, counted) = match c.made {
                    Some(made) => (Some(made), c.counted),
                    None => (latents_for(vals, p), None),
                };
                if let Some((head, lat)) = made {
                    out.extend_from_slice(&head);
                    match counted {
                        Some(counted) => encode_counted(&lat, counted, out),
                        None => encode(&lat, out),
                    }
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
pub(super) fn find_split_base(vals: &[i64]) -> Option<u64> {
    let n = vals.len();
    if n < 256 {
        return None;
    }
    let samples = 512usize;
    // The pairs are (7919·i, 104729·i + 13) and (3571·i + 5, 65537·i + 29), mod n: each index
    // advanced by its step mod n, without a division per sample.
    let mut idx = [0usize, 13 % n, 5 % n, 29 % n];
    let step = [7919 % n, 104_729 % n, 3571 % n, 65_537 % n];
    let mut pairs: Vec<(u64, u64)> = Vec::with_capacity(samples);
    for _ in 0..samples {
        let a = vals[idx[0]].wrapping_sub(vals[idx[1]]).unsigned_abs();
        let b = vals[idx[2]].wrapping_sub(vals[idx[3]]).unsigned_abs();
        pairs.push((a, b));
        for (j, s) in idx.iter_mut().zip(step) {
            *j += s;
            if *j >= n {
                *j -= n;
            }
        }
    }
    // The divisor d common to every difference sampled (a clock's tick, a pixel in 2^-16 units)
    // divides each pair's gcd: gcd(a, b) = d·gcd(a/d, b/d), on numbers with fewer bits to strip.
    let all: Vec<i64> = pairs.iter().flat_map(|&(a, b)| [a as i64, b as i64]).collect();
    let d = gcd_of(&all).max(1);
    let exact = ExactDiv::new(d);
    let down = |x: u64| exact.div_unsigned(x);
    // When d ≥ 17, every pair's divisor is a multiple of d (or 0, left out), and d is the one of
    // the pairs whose quotients are coprime: once more than half of the pairs are, d is the most
    // frequent divisor whatever the others are, its count passes the threshold, and the search
    // is over without the other pairs' gcds. Quotients sharing a factor 2, 3 or 5 are not
    // coprime, seen without a gcd. (On balabit's clocks and coordinates d is the unit and ~60 %
    // of the pairs are coprime: about half of the gcds are made.)
    if d >= 17 {
        // The pairs whose quotients may be coprime, their gcds made four at a time
        // ([`gcd_lanes`]); the count is the same whatever pair passes the half.
        let mut maybe: Vec<(u64, u64)> = Vec::with_capacity(samples);
        for &(a, b) in &pairs {
            let (a, b) = (down(a), down(b));
            // all three tests made, without a branch between them (each went either way at random)
            let shared_small = ((a | b) & 1 == 0) | ((a % 3 == 0) & (b % 3 == 0)) | ((a % 5 == 0) & (b % 5 == 0));
            if !shared_small {
                maybe.push((a, b));
            }
        }
        let mut coprime = 0usize;
        for quad in maybe.chunks(LANES) {
            let g = gcd_lanes(std::array::from_fn(|j| quad.get(j).copied().unwrap_or((1, 1))));
            coprime += g[..quad.len()].iter().filter(|&&g| g == 1).count();
            if coprime * 2 > samples {
                return varies_mod(vals, d);
            }
        }
    }
    let mut found: Vec<u64> = Vec::with_capacity(samples);
    for quad in pairs.chunks(LANES) {
        let g = gcd_lanes(std::array::from_fn(|j| quad.get(j).map_or((1, 1), |&(a, b)| (down(a), down(b)))));
        for &g in &g[..quad.len()] {
            let g = g.wrapping_mul(d);
            if g >= 17 {
                found.push(g);
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
    varies_mod(vals, g)
}

/// How many gcds [`gcd_lanes`] makes at once.
const LANES: usize = 4;

/// `gcd(a, b)` of each of [`LANES`] pairs (as [`gcd`]: `gcd(0, b) = b`), the binary algorithm
/// run on all of them in one loop. One gcd is a chain of dependent steps (a subtraction, a count
/// of trailing zeros, a shift, a select), each waiting on the one before: four independent
/// chains fill the cycles one leaves idle, for about the time of the longest of the four. A
/// finished pair (`x = y`) stays as it is through the others' steps.
pub(super) fn gcd_lanes(pairs: [(u64, u64); LANES]) -> [u64; LANES] {
    let (mut x, mut y, mut shift) = ([0u64; LANES], [0u64; LANES], [0u32; LANES]);
    for (j, &(a, b)) in pairs.iter().enumerate() {
        if a == 0 || b == 0 {
            (x[j], y[j]) = (a | b, a | b); // the other one (or 0): done
        } else {
            shift[j] = (a | b).trailing_zeros();
            (x[j], y[j]) = (a >> a.trailing_zeros(), b >> b.trailing_zeros());
        }
    }
    loop {
        let mut busy = false;
        for j in 0..LANES {
            let (a, b) = (x[j], y[j]);
            // a = b: a shift of 0, and y keeps its value (hi − lo = 0 is not taken)
            let s = a.wrapping_sub(b).trailing_zeros() & 63;
            let (lo, hi) = (a.min(b), a.max(b));
            x[j] = lo;
            y[j] = select_unpredictable(hi == lo, lo, (hi - lo) >> s);
            busy |= x[j] != y[j];
        }
        if !busy {
            break;
        }
    }
    std::array::from_fn(|j| x[j] << shift[j])
}

/// `Some(g)` when some of 64 values spread over `vals` differ in their remainder mod `g`.
///
/// A base every value shares one remainder of is a common divisor of the differences, which
/// the predictors' own divisor already takes out (pixel coordinates in 2^-16 units, clocks in
/// whole milliseconds): the split would only cost a second choice of predictor.
fn varies_mod(vals: &[i64], g: u64) -> Option<u64> {
    let n = vals.len();
    let r0 = vals[0].rem_euclid(g as i64);
    let step = (n / 64).max(1);
    (0..n).step_by(step).any(|i| vals[i].rem_euclid(g as i64) != r0).then_some(g)
}

pub(super) fn encode_split_top(vals: &[i64], base: u64, out: &mut Vec<u8>) {
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

pub(super) fn decode_column_inner(c: &mut Cursor, m: usize, out: &mut Vec<i64>, top: bool) -> Result<()> {
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
        out.push(v0);
        let mut acc = v0;
        return decode_map(c, m - 1, out, move |v| {
            acc ^= v;
            acc
        });
    }
    if k == super::v1_3::PRED_CLOCK {
        return super::v1_3::decode_clock(c, m, out);
    }
    if k == super::v1_3::PRED_SIGNED {
        return super::v1_3::decode_signed(c, m, out);
    }
    if k == super::v1_4::PRED_CLOCK_SPARSE {
        return super::v1_4::decode_clock_sparse(c, m, out);
    }
    if k > MAX_ORDER {
        return Err(c.err(format!(
            "binned predictor {k}; expected 0..={MAX_ORDER}, {PRED_MTF}, {PRED_XOR}, {PRED_SPLIT}, {}, {} or {}",
            super::v1_3::PRED_CLOCK,
            super::v1_3::PRED_SIGNED,
            super::v1_4::PRED_CLOCK_SPARSE
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
    let g = g as i64;
    if k == 0 {
        return decode_map(c, m, out, move |q| q.wrapping_mul(g));
    }
    // The first k values follow from the moments alone (the running sums of the k-th
    // differences, over the moments only).
    let mut first = moments;
    for j in (0..k - 1).rev() {
        let mut acc = first[j];
        for v in &mut first[j + 1..k] {
            acc = acc.wrapping_add(*v);
            *v = acc;
        }
    }
    out.reserve(m);
    out.extend_from_slice(&first[..k]);
    // Every later value as its latent is decoded (no pass per order after the decode): `d[j]`
    // holds the j-th difference ending at the last value, so a latent (the next k-th
    // difference, divided by g) updates d[k-1], then each lower order adds the one above it.
    let mut d = [0i64; MAX_ORDER as usize];
    let mut row = first;
    for (j, dj) in d[..k].iter_mut().enumerate() {
        *dj = row[k - 1 - j];
        for i in 0..k - 1 - j {
            row[i] = row[i + 1].wrapping_sub(row[i]);
        }
    }
    match k {
        1 => decode_map(c, m - k, out, move |q| {
            d[0] = d[0].wrapping_add(q.wrapping_mul(g));
            d[0]
        }),
        2 => decode_map(c, m - k, out, move |q| {
            d[1] = d[1].wrapping_add(q.wrapping_mul(g));
            d[0] = d[0].wrapping_add(d[1]);
            d[0]
        }),
        _ => decode_map(c, m - k, out, move |q| {
            d[2] = d[2].wrapping_add(q.wrapping_mul(g));
            d[1] = d[1].wrapping_add(d[2]);
            d[0] = d[0].wrapping_add(d[1]);
            d[0]
        }),
    }
}

