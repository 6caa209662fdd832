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
//!
//! The module is three layers, each in its own file:
//!
//! * `bins`: which bins to use (the greedy merges, the frequency precision) and each value's bin;
//! * `rans`: the entropy coder itself, latents to bytes and back;
//! * `predict`: the column layer: which predictor (k-th differences, a divisor, move-to-front, a
//!   split, flips) turns a column into small latents, and undoing it when reading;
//! * `v1_3`: the predictors of format 1.3 (a coarse clock's tick grid, pointer steps signed by the
//!   step before) and the writer's choice of them;
//! * `v1_4`: the clock grid of format 1.4, its residues stored sparsely and undone as the ticks
//!   are decoded.

mod bins;
mod predict;
mod rans;
mod v1_3;
mod v1_4;

pub use predict::{decode_codes, decode_column, encode_column, encode_flips, MAX_MTF_ALPHABET, MAX_ORDER, PRED_MTF, PRED_SPLIT, PRED_XOR};
pub(crate) use predict::{common_divisor, diffs, ExactDiv};
pub use rans::{decode, encode};
pub use v1_3::{encode_column_v1_3, ClockGrid, CLOCK_PERIODS, PRED_CLOCK, PRED_SIGNED};
pub use v1_4::PRED_CLOCK_SPARSE;

/// Most bins in one chunk (the bin index is one byte).
pub const MAX_BINS: usize = 256;
/// Largest frequency precision: `2^14` slots (a 16 KiB decode table).
pub const MAX_SCALE_BITS: u8 = 14;
/// rANS lower bound: states live in `[2^16, 2^32)`.
const RANS_L: u32 = 1 << 16;

#[cfg(test)]
mod tests {
    use super::bins::*;
    use super::predict::*;
    use super::*;
    use crate::bytes::{gcd, put_varint, varint_len, zigzag, Cursor};

    pub(super) use crate::testutil::xorshift;

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

    /// A move-to-front chunk by hand: the alphabet `alpha`, then the ranks as given.
    fn mtf_chunk(alpha: &[i64], ranks: &[i64]) -> Vec<u8> {
        let mut b = vec![PRED_MTF];
        put_varint(&mut b, alpha.len() as u64);
        for &a in alpha {
            put_varint(&mut b, zigzag(a));
        }
        put_varint(&mut b, 1);
        encode(ranks, &mut b);
        b
    }

    /// `decode_codes` of a chunk: the bytes and counts it gives, checked against
    /// `decode_column` of the same chunk (values, counts by a plain count); `None` when it
    /// leaves the chunk to `decode_column` (the cursor unmoved then).
    fn codes_of(b: &[u8], m: usize) -> crate::error::Result<Option<Vec<u8>>> {
        let mut c = Cursor::new(b, 0, "t");
        let mut out = vec![9u8];
        let Some(counts) = decode_codes(&mut c, m, &mut out)? else {
            assert_eq!(c.pos(), 0);
            return Ok(None);
        };
        assert_eq!(out[0], 9);
        let out = out.split_off(1);
        let mut want = Vec::new();
        decode_column(&mut Cursor::new(b, 0, "t"), m, &mut want).unwrap();
        assert_eq!(out.iter().map(|&v| i64::from(v)).collect::<Vec<_>>(), want);
        let mut plain = [0usize; 256];
        for &v in &out {
            plain[usize::from(v)] += 1;
        }
        assert_eq!(counts, plain);
        Ok(Some(out))
    }

    #[test]
    fn byte_codes_decode_with_their_counts_or_are_left_to_the_column_decoder() {
        let mut next = xorshift(0x3C6E_F372_FE94_F82B);
        // kind-like columns: long runs of one code, short bursts of others; every length from 1
        // (odd and even: the decoder's last value alone) and alphabets up to 256 codes
        for (case, d) in [1usize, 2, 3, 5, 17, 200, 256].into_iter().cycle().take(60).enumerate() {
            let n = 1 + case * 37 + (next() % 50) as usize;
            let codes: Vec<u8> = (0..d).map(|i| (255 - i) as u8).collect();
            let mut at = 0;
            let v: Vec<i64> = (0..n)
                .map(|_| {
                    if next().is_multiple_of(8) {
                        at = (next() % d as u64) as usize;
                    }
                    i64::from(codes[at])
                })
                .collect();
            let Some((head, ranks)) = latents_for(&v, Pred::Mtf) else { continue };
            let mut b = head;
            encode(&ranks, &mut b);
            let got = codes_of(&b, n).unwrap().expect("a move-to-front chunk of bytes");
            assert_eq!(got.iter().map(|&x| i64::from(x)).collect::<Vec<_>>(), v, "case {case}");
            // cut or with a bit flipped: an error or bytes, never a panic
            for cut in 0..b.len() {
                assert!(codes_of(&b[..cut], n).is_err(), "case {case} cut at {cut}");
            }
            for i in 0..b.len() {
                let mut f = b.clone();
                f[i] ^= 1 << (next() % 8);
                let _ = codes_of(&f, n);
            }
        }
        // other predictors, and alphabets holding a value outside a byte (used or not), are the
        // column decoder's: which refuses the value if it is used
        let mut b = Vec::new();
        encode_column(&(0..500).map(|i| (i * 7919) % 1013).collect::<Vec<_>>(), &mut b);
        assert_ne!(b[0], PRED_MTF);
        assert_eq!(codes_of(&b, 500).unwrap(), None);
        for alpha in [[1, 2, 256], [1, 2, -1]] {
            let ranks: Vec<i64> = (0..300).map(|i| i64::from(i % 9 == 0)).collect();
            assert_eq!(codes_of(&mtf_chunk(&alpha, &ranks), 300).unwrap(), None);
        }
        // order 0 (divisor g): bytes, counted; a value outside a byte, or g = 0, is the column
        // decoder's (which refuses it)
        let order0 = |g: u64, latents: &[i64]| {
            let mut b = vec![0u8];
            put_varint(&mut b, g);
            encode(latents, &mut b);
            b
        };
        for (g, n) in [(1u64, 1usize), (1, 2), (1, 777), (3, 1000), (85, 64)] {
            let latents: Vec<i64> = (0..n).map(|_| (next() % (255 / g + 1)) as i64).collect();
            let got = codes_of(&order0(g, &latents), n).unwrap().expect("an order-0 chunk of bytes");
            assert_eq!(got.iter().map(|&x| i64::from(x)).collect::<Vec<_>>(), latents.iter().map(|&q| q * g as i64).collect::<Vec<_>>());
        }
        for (g, latents) in [(1u64, vec![3, 256, 3]), (1, vec![-1, 0]), (2, vec![0, 128]), (0, vec![1, 2]), (u64::MAX, vec![0, 1])] {
            let b = order0(g, &latents);
            assert_eq!(codes_of(&b, latents.len()).unwrap(), None, "g {g}");
            let mut c = Cursor::new(&b, 0, "t");
            let mut out = Vec::new();
            let Some(None) = decode_codes(&mut c, latents.len(), &mut out).ok() else { panic!("g {g}") };
            assert!(out.is_empty());
        }
        let b = order0(1, &[1, 2, 3]);
        assert!(codes_of(&b[..b.len() - 1], 3).is_err());
        // a rank past the alphabet, at the first value, among others, last
        let alpha = [4, 1, 2];
        for at in [0, 1, 150, 299] {
            let mut ranks: Vec<i64> = (0..300).map(|i| i64::from(i % 11 == 3)).collect();
            ranks[at] = 3;
            let err = codes_of(&mtf_chunk(&alpha, &ranks), 300).unwrap_err().to_string();
            assert!(err.contains(&format!("rank 3 at value {at}")), "{err}");
        }
        assert_eq!(codes_of(&mtf_chunk(&alpha, &[0]), 0).unwrap(), Some(vec![]));
    }

    #[test]
    fn mtf_ranks_undo_as_a_plain_list_and_ranks_past_the_alphabet_are_refused() {
        let mut next = xorshift(0x6A09_E667_F3BC_C908);
        for d in [1usize, 2, 3, 9, 17, 256] {
            let alpha: Vec<i64> = (0..d as i64).map(|i| i * 1_000_003 - 5).collect();
            // long runs of rank 0 (the undo's fast path) broken by other ranks, first value too
            let ranks: Vec<i64> = (0..3001).map(|i| if i % 7 == 0 || next().is_multiple_of(4) { (next() % d as u64) as i64 } else { 0 }).collect();
            let mut list: Vec<usize> = (0..d).collect();
            let want: Vec<i64> = ranks
                .iter()
                .map(|&r| {
                    let x = list.remove(r as usize);
                    list.insert(0, x);
                    alpha[x]
                })
                .collect();
            let mut out = vec![11];
            decode_column(&mut Cursor::new(&mtf_chunk(&alpha, &ranks), 0, "t"), ranks.len(), &mut out).unwrap();
            assert_eq!(&out[1..], &want[..], "alphabet {d}");
            // a rank of the alphabet or past it, first, among zeros, last: an error naming it
            for at in [0, 1, 1500, 3000] {
                for bad in [d as i64, d as i64 + 1, 255, 256, i64::MAX, -1].into_iter().filter(|&b| b as u64 >= d as u64) {
                    let mut r = ranks.clone();
                    r[at] = bad;
                    let err = decode_column(&mut Cursor::new(&mtf_chunk(&alpha, &r), 0, "t"), r.len(), &mut Vec::new()).unwrap_err().to_string();
                    assert!(err.contains(&format!("rank {} at value {at}", bad as u64)), "{err}");
                }
            }
        }
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

    /// Order k undone the way FORMAT.md §5.5 states it: the k moments, then the latents times g,
    /// then one running sum per order (what the decoder now does as each latent is decoded).
    fn undo_order_by_definition(moments: &[i64], g: i64, latents: &[i64]) -> Vec<i64> {
        let k = moments.len();
        let mut v: Vec<i64> = moments.to_vec();
        let mut acc = moments[k - 1];
        for &q in latents {
            acc = acc.wrapping_add(q.wrapping_mul(g));
            v.push(acc);
        }
        for j in (0..k - 1).rev() {
            let mut acc = v[j];
            for x in &mut v[j + 1..] {
                acc = acc.wrapping_add(*x);
                *x = acc;
            }
        }
        v
    }

    #[test]
    fn orders_undone_as_decoded_equal_the_running_sums() {
        let mut next = xorshift(0x51_7CC1_B727_220A);
        for case in 0..600 {
            let k = 1 + case % 3;
            let n = k + 1 + (next() % 300) as usize;
            let wide = case % 5 == 0; // moments and latents that wrap
            let small = |x: u64| (x % 2001) as i64 - 1000;
            let moments: Vec<i64> = (0..k).map(|_| if wide { next() as i64 } else { small(next()) }).collect();
            let latents: Vec<i64> = (0..n - k).map(|_| if wide { next() as i64 } else { small(next()) }).collect();
            let g = [1u64, 3, 65_536, u64::MAX][case % 4];
            let mut b = vec![k as u8];
            for &m in &moments {
                put_varint(&mut b, zigzag(m));
            }
            put_varint(&mut b, g);
            encode(&latents, &mut b);
            let mut out = vec![7];
            decode_column(&mut Cursor::new(&b, 0, "t"), n, &mut out).unwrap();
            assert_eq!(&out[1..], &undo_order_by_definition(&moments, g as i64, &latents)[..], "case {case}");
        }
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
    fn gcds_four_at_once_are_each_pairs_gcd() {
        let mut next = xorshift(0x3C6E_F372_FE94_F82B);
        let edges = [(0, 0), (0, 7), (7, 0), (1, u64::MAX), (u64::MAX, u64::MAX), (1 << 63, 1 << 62), (65_536 * 3, 1_000_000), (12, 12), (1, 1), (0, 1 << 63)];
        for quad in edges.chunks(4) {
            let pairs: [(u64, u64); 4] = std::array::from_fn(|j| quad.get(j).copied().unwrap_or((9, 6)));
            let g = gcd_lanes(pairs);
            for (j, &(a, b)) in pairs.iter().enumerate() {
                assert_eq!(g[j], gcd(a, b), "gcd({a}, {b})");
            }
        }
        for _ in 0..20_000 {
            // lanes of very different lengths (a zero, a power of two, wide and narrow values)
            let pairs: [(u64, u64); 4] = std::array::from_fn(|_| {
                let g = next() >> (next() % 64);
                let mut pick = || {
                    let (x, y, s) = (next(), next(), next() % 64);
                    if x % 11 == 0 { 0 } else { (y >> s).wrapping_mul(g) }
                };
                (pick(), pick())
            });
            let g = gcd_lanes(pairs);
            for (j, &(a, b)) in pairs.iter().enumerate() {
                assert_eq!(g[j], gcd(a, b), "gcd({a}, {b})");
            }
        }
    }

    #[test]
    fn counting_at_once_equals_counting_one_by_one() {
        let mut next = xorshift(0x1234_5678_9ABC_DEF1u64);
        for case in 0..2_000 {
            let n = 1 + (next() % 300) as usize;
            let span = [1u64, 2, 16, 255, 256, 257, 5_000, 1 << 40][case % 8];
            let base = (next() % 1_000) as i64 - 500;
            // a stride of a power of two makes a dense table of one slot per multiple
            let stride = [1i64, 2, 3, 65_536, 1 << 20][case % 5];
            let v: Vec<i64> = (0..n).map(|_| base + (next() % span) as i64 * stride).collect();
            let mut one = Counts::for_values(&v);
            for &x in &v {
                one.add(x);
            }
            let mut all = Counts::for_values(&v);
            all.add_all(&v);
            assert_eq!(all.len, one.len, "span {span}");
            let mut sorted = all.entries();
            sorted.sort_unstable();
            assert_eq!(all.entries(), one.entries(), "span {span} stride {stride}");
            let mut want: Vec<(i64, u32)> = Vec::new();
            let mut w = v.clone();
            w.sort_unstable();
            for x in w {
                match want.last_mut() {
                    Some((y, c)) if *y == x => *c += 1,
                    _ => want.push((x, 1)),
                }
            }
            assert_eq!(sorted, want, "span {span} stride {stride}");
            let listed: Vec<(i64, u32)> =
                Counted::of(all).distinct.iter().map(|b| (b.lo, b.count as u32)).collect();
            assert_eq!(listed, want, "span {span} stride {stride}");
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

    /// The split base by the definition: the most frequent gcd ≥ 17 of the sampled pairs'
    /// differences, each gcd computed on the differences as they are.
    fn split_base_by_definition(vals: &[i64]) -> Option<u64> {
        let n = vals.len();
        if n < 256 {
            return None;
        }
        let mut found = Vec::new();
        for i in 0..512usize {
            let p = |m: usize, c: usize| (m * i + c) % n;
            let a = vals[p(7919, 0)].wrapping_sub(vals[p(104_729, 13)]).unsigned_abs();
            let b = vals[p(3571, 5)].wrapping_sub(vals[p(65_537, 29)]).unsigned_abs();
            let g = gcd(a, b);
            if g >= 17 {
                found.push(g);
            }
        }
        found.sort_unstable();
        let (mut g, mut c) = (0u64, 0usize);
        for run in found.chunk_by(|a, b| a == b) {
            if run.len() >= c {
                (g, c) = (run[0], run.len());
            }
        }
        if c == 0 || c < 16 {
            return None;
        }
        let r0 = vals[0].rem_euclid(g as i64);
        (0..n).step_by((n / 64).max(1)).any(|i| vals[i].rem_euclid(g as i64) != r0).then_some(g)
    }

    #[test]
    fn the_split_base_is_the_one_of_its_definition() {
        let mut next = xorshift(0x1234_5678_9ABC_DEF1);
        for case in 0..400 {
            let n = 256 + (next() % 3000) as usize;
            let base = [17u64, 125, 1_000, 65_536, 1 << 40][case % 5] as i64;
            let unit = [1i64, 3, 1_000_000, 1 << 16][case / 5 % 4];
            let rems = 1 + (next() % 4) as i64;
            let mut k = (next() % 1000) as i64;
            let v: Vec<i64> = (0..n)
                .map(|i| {
                    k += (next() % 50) as i64;
                    match case % 8 {
                        // extremes: differences of 2^63 and wrapping ones
                        0 => [i64::MIN, i64::MAX, 0, -1][(next() % 4) as usize],
                        1 => (next() as i64).wrapping_mul(unit),
                        // multiples of a unit but one value the pairs may not meet, and the
                        // spread values do: coprime pairs in the majority, the unit a base
                        2 => (next() as i64 % (1 << 40)).wrapping_mul(base) + i64::from(i == n / 64),
                        _ => (k * base + (next() as i64 % rems).abs()).wrapping_mul(unit),
                    }
                })
                .collect();
            assert_eq!(find_split_base(&v), split_base_by_definition(&v), "case {case}");
        }
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
            // as the encoder makes it: m − 2^32 fits 32 bits, the product 64
            let m_low = u64::try_from(m - (1 << 32)).unwrap();
            assert!(m_low < 1 << 32, "{f}");
            let q = |x: u32| ((u64::from(x) + ((u64::from(x) * m_low) >> 32)) >> l) as u32;
            for x in [0u32, 1, f - 1, f, u32::MAX, u32::MAX - 1, (u32::MAX / f) * f, (u32::MAX / f) * f - 1] {
                assert_eq!(((u128::from(x) * m) >> (32 + l)) as u32, x / f, "{x} / {f}");
                assert_eq!(q(x), x / f, "{x} / {f}");
            }
            for _ in 0..64 {
                let x = next() as u32;
                assert_eq!(((u128::from(x) * m) >> (32 + l)) as u32, x / f, "{x} / {f}");
                assert_eq!(q(x), x / f, "{x} / {f}");
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
    /// tournament tree of candidate merges implements.
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
    fn merging_with_the_pair_tree_equals_the_greedy_definition() {
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
    fn the_pair_tree_holds_the_largest_key_of_each_subtree_after_every_set() {
        let mut next = xorshift(0x0DDB_1A5E_5BAD_5EED);
        for k in [1usize, 2, 3, 7, 8, 9, 255, 256, 511] {
            let mut keys: Vec<u128> = (0..k).map(|l| cand_key((next() % 1000) as f64 - 500.0, l)).collect();
            let mut tree = PairTree::new(&keys);
            for step in 0..3 * k {
                let l = next() as usize % k;
                // a new key, or the pair gone (0), as the merges set them
                keys[l] = if step % 3 == 0 { 0 } else { cand_key((next() % 1000) as f64 - 500.0, l) };
                tree.set(l, keys[l]);
                let want = keys.iter().enumerate().filter(|(_, &key)| key != 0).max_by_key(|(_, &key)| key);
                assert_eq!(tree.top(), want.map(|(l, &key)| (l, key)), "{k} pairs, step {step}");
            }
        }
    }

    /// The move-to-front ranks by their definition: the alphabet in order of first appearance,
    /// each value's place in a plain list of it, moved to the front.
    fn mtf_by_definition(v: &[i64]) -> Option<(Vec<i64>, Vec<i64>)> {
        let mut alphabet: Vec<i64> = Vec::new();
        for &x in v {
            if !alphabet.contains(&x) {
                alphabet.push(x);
            }
        }
        if alphabet.len() > MAX_MTF_ALPHABET {
            return None;
        }
        let mut list = alphabet.clone();
        let ranks = v
            .iter()
            .map(|x| {
                let r = list.iter().position(|y| y == x).unwrap();
                let y = list.remove(r);
                list.insert(0, y);
                r as i64
            })
            .collect();
        Some((alphabet, ranks))
    }

    #[test]
    fn mtf_ranks_in_one_pass_are_those_of_the_definition() {
        let mut next = xorshift(0x05EE_D0FC_0DE5);
        for d in [1u64, 2, 3, 16, 17, 255, 256, 257, 300] {
            for n in [1usize, 2, 3, 63, 64, 65, 256, 257, 1000, 3000] {
                // runs (codes), a spread the plain array counts (a stride of a power of two),
                // and values wide apart (the hash table)
                for (shape, mul) in [(0, 1i64), (1, 65_536), (2, 1_000_003_007)] {
                    let mut cur = 0i64;
                    let v: Vec<i64> = (0..n)
                        .map(|i| {
                            // every value of the alphabet early on (so more than 256 are met
                            // when the column is long enough), then a skewed draw with runs
                            if (i as u64) < d {
                                cur = i as i64;
                            } else if shape == 0 || next().is_multiple_of(3) {
                                let (a, b) = (next() % d, next() % d);
                                cur = a.min(b) as i64;
                            }
                            cur.wrapping_mul(mul) - 7
                        })
                        .collect();
                    let got = latents_for(&v, Pred::Mtf);
                    let want = mtf_by_definition(&v);
                    assert_eq!(got.is_some(), want.is_some(), "d {d} n {n} shape {shape}");
                    if let (Some((head, ranks)), Some((alphabet, want_ranks))) = (got, want) {
                        assert_eq!(ranks, want_ranks, "d {d} n {n} shape {shape}");
                        let mut h = vec![PRED_MTF];
                        put_varint(&mut h, alphabet.len() as u64);
                        for &a in &alphabet {
                            put_varint(&mut h, zigzag(a));
                        }
                        put_varint(&mut h, 1);
                        assert_eq!(head, h, "d {d} n {n} shape {shape}");
                    }
                }
            }
        }
    }

    #[test]
    fn each_values_bin_at_once_equals_one_by_one() {
        let mut next = xorshift(0x00B1_B50F_0A11);
        for case in 0..600 {
            let n = 1 + (next() % 700) as usize;
            let span = [1u64, 3, 200, 5_000, 1 << 40][case % 5];
            let stride = [1i64, 65_536, 3][case % 3];
            let v: Vec<i64> = (0..n).map(|_| (next() % span) as i64 * stride - 99).collect();
            let mut map = Counts::for_values(&v);
            map.add_all(&v);
            let counted = Counted::of(map);
            let mut map = counted.map;
            // bins numbered as the encoder numbers them (any numbering under 256 does)
            for (i, b) in counted.distinct.iter().enumerate() {
                map.set(b.lo, (i % 256) as u32);
            }
            let mut got = vec![0u8; n];
            map.bins_into(&v, &mut got);
            let want: Vec<u8> = v.iter().map(|&x| map.get(x) as u8).collect();
            assert_eq!(got, want, "span {span} stride {stride} dense {:?}", map.dense.is_some());
        }
    }

    #[test]
    fn columns_of_bins_without_offsets_roundtrip_at_edge_lengths() {
        // every bin one value wide (no offset bits: the offsets loop is skipped), with and
        // without a bin of several values, through the hash table too
        for n in [1usize, 2, 3, 31, 32, 33, 63, 64, 65, 255, 256, 257, 4097] {
            for (k, mul) in [(2i64, 1i64), (3, 1), (5, 1 << 50), (40, 1)] {
                let v: Vec<i64> = (0..n as i64).map(|i| ((i * i + i / 7) % k) * mul).collect();
                rt(&v);
            }
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

