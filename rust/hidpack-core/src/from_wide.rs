//! The wide table, written: a table given as one column per field (Python's dict of numpy
//! columns, see docs/ARCHITECTURE.md "Python in-memory form of a table") made into an
//! [`EventTable`], whose kinds keep their own columns.
//!
//! The input ([`WideInput`]) has `t`, `kind`, and for each field that the caller gives a column
//! of values as long as `t` with an optional validity column: row `i`'s value is its event's when
//! the event's kind has that field, and must be absent (`false` in the validity column, or the
//! column not given) when it has not. [`build_table`] checks all of that and every value, and
//! names the caller's row in an error.
//!
//! How. Most tables are fine, so the build is optimistic: each kind's values are gathered eight
//! rows at a time ([`crate::table::gather_by_kind`]), converted in passes the compiler
//! vectorises, and the result is validated once ([`EventTable::validate`]); a field filled on a
//! kind that lacks it is found by one pass per validity column (an OR of `present << kind`). Only
//! when that fails, or the input is unusual (a string column, a required field given no column,
//! a coordinate that is not exact), is the table built again row by row, to say which row is
//! wrong and why.
//!
//! > Why? The row-by-row build cost about 24 ns an event, a seventh of `write_table` on a
//! > session of mouse events; the optimistic one about a third of that.

use std::borrow::Cow;

use crate::error::{Error, Result, ValueError};
use crate::model::{coord_from_f64, Field, FieldType, Kind, ALL_FIELDS, NUM_FIELDS, NUM_KINDS};
use crate::table::{byte_counts, gather_by_kind, Column, EventTable};

/// A column's values as the caller holds them (borrowed or owned).
pub enum WideVals<'a> {
    F64(Cow<'a, [f64]>),
    I64(Cow<'a, [i64]>),
    Bool(Cow<'a, [bool]>),
    Str(Cow<'a, [Option<String>]>),
}

impl WideVals<'_> {
    fn len(&self) -> usize {
        match self {
            WideVals::F64(v) => v.len(),
            WideVals::I64(v) => v.len(),
            WideVals::Bool(v) => v.len(),
            WideVals::Str(v) => v.len(),
        }
    }
    fn into_owned(self) -> WideVals<'static> {
        match self {
            WideVals::F64(v) => WideVals::F64(Cow::Owned(v.into_owned())),
            WideVals::I64(v) => WideVals::I64(Cow::Owned(v.into_owned())),
            WideVals::Bool(v) => WideVals::Bool(Cow::Owned(v.into_owned())),
            WideVals::Str(v) => WideVals::Str(Cow::Owned(v.into_owned())),
        }
    }
}

struct WideField<'a> {
    vals: WideVals<'a>,
    valid: Option<Cow<'a, [bool]>>,
}

/// A table as one column per field (see the module docs): the caller's memory
/// ([`Cow::Borrowed`]) or copies of it ([`WideInput::into_owned`]).
pub struct WideInput<'a> {
    t: Cow<'a, [i64]>,
    kind: Cow<'a, [u8]>,
    fields: Vec<Option<WideField<'a>>>,
}

impl<'a> WideInput<'a> {
    /// A table of `t` and `kind` and no fields yet.
    pub fn new(t: Cow<'a, [i64]>, kind: Cow<'a, [u8]>) -> Self {
        WideInput { t, kind, fields: (0..NUM_FIELDS).map(|_| None).collect() }
    }

    /// Give `field`'s column (and its validity column: `false` where absent).
    pub fn set(&mut self, field: Field, vals: WideVals<'a>, valid: Option<Cow<'a, [bool]>>) {
        self.fields[field as usize] = Some(WideField { vals, valid });
    }

    /// Every column copied out (what a build needs when the caller's memory may change under it,
    /// e.g. Python arrays once the GIL is released).
    pub fn into_owned(self) -> WideInput<'static> {
        WideInput {
            t: Cow::Owned(self.t.into_owned()),
            kind: Cow::Owned(self.kind.into_owned()),
            fields: self
                .fields
                .into_iter()
                .map(|f| f.map(|f| WideField { vals: f.vals.into_owned(), valid: f.valid.map(|v| Cow::Owned(v.into_owned())) }))
                .collect(),
        }
    }

    pub fn rows(&self) -> usize {
        self.t.len()
    }
}

/// Build the [`EventTable`] of `input`, checked and validated (see the module docs).
pub fn build_table(input: WideInput<'_>) -> Result<EventTable> {
    let Some((mut table, all)) = build_fast(&input) else {
        return build_checked(input);
    };
    let WideInput { t, kind, fields } = input;
    table.t = t.into_owned();
    table.kind = kind.into_owned();
    match table.validate_counted(&all, u16::MAX) {
        Ok(()) => Ok(table),
        Err(e) => {
            // Again row by row, for an error that names the caller's row.
            let input = WideInput { t: Cow::Owned(std::mem::take(&mut table.t)), kind: Cow::Owned(std::mem::take(&mut table.kind)), fields };
            build_checked(input).and(Err(e))
        }
    }
}

/// Where one kind's rows are among the caller's.
enum Rows {
    /// Every row (the table has one kind).
    All,
    /// Most rows (a kind with more than half of them): gathered eight rows at a time, runs of the
    /// kind copied whole ([`gather_by_kind`]).
    Most(u8),
    /// A few rows: their numbers, listed once for all the kind's fields.
    Few(Vec<u32>),
}

impl Rows {
    fn of(kind: &[u8], code: u8, rows: usize) -> Rows {
        if rows == kind.len() {
            Rows::All
        } else if rows * 2 > kind.len() {
            Rows::Most(code)
        } else {
            let mut list = Vec::with_capacity(rows);
            let pat = u64::from(code) * ONES;
            let mut kc = kind.chunks_exact(8);
            let mut i = 0u32;
            for k8 in &mut kc {
                let k8: &[u8; 8] = k8.try_into().expect("chunks of 8");
                if has_zero_byte(u64::from_le_bytes(*k8) ^ pat) {
                    let idx: [u32; 8] = std::array::from_fn(|j| i + j as u32);
                    compact8(&mut list, &idx, k8, code);
                }
                i += 8;
            }
            for (j, &k) in kc.remainder().iter().enumerate() {
                if k == code {
                    list.push(i + j as u32);
                }
            }
            Rows::Few(list)
        }
    }

    /// Appends to `out` the values of `v` on these rows.
    fn gather<T: Copy + Default>(&self, out: &mut Vec<T>, v: &[T], kind: &[u8]) {
        match self {
            Rows::All => out.extend_from_slice(v),
            Rows::Most(code) => gather_by_kind(out, v, kind, *code),
            Rows::Few(list) => out.extend(list.iter().map(|&i| v[i as usize])),
        }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// Whether some byte of `x` is zero.
#[inline(always)]
fn has_zero_byte(x: u64) -> bool {
    x.wrapping_sub(ONES) & !x & (ONES << 7) != 0
}

/// Appends the `vals[j]` with `k8[j] == code`, without a branch per row.
#[inline(always)]
fn compact8<T: Copy + Default>(out: &mut Vec<T>, vals: &[T; 8], k8: &[u8; 8], code: u8) {
    let mut tmp = [T::default(); 8];
    let mut w = 0usize;
    for j in 0..8 {
        tmp[w & 7] = vals[j];
        w += usize::from(k8[j] == code);
    }
    out.extend_from_slice(&tmp[..w]);
}

/// How many of `v` are true (a pass the compiler vectorises).
fn count_true(v: &[bool]) -> usize {
    v.chunks(1 << 16).map(|c| c.iter().fold(0u32, |n, &p| n + u32::from(p)) as usize).sum()
}

/// The optimistic build: `None` where it declines (the careful build then runs), else the
/// kinds' columns, not yet validated (`t` and `kind` left empty), and the [`byte_counts`] of `kind`.
fn build_fast(raw: &WideInput<'_>) -> Option<(EventTable, [usize; 256])> {
    let n = raw.t.len();
    if raw.kind.len() != n || u32::try_from(n).is_err() {
        return None;
    }
    // every column as long as `t` (the careful build names the one that is not)
    let same_length = |rf: &WideField<'_>| rf.vals.len() == n && rf.valid.as_ref().is_none_or(|v| v.len() == n);
    if !raw.fields.iter().flatten().all(same_length) {
        return None;
    }
    let all = byte_counts(&raw.kind);
    if all[NUM_KINDS..].iter().any(|&c| c > 0) {
        return None;
    }
    let rows: Vec<Option<Rows>> =
        (0..NUM_KINDS).map(|k| (all[k] > 0).then(|| Rows::of(&raw.kind, k as u8, all[k]))).collect();
    // Per field: rows present in the kinds that have it, to check below that they are all the
    // rows present (none on a kind without the field).
    let mut present_in_kinds = [0usize; NUM_FIELDS];
    let mut table = EventTable::new();
    for kind in Kind::ALL {
        let k = kind as usize;
        let Some(rows) = &rows[k] else { continue };
        let count = all[k];
        for (pos, spec) in kind.fields().iter().enumerate() {
            let f = spec.field;
            let Some(rf) = &raw.fields[f as usize] else {
                if spec.required {
                    return None;
                }
                table.kinds[k].cols[pos] = Column::absent(f.ty(), count);
                continue;
            };
            let valid: Option<Vec<bool>> = match &rf.valid {
                None => {
                    present_in_kinds[f as usize] += count;
                    None
                }
                Some(v) => {
                    let mut g = Vec::with_capacity(count);
                    rows.gather(&mut g, v, &raw.kind);
                    let c = count_true(&g);
                    present_in_kinds[f as usize] += c;
                    (c != count).then_some(g)
                }
            };
            let col = match (&rf.vals, f.ty()) {
                (WideVals::F64(v), FieldType::Coord) => {
                    let mut g = Vec::with_capacity(count);
                    rows.gather(&mut g, v, &raw.kind);
                    let (vals, ok) = match &valid {
                        None => coords(g, |_| true),
                        Some(p) => coords(g, |j| p[j]),
                    };
                    if !ok {
                        return None;
                    }
                    Column::Int { vals, valid }
                }
                (WideVals::I64(v), FieldType::Int { .. }) => {
                    let mut vals = Vec::with_capacity(count);
                    rows.gather(&mut vals, v, &raw.kind);
                    if let Some(p) = &valid {
                        for (x, &p) in vals.iter_mut().zip(p) {
                            *x = if p { *x } else { 0 };
                        }
                    }
                    Column::Int { vals, valid }
                }
                (WideVals::Bool(v), FieldType::Bool) => {
                    let mut vals = Vec::with_capacity(count);
                    rows.gather(&mut vals, v, &raw.kind);
                    if let Some(p) = &valid {
                        for (x, &p) in vals.iter_mut().zip(p) {
                            *x &= p;
                        }
                    }
                    Column::Bool { vals, valid }
                }
                _ => return None,
            };
            table.kinds[k].cols[pos] = col;
        }
    }
    // A field present on a row of a kind without it would be lost: the careful build says where.
    for f in ALL_FIELDS {
        let Some(rf) = &raw.fields[f as usize] else { continue };
        let present = rf.valid.as_ref().map_or(n, |v| count_true(v));
        if present != present_in_kinds[f as usize] {
            return None;
        }
    }
    Some((table, all))
}

/// Coordinates in stored units (0 where absent), in place of the pixels `g`, and whether every
/// present one is exact and below 2^51 in magnitude (the careful build takes the rest).
///
/// The float is rounded by adding 1.5 * 2^52 (which leaves no fraction bits below units) and
/// read back from its bits: add, subtract and compare in vector registers, where a saturating
/// `as i64` cast is a scalar convert and two fix-ups per value.
///
/// Whether all are exact is a pass of its own, before the conversion: folded into the
/// conversion's closure, the flag lived in memory (the closure borrowed it), and each value's
/// update of it waited for the one before (most of the conversion's time).
#[inline(always)]
fn coords(g: Vec<f64>, present: impl Fn(usize) -> bool) -> (Vec<i64>, bool) {
    const MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52
    const LIMIT: f64 = 2_251_799_813_685_248.0; // 2^51
    let convert = |x: f64| {
        let q = x * 65536.0;
        let r = q + MAGIC;
        let raw = (r.to_bits() as i64).wrapping_sub(MAGIC.to_bits() as i64);
        let exact = (r - MAGIC == q) & (q.abs() < LIMIT);
        (raw, exact)
    };
    let ok = g.iter().enumerate().fold(true, |ok, (j, &x)| ok & (convert(x).1 | !present(j)));
    let vals = g.into_iter().enumerate().map(|(j, x)| if present(j) { convert(x).0 } else { 0 }).collect();
    (vals, ok)
}

fn verr(row: usize, field: &'static str, value: impl ToString, expected: impl Into<String>) -> Error {
    Error::Value(ValueError { row: Some(row as u64), field, value: value.to_string(), expected: expected.into() })
}

/// The careful build: every check row by row, so that an error names the caller's row. Run when
/// the fast build declines or its table fails validation.
fn build_checked(raw: WideInput<'_>) -> Result<EventTable> {
    let n = raw.t.len();
    if raw.kind.len() != n {
        return Err(Error::Usage(format!("`kind` has {} rows, `t` has {n}", raw.kind.len())));
    }
    let mut uses = [[false; NUM_FIELDS]; NUM_KINDS];
    for k in Kind::ALL {
        for s in k.fields() {
            uses[k as usize][s.field as usize] = true;
        }
    }
    for f in ALL_FIELDS {
        if let Some(rf) = &raw.fields[f as usize] {
            if rf.vals.len() != n {
                return Err(Error::Usage(format!("column `{}` has {} rows, `t` has {n}", f.name(), rf.vals.len())));
            }
            if let Some(v) = &rf.valid {
                if v.len() != n {
                    return Err(Error::Usage(format!("column `{}_valid` has {} rows, `t` has {n}", f.name(), v.len())));
                }
                // One branch-free pass (a kind code beyond the kinds is reported later, as such);
                // row by row only to name the first bad row.
                let mut lacks = [false; 256];
                for (k, u) in uses.iter().enumerate() {
                    lacks[k] = !u[f as usize];
                }
                if v.iter().zip(raw.kind.iter()).fold(false, |bad, (&p, &k)| bad | (p & lacks[k as usize])) {
                    for (i, (&p, &k)) in v.iter().zip(raw.kind.iter()).enumerate() {
                        if p && (k as usize) < NUM_KINDS && !uses[k as usize][f as usize] {
                            return Err(verr(
                                i,
                                f.name(),
                                "present",
                                format!("{} events have no `{}` field", Kind::ALL[k as usize].name(), f.name()),
                            ));
                        }
                    }
                }
            }
        }
    }
    // x and y are present together (reported with the row in the caller's table).
    let present = |f: Field, i: usize| {
        raw.fields[f as usize].as_ref().is_some_and(|rf| rf.valid.as_ref().is_none_or(|v| v[i]))
    };
    for (i, &k) in raw.kind.iter().enumerate() {
        if (k == Kind::Button as u8 || k == Kind::Scroll as u8) && present(Field::X, i) != present(Field::Y, i) {
            let (has, lacks) = if present(Field::X, i) { ("x", "y") } else { ("y", "x") };
            return Err(verr(i, lacks, "absent", format!("`{has}` is present, and a position needs both x and y")));
        }
    }
    // Column by column, per kind (one pass per field instead of one per row and field).
    let all = byte_counts(&raw.kind);
    if all[NUM_KINDS..].iter().any(|&c| c > 0) {
        let i = raw.kind.iter().position(|&k| k as usize >= NUM_KINDS).unwrap_or(0);
        return Err(verr(i, "kind", raw.kind[i], "a kind code 0..=8"));
    }
    let mut count = [0usize; NUM_KINDS];
    count.copy_from_slice(&all[..NUM_KINDS]);
    let single = count.iter().filter(|c| **c > 0).count() <= 1;
    let mut table = EventTable::new();
    for kind in Kind::ALL {
        let k = kind as usize;
        if count[k] == 0 {
            continue;
        }
        // The caller's rows of this kind (all rows when the table has one kind).
        let rows: Vec<usize> = if single {
            (0..n).collect()
        } else {
            raw.kind.iter().enumerate().filter(|(_, &c)| c as usize == k).map(|(i, _)| i).collect()
        };
        let kt = &mut table.kinds[k];
        for (pos, spec) in kind.fields().iter().enumerate() {
            let f = spec.field;
            let required_err = |i: usize| {
                verr(i, f.name(), "absent", format!("`{}` is required for {} events", f.name(), kind.name()))
            };
            let Some(rf) = &raw.fields[f as usize] else {
                if spec.required {
                    return Err(required_err(rows[0]));
                }
                let col = &mut kt.cols[pos];
                for _ in 0..rows.len() {
                    push_absent(col);
                }
                continue;
            };
            let valid: Option<Vec<bool>> = rf.valid.as_ref().and_then(|v| {
                let g: Vec<bool> = if single { v.to_vec() } else { rows.iter().map(|&i| v[i]).collect() };
                (!g.iter().fold(true, |all, &p| all & p)).then_some(g)
            });
            if spec.required {
                if let Some(v) = &valid {
                    let j = v.iter().position(|p| !*p).expect("some row is absent");
                    return Err(required_err(rows[j]));
                }
            }
            let present = |j: usize| valid.as_ref().is_none_or(|v| v[j]);
            let col = match (&rf.vals, f.ty()) {
                (WideVals::F64(v), FieldType::Coord) => {
                    // One branch-free pass; row by row only to name the first bad value.
                    let mut ok = true;
                    let mut conv = |j: usize, x: f64| {
                        let (exact, raw) = coord_raw(x);
                        let p = present(j);
                        ok &= exact | !p;
                        if p { raw } else { 0 }
                    };
                    let vals: Vec<i64> = if single {
                        v.iter().enumerate().map(|(j, &x)| conv(j, x)).collect()
                    } else {
                        rows.iter().enumerate().map(|(j, &i)| conv(j, v[i])).collect()
                    };
                    if !ok {
                        for (j, &i) in rows.iter().enumerate() {
                            if present(j) && !coord_raw(v[i]).0 {
                                return Err(match coord_from_f64(v[i], f.name(), Some(i as u64)) {
                                    Err(e) => e,
                                    Ok(_) => verr(i, f.name(), v[i], "an exact coordinate"),
                                });
                            }
                        }
                    }
                    Column::Int { vals, valid }
                }
                (WideVals::I64(v), FieldType::Int { min, max }) => {
                    let mut vals = Vec::with_capacity(rows.len());
                    for (j, &i) in rows.iter().enumerate() {
                        if !present(j) {
                            vals.push(0);
                        } else if v[i] < min || v[i] > max {
                            return Err(verr(i, f.name(), v[i], format!("must be within {min}..={max}")));
                        } else {
                            vals.push(v[i]);
                        }
                    }
                    Column::Int { vals, valid }
                }
                (WideVals::Bool(v), FieldType::Bool) => {
                    Column::Bool { vals: rows.iter().enumerate().map(|(j, &i)| present(j) && v[i]).collect(), valid }
                }
                (WideVals::Str(v), FieldType::Str) => {
                    let mut c = Column::new_for(FieldType::Str);
                    for (j, &i) in rows.iter().enumerate() {
                        match (&v[i], present(j)) {
                            (Some(s), true) => c.push_str(Some(s)),
                            (None, true) if spec.required => {
                                return Err(verr(i, f.name(), "None", format!("`{}` is required for {} events", f.name(), kind.name())))
                            }
                            _ => c.push_str(None),
                        }
                    }
                    c
                }
                _ => return Err(Error::Usage(format!("column `{}` has the wrong type", f.name()))),
            };
            kt.cols[pos] = col;
        }
    }
    table.t = raw.t.into_owned();
    table.kind = raw.kind.into_owned();
    table.validate()?;
    Ok(table)
}

/// `x` pixels in 1/65536 units, and whether that is exact and in range (an integer of magnitude
/// at most 2^53; NaN is not).
#[inline(always)]
fn coord_raw(x: f64) -> (bool, i64) {
    let q = x * 65536.0;
    let raw = q as i64;
    (q.abs() <= (1u64 << 53) as f64 && raw as f64 == q, raw)
}

fn push_absent(col: &mut Column) {
    match col {
        Column::Int { .. } => col.push_int(None),
        Column::Bool { .. } => col.push_bool(None),
        Column::Str { .. } => col.push_str(None),
    }
}


#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A wide table over the kinds move (0), button (2), scroll (3) and key (4): every field
    /// these kinds have, present where `present[i]` (and the kind has the field).
    fn table(kinds: &[u8], present: &[bool], vals: &[i64]) -> WideInput<'static> {
        let n = kinds.len();
        let has = |f: Field, k: u8| Kind::ALL[k as usize].fields().iter().any(|s| s.field == f);
        let mut w = WideInput::new(Cow::Owned((0..n as i64).collect()), Cow::Owned(kinds.to_vec()));
        for f in [Field::X, Field::Y, Field::Dx, Field::Dy, Field::Buttons, Field::Button, Field::Pressed, Field::Usage, Field::Native] {
            // x and y present together; a required field always present
            let valid: Vec<bool> = (0..n)
                .map(|i| {
                    let req = Kind::ALL[kinds[i] as usize].fields().iter().any(|s| s.field == f && s.required);
                    let p = if matches!(f, Field::Y) { present[i] } else { present[i] || req };
                    has(f, kinds[i]) && (req || if matches!(f, Field::X) { present[i] } else { p })
                })
                .collect();
            let v = match f.ty() {
                FieldType::Coord => WideVals::F64(Cow::Owned((0..n).map(|i| vals[i] as f64 / 4.0).collect())),
                FieldType::Int { .. } => WideVals::I64(Cow::Owned((0..n).map(|i| vals[i].rem_euclid(200)).collect())),
                FieldType::Bool => WideVals::Bool(Cow::Owned((0..n).map(|i| vals[i] & 1 == 1).collect())),
                FieldType::Str => unreachable!(),
            };
            w.set(f, v, Some(Cow::Owned(valid)));
        }
        w
    }

    fn copy(w: &WideInput<'_>) -> WideInput<'static> {
        let mut c = WideInput::new(Cow::Owned(w.t.to_vec()), Cow::Owned(w.kind.to_vec()));
        for f in ALL_FIELDS {
            if let Some(rf) = &w.fields[f as usize] {
                let vals = match &rf.vals {
                    WideVals::F64(v) => WideVals::F64(Cow::Owned(v.to_vec())),
                    WideVals::I64(v) => WideVals::I64(Cow::Owned(v.to_vec())),
                    WideVals::Bool(v) => WideVals::Bool(Cow::Owned(v.to_vec())),
                    WideVals::Str(v) => WideVals::Str(Cow::Owned(v.to_vec())),
                };
                c.set(f, vals, rf.valid.as_ref().map(|v| Cow::Owned(v.to_vec())));
            }
        }
        c
    }

    fn set_valid(w: &mut WideInput<'_>, f: Field, row: usize, p: bool) {
        let v = w.fields[f as usize].as_mut().unwrap().valid.as_mut().unwrap().to_mut();
        v[row] = p;
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// The optimistic build gives the careful build's table, on tables of one kind, of a
        /// main kind with a few others (eight-row chunks of every mix), and of even mixes.
        #[test]
        fn fast_build_is_the_careful_build(
            rows in prop::collection::vec((0u8..8, any::<bool>(), -4000i64..4000), 0..300),
            main in prop::sample::select(vec![0u8, 2, 3, 4]),
        ) {
            let kinds: Vec<u8> = rows.iter().map(|r| match r.0 { 0..=4 => main, 5 => 2, 6 => 3, _ => 4 }).collect();
            let present: Vec<bool> = rows.iter().map(|r| r.1).collect();
            let vals: Vec<i64> = rows.iter().map(|r| r.2).collect();
            let w = table(&kinds, &present, &vals);
            let (fast, _) = build_fast(&w).expect("a table the fast build takes");
            let careful = build_checked(copy(&w)).unwrap();
            let built = build_table(w).unwrap();
            prop_assert_eq!(&built, &careful);
            prop_assert_eq!(&fast.kinds, &careful.kinds);
        }

        /// Every kind of bad input gets the careful build's error, which names the caller's row.
        #[test]
        fn errors_name_the_callers_row(
            rows in prop::collection::vec((0u8..8, any::<bool>(), -4000i64..4000), 1..200),
            pick in any::<prop::sample::Index>(),
            what in 0u8..5,
        ) {
            let kinds: Vec<u8> = rows.iter().map(|r| match r.0 { 0..=4 => 0, 5 => 2, 6 => 3, _ => 4 }).collect();
            let present: Vec<bool> = rows.iter().map(|r| r.1).collect();
            let vals: Vec<i64> = rows.iter().map(|r| r.2).collect();
            let mut w = table(&kinds, &present, &vals);
            let row = pick.index(kinds.len());
            let k = kinds[row];
            // values only on the kinds whose fields they hit (move, scroll), else a misplaced field
            let what = if matches!(k, 0 | 3) || what == 4 { what } else { what % 2 };
            let (field, expect) = match what {
                // a field given on a kind without it
                0 => {
                    let f = if k == 4 { Field::X } else { Field::Usage };
                    set_valid(&mut w, f, row, true);
                    (f.name(), "have no")
                }
                // a required field absent
                1 => {
                    let f = Kind::ALL[k as usize].fields()[0].field;
                    set_valid(&mut w, f, row, false);
                    (f.name(), "is required")
                }
                // a coordinate that is not a whole number of 1/65536 pixels
                2 => {
                    let f = if k == 0 { Field::X } else { Field::Dx };
                    if let WideVals::F64(v) = &mut w.fields[f as usize].as_mut().unwrap().vals {
                        v.to_mut()[row] = 0.1 / 65536.0;
                    }
                    (f.name(), "")
                }
                // an integer out of its range, a coordinate that is not a number
                3 => {
                    let f = if k == 0 { Field::Buttons } else { Field::Dy };
                    set_valid(&mut w, f, row, true);
                    match &mut w.fields[f as usize].as_mut().unwrap().vals {
                        WideVals::F64(v) => v.to_mut()[row] = f64::NAN,
                        WideVals::I64(v) => v.to_mut()[row] = -1,
                        _ => unreachable!(),
                    }
                    (f.name(), "")
                }
                // a kind code beyond the kinds
                _ => {
                    w.kind.to_mut()[row] = 200;
                    ("kind", "a kind code")
                }
            };
            let careful = build_checked(copy(&w)).unwrap_err();
            let got = build_table(w).unwrap_err();
            prop_assert_eq!(got.to_string(), careful.to_string());
            match got {
                Error::Value(ValueError { row: Some(r), field: f, expected, .. }) => {
                    prop_assert_eq!(r as usize, row);
                    prop_assert_eq!(f, field);
                    prop_assert!(expected.contains(expect), "{}", expected);
                }
                e => prop_assert!(false, "not a value error: {e}"),
            }
        }
    }

    #[test]
    fn one_inexact_coordinate_anywhere_declines_unless_absent() {
        // every length of a vector loop's body and tails, the bad value at every place
        for n in [1usize, 2, 3, 4, 7, 8, 9, 15, 16, 17, 33, 64, 65] {
            let good: Vec<f64> = (0..n).map(|i| i as f64 * 1.25 - 3.0).collect();
            let (v, ok) = coords(good.clone(), |_| true);
            assert!(ok, "n {n}");
            assert_eq!(v, good.iter().map(|&x| coord_raw(x).1).collect::<Vec<_>>(), "n {n}");
            for bad in 0..n {
                let mut g = good.clone();
                g[bad] = if bad % 2 == 0 { f64::NAN } else { 0.25 / 65536.0 };
                assert!(!coords(g.clone(), |_| true).1, "n {n} bad {bad}");
                let (v, ok) = coords(g, |j| j != bad);
                assert!(ok, "n {n} bad {bad} absent");
                assert_eq!(v[bad], 0, "n {n} bad {bad}: an absent coordinate is 0");
            }
        }
        assert_eq!(coords(Vec::new(), |_| true), (Vec::new(), true));
    }

    #[test]
    fn coordinates_convert_as_the_careful_build_does() {
        for x in [0.0, -0.0, 1.5, -1.5, 1e6 + 0.25, -123456.0078125, 2f64.powi(34), -(2f64.powi(34)) + 1.0 / 65536.0] {
            let (exact, raw) = coord_raw(x);
            assert!(exact, "{x}");
            let (v, ok) = coords(vec![x], |_| true);
            assert!(ok, "{x}");
            assert_eq!(v, vec![raw], "{x}");
        }
        // not a whole number of units, NaN, infinite, beyond 2^51 units: the fast path declines
        for x in [0.5 / 65536.0, f64::NAN, f64::INFINITY, 2f64.powi(35)] {
            assert!(!coords(vec![x], |_| true).1, "{x}");
            assert!(coords(vec![x], |_| false).1, "absent: {x}");
        }
    }

    #[test]
    fn rows_lists_and_runs_pick_the_kinds_rows() {
        let kinds: Vec<u8> = (0..1000u32).map(|i| if i % 7 == 0 { 2 } else if i % 13 == 0 { 3 } else { 0 }).collect();
        let v: Vec<u32> = (0..1000).collect();
        for code in [0u8, 2, 3] {
            let want: Vec<u32> = v.iter().copied().filter(|&i| kinds[i as usize] == code).collect();
            let rows = Rows::of(&kinds, code, want.len());
            assert_eq!(matches!(rows, Rows::Most(_)), code == 0);
            let mut got = Vec::new();
            rows.gather(&mut got, &v, &kinds);
            assert_eq!(got, want, "kind {code}");
        }
    }
}
