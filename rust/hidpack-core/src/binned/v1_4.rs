//! The clock grid of format 1.4 (`docs/FORMAT.md` §5.5, predictor 9): the grid of format 1.3
//! (predictor 7, `super::v1_3`) with its residues stored sparsely.
//!
//! On a clock the grid fits, nearly every residue is 0 (98.8 % of balabit's events): predictor 7
//! still codes one per event, a second rANS section stepped for every value, and its undo is a
//! second pass over the column. Predictor 9 stores the count of non-zero residues, then (when
//! there are any) their positions as gaps and their values, each a latent section of that count,
//! and only then the ticks. The residues come first so that a decoder has them in hand when it
//! meets the ticks. This one decodes the ticks, then undoes the grid in a pass over them, run of
//! zero residues by run (`super::v1_3::undo_clock_sparse`): between two residues a step is an
//! add and a select on the interval's offset in its quantum, the full step only where a stamp
//! cuts the interval. (The undo as the rANS loop's per-value closure measured slower: 8.1 against
//! 5.4 ns a value, its chain and the decode's in one loop body.)

use super::predict::estimate;
use super::bins::Counted;
use super::rans::{decode, encode, encode_counted};
use super::v1_3::{clock_head, undo_clock_sparse, PRED_CLOCK};
#[cfg(test)]
use super::v1_3::clock_latents;
use crate::bytes::{put_varint, zigzag, Cursor};
use crate::error::Result;

/// Predictor code of the clock grid with sparse residues (format 1.4).
pub const PRED_CLOCK_SPARSE: u8 = 9;

const _: () = assert!(PRED_CLOCK_SPARSE == PRED_CLOCK + 2);

/// The non-zero residues of `es`: the gap before each (positions `at` follow as
/// `at₀ = gap₀`, `atⱼ = atⱼ₋₁ + 1 + gapⱼ`) and its value.
fn sparse(es: &[i64]) -> (Vec<i64>, Vec<i64>) {
    let (mut gaps, mut vals) = (Vec::new(), Vec::new());
    let mut next = 0usize; // the first position the next gap counts from
    for (i, &e) in es.iter().enumerate() {
        if e != 0 {
            gaps.push((i - next) as i64);
            vals.push(e);
            next = i + 1;
        }
    }
    (gaps, vals)
}

/// The writer's estimate of the sparse residues' bytes (the count and, when there are any, the
/// two sections), as `estimate` sizes a latent section.
pub(super) fn estimate_sparse(es: &[i64]) -> usize {
    let (gaps, vals) = sparse(es);
    let n = crate::bytes::varint_len(gaps.len() as u64);
    if gaps.is_empty() {
        n
    } else {
        n + estimate(&gaps).0 + estimate(&vals).0
    }
}

/// Appends the body of a clock-grid chunk with sparse residues (quantum `g`, period `p`).
#[cfg(test)]
pub(super) fn encode_clock_sparse(vals: &[i64], g: i64, p: i64, out: &mut Vec<u8>) {
    let (ks, es) = clock_latents(vals, g, p);
    encode_clock_sparse_latents(vals[0], g, p, &ks, &es, None, out)
}

/// [`encode_clock_sparse`] of the ticks and residues `clock_latents` made of values from `v0`
/// (with the ticks' counts, when their estimate made them).
pub(super) fn encode_clock_sparse_latents(v0: i64, g: i64, p: i64, ks: &[i64], es: &[i64], ks_counted: Option<Counted>, out: &mut Vec<u8>) {
    let (gaps, res) = sparse(es);
    out.push(PRED_CLOCK_SPARSE);
    put_varint(out, zigzag(v0));
    put_varint(out, g as u64);
    put_varint(out, p as u64);
    put_varint(out, gaps.len() as u64);
    if !gaps.is_empty() {
        encode(&gaps, out);
        encode(&res, out);
    }
    match ks_counted {
        Some(counted) => encode_counted(ks, counted, out),
        None => encode(ks, out),
    }
}

/// Decodes the rest of a clock-grid chunk with sparse residues of `m` values (the predictor byte
/// read).
pub(super) fn decode_clock_sparse(c: &mut Cursor, m: usize, out: &mut Vec<i64>) -> Result<()> {
    if m < 2 {
        return Err(c.err(format!("clock-grid chunk of {m} values; needs 2 or more")));
    }
    let (v0, g, p) = clock_head(c)?;
    let l = m - 1;
    // n ≤ L bounds both small sections' allocations by the chunk's own count
    let n = c.varint_usize(l as u64, "clock-grid non-zero residue count")?;
    let (mut at, mut res) = (Vec::new(), Vec::new());
    if n > 0 {
        decode(c, n, &mut at)?;
        // gaps to positions, each strictly after the one before and inside 0..L
        let mut next = 0u64;
        for (j, a) in at.iter_mut().enumerate() {
            let gap = *a as u64; // a negative gap is a huge one, refused below
            if gap >= l as u64 - next {
                return Err(c.err(format!(
                    "clock-grid residue {j} at gap {} after position {next}; the chunk has {l} residues",
                    *a
                )));
            }
            *a = (next + gap) as i64;
            next += gap + 1;
        }
        decode(c, n, &mut res)?;
        if let Some(j) = res.iter().position(|&e| e == 0) {
            return Err(c.err(format!("clock-grid residue {j} of {n} stored sparsely is 0")));
        }
    }
    let base = out.len();
    out.push(v0);
    decode(c, l, out)?;
    undo_clock_sparse(v0, g, p, &mut out[base + 1..], &at, &res);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::v1_3::tests::tick_clock;
    use super::super::v1_3::{encode_column_v1_3, undo_reference, ClockGrid};
    use super::*;
    use crate::testutil::xorshift;

    fn decoded(body: &[u8], m: usize) -> Result<Vec<i64>> {
        let mut c = Cursor::new(body, 0, "test");
        let mut out = Vec::new();
        super::super::decode_column(&mut c, m, &mut out)?;
        Ok(out)
    }

    /// A body of predictor 9 for hand-made latents (ticks, and residues as given: zeros dropped).
    fn body(v0: i64, g: i64, p: i64, ks: &[i64], es: &[i64]) -> Vec<u8> {
        let (gaps, res) = sparse(es);
        let mut b = vec![PRED_CLOCK_SPARSE];
        put_varint(&mut b, zigzag(v0));
        put_varint(&mut b, g as u64);
        put_varint(&mut b, p as u64);
        put_varint(&mut b, gaps.len() as u64);
        if !gaps.is_empty() {
            encode(&gaps, &mut b);
            encode(&res, &mut b);
        }
        encode(ks, &mut b);
        b
    }

    #[test]
    fn the_sparse_grid_decodes_to_the_reference_loop_at_its_bounds() {
        // as v1_3's test of the fast undo: tick clocks near the bounds of the relative step
        // (|v| near 2^61, |e| near 2^60, g = 2^60), wild latents, across the bounds mid-chunk
        let check = |v0: i64, g: i64, p: i64, ks: &[i64], es: &[i64]| {
            let mut want = vec![v0];
            want.extend(undo_reference(v0, g, p, ks, es));
            assert_eq!(decoded(&body(v0, g, p, ks, es), ks.len() + 1).unwrap(), want, "g {g} p {p} v0 {v0}");
        };
        for seed in 1..4 {
            for base in [0i64, 1_700_000_000_000_000_000, (1 << 61) - 5_000_000_000_000, -(1 << 61) + 1, i64::MAX - (1 << 40)] {
                let t: Vec<i64> = tick_clock(3000, seed).iter().map(|&x| x.wrapping_add(base)).collect();
                for (g, p) in [(1_000_000, 15_600_000), (1_000_000, 15_625_000), (1, 16_666_667), (7, 15_600_000), (1 << 60, 3)] {
                    let (ks, es) = clock_latents(&t, g, p);
                    check(t[0], g, p, &ks, &es);
                    let mut b = Vec::new();
                    encode_clock_sparse(&t, g, p, &mut b);
                    assert_eq!(decoded(&b, t.len()).unwrap(), t);
                }
            }
        }
        let edge = [0i64, 1, -1, (1 << 60) - 1, 1 << 60, -(1 << 60) + 1, -(1 << 60), 255, 256, 257, 1 << 20, i64::MIN, i64::MAX];
        let mut rnd = xorshift(0x9E37_79B9_7F4A_7C15);
        for g in [1i64, 1_000_000, (1 << 60) - 1, 1 << 60, (1 << 60) + 1, 1 << 62] {
            for p in [1i64, 15_600_000, 1 << 40, (1 << 54) + 3, 1 << 62] {
                for v0 in [0i64, (1 << 61) - 1, -(1 << 61) + 1, 1 << 61, -(1 << 61), i64::MIN, i64::MAX] {
                    let ks: Vec<i64> = (0..edge.len() * edge.len()).map(|i| edge[i % edge.len()].rem_euclid(300)).collect();
                    let es: Vec<i64> = (0..edge.len() * edge.len()).map(|i| edge[i / edge.len()]).collect();
                    check(v0, g, p, &ks, &es);
                    check(v0, g, p, &ks, &vec![0; ks.len()]);
                    let ks: Vec<i64> = (0..300).map(|_| { let u = rnd(); if u.is_multiple_of(50) { u as i64 } else { (u % 70) as i64 - 3 } }).collect();
                    // residues at the chunk's first and last positions, and runs of them
                    let es: Vec<i64> = (0..300).map(|i| { let u = rnd(); if i == 0 || i == 299 || u.is_multiple_of(5) { (u >> 3) as i64 >> (u % 64) | 1 } else { 0 } }).collect();
                    check(v0, g, p, &ks, &es);
                }
            }
        }
    }

    #[test]
    fn the_writer_asked_for_sparse_residues_writes_predictor_9_as_small_as_7() {
        // a 15.6 ms tick floored to ms, one stamp in a hundred a millisecond late (a residue)
        let mut r = 7u64;
        let mut tick = 0i64;
        let t: Vec<i64> = (0..20_000)
            .map(|_| {
                r ^= r << 13;
                r ^= r >> 7;
                r ^= r << 17;
                tick += [1, 1, 7, 7, 7, 8, 6, 2][(r % 8) as usize];
                let late = i64::from(r % 100 == 42);
                ((tick * 15_600_000 + 400_000) / 1_000_000 + late) * 1_000_000
            })
            .collect();
        let (mut dense, mut sparse) = (Vec::new(), Vec::new());
        encode_column_v1_3(&t, &mut dense, ClockGrid::Dense);
        encode_column_v1_3(&t, &mut sparse, ClockGrid::Sparse);
        assert_eq!((dense[0], sparse[0]), (PRED_CLOCK, PRED_CLOCK_SPARSE));
        // about as small (the gaps cost about what the zeros' entropy did): within 1 %
        assert!(sparse.len() * 100 < dense.len() * 101, "{} vs {}", sparse.len(), dense.len());
        assert_eq!(decoded(&sparse, t.len()).unwrap(), t);
        // a clock exactly on the grid: no residue, no sections but the ticks
        let exact: Vec<i64> = (0..500).map(|i| i * 15_625_000 / 1_000_000 * 1_000_000).collect();
        let mut b = Vec::new();
        encode_clock_sparse(&exact, 1_000_000, 15_625_000, &mut b);
        assert_eq!(decoded(&b, exact.len()).unwrap(), exact);
    }

    #[test]
    fn positions_and_counts_outside_the_chunk_are_corruption() {
        let (g, p) = (1_000_000i64, 15_600_000i64);
        let head = |n: u64, out: &mut Vec<u8>| {
            out.push(PRED_CLOCK_SPARSE);
            put_varint(out, 0);
            put_varint(out, g as u64);
            put_varint(out, p as u64);
            put_varint(out, n);
        };
        let ks = vec![1i64; 9]; // m = 10, L = 9
        let err = |gaps: &[i64], res: &[i64], n: u64| {
            let mut b = Vec::new();
            head(n, &mut b);
            if !gaps.is_empty() {
                encode(gaps, &mut b);
                encode(res, &mut b);
            }
            encode(&ks, &mut b);
            decoded(&b, 10).unwrap_err().to_string()
        };
        // more residues than values
        assert!(err(&[0; 10], &[1; 10], 10).contains("exceeds the limit 9"));
        // a position at L, past it, and a negative gap
        assert!(err(&[9], &[1], 1).contains("gap 9"));
        assert!(err(&[4, 4], &[1, 1], 2).contains("gap 4 after position 5"));
        assert!(err(&[-1], &[1], 1).contains("gap -1"));
        // a residue stored as 0
        assert!(err(&[2, 0], &[5, 0], 2).contains("residue 1 of 2"));
        // the last position (8) and the first (0) are fine
        let mut b = Vec::new();
        head(2, &mut b);
        encode(&[0, 7], &mut b);
        encode(&[3, -3], &mut b);
        encode(&ks, &mut b);
        let mut want = vec![0];
        want.extend(undo_reference(0, g, p, &ks, &[3, 0, 0, 0, 0, 0, 0, 0, -3]));
        assert_eq!(decoded(&b, 10).unwrap(), want);
        // fewer values than a grid needs
        assert!(decoded(&b, 1).is_err());
    }

    #[test]
    fn truncations_and_flips_are_errors_or_values() {
        let t = tick_clock(200, 5);
        let mut b = Vec::new();
        encode_clock_sparse(&t, 1_000_000, 15_600_000, &mut b);
        for cut in 0..b.len() {
            assert!(decoded(&b[..cut], t.len()).is_err(), "cut at {cut}");
        }
        for i in 0..b.len() * 8 {
            let mut f = b.clone();
            f[i / 8] ^= 1 << (i % 8);
            let _ = decoded(&f, t.len());
        }
    }
}
