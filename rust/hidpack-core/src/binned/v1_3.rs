//! The two `BINNED` predictors of format 1.3 (`docs/FORMAT.md` §5.5): the **clock grid** (7) and
//! **signed steps** (8), and the writer's choice of them.
//!
//! *Clock grid.* Many recorders stamp events with a coarse OS timer: Windows' 15.6 ms tick, floored
//! to whole milliseconds. Such a clock's differences are 109 or 110 ms for seven ticks, 15 or 16 for
//! one: order-1 differences pay about a bit per event for the rounding alone. But the rounding is not
//! random: every stamp is `floor(T)` of a true tick time `T = phase + k·period`, so each stamp tells
//! where the phase lies, to within one unit. The predictor keeps that interval `[lo, hi)` of the
//! previous event's true time, and stores per event the number of ticks `k` since the previous event
//! (one latent section) and the residue `e` between the stamp and the grid point the interval
//! predicts (a second section; zero on 98.8 % of balabit's events). A stamp off the grid (a
//! different clock, a gap measured otherwise) costs a residue and restarts the interval there.
//!
//! *Signed steps.* A pointer keeps going the way it went: the sign of a step is, more often than
//! not, the sign of the one before. Storing each step with the previous step's sign taken out makes
//! the latents' distribution lopsided (mostly positive), which the bins code in fewer bits than the
//! symmetric differences (2.6 % fewer bytes for balabit's `x` and `y`).
//!
//! Both are tried by the writer only in format 1.3 ([`encode_column_v1_3`]); readers accept them in
//! any file, as every predictor (§5.5).

use super::predict::{common_divisor, diffs, encode_column, estimate, SAMPLE_OVER, SAMPLE_SLICE, SAMPLE_SLICES};
use super::rans::{decode, encode};
use crate::bytes::{put_varint, unzigzag, zigzag, Cursor};
use crate::error::Result;

/// Predictor code of the clock grid (format 1.3).
pub const PRED_CLOCK: u8 = 7;
/// Predictor code of signed steps (format 1.3).
pub const PRED_SIGNED: u8 = 8;

/// Tick periods the writer tries for the clock grid, in nanoseconds (a `t` column's unit): Windows'
/// default timer (15.6001 ms, stamps floored to ms make it 15.6), the 64 Hz timer (15.625 ms) and a
/// 60 Hz display frame.
pub const CLOCK_PERIODS: [i64; 3] = [15_600_000, 15_625_000, 16_666_667];

/// Largest quantum or period a clock-grid chunk may declare (so `hi − lo` never wraps).
pub const MAX_CLOCK_PARAM: u64 = 1 << 62;

/// The interval of the previous event's true time, and the prediction of the next stamp.
#[derive(Clone, Copy)]
struct Grid {
    lo: i64,
    hi: i64,
    g: i64,
    p: i64,
}

impl Grid {
    fn new(v0: i64, g: i64, p: i64) -> Self {
        Grid { lo: v0, hi: v0.wrapping_add(g), g, p }
    }

    /// The grid point `k` ticks after the middle of the interval, floored to a multiple of `g`.
    #[inline]
    fn predict(&self, k: i64) -> i64 {
        let mid = self.lo.wrapping_add(self.hi.wrapping_sub(self.lo) >> 1);
        let c = mid.wrapping_add(k.wrapping_mul(self.p));
        c.wrapping_sub(c.rem_euclid(self.g))
    }

    /// Narrow the interval by the stamp `v` met `k` ticks later (restart it at `v` when they
    /// disagree).
    #[inline]
    fn update(&mut self, k: i64, v: i64) {
        let kp = k.wrapping_mul(self.p);
        let lo = self.lo.wrapping_add(kp).max(v);
        let hi = self.hi.wrapping_add(kp).min(v.wrapping_add(self.g));
        if lo < hi {
            self.lo = lo;
            self.hi = hi;
        } else {
            self.lo = v;
            self.hi = v.wrapping_add(self.g);
        }
    }

    /// The ticks from the interval's middle to `v`, rounded to the nearest (the encoder's choice;
    /// any `k` decodes to `v` with its residue).
    fn ticks(&self, v: i64) -> i64 {
        let mid = self.lo.wrapping_add(self.hi.wrapping_sub(self.lo) >> 1);
        let d = i128::from(v) - i128::from(mid);
        let p = i128::from(self.p);
        let k = (2 * d + p).div_euclid(2 * p);
        k.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }
}

/// The ticks and residues of `vals` (at least one value) on the grid of quantum `g`, period `p`.
fn clock_latents(vals: &[i64], g: i64, p: i64) -> (Vec<i64>, Vec<i64>) {
    let mut grid = Grid::new(vals[0], g, p);
    let mut ks = Vec::with_capacity(vals.len() - 1);
    let mut es = Vec::with_capacity(vals.len() - 1);
    for &v in &vals[1..] {
        let k = grid.ticks(v);
        ks.push(k);
        es.push(v.wrapping_sub(grid.predict(k)));
        grid.update(k, v);
    }
    (ks, es)
}

/// The latents of signed steps: each step `d = v[i+1] − v[i]` divided by `g`, negated when the
/// previous step was negative.
fn signed_latents(vals: &[i64], g: i64) -> Vec<i64> {
    let mut prev = 0i64;
    vals.windows(2)
        .map(|w| {
            let d = w[1].wrapping_sub(w[0]);
            let q = if g == 1 { d } else { d / g };
            let q = if prev < 0 { q.wrapping_neg() } else { q };
            prev = d;
            q
        })
        .collect()
}

/// Appends the body of a clock-grid chunk.
fn encode_clock(vals: &[i64], g: i64, p: i64, out: &mut Vec<u8>) {
    let (ks, es) = clock_latents(vals, g, p);
    out.push(PRED_CLOCK);
    put_varint(out, zigzag(vals[0]));
    put_varint(out, g as u64);
    put_varint(out, p as u64);
    encode(&ks, out);
    encode(&es, out);
}

/// Appends the body of a signed-steps chunk.
fn encode_signed(vals: &[i64], g: i64, out: &mut Vec<u8>) {
    out.push(PRED_SIGNED);
    put_varint(out, zigzag(vals[0]));
    put_varint(out, g as u64);
    encode(&signed_latents(vals, g), out);
}

/// The values the writer sizes predictors on: the whole column, or slices of it (as `choose`).
fn probe(vals: &[i64]) -> Vec<&[i64]> {
    if vals.len() <= SAMPLE_OVER {
        vec![vals]
    } else {
        let step = vals.len() / SAMPLE_SLICES;
        (0..SAMPLE_SLICES).map(|i| &vals[i * step..i * step + SAMPLE_SLICE]).collect()
    }
}

/// [`encode_column`] of format 1.3: the 1.2 choice, replaced by the clock grid or signed steps when
/// those are estimated smaller and, encoded, are. Only columns whose 1.2 choice is order-1
/// differences are tried (clocks and coordinates); non-decreasing ones for the clock grid.
pub fn encode_column_v1_3(vals: &[i64], out: &mut Vec<u8>) {
    let start = out.len();
    encode_column(vals, out);
    if out.get(start) != Some(&1) {
        // not order-1 differences
        return;
    }
    let g = common_divisor(&diffs(vals));
    if g == 0 || g > i64::MAX as u64 {
        return;
    }
    let g = g as i64;
    let slices = probe(vals);
    let order1: usize = slices.iter().map(|s| estimate(&signed_or_plain(s, g, false)).0).sum();
    let mut best: Option<(usize, Option<i64>)> = None; // (estimate, Some(period) | None = signed)
    if vals.windows(2).all(|w| w[0] <= w[1]) {
        // the period whose grid predicts most stamps exactly, on the first slice
        let first = slices[0];
        let hits = |p: i64| clock_latents(first, g, p).1.iter().filter(|&&e| e == 0).count();
        let p = CLOCK_PERIODS.iter().copied().filter(|&p| p > g).max_by_key(|&p| hits(p));
        if let Some(p) = p.filter(|&p| hits(p) * 2 > first.len()) {
            let size: usize = slices
                .iter()
                .map(|s| {
                    let (ks, es) = clock_latents(s, g, p);
                    estimate(&ks).0 + estimate(&es).0
                })
                .sum();
            best = Some((size, Some(p)));
        }
    } else {
        let size: usize = slices.iter().map(|s| estimate(&signed_or_plain(s, g, true)).0).sum();
        best = Some((size, None));
    }
    let Some((size, how)) = best else { return };
    if size >= order1 {
        return;
    }
    let mut alt = Vec::with_capacity(out.len() - start);
    match how {
        Some(p) => encode_clock(vals, g, p, &mut alt),
        None => encode_signed(vals, g, &mut alt),
    }
    if alt.len() < out.len() - start {
        out.truncate(start);
        out.extend_from_slice(&alt);
    }
}

/// Order-1 latents (`signed` false) or signed steps of `vals`.
fn signed_or_plain(vals: &[i64], g: i64, signed: bool) -> Vec<i64> {
    if signed {
        signed_latents(vals, g)
    } else {
        vals.windows(2).map(|w| {
            let d = w[1].wrapping_sub(w[0]);
            if g == 1 { d } else { d / g }
        }).collect()
    }
}

/// Decodes the rest of a clock-grid chunk of `m` values (the predictor byte read).
pub(super) fn decode_clock(c: &mut Cursor, m: usize, out: &mut Vec<i64>) -> Result<()> {
    if m < 2 {
        return Err(c.err(format!("clock-grid chunk of {m} values; needs 2 or more")));
    }
    let v0 = unzigzag(c.varint()?);
    let g = c.varint()?;
    let p = c.varint()?;
    if !(1..=MAX_CLOCK_PARAM).contains(&g) || !(1..=MAX_CLOCK_PARAM).contains(&p) {
        return Err(c.err(format!(
            "clock-grid quantum {g} and period {p}; each must be within 1..=2^62"
        )));
    }
    let base = out.len();
    out.push(v0);
    decode(c, m - 1, out)?;
    let mut es = Vec::with_capacity(m - 1);
    decode(c, m - 1, &mut es)?;
    let mut grid = Grid::new(v0, g as i64, p as i64);
    for (v, &e) in out[base + 1..].iter_mut().zip(&es) {
        let k = *v;
        let x = grid.predict(k).wrapping_add(e);
        grid.update(k, x);
        *v = x;
    }
    Ok(())
}

/// Decodes the rest of a signed-steps chunk of `m` values (the predictor byte read).
pub(super) fn decode_signed(c: &mut Cursor, m: usize, out: &mut Vec<i64>) -> Result<()> {
    if m < 2 {
        return Err(c.err(format!("signed-steps chunk of {m} values; needs 2 or more")));
    }
    let v0 = unzigzag(c.varint()?);
    let g = c.varint()?;
    if g == 0 {
        return Err(c.err("signed-steps divisor 0; expected ≥ 1"));
    }
    let g = g as i64;
    let base = out.len();
    out.push(v0);
    decode(c, m - 1, out)?;
    let mut acc = v0;
    let mut prev = 0i64;
    for v in &mut out[base + 1..] {
        let d = v.wrapping_mul(g);
        let d = if prev < 0 { d.wrapping_neg() } else { d };
        prev = d;
        acc = acc.wrapping_add(d);
        *v = acc;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(vals: &[i64], body: &[u8]) {
        let mut c = Cursor::new(body, 0, "test");
        let mut out = Vec::new();
        super::super::decode_column(&mut c, vals.len(), &mut out).unwrap();
        assert_eq!(out, vals);
    }

    /// A 15.6 ms tick floored to whole milliseconds, in ns, with same-tick pairs and long gaps.
    fn tick_clock(n: usize, seed: u64) -> Vec<i64> {
        let mut r = seed;
        let mut tick = 0i64;
        (0..n)
            .map(|_| {
                r ^= r << 13;
                r ^= r >> 7;
                r ^= r << 17;
                tick += [0, 1, 7, 7, 7, 8, 6, 60][(r % 8) as usize];
                (tick * 15_600_000 + 400_000) / 1_000_000 * 1_000_000
            })
            .collect()
    }

    #[test]
    fn a_tick_clock_takes_the_clock_grid_and_costs_less() {
        let t = tick_clock(5000, 7);
        let mut v12 = Vec::new();
        encode_column(&t, &mut v12);
        let mut v13 = Vec::new();
        encode_column_v1_3(&t, &mut v13);
        assert_eq!(v13[0], PRED_CLOCK);
        assert!(v13.len() * 10 < v12.len() * 9, "{} vs {}", v13.len(), v12.len());
        rt(&t, &v13);
    }

    #[test]
    fn every_clock_grid_and_period_roundtrips() {
        let t = tick_clock(300, 3);
        for (g, p) in [(1, 1), (1_000_000, 15_600_000), (7, 15_625_000), (1, 3), (1 << 62, 1 << 62)] {
            let mut b = Vec::new();
            encode_clock(&t, g, p, &mut b);
            rt(&t, &b);
        }
        let wild = [i64::MIN, i64::MAX, 0, -1, i64::MIN, 5, i64::MAX, i64::MAX, -7];
        for (g, p) in [(1, 1), (3, 1 << 62), (1 << 62, 5)] {
            let mut b = Vec::new();
            encode_clock(&wild, g, p, &mut b);
            rt(&wild, &b);
        }
    }

    #[test]
    fn signed_steps_roundtrip_and_win_on_a_moving_pointer() {
        let wild = [i64::MIN, i64::MAX, 0, -1, i64::MIN, 5, i64::MAX, i64::MAX, -7];
        let mut b = Vec::new();
        encode_signed(&wild, 1, &mut b);
        rt(&wild, &b);
        let mut r = 99u64;
        let mut x = 0i64;
        let mut dir = 1i64;
        let xs: Vec<i64> = (0..4000)
            .map(|_| {
                r ^= r << 13;
                r ^= r >> 7;
                r ^= r << 17;
                if r.is_multiple_of(10) {
                    dir = -dir;
                }
                x += dir * (r % 23) as i64 * 65536;
                x
            })
            .collect();
        let mut v13 = Vec::new();
        encode_column_v1_3(&xs, &mut v13);
        assert_eq!(v13[0], PRED_SIGNED);
        rt(&xs, &v13);
        let mut b = Vec::new();
        encode_signed(&xs, 65536, &mut b);
        rt(&xs, &b);
    }

    #[test]
    fn truncations_and_flips_are_errors_or_values() {
        let t = tick_clock(200, 5);
        let mut b = Vec::new();
        encode_clock(&t, 1_000_000, 15_600_000, &mut b);
        let mut s = Vec::new();
        encode_signed(&t, 1_000_000, &mut s);
        for body in [&b, &s] {
            for cut in 0..body.len() {
                let mut c = Cursor::new(&body[..cut], 0, "cut");
                let _ = super::super::decode_column(&mut c, t.len(), &mut Vec::new());
            }
            for i in 0..body.len() * 8 {
                let mut f = body.to_vec();
                f[i / 8] ^= 1 << (i % 8);
                let mut c = Cursor::new(&f, 0, "flip");
                let _ = super::super::decode_column(&mut c, t.len(), &mut Vec::new());
            }
        }
    }
}
