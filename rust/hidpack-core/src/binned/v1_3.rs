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

use super::bins::Counted;
use super::predict::{
    choose, common_step_divisor, encode_chosen, head_divisor, estimate, estimate_counted, latents_for, Pred, SAMPLE_OVER, SAMPLE_SLICE,
    SAMPLE_SLICES,
};
use super::rans::{decode, decode_map, encode, encode_counted};
use crate::bytes::{put_varint, unzigzag, zigzag, Cursor};
use crate::error::Result;
use std::hint::select_unpredictable;

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
    /// 1 / g, for flooring without a division (corrected to the exact floor)
    inv_g: f64,
}

impl Grid {
    fn new(v0: i64, g: i64, p: i64) -> Self {
        Grid { lo: v0, hi: v0.wrapping_add(g), g, p, inv_g: 1.0 / g as f64 }
    }

    /// The grid point `k` ticks after the middle of the interval, floored to a multiple of `g`.
    #[inline]
    fn predict(&self, k: i64) -> i64 {
        let mid = self.lo.wrapping_add(self.hi.wrapping_sub(self.lo) >> 1);
        let c = mid.wrapping_add(k.wrapping_mul(self.p));
        c.wrapping_sub(self.rem(c))
    }

    /// `c mod g` in `0..g`: a multiply by the reciprocal, then at most a step or two of
    /// correction, where `c` is small enough for `f64` to be within a few `g` (a 64-bit division
    /// per event was a third of a small file's decode); a division otherwise.
    #[inline]
    fn rem(&self, c: i64) -> i64 {
        if c.unsigned_abs() >= 1 << 52 {
            return c.rem_euclid(self.g);
        }
        let q = (c as f64 * self.inv_g).floor() as i64;
        let mut r = c - q * self.g; // |q·g| ≤ |c| + 2g: no overflow for |c| < 2^52, g ≤ 2^62
        while r < 0 {
            r += self.g;
        }
        while r >= self.g {
            r -= self.g;
        }
        r
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
        if let Some(n) = v.checked_sub(mid).and_then(|d| d.checked_mul(2)).and_then(|d| d.checked_add(self.p)) {
            if let Some(p2) = self.p.checked_mul(2) {
                return n.div_euclid(p2);
            }
        }
        let d = i128::from(v) - i128::from(mid);
        let p = i128::from(self.p);
        let k = (2 * d + p).div_euclid(2 * p);
        k.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }
}

/// The ticks and residues of `vals` (at least one value) on the grid of quantum `g`, period `p`.
pub(super) fn clock_latents(vals: &[i64], g: i64, p: i64) -> (Vec<i64>, Vec<i64>) {
    let mut walk = Walk::new(vals[0], g, p);
    let mut ks = Vec::with_capacity(vals.len() - 1);
    let mut es = Vec::with_capacity(vals.len() - 1);
    for &v in &vals[1..] {
        let (k, e) = walk.step(v);
        ks.push(k);
        es.push(e);
    }
    (ks, es)
}

/// Ticks and residues, as [`clock_latents`] makes them.
type ClockLatents = (Vec<i64>, Vec<i64>);

/// [`clock_latents`] and how many of the residues are 0 (the stamps the grid predicts exactly),
/// when at least `need` are; `None` as soon as too many are not (the walk stops there).
fn clock_latents_hitting(vals: &[i64], g: i64, p: i64, need: usize) -> Option<(usize, ClockLatents)> {
    let m = vals.len() - 1;
    let mut misses_left = m.checked_sub(need)?;
    let mut walk = Walk::new(vals[0], g, p);
    let mut ks = Vec::with_capacity(m);
    let mut es = Vec::with_capacity(m);
    for &v in &vals[1..] {
        let (k, e) = walk.step(v);
        if e != 0 {
            misses_left = misses_left.checked_sub(1)?;
        }
        ks.push(k);
        es.push(e);
    }
    let hits = es.iter().filter(|&&e| e == 0).count();
    Some((hits, (ks, es)))
}

/// Whether the grid of quantum `g`, period `p` may predict at least `need` stamps of `vals`
/// exactly: `false` when [`clock_latents_hitting`] is sure to answer `None`, found without
/// walking the grid.
///
/// The walk's interval of the previous stamp's true time lies in `[v₋, v₋ + g)` of that stamp
/// `v₋` (each update clamps it there), so its middle is `v₋ + δ` with `0 ≤ δ < g`; a stamp `v`
/// is predicted exactly when `mid + k·p` floors to it, `mid + k·p − v ∈ [0, g)`, so its step
/// `d = v − v₋` is within `g` of a multiple of `p` ([`GridSteps::may_hit`]). That test is a
/// multiply and a few compares, where the walk is a hundred instructions a stamp; it stops as
/// the walk does, once too many steps cannot hit (or once enough may). On a clock of key presses,
/// whose steps fall anywhere, no period is walked.
pub(super) fn may_hit(vals: &[i64], g: i64, p: i64, need: usize) -> bool {
    let m = vals.len().saturating_sub(1);
    let Some(mut misses_left) = m.checked_sub(need) else { return false };
    let Some(steps) = GridSteps::new(g, p) else { return true };
    let mut may = 0usize;
    for start in (0..m).step_by(64) {
        let chunk = &vals[start..=(start + 64).min(m)];
        let n = chunk.windows(2).filter(|w| steps.may_hit(w[0], w[1])).count();
        may += n;
        if may >= need {
            return true;
        }
        match misses_left.checked_sub(chunk.len() - 1 - n) {
            Some(left) => misses_left = left,
            None => return false,
        }
    }
    may >= need
}

/// The test of [`may_hit`] for one step.
#[derive(Clone, Copy)]
struct GridSteps {
    g: u64,
    p: i64,
    inv_p: f64,
}

impl GridSteps {
    /// `None` when every step may hit (a quantum of half the period or more is within `g` of
    /// every step), or the parameters are too large for the test's arithmetic.
    fn new(g: i64, p: i64) -> Option<Self> {
        ((1..1 << 50).contains(&g) && (1..1 << 50).contains(&p) && 2 * g < p).then(|| GridSteps { g: g as u64, p, inv_p: 1.0 / p as f64 })
    }

    /// Whether the step from `a` to `b` is within `g` of a multiple of `p` (or too large to
    /// tell). `r = d − k·p` for the truncated quotient `k` of a multiply by the reciprocal,
    /// within one of the exact one: `|r|` is then the distance to one of the two nearest
    /// multiples, `p − |r|` (or less) to the other.
    #[inline]
    fn may_hit(&self, a: i64, b: i64) -> bool {
        const SAFE: u64 = 1 << 60;
        let d = b.wrapping_sub(a);
        let exact = (a.unsigned_abs() | b.unsigned_abs()) < SAFE && d.unsigned_abs() < 1 << 52;
        let r = d.wrapping_sub(((d as f64 * self.inv_p) as i64).wrapping_mul(self.p)).unsigned_abs();
        !exact || r < self.g || r > self.p as u64 - self.g
    }
}

/// [`may_hit`]'s bound itself: how many steps of `vals` may hit.
#[cfg(test)]
fn possible_hits(vals: &[i64], g: i64, p: i64) -> usize {
    match GridSteps::new(g, p) {
        Some(s) => vals.windows(2).filter(|w| s.may_hit(w[0], w[1])).count(),
        None => vals.len().saturating_sub(1),
    }
}

/// The writer's walk along the grid: [`Grid::ticks`], [`Grid::predict`] and [`Grid::update`]
/// per stamp, with the two floorings (by 2p and by g) as a multiply by the reciprocal and a
/// correction to the exact floor where the numbers are small enough for `f64` (every stamp of
/// a real clock): the 64-bit division of `ticks` and the `floor` call of `rem` (a libm call on
/// x86-64 without SSE4.1) were most of the clock grid's cost in the writer. Exactly the same
/// ticks and residues as the reference (the correction loops end on the exact floor).
///
/// The first guess of the ticks comes from the step since the previous stamp, not from the
/// interval's middle: the middle lies in `[v₋, v₋ + g)` of the previous stamp `v₋` (see
/// [`may_hit`]), so the guess is within one of the floor (with `g < p`), and the correction's
/// compares, which do wait on the middle, are nearly always not taken. The walk's chain from one
/// stamp to the next is then the interval's update alone, not a conversion, a multiply and a
/// conversion back on each stamp's way.
struct Walk {
    grid: Grid,
    inv_2p: f64,
    prev: i64,
}

impl Walk {
    fn new(v0: i64, g: i64, p: i64) -> Self {
        Walk { grid: Grid::new(v0, g, p), inv_2p: 0.5 / p as f64, prev: v0 }
    }

    /// The ticks and residue of the stamp `v`, and the grid moved on past it.
    #[inline]
    fn step(&mut self, v: i64) -> (i64, i64) {
        let gr = &self.grid;
        let mid = gr.lo.wrapping_add(gr.hi.wrapping_sub(gr.lo) >> 1);
        let k = match v.checked_sub(mid) {
            // n = 2d + p and k·2p within 2^52: exact in f64 and in i64, the estimate within one
            Some(d) if d.unsigned_abs() < 1 << 50 && gr.p < 1 << 50 => {
                let p2 = 2 * gr.p;
                let n = 2 * d + gr.p;
                // n = 2(v − v₋) + p − 2δ with 0 ≤ δ < g: guessed with δ = g/2, off by under g
                let step = v.wrapping_sub(self.prev);
                let guess = if step.unsigned_abs() < 1 << 50 && gr.g < gr.p { 2 * step + gr.p - gr.g } else { n };
                let mut k = (guess as f64 * self.inv_2p) as i64;
                let mut r = n - k * p2;
                while r < 0 {
                    k -= 1;
                    r += p2;
                }
                while r >= p2 {
                    k += 1;
                    r -= p2;
                }
                k
            }
            _ => gr.ticks(v),
        };
        let c = mid.wrapping_add(k.wrapping_mul(gr.p));
        let rem = if c.unsigned_abs() < 1 << 52 {
            // truncated, not floored: the loops below correct either to the exact remainder
            let mut r = c - (c as f64 * gr.inv_g) as i64 * gr.g;
            while r < 0 {
                r += gr.g;
            }
            while r >= gr.g {
                r -= gr.g;
            }
            r
        } else {
            gr.rem(c)
        };
        let e = v.wrapping_sub(c.wrapping_sub(rem));
        self.grid.update(k, v);
        self.prev = v;
        (k, e)
    }
}

/// The reference loop: [`Grid`] as FORMAT.md §5.5 defines the clock grid (the values after `v0`
/// of ticks `ks` and residues `es`), which the fast undos are tested against.
#[cfg(test)]
pub(super) fn undo_reference(v0: i64, g: i64, p: i64, ks: &[i64], es: &[i64]) -> Vec<i64> {
    let mut grid = Grid::new(v0, g, p);
    ks.iter()
        .zip(es)
        .map(|(&k, &e)| {
            let x = grid.predict(k).wrapping_add(e);
            grid.update(k, x);
            x
        })
        .collect()
}

/// The latents of signed steps: each step `d = v[i+1] − v[i]` divided by `g`, negated when the
/// previous step was negative. (The writer makes them from order 1's latents, [`signed_from`];
/// this is the definition its tests compare against.)
#[cfg(test)]
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

/// Signed steps' latents from order 1's (`q = d / g`, with `g > 0`: each has its step's sign),
/// appended to `out`: each negated when the one before it is negative.
fn signed_from(q: &[i64], out: &mut Vec<i64>) {
    let mut prev = 0i64;
    out.extend(q.iter().map(|&x| {
        let s = if prev < 0 { x.wrapping_neg() } else { x };
        prev = x;
        s
    }));
}

/// [`signed_from`] in place.
fn signed_in_place(q: &mut [i64]) {
    let mut prev = 0i64;
    for x in q.iter_mut() {
        let d = *x;
        if prev < 0 {
            *x = d.wrapping_neg();
        }
        prev = d;
    }
}

/// Appends the body of a clock-grid chunk.
#[cfg(test)]
fn encode_clock(vals: &[i64], g: i64, p: i64, out: &mut Vec<u8>) {
    let (ks, es) = clock_latents(vals, g, p);
    encode_clock_latents(vals[0], g, p, &ks, &es, None, out)
}

/// [`encode_clock`] of the ticks and residues [`clock_latents`] made of values starting at `v0`
/// (with the ticks' counts, when their estimate made them).
fn encode_clock_latents(v0: i64, g: i64, p: i64, ks: &[i64], es: &[i64], ks_counted: Option<Counted>, out: &mut Vec<u8>) {
    out.push(PRED_CLOCK);
    put_varint(out, zigzag(v0));
    put_varint(out, g as u64);
    put_varint(out, p as u64);
    match ks_counted {
        Some(counted) => encode_counted(ks, counted, out),
        None => encode(ks, out),
    }
    encode(es, out);
}

/// Appends the body of a signed-steps chunk.
#[cfg(test)]
fn encode_signed(vals: &[i64], g: i64, out: &mut Vec<u8>) {
    out.push(PRED_SIGNED);
    put_varint(out, zigzag(vals[0]));
    put_varint(out, g as u64);
    encode(&signed_latents(vals, g), out);
}

/// The head of a signed-steps chunk (predictor, first value, divisor).
fn signed_head(v0: i64, g: i64, out: &mut Vec<u8>) {
    out.push(PRED_SIGNED);
    put_varint(out, zigzag(v0));
    put_varint(out, g as u64);
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

/// `encode_column` of format 1.3: when the 1.2 choice (on the same sample) is order-1 differences
/// (clocks and coordinates), the clock grid (non-decreasing columns, when `clock`) or signed
/// steps (others) is estimated on that sample and written instead when its estimate is smaller.
///
/// Order 1's latents of the whole column are made once, here (or taken from `choose`, which
/// made them for a column short enough to be its own sample): signed steps are sized from them
/// (a sign flip each), and whichever of the two wins is written from them.
pub fn encode_column_v1_3(vals: &[i64], out: &mut Vec<u8>, clock: ClockGrid) {
    let mut choices = choose(vals, true);
    if choices[0].pred == Pred::Order(1) {
        if vals.windows(2).all(|w| w[0] <= w[1]) {
            // A non-decreasing column (a clock): its steps all have one sign, so only the grid
            // may do better. It needs order 1's divisor alone, not its latents: when it wins,
            // the whole column's order-1 latents are never made.
            if clock != ClockGrid::Off {
                // as order 1's head holds it, when made (not found again from the values)
                let g = choices[0].made.as_ref().map_or_else(|| common_step_divisor(vals), |(head, _)| head_divisor(head).unwrap_or(0));
                debug_assert_eq!(g, common_step_divisor(vals));
                if let Some((g, p, made)) = grid_better_than(vals, g, choices[0].size, clock) {
                    let ((ks, es), counted) = made.unwrap_or_else(|| (clock_latents(vals, g, p), None));
                    return match clock {
                        ClockGrid::Sparse => super::v1_4::encode_clock_sparse_latents(vals[0], g, p, &ks, &es, counted, out),
                        _ => encode_clock_latents(vals[0], g, p, &ks, &es, counted, out),
                    };
                }
            }
        } else if let Some((head, mut lat)) = choices[0].made.take().or_else(|| latents_for(vals, Pred::Order(1))) {
            // order 1's divisor, as its head holds it (not found again from the values)
            let g = head_divisor(&head).unwrap_or(0);
            debug_assert_eq!(g, common_step_divisor(vals));
            match signed_better_than(vals, &lat, g, choices[0].size) {
                Some((g, sized)) => {
                    signed_head(vals[0], g, out);
                    match sized {
                        // a column that was its own sample: its latents and their counts
                        Some((s, Some(counted))) => encode_counted(&s, counted, out),
                        Some((s, None)) => encode(&s, out),
                        None => {
                            signed_in_place(&mut lat);
                            encode(&lat, out);
                        }
                    }
                    return;
                }
                None => choices[0].made = Some((head, lat)),
            }
        }
    }
    encode_chosen(vals, choices, out)
}

/// Whether the writer tries the clock grid, and as which predictor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockGrid {
    /// Not tried.
    Off,
    /// Predictor 7 (format 1.3): ticks and residues as two latent sections of every value.
    Dense,
    /// Predictor 9 (format 1.4): the same ticks, the non-zero residues only
    /// (`super::v1_4`).
    Sparse,
}

/// The clock grid of quantum `g`, period `p`; with the whole column's ticks and residues when
/// the sample was the whole column, and the ticks' counts when their estimate made them.
type GridChoice = (i64, i64, Option<(ClockLatents, Option<Counted>)>);

/// The width of a 1.3 predictor's head (predictor, first value, divisor `g`).
fn head_len(vals: &[i64], g: i64) -> usize {
    2 + crate::bytes::varint_len(zigzag(vals[0])) + crate::bytes::varint_len(g as u64)
}

/// The clock grid, when its estimated size on the writer's sample is under `order1` (the
/// order-1 estimate on the same sample) for the non-decreasing `vals` whose steps have the
/// common divisor `g`.
fn grid_better_than(vals: &[i64], g: u64, order1: usize, clock: ClockGrid) -> Option<GridChoice> {
    if g == 0 || g > i64::MAX as u64 || clock == ClockGrid::Off {
        return None;
    }
    let g = g as i64;
    let head = head_len(vals, g);
    let slices = probe(vals);
    // The period whose grid predicts most stamps exactly on the first slice (the last of
    // equally many), if it predicts more than half of them: a period is walked only as long
    // as it can still be that one, and the winner's latents are kept for the estimate (and
    // for the encoder, when the slice is the whole column).
    let first = slices[0];
    let more_than_half = first.len() / 2 + 1;
    let mut best: Option<(i64, usize, ClockLatents)> = None;
    for &p in CLOCK_PERIODS.iter().filter(|&&p| p > g) {
        let need = best.as_ref().map_or(more_than_half, |b| b.1.max(more_than_half));
        // Before a period has won, a walk that cannot hit half the stamps is skipped unwalked
        // (the same answer). After, `need` is that period's hits, nearly every stamp on a
        // clock the grid fits: the walk stops after as few misses as the test would take
        // steps, so it is not tested first.
        if best.is_none() && !may_hit(first, g, p, need) {
            continue;
        }
        if let Some((h, lat)) = clock_latents_hitting(first, g, p, need) {
            best = Some((p, h, lat));
        }
    }
    let (p, _, (mut ks, mut es)) = best?;
    // the slices' latents estimated as one column, as `choose` sizes order 1 on the sample
    for s in &slices[1..] {
        let (k, e) = clock_latents(s, g, p);
        ks.extend(k);
        es.extend(e);
    }
    // the ticks' counts kept for the encoder (a column that is its own sample)
    let (ticks, _, counted) = estimate_counted(&ks);
    let size = match clock {
        ClockGrid::Sparse => ticks + super::v1_4::estimate_sparse(&es) + head + 4,
        _ => ticks + estimate(&es).0 + head + 4,
    };
    let whole = slices.len() == 1;
    (size < order1).then(|| (g, p, whole.then_some(((ks, es), counted))))
}

/// Signed steps, when their estimated size on the writer's sample is under `order1` (the
/// order-1 estimate on the same sample), with their divisor `g`, and the whole column's latents
/// and their counts when the sample was the whole column. `lat` are order 1's latents of the
/// whole column, `g` their divisor.
#[allow(clippy::type_complexity)]
fn signed_better_than(vals: &[i64], lat: &[i64], g: u64, order1: usize) -> Option<(i64, Option<(Vec<i64>, Option<Counted>)>)> {
    if g == 0 || g > i64::MAX as u64 {
        return None;
    }
    let g = g as i64;
    let head = head_len(vals, g);
    // Signed steps on the sample (each slice's steps, as `probe` slices the values): slice i's
    // latents are `lat[i·step..][..SAMPLE_SLICE − 1]`, its first step taken as it is.
    let whole = vals.len() <= SAMPLE_OVER;
    let mut s = Vec::with_capacity(if whole { lat.len() } else { SAMPLE_SLICES * SAMPLE_SLICE });
    if whole {
        signed_from(lat, &mut s);
    } else {
        let step = vals.len() / SAMPLE_SLICES;
        for i in 0..SAMPLE_SLICES {
            signed_from(&lat[i * step..i * step + SAMPLE_SLICE - 1], &mut s);
        }
    }
    let (size, _, counted) = estimate_counted(&s);
    (size + head < order1).then(|| (g, whole.then_some((s, counted))))
}

/// Decodes the rest of a clock-grid chunk of `m` values (the predictor byte read).
pub(super) fn decode_clock(c: &mut Cursor, m: usize, out: &mut Vec<i64>) -> Result<()> {
    if m < 2 {
        return Err(c.err(format!("clock-grid chunk of {m} values; needs 2 or more")));
    }
    let (v0, g, p) = clock_head(c)?;
    let base = out.len();
    out.push(v0);
    decode(c, m - 1, out)?;
    let mut es = Vec::with_capacity(m - 1);
    decode(c, m - 1, &mut es)?;
    undo_clock(v0, g, p, &mut out[base + 1..], &es);
    Ok(())
}

/// The parameters of a clock-grid chunk (predictors 7 and 9): first value, quantum and period,
/// each of the last two checked to be within `1..=2^62`.
pub(super) fn clock_head(c: &mut Cursor) -> Result<(i64, i64, i64)> {
    let v0 = unzigzag(c.varint()?);
    let g = c.varint()?;
    let p = c.varint()?;
    if !(1..=MAX_CLOCK_PARAM).contains(&g) || !(1..=MAX_CLOCK_PARAM).contains(&p) {
        return Err(c.err(format!(
            "clock-grid quantum {g} and period {p}; each must be within 1..=2^62"
        )));
    }
    Ok((v0, g as i64, p as i64))
}

/// `k·p mod g` of tick counts below this comes from a table in [`undo_clock`].
const KP_TABLE: usize = 256;

/// Replaces the ticks `ks` by the values (the residues `es` beside them), as [`Grid`] defines them.
///
/// [`Grid`] keeps the interval as absolute times and floors to a multiple of `g` on the loop's
/// critical path (a division, or a multiply and corrections). The same values, in a short chain of
/// small-integer steps: the interval lies in `[v, v + g]` of the last value v (each update clamps it
/// there), so it is kept relative to v, `a = lo − v`, `b = hi − v` with `0 ≤ a < b ≤ g`. With
/// `m = a + ((b − a) >> 1)` (the middle, relative), `r = v mod g` and `t = (r + k·p mod g) mod g`:
///
/// ```text
/// c mod g = (v + m + k·p) mod g = m + t − g·[m + t ≥ g]       (m and t both in 0..g)
/// d       = t − g·[m + t ≥ g] − e
/// x       = c − (c mod g) + e = v + k·p − d
/// lo + k·p − x = a + d,  hi + k·p − x = b + d,  so  a' = max(a + d, 0),  b' = min(b + d, g)
/// x mod g = e mod g                                            (c − c mod g is a multiple of g)
/// ```
///
/// `t` and `r` come from the latents alone (`k·p mod g` from a table), so the chain from one
/// value's interval to the next is the middle, one compare and a select ([`Rel::step`]). This
/// holds when nothing wraps: `g ≤ 2^60`, `0 ≤ k·p < 2^60`, `|e| < 2^60` and `|v| < 2^61` keep every
/// quantity of the definition under 2^63. A pass over the latents proves that for a whole chunk
/// (the usual case: a clock in ns); otherwise each event is checked, and one that fails takes
/// [`Grid`]'s step (on the interval made absolute, then made relative again: exact, as `lo − x`
/// and `hi − x` are in `0..=g` after every update, wrapping or not).
fn undo_clock(v0: i64, g: i64, p: i64, ks: &mut [i64], es: &[i64]) {
    let Undo { mut rel, kpm, klim } = Undo::new(v0, g, p);
    let proven = chunk_in_range(v0, g, p, klim, ks, es);
    if proven {
        for (slot, &e) in ks.iter_mut().zip(es) {
            let k = *slot;
            rel.step(k, e, kp_mod(&kpm, k, p, g));
            *slot = rel.v;
        }
        return;
    }
    let mut undo = Undo { rel, kpm, klim };
    for (slot, &e) in ks.iter_mut().zip(es) {
        *slot = undo.next(*slot, e);
    }
}

/// Whether a chunk's undo needs no check per event: every |v| < |v0| + n·(max k·p + g + max |e|)
/// (|v' − v| = |k·p − d|, |d| < g + |e|), below 2^61 with every k under `klim` and every e
/// (`es`: the residues, dense or only the non-zero ones) under 2^60. (Bounds of the maxima by
/// ORs, which vectorise: k ≤ OR of the k, |e| ≤ OR of e ^ (e >> 63), plus 1.)
fn chunk_in_range(v0: i64, g: i64, p: i64, klim: i64, ks: &[i64], es: &[i64]) -> bool {
    let kmax = ks.iter().fold(0u64, |o, &k| o | k as u64);
    let emax = es.iter().fold(0u64, |o, &e| o | (e ^ (e >> 63)) as u64).saturating_add(1);
    kmax < klim as u64 && emax < 1 << 60 && {
        let per = u128::from(kmax) * p as u128 + g as u128 + u128::from(emax);
        u128::from(v0.unsigned_abs()) + ks.len() as u128 * per < 1 << 61
    }
}

/// [`undo_clock`] of predictor 9 (format 1.4): the residues are 0 but at the positions `at`
/// (strictly increasing, each `< ks.len()`), where they are `res`. The runs of zeros between
/// take [`Rel::step_zero`] with no residue to load or test.
pub(super) fn undo_clock_sparse(v0: i64, g: i64, p: i64, ks: &mut [i64], at: &[i64], res: &[i64]) {
    debug_assert!(at.windows(2).all(|w| w[0] < w[1]) && at.last().is_none_or(|&a| (a as usize) < ks.len()));
    let Undo { mut rel, kpm, klim } = Undo::new(v0, g, p);
    let proven = chunk_in_range(v0, g, p, klim, ks, res);
    if proven {
        let mut start = 0;
        for (&at, &e) in at.iter().zip(res) {
            let at = at as usize;
            rel.run_zero(&kpm, &mut ks[start..at]);
            let k = ks[at];
            rel.step(k, e, kp_mod(&kpm, k, p, g));
            ks[at] = rel.v;
            start = at + 1;
        }
        rel.run_zero(&kpm, &mut ks[start..]);
        return;
    }
    let mut undo = Undo { rel, kpm, klim };
    let mut start = 0;
    for (&at, &e) in at.iter().zip(res) {
        let at = at as usize;
        for slot in &mut ks[start..at] {
            *slot = undo.next(*slot, 0);
        }
        ks[at] = undo.next(ks[at], e);
        start = at + 1;
    }
    for slot in &mut ks[start..] {
        *slot = undo.next(*slot, 0);
    }
}

/// The clock grid's undo one value at a time, each checked to be within the ranges of the
/// relative step ([`undo_clock`]), else taken by [`Grid`]'s definition: for decoders that meet
/// the ticks as they are decoded (predictor 9), with no pass over them first to prove a chunk.
pub(super) struct Undo {
    rel: Rel,
    kpm: [i64; KP_TABLE],
    klim: i64,
}

impl Undo {
    /// The undo of a chunk whose first value is `v0` (`g`, `p` in `1..=2^62`).
    pub(super) fn new(v0: i64, g: i64, p: i64) -> Self {
        debug_assert!((1..=1 << 62).contains(&g) && (1..=1 << 62).contains(&p));
        // ticks k < klim have k·p < 2^60 (none when g is too large for the relative step)
        let klim = if g <= 1 << 60 { ((1i64 << 60) - 1) / p + 1 } else { 0 };
        let mut kpm = [0i64; KP_TABLE];
        let step = p % g;
        for k in 1..(klim as usize).min(KP_TABLE) {
            let s = kpm[k - 1] + step; // both < g ≤ 2^60
            kpm[k] = if s >= g { s - g } else { s };
        }
        Undo { rel: Rel { v: v0, a: 0, b: g, r: v0.rem_euclid(g), g, p }, kpm, klim }
    }

    /// The next value, from its ticks `k` and residue `e`.
    #[inline(always)]
    pub(super) fn next(&mut self, k: i64, e: i64) -> i64 {
        let rel = &mut self.rel;
        let (g, p) = (rel.g, rel.p);
        if (k as u64) < self.klim as u64 && e.unsigned_abs() < 1 << 60 && rel.v.unsigned_abs() < 1 << 61 {
            rel.step(k, e, kp_mod(&self.kpm, k, p, g));
        } else {
            let mut grid = Grid::new(rel.v, g, p);
            let v = rel.v;
            (grid.lo, grid.hi) = (v.wrapping_add(rel.a), v.wrapping_add(rel.b));
            let x = grid.predict(k).wrapping_add(e);
            grid.update(k, x);
            (rel.a, rel.b, rel.r, rel.v) = (grid.lo.wrapping_sub(x), grid.hi.wrapping_sub(x), x.rem_euclid(g), x);
        }
        rel.v
    }
}

/// `k·p mod g` for `0 ≤ k·p < 2^60`: from the table, or (a long gap) a division.
#[inline(always)]
fn kp_mod(table: &[i64; KP_TABLE], k: i64, p: i64, g: i64) -> i64 {
    if (k as u64) < KP_TABLE as u64 {
        table[k as usize]
    } else {
        k * p % g
    }
}

/// `k·p mod g` past the table (a long gap), out of line.
#[cold]
#[inline(never)]
fn kp_far(k: i64, p: i64, g: i64) -> i64 {
    k * p % g
}

/// `max(x, 0)` by masks (the compiler made a branch of `max`, mispredicted in this loop).
#[inline(always)]
fn max0(x: i64) -> i64 {
    x & !(x >> 63)
}

/// `min(x, g)` by masks, as [`max0`].
#[inline(always)]
fn min_g(x: i64, g: i64) -> i64 {
    let y = x - g;
    g + (y & (y >> 63))
}

/// The clock grid's state relative to the last value (see [`undo_clock`]).
#[derive(Clone, Copy)]
struct Rel {
    v: i64,
    a: i64,
    b: i64,
    /// `v mod g`
    r: i64,
    g: i64,
    p: i64,
}

impl Rel {
    /// [`Rel::step`] of a residue 0 (the stamp the grid predicts).
    #[inline(always)]
    fn step_zero(&mut self, k: i64, kpm: i64) {
        let Rel { v, a, b, r, g, p } = *self;
        let t = r + kpm;
        let t = select_unpredictable(t >= g, t - g, t);
        let high = a + b >= 2 * (g - t);
        let tg = t - g;
        // With A = a + t, B = b + t (the interval on the grid of the stamps, its middle in
        // 0..2g), the new interval is [A, min(B, g)) when the middle is under g, else
        // [max(A, g), B) − g. Each side is ready about when the compare is, which picks one: the
        // chain is an add, the compare and a select (not a branch: it goes either way about as
        // often).
        let y = b + tg;
        self.a = select_unpredictable(high, max0(a + tg), a + t);
        self.b = select_unpredictable(high, y, g + (y & (y >> 63)));
        self.v = v + k * p - select_unpredictable(high, tg, t);
        self.r = 0;
    }

    /// [`Rel::step_zero`] over a run of ticks (each replaced by its value).
    ///
    /// After the first step `v mod g` is 0, and a step that does not cut the interval moves it
    /// whole: with `w = b − a` its width and `x = v + a` its low end in absolute time, the next
    /// low end is `x + k·p`, its offset in its quantum `q = (a + k·p mod g) mod g`, and when
    /// `q + w ≤ g` (the interval inside one quantum: no stamp bound cuts it) the value is `x − q`
    /// and the interval `[q, q + w)` of it ([`Rel::step_zero`]'s two sides, each without its
    /// clamp). So the loop keeps `x` and `q` (the chain is an add and a select) and takes the
    /// full step only when `q > g − w`: a few times after each restart while the interval
    /// narrows, then (the width at its least) seldom or never.
    #[inline(always)]
    fn run_zero(&mut self, kpm: &[i64; KP_TABLE], ks: &mut [i64]) {
        let Some((first, rest)) = ks.split_first_mut() else { return };
        let (g, p) = (self.g, self.p);
        self.step_zero(*first, kp_mod(kpm, *first, p, g));
        *first = self.v;
        let (mut x, mut q, mut w) = (self.v + self.a, self.a, self.b - self.a);
        let mut lim = g - w;
        for slot in rest {
            let k = *slot;
            let t = if (k as u64) < KP_TABLE as u64 { kpm[k as usize] } else { kp_far(k, p, g) };
            let s = q + t - g;
            let nq = select_unpredictable(s < 0, s + g, s);
            if nq > lim {
                // the interval straddles a quantum: the full step cuts it (out of line, so the
                // loop keeps its registers)
                (self.v, self.a, self.b) = (x - q, q, q + w);
                self.cut(k, t);
                *slot = self.v;
                (x, q, w) = (self.v + self.a, self.a, self.b - self.a);
                lim = g - w;
            } else {
                q = nq;
                x += k * p;
                *slot = x - q;
            }
        }
        (self.v, self.a, self.b) = (x - q, q, q + w);
    }

    /// [`Rel::step_zero`], out of line: [`Rel::run_zero`]'s step where a stamp cuts the interval.
    #[cold]
    #[inline(never)]
    fn cut(&mut self, k: i64, kpm: i64) {
        self.step_zero(k, kpm);
    }

    /// One value from its ticks `k` and residue `e` (`kpm = k·p mod g`), within the ranges
    /// [`undo_clock`] requires.
    #[inline(always)]
    fn step(&mut self, k: i64, e: i64, kpm: i64) {
        let Rel { v, a, b, r, g, p } = *self;
        let t = r + kpm;
        let t = select_unpredictable(t >= g, t - g, t);
        // m + t ≥ g, with m = a + ((b − a) >> 1) = (a + b) >> 1: a + b ≥ 2(g − t)
        let high = a + b >= 2 * (g - t);
        let tg = t - g;
        if e == 0 {
            self.step_zero(k, kpm);
        } else {
            let d = select_unpredictable(high, tg, t) - e;
            let (na, nb) = (max0(a + d), min_g(b + d, g));
            (self.a, self.b) = if na < nb { (na, nb) } else { (0, g) };
            self.v = v + k * p - d;
            self.r = e.rem_euclid(g);
        }
    }
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
    out.push(v0);
    // undone as each step is decoded (no second pass over the column)
    let mut acc = v0;
    let mut prev = 0i64;
    decode_map(c, m - 1, out, move |v| {
        // negated when the previous step was negative, without a branch: (d ^ m) − m, m = 0 or −1
        let m = prev >> 63;
        let d = (v.wrapping_mul(g) ^ m).wrapping_sub(m);
        prev = d;
        acc = acc.wrapping_add(d);
        acc
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::encode_column;
    use super::*;
    use crate::testutil::xorshift;

    fn rt(vals: &[i64], body: &[u8]) {
        let mut c = Cursor::new(body, 0, "test");
        let mut out = Vec::new();
        super::super::decode_column(&mut c, vals.len(), &mut out).unwrap();
        assert_eq!(out, vals);
    }

    /// A 15.6 ms tick floored to whole milliseconds, in ns, with same-tick pairs and long gaps.
    pub(in super::super) fn tick_clock(n: usize, seed: u64) -> Vec<i64> {
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
        encode_column_v1_3(&t, &mut v13, ClockGrid::Dense);
        assert_eq!(v13[0], PRED_CLOCK);
        assert!(v13.len() * 10 < v12.len() * 9, "{} vs {}", v13.len(), v12.len());
        rt(&t, &v13);
    }


    #[test]
    fn the_fast_undo_is_the_reference_loop() {
        let mut rnd = xorshift(0x9E37_79B9_7F4A_7C15);
        for g in [1i64, 3, 1_000_000, 1 << 40, 1 << 60, (1 << 60) + 1, 1 << 62] {
            for p in [1i64, 7, 15_600_000, 15_625_000, 1 << 54, (1 << 54) + 3, 1 << 62] {
                for v0 in [0i64, -5, 1_700_000_000_000_000_000, i64::MIN, i64::MAX, (1 << 61) - 1] {
                    let n = 300;
                    let ks: Vec<i64> = (0..n).map(|_| { let u = rnd(); if u.is_multiple_of(50) { u as i64 } else { (u % 70) as i64 - 3 } }).collect();
                    let es: Vec<i64> = (0..n).map(|_| { let u = rnd(); if u.is_multiple_of(5) { (u >> 3) as i64 >> (u % 64) } else { 0 } }).collect();
                    let want = undo_reference(v0, g, p, &ks, &es);
                    let mut got = ks.clone();
                    undo_clock(v0, g, p, &mut got, &es);
                    assert_eq!(got, want, "g {g} p {p} v0 {v0}");
                }
            }
        }
    }

    #[test]
    fn the_fast_undo_is_the_reference_loop_at_its_bounds() {
        // the latents a writer makes of tick clocks (runs of e = 0 that narrow the interval, long
        // gaps past the k·p table), from values near the bounds of the relative step (|v| near
        // 2^61, |e| near 2^60, g = 2^60) and across them partway through the chunk
        let check = |v0: i64, g: i64, p: i64, ks: &[i64], es: &[i64]| {
            let want = undo_reference(v0, g, p, ks, es);
            let mut got = ks.to_vec();
            undo_clock(v0, g, p, &mut got, es);
            assert_eq!(got, want, "g {g} p {p} v0 {v0}");
        };
        for seed in 1..6 {
            for base in [0i64, 1_700_000_000_000_000_000, (1 << 61) - 5_000_000_000_000, -(1 << 61) + 1, i64::MAX - (1 << 40)] {
                let t: Vec<i64> = tick_clock(3000, seed).iter().map(|&x| x.wrapping_add(base)).collect();
                for (g, p) in [(1_000_000, 15_600_000), (1_000_000, 15_625_000), (1, 16_666_667), (7, 15_600_000), (1 << 60, 3)] {
                    let (ks, es) = clock_latents(&t, g, p);
                    check(t[0], g, p, &ks, &es);
                }
            }
        }
        let edge = [0i64, 1, -1, (1 << 60) - 1, 1 << 60, -(1 << 60) + 1, -(1 << 60), 255, 256, 257, 1 << 20];
        for g in [1_000_000i64, (1 << 60) - 1, 1 << 60] {
            for p in [15_600_000i64, 1 << 40, (1 << 54) + 3] {
                for v0 in [0i64, (1 << 61) - 1, -(1 << 61) + 1, 1 << 61, -(1 << 61)] {
                    let ks: Vec<i64> = (0..edge.len() * edge.len()).map(|i| edge[i % edge.len()].rem_euclid(300)).collect();
                    let es: Vec<i64> = (0..edge.len() * edge.len()).map(|i| edge[i / edge.len()]).collect();
                    check(v0, g, p, &ks, &es);
                    let zeros = vec![0i64; ks.len()];
                    check(v0, g, p, &ks, &zeros);
                }
            }
        }
    }

    /// The reference walk of the writer: [`Grid::ticks`], [`Grid::predict`], [`Grid::update`].
    fn latents_reference(vals: &[i64], g: i64, p: i64) -> (Vec<i64>, Vec<i64>) {
        let mut grid = Grid::new(vals[0], g, p);
        let (mut ks, mut es) = (Vec::new(), Vec::new());
        for &v in &vals[1..] {
            let k = grid.ticks(v);
            ks.push(k);
            es.push(v.wrapping_sub(grid.predict(k)));
            grid.update(k, v);
        }
        (ks, es)
    }

    #[test]
    fn the_writers_walk_is_the_reference_walk() {
        let mut next = xorshift(0x2545_F491_4F6C_DD1D);
        let edge = [0i64, 1, -1, 7, 15_600_000, (1 << 50) - 1, 1 << 50, (1 << 52) - 1, 1 << 52, 1 << 61, -(1 << 61), i64::MAX, i64::MIN];
        for seed in 1..4 {
            for base in [0i64, 1_700_000_000_000_000_000, -(1 << 51), (1 << 52) - 40_000_000, i64::MAX - (1 << 40), i64::MIN + 5] {
                let mut t: Vec<i64> = tick_clock(3000, seed).iter().map(|&x| x.wrapping_add(base)).collect();
                // stamps off the grid, far jumps and the extremes among them
                for _ in 0..60 {
                    let i = (next() % 3000) as usize;
                    t[i] = match next() % 3 {
                        0 => edge[(next() % edge.len() as u64) as usize],
                        1 => t[i].wrapping_add((next() % 40_000_000) as i64 - 20_000_000),
                        _ => next() as i64,
                    };
                }
                for (g, p) in [(1_000_000, 15_600_000), (1_000_000, 15_625_000), (1, 16_666_667), (7, 15_600_000), (1 << 60, 3), (3, (1 << 50) + 1), (1 << 62, 1 << 62)] {
                    assert_eq!(clock_latents(&t, g, p), latents_reference(&t, g, p), "g {g} p {p} base {base}");
                    let (ks, es) = latents_reference(&t, g, p);
                    let hits = es.iter().filter(|&&e| e == 0).count();
                    assert!(possible_hits(&t, g, p) >= hits, "g {g} p {p} base {base}: {} < {hits}", possible_hits(&t, g, p));
                    assert!(may_hit(&t, g, p, hits), "g {g} p {p} base {base}");
                    for need in [0, hits / 2, hits, hits + 1] {
                        let walked = clock_latents_hitting(&t, g, p, need);
                        assert_eq!(walked, (hits >= need).then(|| (hits, (ks.clone(), es.clone()))), "need {need}");
                    }
                }
            }
        }
    }

    #[test]
    fn possible_hits_bounds_the_walks_hits_and_rules_out_random_steps() {
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
        for case in 0..400 {
            let (g, p) = [(1_000_000i64, 15_600_000i64), (1_000_000, 15_625_000), (1_000_000, 16_666_667), (1, 16_666_667), (7, 15_600_000), (3, 7), (999_999, 1_000_000)][case % 7];
            let jitter = [0i64, 1, g / 2 + 1, g, 3 * g, p][case / 7 % 6];
            let mut tick = (next() % 1_000) as i64;
            // ticks of p floored to g, each stamp moved by up to `jitter` (at most the same
            // stamp again: a clock never goes back), some far gaps and keys' random steps
            let mut last = i64::MIN;
            let t: Vec<i64> = (0..600)
                .map(|_| {
                    tick += [1i64, 1, 7, 0, 2, 1, 60, 3][(next() % 8) as usize];
                    let mut v = (tick * p + 400_000) / g * g + (next() % (jitter as u64 + 1)) as i64;
                    if case % 5 == 4 {
                        v = last.max(0) + (next() % 400_000_000) as i64;
                    }
                    v = v.max(last);
                    last = v;
                    v
                })
                .collect();
            let (_, es) = latents_reference(&t, g, p);
            let hits = es.iter().filter(|&&e| e == 0).count();
            let bound = possible_hits(&t, g, p);
            assert!(bound >= hits, "case {case} g {g} p {p} jitter {jitter}: bound {bound} < hits {hits}");
            for need in [0, hits / 2, hits] {
                assert!(may_hit(&t, g, p, need), "case {case} need {need}");
            }
            assert!(!may_hit(&t, g, p, bound + 1), "case {case}");
            if case % 5 == 4 && g == 1_000_000 {
                // steps anywhere: about 2g/p of them can hit, far from the half a grid needs
                assert!(bound * 3 < t.len(), "case {case}: bound {bound}");
            }
        }
    }

    #[test]
    fn the_sparse_undos_runs_of_zeros_are_the_reference_loop() {
        // runs of zero residues long and short, the interval restarted (a residue) and cut
        // again and again as it narrows: periods whose remainder mod g is a small fraction of g
        // (few phases), one of 1/60 s in ns (every phase), tiny quanta and huge ones; ticks past
        // the k·p table and chunks too wide for the relative step (each event checked)
        let mut rnd = xorshift(0x2545_F491_4F6C_DD1D);
        for (g, p) in [(1_000_000i64, 15_600_000i64), (1_000_000, 15_625_000), (1_000_000, 16_666_667), (1, 16_666_667), (7, 3), (3, 7), (1 << 20, (1 << 20) + 1), (1 << 60, 5), (5, 1 << 40)] {
            for v0 in [0i64, 123_456_789, 1_700_000_000_000_000_000, -(1 << 61) + 1, i64::MAX - 5] {
                for density in [2u64, 7, 40, 1000] {
                    let n = 3000;
                    let ks: Vec<i64> = (0..n).map(|_| { let u = rnd(); match u % 100 { 0 => 300 + (u >> 40) as i64 % 700, 1 => 0, _ => [1, 1, 7, 7, 7, 8, 6, 2][(u >> 8) as usize % 8] } }).collect();
                    let es: Vec<i64> = (0..n).map(|_| { let u = rnd(); if u.is_multiple_of(density) { ((u >> 20) as i64 % 2001 - 1000).wrapping_mul((g / 3).max(1)) | 1 } else { 0 } }).collect();
                    let want = undo_reference(v0, g, p, &ks, &es);
                    let at: Vec<i64> = (0..n).filter(|&i| es[i] != 0).map(|i| i as i64).collect();
                    let res: Vec<i64> = es.iter().copied().filter(|&e| e != 0).collect();
                    let mut got = ks.clone();
                    undo_clock_sparse(v0, g, p, &mut got, &at, &res);
                    assert_eq!(got, want, "g {g} p {p} v0 {v0} density {density}");
                    // no residue at all: one run of the whole chunk
                    let zeros = vec![0i64; n];
                    let mut got = ks.clone();
                    undo_clock_sparse(v0, g, p, &mut got, &[], &[]);
                    assert_eq!(got, undo_reference(v0, g, p, &ks, &zeros), "g {g} p {p} v0 {v0}");
                }
            }
        }
    }

    #[test]
    fn the_grid_remainder_is_rem_euclid() {
        let mut r = 0x1234_5678_9ABC_DEF1u64;
        for g in [1i64, 2, 3, 7, 1_000_000, 15_600_000, (1 << 52) - 1, 1 << 52, (1 << 53) + 1, 1 << 61, 1 << 62] {
            let grid = Grid::new(0, g, 1);
            for c in [0i64, 1, -1, g - 1, g, -g, (1 << 52) - 1, -(1 << 52) + 1, 1 << 52, i64::MIN, i64::MAX] {
                assert_eq!(grid.rem(c), c.rem_euclid(g), "{c} mod {g}");
            }
            for _ in 0..2000 {
                r ^= r << 13;
                r ^= r >> 7;
                r ^= r << 17;
                let c = (r as i64) >> (r % 64);
                assert_eq!(grid.rem(c), c.rem_euclid(g), "{c} mod {g}");
            }
        }
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
        encode_column_v1_3(&xs, &mut v13, ClockGrid::Dense);
        assert_eq!(v13[0], PRED_SIGNED);
        rt(&xs, &v13);
        let mut b = Vec::new();
        encode_signed(&xs, 65536, &mut b);
        rt(&xs, &b);
    }

    /// The writer makes signed steps (and order 1, when they do not win) from order 1's latents,
    /// sized on the slices of a long column or on the whole of a short one: the bytes of the
    /// definitions, for columns on both sides of the sample's threshold.
    #[test]
    fn the_writers_signed_steps_are_the_definitions_bytes() {
        let walk = |n: usize, seed: u64, keep: u64| -> Vec<i64> {
            let (mut r, mut x, mut dir) = (seed, 0i64, 1i64);
            (0..n)
                .map(|_| {
                    r ^= r << 13;
                    r ^= r >> 7;
                    r ^= r << 17;
                    if r % keep == 0 {
                        dir = -dir;
                    }
                    x += dir * (r % 23) as i64 * 65536;
                    x
                })
                .collect()
        };
        // (short, long) columns that took signed steps: both ways of sizing them are covered
        let mut took = (0, 0);
        for n in [5, 600, 1500, SAMPLE_OVER, SAMPLE_OVER + 1, 4000, 9001] {
            // pointers that keep their direction for a while (signed steps win), or turn at random
            for keep in [2, 10, 40] {
                let xs = walk(n, 99 + n as u64, keep);
                let mut v13 = Vec::new();
                encode_column_v1_3(&xs, &mut v13, ClockGrid::Dense);
                let mut want = Vec::new();
                if v13[0] == PRED_SIGNED {
                    encode_signed(&xs, 65536, &mut want);
                    if n <= SAMPLE_OVER {
                        took.0 += 1;
                    } else {
                        took.1 += 1;
                    }
                } else {
                    encode_column(&xs, &mut want);
                }
                assert_eq!(v13, want, "{n} {keep}");
                rt(&xs, &v13);
            }
        }
        assert!(took.0 > 0 && took.1 > 0, "{took:?}");
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
