//! The entropy coder: latents to a bin table, an rANS stream of bins and a bit stream of offsets,
//! and back. Every input is untrusted (see the module docs).

use super::bins::*;
use super::{MAX_BINS, MAX_SCALE_BITS, RANS_L};
use crate::bytes::{put_varint, unzigzag, zigzag, Cursor};
use crate::error::Result;
use std::hint::select_unpredictable;

/// Appends the binned encoding of `latents` (at least one) to `out`.
pub fn encode(latents: &[i64], out: &mut Vec<u8>) {
    let mut map = Counts::for_values(latents);
    map.add_all(latents);
    encode_counted(latents, Counted::of(map), out);
}

/// [`encode`] with the values of `latents` already counted (every one of them, as
/// [`Counts::add_all`] counts them) and listed: the estimate of the predictor that was chosen
/// did both.
pub(super) fn encode_counted(latents: &[i64], counted: Counted, out: &mut Vec<u8>) {
    debug_assert!(!latents.is_empty());
    let n = latents.len();
    let Counted { mut map, distinct } = counted;
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
    // symbols and offsets in one forward pass
    let coder: Vec<(i64, u32)> = bins.iter().map(|b| (b.lo, width_bits(b.lo, b.hi))).collect();
    let mut syms: Vec<u8> = Vec::with_capacity(n);
    let mut bits = BitWriter::with_capacity(n);
    if bins.len() == 1 {
        syms.resize(n, 0);
        let (lo, w) = coder[0];
        if w > 0 {
            for &v in latents {
                bits.put(v.wrapping_sub(lo) as u64, w);
            }
        }
    } else if coder.iter().all(|&(_, w)| w <= 32) {
        // Without a branch on the width: a bin of one value (width 0) puts no bits, with a mask
        // of 0 and a shift of 0 (the branch was mispredicted on about every other bin change:
        // one in thirteen of the whole encoder's mispredictions on balabit).
        let masked: Vec<(i64, u64, u32)> =
            coder.iter().map(|&(lo, w)| (lo, if w == 0 { 0 } else { u64::MAX >> (64 - w) }, w)).collect();
        // The offsets' bits are known from the bins (each value's width is its bin's), so their
        // words fit a buffer sized once, and the accumulator stays in registers: each value
        // writes the accumulator's low word at the fill position, which moves on only when 32
        // bits are full (no branch, no capacity check; `BitWriter` kept its state in memory here
        // and branched on every full word, at random).
        let total: u64 = bins.iter().map(|b| b.count * u64::from(width_bits(b.lo, b.hi))).sum();
        syms.resize(n, 0);
        map.bins_into(latents, &mut syms);
        // No bin with offset bits (codes, ranks, ticks of one value a bin): no offsets to write.
        if total != 0 {
            let mut words = vec![0u32; (total / 32) as usize + 1];
            let (mut acc, mut filled, mut at) = (0u64, 0u32, 0usize);
            for (&v, &s) in latents.iter().zip(&syms) {
                let (lo, mask, w) = masked[usize::from(s)];
                acc |= (v.wrapping_sub(lo) as u64 & mask) << filled;
                filled += w;
                words[at] = acc as u32;
                let full = filled >= 32;
                at += usize::from(full);
                acc >>= 32 * u32::from(full);
                filled &= 31;
            }
            debug_assert_eq!(at as u64, total / 32);
            words[at] = acc as u32;
            for w in &words {
                bits.out.extend_from_slice(&w.to_le_bytes());
            }
            bits.out.truncate(total.div_ceil(8) as usize);
        }
    } else {
        for &v in latents {
            let s = map.get(v) as usize;
            syms.push(s as u8);
            let (lo, w) = coder[s];
            if w > 0 {
                bits.put(v.wrapping_sub(lo) as u64, w);
            }
        }
    }
    let offsets = bits.finish();
    let rans = rans_words(&syms, &freq, &start, scale);
    out.extend_from_slice(&rans.states[0].to_le_bytes());
    out.extend_from_slice(&rans.states[1].to_le_bytes());
    let words = rans.words();
    put_varint(out, words.len() as u64);
    let at = out.len();
    out.resize(at + words.len() * 2, 0);
    for (d, w) in out[at..].chunks_exact_mut(2).zip(words) {
        d.copy_from_slice(&w.to_le_bytes());
    }
    put_varint(out, offsets.len() as u64);
    out.extend_from_slice(&offsets);
}

/// The rANS stream of `syms`: the two final states and the words, in stream order.
struct RansWords {
    states: [u32; 2],
    /// The words are `buf[first..]`.
    buf: Vec<u16>,
    first: usize,
}

impl RansWords {
    fn words(&self) -> &[u16] {
        &self.buf[self.first..]
    }
}

/// Encodes `syms` backwards with two interleaved states (even values on state 0, odd on 1).
/// `x / f` is one 64-bit product shifted: `⌊x·m / 2^k⌋` with k = 32 + scale and
/// m = ⌈2^k / f⌉ = (2^k + e)/f, `0 ≤ e < f`. The state divided has been renormalised, so
/// x < f·2^(32−scale) (the bound at which it gives a word), and
/// - it is exact: `x·m/2^k = x/f + x·e/(f·2^k)`, and `x·e < f²·2^(32−scale) ≤ 2^k` (f ≤ 2^scale)
///   keeps the error term under `1/f`, the least distance from a non-integer x/f to the integer
///   above it;
/// - the product fits 64 bits: `x·m ≤ (f·2^(32−scale) − 1)·(2^k + f − 1)/f < 2^64`, as
///   `2^(2·scale) > f·(f − 1)`.
///
/// (The high half of a 64×64-bit product, `⌊2x·⌈2^63/f⌉ / 2^64⌋`, what this replaced, was a
/// shift, a widening multiply and a combine of its halves on every value's chain, two cycles
/// more; `x + ((x·(m' − 2^32)) >> 32) >> l` before it, a multiply, an add and two shifts.)
///
/// A value gives at most one word, so the words fit a buffer of one slot per value, filled from
/// its end: the last word pushed is the stream's first, with no reversal after. The
/// renormalisation has no branch (a state gives a word about every other value on a wide
/// column, at random: a branch there was mispredicted about as often as it was taken): every
/// value writes its state's low 16 bits at the fill position, which moves down only when the
/// state really gives them.
fn rans_words(syms: &[u8], freq: &[u32], start: &[u32], scale: u8) -> RansWords {
    /// What coding one bin needs, in one place (one cache line holds two bins).
    #[derive(Clone, Copy)]
    struct Enc {
        m: u64, // ⌈2^(32 + scale) / f⌉
        rest: u32, // 2^scale − f: x + q·rest = (q << scale) + (x − q·f)
        start: u32,
        bound: u64, // a state at or above it must give a word first (2^32: never)
    }
    let renorm = 32 - u32::from(scale);
    let enc: Vec<Enc> = freq
        .iter()
        .zip(start)
        .map(|(&f, &start)| {
            let m = reciprocal(f, scale);
            Enc { m, rest: (1 << scale) - f, start, bound: u64::from(f) << renorm }
        })
        .collect();
    let n = syms.len();
    // slot `p` takes the next word; the words written are buf[p + 1..]. One slot more than the
    // values: the write at `p` happens before `p` moves, and `p` moves at most once per value.
    let mut buf = vec![0u16; n + 1];
    let mut p = n;
    let step = |st: u32, s: u8, buf: &mut [u16], p: &mut usize| -> u32 {
        let e = enc[s as usize];
        let give = u64::from(st) >= e.bound;
        buf[*p] = st as u16;
        *p -= usize::from(give);
        let st = if give { st >> 16 } else { st };
        let q = quotient(st, e.m, scale);
        debug_assert_eq!(q, st / ((1 << scale) - e.rest));
        // `st + start` is made while `q` is (wrapping: the sum is exact mod 2^32 and the state it
        // makes is below 2^32), so the multiply's result waits on one add, not two
        st.wrapping_add(e.start).wrapping_add(q * e.rest)
    };
    // the state of the value being coded is `cur`; the pair is swapped after each value so both
    // stay in registers
    let (mut cur, mut other) = (RANS_L, RANS_L);
    for &s in syms.iter().rev() {
        cur = step(cur, s, &mut buf, &mut p);
        std::mem::swap(&mut cur, &mut other);
    }
    // value 0 (state 0) was coded last and swapped into `other`
    RansWords { states: [other, cur], buf, first: p + 1 }
}

/// `m` of [`rans_words`]' division by the frequency `f` (1..=2^scale): ⌈2^(32 + scale) / f⌉.
#[inline]
fn reciprocal(f: u32, scale: u8) -> u64 {
    (1u64 << (32 + u32::from(scale))).div_ceil(u64::from(f))
}

/// `x / f` for a state `x < f·2^(32−scale)` and `m = reciprocal(f, scale)` (see [`rans_words`]).
#[inline(always)]
fn quotient(x: u32, m: u64, scale: u8) -> u32 {
    ((u64::from(x) * m) >> (32 + u32::from(scale))) as u32
}

pub(super) struct BitWriter {
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
    /// Appends the low `bits` (1..=64) bits of `v`, LSB first; whole 32-bit words leave the
    /// accumulator at once (it holds under 32 bits between calls).
    #[inline]
    fn put(&mut self, v: u64, bits: u32) {
        if bits > 32 {
            self.put(v & 0xFFFF_FFFF, 32);
            self.put(v >> 32, bits - 32);
            return;
        }
        self.put_masked(v & (u64::MAX >> (64 - bits)), bits);
    }
    /// Appends `bits` (0..=32) bits already masked to that width (0 bits: nothing).
    #[inline]
    fn put_masked(&mut self, v: u64, bits: u32) {
        debug_assert!(bits <= 32 && (bits == 32 || v >> bits == 0));
        self.acc |= v << self.n;
        self.n += bits;
        if self.n >= 32 {
            self.out.extend_from_slice(&(self.acc as u32).to_le_bytes());
            self.acc >>= 32;
            self.n -= 32;
        }
    }
    fn finish(mut self) -> Vec<u8> {
        let tail = self.n.div_ceil(8) as usize;
        self.out.extend_from_slice(&self.acc.to_le_bytes()[..tail]);
        self.out
    }
}

/// Decodes `count` latents (at least one) written by [`encode`], appending them to `out`.
pub fn decode(c: &mut Cursor, count: usize, out: &mut Vec<i64>) -> Result<()> {
    decode_map(c, count, out, |v| v)
}

/// The bins as the decoder uses them: each one's lowest value, the mask of its offset bits and
/// their count, a table each (a bin's entry in each is then one load at `8·s`, where a table of
/// 24-byte entries took a multiply by three first, an instruction a value).
struct DecBins {
    lo: [i64; MAX_BINS],
    mask: [u64; MAX_BINS],
    bits: [u64; MAX_BINS],
}

/// One bin of [`DecBins`].
#[derive(Clone, Copy)]
struct DecBin {
    lo: i64,
    mask: u64,
    bits: u64,
}

impl DecBins {
    #[inline(always)]
    fn get(&self, s: usize) -> DecBin {
        DecBin { lo: self.lo[s], mask: self.mask[s], bits: self.bits[s] }
    }
}

/// [`decode`], appending `f(latent)` for each latent in order: a predictor's first undo step
/// (a running sum, a running XOR, a move to the front) done as each value is decoded, not as a
/// second pass over the column. `T` is `i64` but for a column of byte codes (`kind`).
///
/// `f` should own its running state (a `move` closure of copied locals): state it borrows is
/// read and written through memory on every value, as the stores to `out` may alias it for
/// all the compiler knows. Borrowed, the signed-steps undo's two running values were a load
/// and a store each per value, on the loop's chain (session 27: `moves()` 1.9 % less CPU time
/// with them owned).
pub(super) fn decode_map<T>(c: &mut Cursor, count: usize, out: &mut Vec<T>, f: impl FnMut(i64) -> T) -> Result<()> {
    decode_map_with(c, count, out, f, true)
}

/// [`decode_map`], with the dominant-bin test ([`Dominant`]) allowed or not: the tests decode
/// every chunk both ways and require the same values and the same errors.
#[inline(always)]
fn decode_map_with<T>(c: &mut Cursor, count: usize, out: &mut Vec<T>, f: impl FnMut(i64) -> T, dominant_test: bool) -> Result<()> {
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
    let mut bins = DecBins { lo: [0; MAX_BINS], mask: [0; MAX_BINS], bits: [0; MAX_BINS] };
    let mut freq = [0u32; MAX_BINS];
    let mut prev = 0i64;
    let mut acc = 0u32;
    let mut widest = 0u8;
    for (i, fi) in freq[..nb].iter_mut().enumerate() {
        prev = prev.wrapping_add(unzigzag(c.varint()?));
        let bits = c.u8()?;
        if bits > 64 {
            return Err(c.err(format!("bin {i} is {bits} bits wide; at most 64")));
        }
        widest = widest.max(bits);
        let mask = if bits == 0 { 0 } else { u64::MAX >> (64 - u32::from(bits)) };
        (bins.lo[i], bins.mask[i], bins.bits[i]) = (prev, mask, u64::from(bits));
        let f = c.varint()?;
        if f == 0 || f > u64::from(total - acc) {
            return Err(c.err(format!(
                "bin {i} frequency {f}: frequencies must be ≥ 1 and sum to {total}"
            )));
        }
        *fi = f as u32;
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
    // slot -> its bin's frequency and the slot's place in the bin, and slot -> bin (filled bin
    // after bin, without zeroing first: the frequencies sum to `total`)
    let mut slots = vec![Slot { freq: 0, start: 0 }; total as usize];
    let mut sym = vec![0u8; total as usize];
    let mut at = 0;
    for (i, &f) in freq[..nb].iter().enumerate() {
        let f = f as usize;
        for (j, s) in slots[at..at + f].iter_mut().enumerate() {
            *s = Slot { freq: f as u16, start: j as u16 };
        }
        sym[at..at + f].fill(i as u8);
        at += f;
    }
    debug_assert_eq!(at, total as usize);
    // The words as u16, padded with zeros to a power of two plus one: the loop reads the next
    // two at `wp & wmask`, in bounds whatever `wp` is (a corrupt stream may ask for more words
    // than it has; `wp` then ends past `nw`, which the check after the loop refuses). Within a
    // valid stream `wp ≤ nw < wmask + 1`, so the mask changes nothing.
    let wmask = (nw + 1).next_power_of_two() - 1;
    let mut wv = vec![0u16; wmask + 2];
    for (d, w) in wv.iter_mut().zip(words.chunks_exact(2)) {
        *d = u16::from_le_bytes([w[0], w[1]]);
    }
    // The offsets, padded with zeros the same way: a value's 8-byte read starts at byte
    // `(pos >> 3) & omask`, at most `omask`, so `omask + 9` bytes hold every read. A valid stream
    // reads at bytes `≤ no` (a 0-bit offset may sit at its very end), so `omask ≥ no`.
    let omask = (no + 1).next_power_of_two() - 1;
    let mut offp = Vec::with_capacity(omask + 9);
    offp.extend_from_slice(offs);
    offp.resize(omask + 9, 0);
    let lanes = Lanes {
        slots: Masked::new(&slots, total as usize - 1),
        sym: Masked::new(&sym, total as usize - 1),
        bins: &bins,
        words: Masked::new(&wv, wmask),
        offs: Masked::new(&offp, omask),
        scale: u32::from(scale),
    };
    out.reserve(count);
    let dst = &mut out.spare_capacity_mut()[..count];
    // the most frequent bin (the first of equals), for a chunk of one value nearly throughout
    let (dom, &dfreq) = freq[..nb].iter().enumerate().rev().max_by_key(|&(_, f)| f).unwrap();
    let dominant = Dominant { start: freq[..dom].iter().sum(), freq: dfreq, bin: dom };
    let ((cur, other), wp, pos) = match widest {
        0 if dominant_test && dominant.is_most_of(total) => lanes.run::<NO_OFFSETS, true, T>(x, dst, dominant, f),
        0 => lanes.run::<NO_OFFSETS, false, T>(x, dst, dominant, f),
        1..=28 => lanes.run::<PAIR_READ, false, T>(x, dst, dominant, f),
        29..=56 => lanes.run::<VALUE_READ, false, T>(x, dst, dominant, f),
        _ => lanes.run::<WIDE_READ, false, T>(x, dst, dominant, f),
    };
    // SAFETY: `run` wrote every element of `dst`, which is the first `count` elements of `out`'s
    // spare capacity (reserved above).
    unsafe { out.set_len(out.len() + count) };
    if pos > no * 8 {
        return Err(c.err(format!("offset bits end before value {count}")));
    }
    let x = if count.is_multiple_of(2) { [cur, other] } else { [other, cur] };
    if x != [RANS_L, RANS_L] || wp != nw || pos.div_ceil(8) != no {
        return Err(c.err(
            "binned chunk does not end where its streams say (corrupt rANS or offset stream)",
        ));
    }
    Ok(())
}

/// A chunk's most frequent bin: its first slot, its frequency (slots) and its index.
///
/// A column of one value nearly throughout (a move's `buttons`, a button's `pressed` undone by
/// XOR, the move-to-front ranks of `kind`, mostly 0) is a chunk of two or three bins, one of
/// them most of the slots, and no offsets. Its decode was as slow as a pointer column's, about
/// 1.9 ns a value: the loop is then bound by the chain from one state to the next (the slot's
/// table load, a multiply, an add, the renormalising compare and select), not by its work.
/// A state in the dominant bin that gives no word steps by `freq·(x >> scale) + (slot −
/// start)`, which needs no table; [`Lanes::run`] tests both states for that first and takes
/// the full step only when either fails. Measured (random bins of 60,000 values, best of 200):
/// 0.88 ns a value with one bin, 0.95 at 99 %, 1.30 at 80 %, 1.64 at 60 % against 1.92 for the
/// full step throughout; a move-to-front column gains less as its ranks other than 0 take their
/// entry out of line (1.93 against 2.26 ns at 70 %, 3.38 against 2.37 at 60 %), so the test is
/// made from 3/4 of the slots on.
#[derive(Clone, Copy)]
struct Dominant {
    start: u32,
    freq: u32,
    bin: usize,
}

impl Dominant {
    /// Whether the bin holds at least 3/4 of `total` slots.
    fn is_most_of(&self, total: u32) -> bool {
        u64::from(self.freq) * 4 >= u64::from(total) * 3
    }
}

/// How [`Lanes::run`] reads the offsets, by the chunk's widest bin: not at all (every bin holds
/// one value: 0 bits),
const NO_OFFSETS: u8 = 0;
/// one 64-bit read for a pair of values (1 to 28 bits: two offsets fit the 57 bits a read gives),
const PAIR_READ: u8 = 1;
/// one read per value (29 to 56 bits),
const VALUE_READ: u8 = 2;
/// two reads for a value of 57 to 64 bits (the low 32, then the rest).
const WIDE_READ: u8 = 3;

/// The decoder's tables and streams, for [`Lanes::run`]. Each is a power of two long (plus the
/// reads' overhang), so every index in the loop is masked into bounds rather than checked.
struct Lanes<'a> {
    slots: Masked<'a, Slot, 0>, // 2^scale slots
    sym: Masked<'a, u8, 0>,     // the bin of each slot
    bins: &'a DecBins,
    words: Masked<'a, u16, 1>, // the words, then zeros
    offs: Masked<'a, u8, 8>,   // the offset bytes, then zeros
    scale: u32,
}

impl Lanes<'_> {
    /// The bin of the state's slot, and the state advanced past it (before renormalising).
    /// `slot` has the state's low `scale` bits.
    #[inline(always)]
    fn step_masked(&self, st: u32, slot: SlotIx) -> (u32, usize) {
        let e = self.slots.get_masked(slot);
        (u32::from(e.freq) * (st >> self.scale) + u32::from(e.start), usize::from(*self.sym.get_masked(slot)))
    }

    /// The value of bin `s` with its offset at bit `pos`, and the position after the offset.
    #[inline(always)]
    fn value<const READ: u8>(&self, s: usize, pos: usize) -> (i64, usize) {
        if READ == NO_OFFSETS {
            return (self.bins.lo[s], pos);
        }
        let bin = self.bins.get(s);
        let v = self.offs.u64_at(pos >> 3) >> (pos & 7);
        let off = if READ != WIDE_READ || bin.bits <= 56 {
            v & bin.mask
        } else {
            // 57 to 64 bits: the low 32, then the rest
            let p2 = pos + 32;
            let v2 = self.offs.u64_at(p2 >> 3) >> (p2 & 7);
            (v & 0xFFFF_FFFF) | ((v2 & (u64::MAX >> (96 - bin.bits as u32))) << 32)
        };
        (bin.lo.wrapping_add(off as i64), pos + bin.bits as usize)
    }

    /// The values of bins `s` and `t` with their offsets from bit `pos`, and the position after
    /// them.
    #[inline(always)]
    fn pair<const READ: u8>(&self, s: usize, t: usize, pos: usize) -> (i64, i64, usize) {
        if READ != PAIR_READ {
            let (va, p) = self.value::<READ>(s, pos);
            let (vb, p) = self.value::<READ>(t, p);
            return (va, vb, p);
        }
        // both offsets in one read: at most 28 bits each, and a read has at least 57
        let (ba, bb) = (self.bins.get(s), self.bins.get(t));
        let v = self.offs.u64_at(pos >> 3) >> (pos & 7);
        let va = ba.lo.wrapping_add((v & ba.mask) as i64);
        let vb = bb.lo.wrapping_add(((v >> ba.bits) & bb.mask) as i64);
        (va, vb, pos + (ba.bits + bb.bits) as usize)
    }

    /// Decodes every element of `dst` (value i from state i mod 2), storing `f(latent)`.
    /// Returns the final states (the lane of the next value first), the words and the offset
    /// bits consumed: on a corrupt stream these run past the streams' ends (the reads stay in
    /// bounds, masked), and the caller refuses them.
    /// `READ`: how the offsets are read, by the widest bin's width ([`NO_OFFSETS`] and the rest).
    /// `DOM` (with [`NO_OFFSETS`] only): each pair first tried as two values of `dom`
    /// ([`Dominant`]).
    ///
    /// Measured (session 25): decoding a pointer's `x` and `y` chunks in one loop (four states in
    /// flight) ran no faster (criterion, 235,076 balabit moves: 3.397 ms one by one, 3.393 ms
    /// paired) and spilled more. Session 26 took the bounds checks out (masked reads), the slot
    /// one select after the compare, one offset read a pair: from 57 to 43 instructions a value
    /// (callgrind, balabit `x` with its order-2 or signed-steps undo) and 3.18 to 2.66 ns. The
    /// loop is now near both the chain of a state (mask, load, multiply, add, compare, select:
    /// about 12 cycles a pair) and the ALUs' throughput; compiled for BMI2 (`shrx`, no shift
    /// count in `cl`) it was no faster (2.73 against 2.67 ns). Session 27 took the mask off that
    /// chain (the slots masked before their select, [`SlotIx`]): `moves()` of the long balabit
    /// file 1.9 % less CPU time. Session 28 tried two chunks in one loop again (a pair of values
    /// of each a step, four states in flight; 65,000 tick-like latents beside as many kind-like
    /// ranks): 2.30 against 2.10 ns a value one chunk after the other, three runs alike. The
    /// loop is bound by its instructions and registers (about 40 instructions a value, the
    /// tables' pointers already spilled), not by one chain's latency.
    #[inline(always)]
    fn run<const READ: u8, const DOM: bool, T>(&self, x: [u32; 2], dst: &mut [std::mem::MaybeUninit<T>], dom: Dominant, mut f: impl FnMut(i64) -> T) -> ((u32, u32), usize, usize) {
        debug_assert!(!DOM || READ == NO_OFFSETS);
        let (mut a, mut b) = (x[0], x[1]);
        // The states' slots, from the select that renormalises them: a state that took a word
        // has that word as its low 16 bits, so its slot is the word's masked (made off the
        // chain, as soon as the word is loaded) or the state's, masked beside the compare; the
        // select then gives the slot itself, not a shift, an OR, a select and a mask (the chain
        // from one state to the next is the loop's bound: table load, multiply, add, compare,
        // select).
        let m = self.slots.mask;
        // The same mask, for the words: a value the compiler cannot see is `m`, so that it keeps
        // `w & wm` and `n & m` apart (it would otherwise fold `select(t, w & m, n & m)` into
        // `select(t, w, n) & m`, the AND back on the chain after the select).
        let wm = std::hint::black_box(m);
        let (mut la, mut lb) = (SlotIx::of(a, m), SlotIx::of(b, m));
        let (mut wp, mut pos) = (0usize, 0usize);
        let mut pairs = dst.chunks_exact_mut(2);
        let (dstart, dfreq, dlo) = (dom.start as usize, dom.freq, self.bins.lo[dom.bin]);
        for d in &mut pairs {
            if DOM {
                // Both states in the dominant bin and neither taking a word: the step without
                // its tables (a subtraction and a compare for the bin, the bin's frequency known),
                // the same states and values as the full step below would give (`ia` is the
                // slot's place in the bin; no offsets are read: `DOM` only with `NO_OFFSETS`).
                let (ia, ib) = (la.0.wrapping_sub(dstart), lb.0.wrapping_sub(dstart));
                let na = dfreq.wrapping_mul(a >> self.scale).wrapping_add(ia as u32);
                let nb = dfreq.wrapping_mul(b >> self.scale).wrapping_add(ib as u32);
                if (ia < dfreq as usize) & (ib < dfreq as usize) & (na >= RANS_L) & (nb >= RANS_L) {
                    (a, b) = (na, nb);
                    (la, lb) = (SlotIx::of(na, m), SlotIx::of(nb, m));
                    d[0].write(f(dlo));
                    d[1].write(f(dlo));
                    continue;
                }
            }
            // Both lanes step at once; the words for the pair are read before it is known which
            // lane takes one (state a takes the first, b the next), so a state waits for a
            // compare, not for a load.
            let (na, sa) = self.step_masked(a, la);
            let (nb, sb) = self.step_masked(b, lb);
            let (w0, w1) = self.words.pair_at(wp);
            let (s0, s1) = (SlotIx::of(w0, wm), SlotIx::of(w1, wm));
            let ta = na < RANS_L;
            let tb = nb < RANS_L;
            // Selects, not branches: whether a state takes a word is as good as random (about
            // one value in four on a pointer column), and the compiler made the first of these
            // a branch, mispredicted about as often as it was taken.
            a = select_unpredictable(ta, (na << 16) | w0, na);
            la = select_unpredictable(ta, s0, SlotIx::of(na, m));
            let wb = select_unpredictable(ta, w1, w0);
            let slot_b = select_unpredictable(ta, s1, s0);
            b = select_unpredictable(tb, (nb << 16) | wb, nb);
            lb = select_unpredictable(tb, slot_b, SlotIx::of(nb, m));
            wp += usize::from(ta) + usize::from(tb);
            let (va, vb, p) = self.pair::<READ>(sa, sb, pos);
            pos = p;
            d[0].write(f(va));
            d[1].write(f(vb));
        }
        if let [d] = pairs.into_remainder() {
            let (na, sa) = self.step_masked(a, la);
            let ta = na < RANS_L;
            a = select_unpredictable(ta, (na << 16) | self.words.pair_at(wp).0, na);
            wp += usize::from(ta);
            let (va, p) = self.value::<READ>(sa, pos);
            pos = p;
            d.write(f(va));
            // the next value would be b's
            return ((b, a), wp, pos);
        }
        ((a, b), wp, pos)
    }
}

/// One slot of the decode table: its bin's frequency and the slot's place in the bin (the state
/// update); the bin itself is in a table of its own, a byte a slot. Five bytes a slot, 20 KiB
/// at the writer's finest scale (2^12): a slot of eight bytes holding the bin too measured 5 %
/// slower (criterion-like best of 25, balabit `x`: 3.03 against 2.88 ns a value), its 32 KiB
/// table the size of the L1 data cache.
#[derive(Clone, Copy)]
struct Slot {
    freq: u16, // at most 2^14
    start: u16,
}

/// A slot: a state's low bits masked by the slot tables' mask, made only by [`SlotIx::of`] with
/// that mask, so at most it (what [`Masked::get_masked`] relies on). A `usize`, so that the
/// select that makes it gives the load its index with no zero extension between (measured:
/// `moves()` 0.8 % less CPU time than with a `u32`).
#[derive(Clone, Copy)]
struct SlotIx(usize);

impl SlotIx {
    /// `x & m`; `m` must be the slot tables' mask (`Lanes::slots.mask`).
    #[inline(always)]
    fn of(x: u32, m: usize) -> SlotIx {
        SlotIx(x as usize & m)
    }
}

/// A table read at `i & mask` for any `i`, without a bounds check per read: the table holds
/// `mask + 1 + OVER` elements (checked once, when made), so an index masked to at most `mask`
/// and the `OVER` elements after it are always in bounds.
#[derive(Clone, Copy)]
struct Masked<'a, T, const OVER: usize> {
    table: &'a [T],
    mask: usize,
}

impl<'a, T: Copy, const OVER: usize> Masked<'a, T, OVER> {
    fn new(table: &'a [T], mask: usize) -> Self {
        assert!(mask.checked_add(OVER).is_some_and(|last| last < table.len()), "masked table too short");
        Masked { table, mask }
    }
}

impl<'a, T: Copy> Masked<'a, T, 0> {
    /// The element at a slot masked already (no AND on the index: the slot chain's bound).
    #[inline(always)]
    fn get_masked(&self, i: SlotIx) -> &'a T {
        debug_assert!(i.0 <= self.mask);
        // SAFETY: a `SlotIx` is `x & m` with `m` the mask of the slot tables: `Lanes::run`, the
        // only maker outside the tests, masks by `slots.mask` or by `black_box` of it (the same
        // value), and `sym` was made with the same mask (`total − 1`, `decode_map`); so
        // `i ≤ mask < table.len()` (`new`).
        unsafe { self.table.get_unchecked(i.0) }
    }
}

impl Masked<'_, u16, 1> {
    /// Elements `i & mask` and the one after it.
    #[inline(always)]
    fn pair_at(&self, i: usize) -> (u32, u32) {
        let i = i & self.mask;
        // SAFETY: `i ≤ mask` and `mask + 1 < table.len()` (`new`, OVER = 1).
        unsafe { (u32::from(*self.table.get_unchecked(i)), u32::from(*self.table.get_unchecked(i + 1))) }
    }
}

impl Masked<'_, u8, 8> {
    /// The 8 bytes from `i & mask`, little-endian.
    #[inline(always)]
    fn u64_at(&self, i: usize) -> u64 {
        let i = i & self.mask;
        // SAFETY: bytes `i..i + 8` with `i ≤ mask` and `mask + 8 < table.len()` (`new`, OVER =
        // 8); an unaligned read of plain bytes.
        u64::from_le(unsafe { self.table.as_ptr().add(i).cast::<u64>().read_unaligned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binned::tests::xorshift;
    use crate::bytes::Cursor;

    /// The widest bin, the word count and the offset byte count of an encoded chunk (its layout,
    /// FORMAT.md §5.5).
    fn layout(b: &[u8]) -> (u8, usize, usize) {
        let mut c = Cursor::new(b, 0, "t");
        let nb = c.varint().unwrap();
        c.u8().unwrap();
        let mut widest = 0;
        for _ in 0..nb {
            c.varint().unwrap();
            widest = widest.max(c.u8().unwrap());
            c.varint().unwrap();
        }
        c.bytes(8).unwrap();
        let nw = c.varint().unwrap() as usize;
        c.bytes(nw * 2).unwrap();
        (widest, nw, c.varint().unwrap() as usize)
    }

    /// `count` latents of `b`, after a value already in the output (which must stay).
    fn decoded(b: &[u8], count: usize) -> Result<Vec<i64>> {
        let mut out = vec![-7];
        decode(&mut Cursor::new(b, 0, "t"), count, &mut out)?;
        assert_eq!(out[0], -7);
        assert_eq!(out.len(), count + 1);
        Ok(out.split_off(1))
    }

    /// Stream sizes at, just under and just over the powers of two the decoder pads to (the
    /// words to the one above `nw + 1`, the offset bytes to the one above `no + 1`).
    fn near_a_power_of_two(size: usize) -> bool {
        (2..=10).any(|k| ((1 << k) - 2..=(1 << k) + 1).contains(&size))
    }

    /// `b`, the chunk of `v`, roundtrips; asked for more values than it holds, cut short or with
    /// a bit flipped near its end, it gives an error or values, never a panic or a read out of
    /// bounds.
    fn check(b: &[u8], v: &[i64], next: &mut impl FnMut() -> u64, what: &str) {
        let n = v.len();
        assert_eq!(decoded(b, n).unwrap(), v, "{what}");
        for more in 1..=3 {
            // one bin of one value decodes any count; otherwise the streams run out
            if let Ok(got) = decoded(b, n + more) {
                assert_eq!(&got[..n], v, "{what} + {more}");
            }
        }
        for cut in b.len().saturating_sub(4)..b.len() {
            assert!(decoded(&b[..cut], n).is_err(), "{what} cut at {cut}");
        }
        for i in b.len().saturating_sub(12)..b.len() {
            let mut f = b.to_vec();
            f[i] ^= 1 << (next() % 8);
            if let Ok(got) = decoded(&f, n) {
                assert_eq!(got.len(), n);
            }
        }
    }

    /// The decoder reads its streams padded to a power of two (and masks every read into the
    /// padding), in one of four ways by the widest bin. Chunks of every length up to 300 values
    /// in each way, and chunks whose streams end at, just before and just after those powers of
    /// two, pass [`check`].
    #[test]
    fn streams_ending_at_every_padding_boundary_decode_or_fail_cleanly() {
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
        // the widest bin's width the values make, and the values' draw
        type Draw = (std::ops::RangeInclusive<u8>, fn(u64) -> i64);
        let draws: [Draw; 5] = [
            (0..=0, |r| [3, -9][(r % 2) as usize]), // every bin one value: no offsets
            (1..=28, |r| (r % 3000) as i64 - 1500),  // a read for a pair
            (1..=28, |r| (r % 20) as i64 + ((r >> 60) as i64) * 100_000), // peaks and a tail
            (29..=56, |r| (r >> 20) as i64),         // a read a value
            (57..=64, |r| r as i64),                 // two reads a value
        ];
        let (mut words_seen, mut bytes_seen) = (Vec::new(), Vec::new());
        for (d, (widths, draw)) in draws.iter().enumerate() {
            for n in 1..=if d == 1 || d == 2 { 2400 } else { 300 } {
                let v: Vec<i64> = (0..n).map(|_| draw(next())).collect();
                let mut b = Vec::new();
                encode(&v, &mut b);
                let (widest, nw, no) = layout(&b);
                if n >= 200 {
                    assert!(widths.contains(&widest), "draw {d}, {n} values: widest bin {widest} bits");
                }
                if n <= 300 || near_a_power_of_two(nw) || near_a_power_of_two(no) {
                    check(&b, &v, &mut next, &format!("draw {d}, {n} values ({nw} words, {no} offset bytes)"));
                    words_seen.push(nw);
                    bytes_seen.push(no);
                }
            }
        }
        let missing = |seen: &[usize], top: u32| -> Vec<usize> {
            (2..=top).flat_map(|k| [(1 << k) - 2, (1 << k) - 1, 1 << k]).filter(|s| !seen.contains(s)).collect::<Vec<_>>()
        };
        assert_eq!(missing(&words_seen, 9), [0usize; 0], "word counts not met");
        assert_eq!(missing(&bytes_seen, 10), [0usize; 0], "offset byte counts not met");
    }

    /// The largest bin's share of the slots of an encoded chunk, and its widest bin.
    fn largest_share(b: &[u8]) -> (f64, u8) {
        let mut c = Cursor::new(b, 0, "t");
        let nb = c.varint().unwrap();
        let scale = c.u8().unwrap();
        let (mut most, mut widest) = (0, 0);
        for _ in 0..nb {
            c.varint().unwrap();
            widest = widest.max(c.u8().unwrap());
            most = most.max(c.varint().unwrap());
        }
        (most as f64 / f64::from(1u32 << scale), widest)
    }

    /// `count` values of chunk `b` decoded with a running sum (a stateful undo, as the
    /// predictors' are) after a value already in the output, with the dominant-bin test or
    /// without: the values, or the error's message.
    fn summed(b: &[u8], count: usize, dominant_test: bool) -> std::result::Result<Vec<i64>, String> {
        let mut out = vec![-7];
        let mut acc = 0i64;
        let f = move |v: i64| {
            acc = acc.wrapping_mul(3).wrapping_add(v);
            acc
        };
        match decode_map_with(&mut Cursor::new(b, 0, "t"), count, &mut out, f, dominant_test) {
            Ok(()) => {
                assert_eq!(out[0], -7);
                assert_eq!(out.len(), count + 1);
                Ok(out.split_off(1))
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Chunks of no offsets with one bin most of the slots (the dominant-bin test's) and some
    /// without (the full step's): every length to 300 and some long enough to take many words,
    /// every share of the largest bin from all the slots to under 3/4, one to four bins. Each
    /// decodes to the same values with the test as without, asked for its count or more; cut
    /// short anywhere, or with a bit flipped in any byte, it gives the same values or the same
    /// error both ways (never a panic).
    #[test]
    fn a_dominant_bin_decodes_as_the_full_step_and_fails_as_it_does() {
        let mut next = xorshift(0xD1B5_4A32_D192_ED03);
        let mut shares_seen = [0usize; 2]; // chunks at or above 3/4, and below
        for rare in [0u64, 1, 3, 10, 40, 150, 250, 300] {
            for nb in 1..=4u64 {
                let lengths: Vec<usize> = (1..=300).step_by(if rare % 2 == 0 { 1 } else { 7 }).chain([1001, 4096, 20_000, 70_001]).collect();
                for n in lengths {
                    // the value 5 but for `rare` in 1000 values, spread over the other bins
                    let v: Vec<i64> = (0..n).map(|_| if next() % 1000 < rare && nb > 1 { 5 + (1 + next() % (nb - 1)) as i64 * (1 << 40) } else { 5 }).collect();
                    let mut b = Vec::new();
                    encode(&v, &mut b);
                    let (share, widest) = largest_share(&b);
                    assert_eq!(widest, 0);
                    shares_seen[usize::from(share < 0.75)] += 1;
                    let want: Vec<i64> = {
                        let mut acc = 0i64;
                        v.iter().map(|&x| { acc = acc.wrapping_mul(3).wrapping_add(x); acc }).collect()
                    };
                    let what = format!("{n} values, {rare} in 1000 rare, {nb} bins, share {share}");
                    assert_eq!(summed(&b, n, true).as_ref(), Ok(&want), "{what}");
                    assert_eq!(summed(&b, n, false).as_ref(), Ok(&want), "{what}");
                    for more in 1..=3 {
                        assert_eq!(summed(&b, n + more, true), summed(&b, n + more, false), "{what} + {more}");
                    }
                    let cuts: Vec<usize> = if n <= 300 { (0..b.len()).collect() } else { (b.len().saturating_sub(40)..b.len()).collect() };
                    for cut in cuts {
                        let got = summed(&b[..cut], n, true);
                        assert!(got.is_err(), "{what} cut at {cut}");
                        assert_eq!(got, summed(&b[..cut], n, false), "{what} cut at {cut}");
                    }
                    let flips: Vec<usize> = if n <= 300 { (0..b.len()).collect() } else { (0..b.len()).step_by(b.len() / 64 + 1).chain(b.len().saturating_sub(24)..b.len()).collect() };
                    for i in flips {
                        let mut f = b.clone();
                        f[i] ^= 1 << (next() % 8);
                        assert_eq!(summed(&f, n, true), summed(&f, n, false), "{what} bit flipped in byte {i}");
                    }
                }
            }
        }
        assert!(shares_seen.iter().all(|&s| s > 100), "chunks at and under 3/4: {shares_seen:?}");
    }

    #[test]
    fn the_encoders_division_is_exact_and_its_product_fits_64_bits() {
        let mut next = xorshift(0xD1B5_4A32_D192_ED03);
        for scale in 1..=MAX_SCALE_BITS {
            let top = 1u32 << scale;
            // every frequency of the small scales, the edges and a sample of the large ones
            let fs: Vec<u32> = if scale <= 8 {
                (1..=top).collect()
            } else {
                [1, 2, 3, top / 2 - 1, top / 2, top / 2 + 1, top - 1, top].into_iter().chain((0..300).map(|_| 1 + (next() as u32) % top)).collect()
            };
            for f in fs {
                let m = reciprocal(f, scale);
                // the states a renormalised value may hold: below f·2^(32 − scale)
                let bound = u64::from(f) << (32 - u32::from(scale));
                let xs = [0u64, 1, u64::from(f) - 1, u64::from(f), bound / 2, bound - 2, bound - 1]
                    .into_iter()
                    .chain((0..40).map(|_| next() % bound))
                    .chain((1..=8).map(|j| (bound / u64::from(f)).saturating_sub(j) * u64::from(f)));
                for x in xs {
                    assert!(x < bound);
                    assert!(x.checked_mul(m).is_some(), "scale {scale} f {f} x {x}: the product overflows");
                    assert_eq!(u64::from(quotient(x as u32, m, scale)), x / u64::from(f), "scale {scale} f {f} x {x}");
                }
            }
        }
    }

    #[test]
    fn a_masked_table_holds_its_mask_and_overhang() {
        let t: Vec<u8> = (0..16).collect();
        let m = Masked::<u8, 8>::new(&t, 7);
        assert_eq!(m.u64_at(usize::MAX), u64::from_le_bytes([7, 8, 9, 10, 11, 12, 13, 14]));
        assert_eq!(m.u64_at(9), u64::from_le_bytes([1, 2, 3, 4, 5, 6, 7, 8]));
        assert_eq!(*Masked::<u8, 0>::new(&t, 15).get_masked(SlotIx::of(31, 15)), 15);
        let w = [1u16, 2, 3];
        assert_eq!(Masked::<u16, 1>::new(&w, 1).pair_at(3), (2, 3));
        assert!(std::panic::catch_unwind(|| Masked::<u8, 8>::new(&t, 8)).is_err());
        assert!(std::panic::catch_unwind(|| Masked::<u16, 1>::new(&w, 2)).is_err());
        assert!(std::panic::catch_unwind(|| Masked::<u8, 1>::new(&t, usize::MAX)).is_err());
    }
}

