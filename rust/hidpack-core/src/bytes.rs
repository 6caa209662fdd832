//! The byte-level primitives every layer of the format shares: zigzag, LEB128 varints, a binary
//! gcd, and [`Cursor`], the bounds-checked reader whose errors carry the file offset. A leaf
//! module: it depends on nothing but the error type, so the codec and the binned coder both build
//! on it without depending on each other.

use crate::error::{Error, Result};

#[inline]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}
#[inline]
pub fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}
#[inline]
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}
#[inline]
pub fn varint_len(v: u64) -> usize {
    // 1 byte per 7 bits, at least 1
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Binary (Stein's) gcd: shifts and subtractions, no hardware divide (a 64-bit `%` costs tens of
/// cycles, and Euclid's algorithm takes dozens of them on large operands).
pub(crate) fn gcd(mut a: u64, mut b: u64) -> u64 {
    if a == 0 {
        return b;
    }
    if b == 0 {
        return a;
    }
    let shift = (a | b).trailing_zeros();
    a >>= a.trailing_zeros();
    b >>= b.trailing_zeros();
    // both odd from here: the smaller kept, the difference (even) stripped of its factors 2
    // next, by selects (a branch on `a > b` went either way at random: a tenth of the encoder's
    // mispredictions on balabit, in the split's search). The shift is counted on `a − b`
    // (wrapping: the same trailing zeros as `|a − b|`) while the selects are made, so each
    // step waits on a subtraction and a count, not on the selects before them too.
    while a != b {
        let s = a.wrapping_sub(b).trailing_zeros();
        let (lo, hi) = (a.min(b), a.max(b));
        a = lo;
        b = (hi - lo) >> s;
    }
    a << shift
}

/// A bounds-checked cursor over a byte slice; errors carry the absolute file offset.
#[derive(Clone)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    base: u64,
    what: &'static str,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8], base: u64, what: &'static str) -> Self {
        Cursor { buf, pos: 0, base, what }
    }
    pub fn pos(&self) -> usize {
        self.pos
    }
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }
    /// Offset for error messages: the data-frame offset plus the position in the payload.
    pub fn err(&self, msg: impl Into<String>) -> Error {
        Error::corrupt(self.base, format!("{} (payload byte {}): {}", self.what, self.pos, msg.into()))
    }
    pub fn u8(&mut self) -> Result<u8> {
        let b = *self.buf.get(self.pos).ok_or_else(|| self.err("unexpected end of data"))?;
        self.pos += 1;
        Ok(b)
    }
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.err(format!("needs {n} bytes, {} left", self.remaining())));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    #[inline]
    pub fn varint(&mut self) -> Result<u64> {
        let mut v: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = *self.buf.get(self.pos).ok_or_else(|| self.err("varint runs past the end"))?;
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(self.err("varint overflows 64 bits"));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
            shift += 7;
            if shift > 63 {
                return Err(self.err("varint longer than 10 bytes"));
            }
        }
    }
    pub fn varint_usize(&mut self, limit: u64, what: &str) -> Result<usize> {
        let v = self.varint()?;
        if v > limit {
            return Err(self.err(format!("{what} = {v} exceeds the limit {limit}")));
        }
        Ok(v as usize)
    }
    pub fn zigzag(&mut self) -> Result<i64> {
        Ok(unzigzag(self.varint()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_roundtrip_extremes() {
        for v in [0, 1, -1, i64::MAX, i64::MIN, 12345, -12345] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    #[test]
    fn varint_len_matches_encoding() {
        for v in [0u64, 1, 127, 128, 16383, 16384, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v), "{v}");
            assert_eq!(Cursor::new(&b, 0, "t").varint().unwrap(), v);
        }
    }
}
