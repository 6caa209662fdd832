//! The entropy coder: latents to a bin table, an rANS stream of bins and a bit stream of offsets,
//! and back. Every input is untrusted (see the module docs).

use super::bins::*;
use super::{MAX_BINS, MAX_SCALE_BITS, RANS_L};
use crate::bytes::{put_varint, unzigzag, zigzag, Cursor};
use crate::error::Result;

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
        m: u64,
        l: u32,
        f: u32,
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
            Enc { m, l, f, start, bound: u64::from(f) << renorm }
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
        // the product's high bits past 32 (a fixed shift), then l more: one variable 64-bit shift
        let q = ((((u128::from(st) * u128::from(e.m)) >> 32) as u64) >> e.l) as u32;
        debug_assert_eq!(q, st / e.f);
        (q << scale) + (st - q * e.f) + e.start
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
        let v = v & (u64::MAX >> (64 - bits));
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

