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
        for &v in latents {
            let s = map.get(v) as usize;
            syms.push(s as u8);
            let (lo, mask, w) = masked[s];
            bits.put_masked(v.wrapping_sub(lo) as u64 & mask, w);
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
/// `x / f` is a multiplication: m = ceil(2^(32+l) / f), l = ceil(log2 f), exact for x < 2^32.
/// As m is in `[2^32, 2^33)`, `(x·m) >> 32 = x + ((x·(m − 2^32)) >> 32)`: one 64-bit multiply
/// (a 128-bit product and a double shift were three cycles more on every value's chain).
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
        m_low: u64, // m − 2^32
        l: u32,
        rest: u32, // 2^scale − f: x + q·rest = (q << scale) + (x − q·f)
        start: u32,
        bound: u64, // a state at or above it must give a word first (2^32: never)
    }
    let renorm = 32 - u32::from(scale);
    let enc: Vec<Enc> = freq
        .iter()
        .zip(start)
        .map(|(&f, &start)| {
            let l = 32 - (f - 1).leading_zeros();
            let m = (1u128 << (32 + l)).div_ceil(u128::from(f)) as u64;
            debug_assert!((1 << 32..1 << 33).contains(&m));
            Enc { m_low: m - (1 << 32), l, rest: (1 << scale) - f, start, bound: u64::from(f) << renorm }
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
        // (x·m) >> (32 + l), the product's high part by the low multiplier's
        let x = u64::from(st);
        let q = ((x + ((x * e.m_low) >> 32)) >> e.l) as u32;
        debug_assert_eq!(q, st / ((1 << scale) - e.rest));
        st + q * e.rest + e.start
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

/// One bin as the decoder uses it: its lowest value and the mask of its offset bits.
#[derive(Clone, Copy, Default)]
struct DecBin {
    lo: i64,
    mask: u64,
    bits: u32,
}

/// [`decode`], appending `f(latent)` for each latent in order: a predictor's first undo step
/// (a running sum, a running XOR) done as each value is decoded, not as a second pass over the
/// column.
pub(super) fn decode_map(c: &mut Cursor, count: usize, out: &mut Vec<i64>, f: impl FnMut(i64) -> i64) -> Result<()> {
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
    let mut bins = [DecBin::default(); MAX_BINS];
    let mut freq = [0u32; MAX_BINS];
    let mut prev = 0i64;
    let mut acc = 0u32;
    let mut wide = false;
    for i in 0..nb {
        prev = prev.wrapping_add(unzigzag(c.varint()?));
        let bits = c.u8()?;
        if bits > 64 {
            return Err(c.err(format!("bin {i} is {bits} bits wide; at most 64")));
        }
        wide |= bits > 56;
        let mask = if bits == 0 { 0 } else { u64::MAX >> (64 - u32::from(bits)) };
        bins[i] = DecBin { lo: prev, mask, bits: u32::from(bits) };
        let f = c.varint()?;
        if f == 0 || f > u64::from(total - acc) {
            return Err(c.err(format!(
                "bin {i} frequency {f}: frequencies must be ≥ 1 and sum to {total}"
            )));
        }
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
    // (filled bin after bin, without zeroing them first: the frequencies sum to `total`)
    let mut upd: Vec<u32> = Vec::with_capacity(total as usize);
    let mut sym: Vec<u8> = Vec::with_capacity(total as usize);
    for (i, &f) in freq[..nb].iter().enumerate() {
        upd.extend((0..f).map(|j| (f << 16) | j));
        sym.extend(std::iter::repeat_n(i as u8, f as usize));
    }
    debug_assert_eq!(upd.len(), total as usize);
    // The words as u16 with two zeros after them: the decoder reads the next two at a clamped
    // index (a state takes at most one word per value), without a check per read.
    let mut wv: Vec<u16> = Vec::with_capacity(nw + 2);
    wv.extend(words.chunks_exact(2).map(|w| u16::from_le_bytes([w[0], w[1]])));
    wv.extend_from_slice(&[0, 0]);
    // Offsets padded with 32 zero bytes: the reads of a pair of values starting at a position
    // within the stream (up to two 64-bit reads each) never leave the buffer, so the loop checks
    // the position once per pair.
    let mut offp = Vec::with_capacity(offs.len() + 32);
    offp.extend_from_slice(offs);
    offp.extend_from_slice(&[0; 32]);
    let lanes = Lanes { upd: &upd, sym: &sym, bins: &bins, words: &wv, nw, offs: &offp, mask: total - 1, scale };
    out.reserve(count);
    let dst = &mut out.spare_capacity_mut()[..count];
    let end = if wide { lanes.run::<true>(x, dst, f) } else { lanes.run::<false>(x, dst, f) };
    let limit_bits = offs.len() * 8;
    let Some(((cur, other), wp, pos)) = end.filter(|&(_, _, pos)| pos <= limit_bits) else {
        return Err(c.err(format!("offset bits end before value {count}")));
    };
    // SAFETY: `run` returned Some only after writing every element of `dst`, which is the first
    // `count` elements of `out`'s spare capacity (reserved above).
    unsafe { out.set_len(out.len() + count) };
    let x = if count.is_multiple_of(2) { [cur, other] } else { [other, cur] };
    if x != [RANS_L, RANS_L] || wp != nw || pos.div_ceil(8) != offs.len() {
        return Err(c.err(
            "binned chunk does not end where its streams say (corrupt rANS or offset stream)",
        ));
    }
    Ok(())
}

/// The decoder's tables and streams, for [`Lanes::run`].
struct Lanes<'a> {
    upd: &'a [u32],
    sym: &'a [u8],
    bins: &'a [DecBin; MAX_BINS],
    words: &'a [u16], // nw words, then two zeros
    nw: usize,
    offs: &'a [u8], // padded with 32 zero bytes
    mask: u32,
    scale: u8,
}

impl Lanes<'_> {
    /// The bin of the state's slot, and the state advanced past it (before renormalising).
    #[inline(always)]
    fn step(&self, st: u32) -> (u32, usize) {
        let sl = (st & self.mask) as usize;
        let e = self.upd[sl];
        ((e >> 16) * (st >> self.scale) + (e & 0xFFFF), usize::from(self.sym[sl]))
    }

    /// The value of bin `s` with its offset at bit `pos`, and the position after the offset.
    #[inline(always)]
    fn value<const WIDE: bool>(&self, s: usize, pos: usize) -> (i64, usize) {
        let bin = &self.bins[s];
        let byte = pos >> 3;
        let v = u64::from_le_bytes(self.offs[byte..byte + 8].try_into().unwrap()) >> (pos & 7);
        let off = if !WIDE || bin.bits <= 56 {
            v & bin.mask
        } else {
            // 57 to 64 bits: the low 32, then the rest
            let p2 = pos + 32;
            let v2 = u64::from_le_bytes(self.offs[p2 >> 3..(p2 >> 3) + 8].try_into().unwrap()) >> (p2 & 7);
            (v & 0xFFFF_FFFF) | ((v2 & (u64::MAX >> (96 - bin.bits))) << 32)
        };
        (bin.lo.wrapping_add(off as i64), pos + bin.bits as usize)
    }

    /// Decodes every element of `dst` (value i from state i mod 2), storing `f(latent)`.
    /// Returns the final states (the lane of the next value first), the words and the offset
    /// bits consumed; None when the offset stream ran out (`dst` is then partly written).
    /// `WIDE`: some bin has more than 56 offset bits (two reads per offset).
    ///
    /// Measured (session 25): the loop is bound by its instruction count (about 55 per value,
    /// bounds checks and spilled table pointers included), not by the latency of a state's
    /// chain. Decoding a pointer's `x` and `y` chunks in one loop (four states in flight) ran
    /// no faster (criterion, 235,076 balabit moves: 3.397 ms one by one, 3.393 ms paired) and
    /// spilled more; fewer instructions per value is the way on, not more chains.
    #[inline(always)]
    fn run<const WIDE: bool>(&self, x: [u32; 2], dst: &mut [std::mem::MaybeUninit<i64>], mut f: impl FnMut(i64) -> i64) -> Option<((u32, u32), usize, usize)> {
        let limit_bits = (self.offs.len() - 32) * 8;
        let (mut a, mut b) = (x[0], x[1]);
        let (mut wp, mut pos) = (0usize, 0usize);
        let mut pairs = dst.chunks_exact_mut(2);
        for d in &mut pairs {
            if pos > limit_bits {
                return None;
            }
            // Both lanes step at once; the words for the pair are read before it is known which
            // lane takes one (state a takes the first, b the next), so a state waits for a
            // compare, not for a load.
            let (na, sa) = self.step(a);
            let (nb, sb) = self.step(b);
            let i = wp.min(self.nw);
            let (w0, w1) = (u32::from(self.words[i]), u32::from(self.words[i + 1]));
            let ta = na < RANS_L;
            let tb = nb < RANS_L;
            // Selects, not branches: whether a state takes a word is as good as random (about
            // one value in four on a pointer column), and the compiler made the first of these
            // a branch, mispredicted about as often as it was taken.
            a = select_unpredictable(ta, (na << 16) | w0, na);
            let wb = select_unpredictable(ta, w1, w0);
            b = select_unpredictable(tb, (nb << 16) | wb, nb);
            wp += usize::from(ta) + usize::from(tb);
            let (va, p) = self.value::<WIDE>(sa, pos);
            let (vb, p) = self.value::<WIDE>(sb, p);
            pos = p;
            d[0].write(f(va));
            d[1].write(f(vb));
        }
        if let [d] = pairs.into_remainder() {
            if pos > limit_bits {
                return None;
            }
            let (na, sa) = self.step(a);
            let i = wp.min(self.nw);
            let ta = na < RANS_L;
            a = select_unpredictable(ta, (na << 16) | u32::from(self.words[i]), na);
            wp += usize::from(ta);
            let (va, p) = self.value::<WIDE>(sa, pos);
            pos = p;
            d.write(f(va));
            // the next value would be b's
            return Some(((b, a), wp, pos));
        }
        Some(((a, b), wp, pos))
    }
}
