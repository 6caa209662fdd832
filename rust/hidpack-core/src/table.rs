//! [`EventTable`]: a run of events in columnar form, the unit the codec encodes and decodes.
//!
//! The global columns `t` and `kind` hold every event in push order. Each kind's fields live in
//! that kind's [`KindTable`], whose rows are the events of that kind in the same order. A field's
//! column is dense (absent values hold 0 / false / "") with an optional validity vector
//! (`None` = every row present).

use crate::error::{Error, Result, ValueError};
use crate::model::{
    coord_to_f64, Event, Field, FieldType, Kind, COORD_MAX_RAW, KIND_FIELDS, NUM_KINDS,
};

/// One field column of one kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    Int { vals: Vec<i64>, valid: Option<Vec<bool>> },
    Bool { vals: Vec<bool>, valid: Option<Vec<bool>> },
    /// Arrow-style strings: `offsets.len() == rows + 1`, `offsets[0] == 0`.
    Str { offsets: Vec<i64>, data: Vec<u8>, valid: Option<Vec<bool>> },
}

impl Column {
    pub fn new_for(ty: FieldType) -> Column {
        match ty {
            FieldType::Coord | FieldType::Int { .. } => Column::Int { vals: Vec::new(), valid: None },
            FieldType::Bool => Column::Bool { vals: Vec::new(), valid: None },
            FieldType::Str => Column::Str { offsets: vec![0], data: Vec::new(), valid: None },
        }
    }
    /// A column of `rows` rows, absent on every one (what `push_*(None)` `rows` times gives).
    pub fn absent(ty: FieldType, rows: usize) -> Column {
        let valid = if rows == 0 { None } else { Some(vec![false; rows]) };
        match ty {
            FieldType::Coord | FieldType::Int { .. } => Column::Int { vals: vec![0; rows], valid },
            FieldType::Bool => Column::Bool { vals: vec![false; rows], valid },
            FieldType::Str => Column::Str { offsets: vec![0; rows + 1], data: Vec::new(), valid },
        }
    }
    pub fn len(&self) -> usize {
        match self {
            Column::Int { vals, .. } => vals.len(),
            Column::Bool { vals, .. } => vals.len(),
            Column::Str { offsets, .. } => offsets.len() - 1,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn valid(&self) -> Option<&Vec<bool>> {
        match self {
            Column::Int { valid, .. } | Column::Bool { valid, .. } | Column::Str { valid, .. } => {
                valid.as_ref()
            }
        }
    }
    fn valid_mut(&mut self) -> &mut Option<Vec<bool>> {
        match self {
            Column::Int { valid, .. } | Column::Bool { valid, .. } | Column::Str { valid, .. } => valid,
        }
    }
    pub fn is_present(&self, i: usize) -> bool {
        self.valid().is_none_or(|v| v[i])
    }
    /// Number of present values.
    pub fn present_count(&self) -> usize {
        match self.valid() {
            None => self.len(),
            Some(v) => v.iter().filter(|b| **b).count(),
        }
    }
    fn push_validity(&mut self, present: bool) {
        let n = self.len(); // before the value is pushed
        let valid = self.valid_mut();
        match valid {
            Some(v) => v.push(present),
            None if !present => {
                let mut v = vec![true; n];
                v.push(false);
                *valid = Some(v);
            }
            None => {}
        }
    }
    pub fn push_int(&mut self, v: Option<i64>) {
        self.push_validity(v.is_some());
        match self {
            Column::Int { vals, .. } => vals.push(v.unwrap_or(0)),
            _ => unreachable!("push_int on a non-int column"),
        }
    }
    pub fn push_bool(&mut self, v: Option<bool>) {
        self.push_validity(v.is_some());
        match self {
            Column::Bool { vals, .. } => vals.push(v.unwrap_or(false)),
            _ => unreachable!("push_bool on a non-bool column"),
        }
    }
    pub fn push_str(&mut self, v: Option<&str>) {
        self.push_validity(v.is_some());
        match self {
            Column::Str { offsets, data, .. } => {
                data.extend_from_slice(v.unwrap_or("").as_bytes());
                offsets.push(data.len() as i64);
            }
            _ => unreachable!("push_str on a non-str column"),
        }
    }
    pub fn int(&self, i: usize) -> Option<i64> {
        match self {
            Column::Int { vals, .. } => self.is_present(i).then(|| vals[i]),
            _ => None,
        }
    }
    pub fn bool(&self, i: usize) -> Option<bool> {
        match self {
            Column::Bool { vals, .. } => self.is_present(i).then(|| vals[i]),
            _ => None,
        }
    }
    pub fn str(&self, i: usize) -> Option<&str> {
        match self {
            Column::Str { offsets, data, .. } if self.is_present(i) => {
                std::str::from_utf8(&data[offsets[i] as usize..offsets[i + 1] as usize]).ok()
            }
            _ => None,
        }
    }
    /// Append rows of `other` selected by `keep` (all rows when `None`).
    pub fn extend_from(&mut self, other: &Column, keep: Option<&[bool]>) {
        let n_before = self.len();
        let sel = |i: usize| keep.is_none_or(|k| k[i]);
        match (&mut *self, other) {
            (Column::Int { vals, .. }, Column::Int { vals: o, .. }) => match keep {
                None => vals.extend_from_slice(o),
                Some(_) => vals.extend(o.iter().enumerate().filter(|(i, _)| sel(*i)).map(|(_, v)| *v)),
            },
            (Column::Bool { vals, .. }, Column::Bool { vals: o, .. }) => match keep {
                None => vals.extend_from_slice(o),
                Some(_) => vals.extend(o.iter().enumerate().filter(|(i, _)| sel(*i)).map(|(_, v)| *v)),
            },
            (Column::Str { offsets, data, .. }, Column::Str { offsets: oo, data: od, .. }) => {
                for i in 0..oo.len() - 1 {
                    if sel(i) {
                        data.extend_from_slice(&od[oo[i] as usize..oo[i + 1] as usize]);
                        offsets.push(data.len() as i64);
                    }
                }
            }
            _ => unreachable!("column type mismatch"),
        }
        let n_added = self.len() - n_before;
        let other_valid = other.valid();
        let valid = self.valid_mut();
        if valid.is_none() && other_valid.is_none() {
            return;
        }
        let v = valid.get_or_insert_with(|| vec![true; n_before]);
        match (other_valid, keep) {
            (None, _) => v.extend(std::iter::repeat_n(true, n_added)),
            (Some(ov), None) => v.extend_from_slice(ov), // a copy, not a filter that keeps every row
            (Some(ov), Some(_)) => v.extend(ov.iter().enumerate().filter(|(i, _)| sel(*i)).map(|(_, b)| *b)),
        }
    }
    /// Append rows `start..end` of `other`.
    pub fn extend_range(&mut self, other: &Column, start: usize, end: usize) {
        let n_before = self.len();
        match (&mut *self, other) {
            (Column::Int { vals, .. }, Column::Int { vals: o, .. }) => vals.extend_from_slice(&o[start..end]),
            (Column::Bool { vals, .. }, Column::Bool { vals: o, .. }) => vals.extend_from_slice(&o[start..end]),
            (Column::Str { offsets, data, .. }, Column::Str { offsets: oo, data: od, .. }) => {
                let base = data.len() as i64 - oo[start];
                data.extend_from_slice(&od[oo[start] as usize..oo[end] as usize]);
                offsets.extend(oo[start + 1..=end].iter().map(|o| o + base));
            }
            _ => unreachable!("column type mismatch"),
        }
        let other_valid = other.valid();
        let valid = self.valid_mut();
        if valid.is_none() && other_valid.is_none_or(|v| v[start..end].iter().all(|b| *b)) {
            return;
        }
        let v = valid.get_or_insert_with(|| vec![true; n_before]);
        match other_valid {
            None => v.extend(std::iter::repeat_n(true, end - start)),
            Some(ov) => v.extend_from_slice(&ov[start..end]),
        }
    }
    /// Drop an all-true validity vector (canonical form).
    pub fn normalize(&mut self) {
        let valid = self.valid_mut();
        if valid.as_ref().is_some_and(|v| v.iter().all(|b| *b)) {
            *valid = None;
        }
    }
}

/// The rows of one kind.
#[derive(Debug, Clone, PartialEq)]
pub struct KindTable {
    pub kind: Kind,
    /// One column per field of [`Kind::fields`], in that order.
    pub cols: Vec<Column>,
}

impl KindTable {
    pub fn new(kind: Kind) -> Self {
        KindTable { kind, cols: kind.fields().iter().map(|f| Column::new_for(f.field.ty())).collect() }
    }
    pub fn len(&self) -> usize {
        self.cols.first().map_or(0, |c| c.len())
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The column of `field`, if this kind has it.
    pub fn col(&self, field: Field) -> Option<&Column> {
        self.kind.fields().iter().position(|f| f.field == field).map(|i| &self.cols[i])
    }
}

/// A run of events in columnar form.
#[derive(Debug, Clone, PartialEq)]
pub struct EventTable {
    pub t: Vec<i64>,
    pub kind: Vec<u8>,
    pub kinds: [KindTable; NUM_KINDS],
}

impl Default for EventTable {
    fn default() -> Self {
        Self::new()
    }
}

fn value_err(row: Option<u64>, field: &'static str, value: impl ToString, expected: &str) -> Error {
    Error::Value(ValueError { row, field, value: value.to_string(), expected: expected.into() })
}

fn check_coord(v: i64, field: Field, row: Option<u64>) -> Result<()> {
    if v.unsigned_abs() > COORD_MAX_RAW as u64 {
        return Err(value_err(
            row,
            field.name(),
            format!("{} px", v as f64 / 65536.0),
            "|coordinate| must be at most 2^37 px",
        ));
    }
    Ok(())
}

/// Whether a row at `t` of kind code `k` is in a query's `t0 <= t < t1` and `kinds` (bit k set).
#[inline]
pub(crate) fn wanted(t: i64, k: u8, t0: i64, t1: Option<i64>, kinds: u16) -> bool {
    t >= t0 && t1.is_none_or(|e| t < e) && (kinds >> k) & 1 == 1
}

impl EventTable {
    pub fn new() -> Self {
        EventTable { t: Vec::new(), kind: Vec::new(), kinds: Kind::ALL.map(KindTable::new) }
    }
    pub fn len(&self) -> usize {
        self.t.len()
    }
    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }
    pub fn clear(&mut self) {
        *self = EventTable::new();
    }
    pub fn kind_table(&self, k: Kind) -> &KindTable {
        &self.kinds[k as usize]
    }
    /// Count of events per kind code.
    pub fn counts(&self) -> [u64; NUM_KINDS] {
        let mut c = [0u64; NUM_KINDS];
        for (i, k) in self.kinds.iter().enumerate() {
            c[i] = k.len() as u64;
        }
        c
    }
    /// Minimum and maximum timestamp (None when empty).
    pub fn t_range(&self) -> Option<(i64, i64)> {
        let mut it = self.t.iter();
        let first = *it.next()?;
        Some(it.fold((first, first), |(lo, hi), &v| (lo.min(v), hi.max(v))))
    }

    /// Append one event, validating its values.
    pub fn push(&mut self, t: i64, ev: &Event) -> Result<()> {
        let row = Some(self.len() as u64);
        let kt = &mut self.kinds[ev.kind() as usize];
        match ev {
            Event::Move { x, y, buttons } => {
                check_coord(*x, Field::X, row)?;
                check_coord(*y, Field::Y, row)?;
                kt.cols[0].push_int(Some(*x));
                kt.cols[1].push_int(Some(*y));
                kt.cols[2].push_int(buttons.map(i64::from));
            }
            Event::RawMove { dx, dy } => {
                check_coord(*dx, Field::Dx, row)?;
                check_coord(*dy, Field::Dy, row)?;
                kt.cols[0].push_int(Some(*dx));
                kt.cols[1].push_int(Some(*dy));
            }
            Event::Button { button, pressed, pos } => {
                if let Some((x, y)) = pos {
                    check_coord(*x, Field::X, row)?;
                    check_coord(*y, Field::Y, row)?;
                }
                kt.cols[0].push_int(Some(i64::from(*button)));
                kt.cols[1].push_bool(Some(*pressed));
                kt.cols[2].push_int(pos.map(|p| p.0));
                kt.cols[3].push_int(pos.map(|p| p.1));
            }
            Event::Scroll { dx, dy, pos } => {
                check_coord(*dx, Field::Dx, row)?;
                check_coord(*dy, Field::Dy, row)?;
                if let Some((x, y)) = pos {
                    check_coord(*x, Field::X, row)?;
                    check_coord(*y, Field::Y, row)?;
                }
                kt.cols[0].push_int(Some(*dx));
                kt.cols[1].push_int(Some(*dy));
                kt.cols[2].push_int(pos.map(|p| p.0));
                kt.cols[3].push_int(pos.map(|p| p.1));
            }
            Event::Key { pressed, usage, native } => {
                kt.cols[0].push_bool(Some(*pressed));
                kt.cols[1].push_int(usage.map(i64::from));
                kt.cols[2].push_int(native.map(i64::from));
            }
            Event::Text { text } => kt.cols[0].push_str(Some(text)),
            Event::Focus { app, title, window, rect } => {
                kt.cols[0].push_str(app.as_deref());
                kt.cols[1].push_str(title.as_deref());
                kt.cols[2].push_int(*window);
                for i in 0..4 {
                    kt.cols[3 + i].push_int(rect.map(|r| i64::from(r[i])));
                }
            }
            Event::Marker { label, value } => {
                kt.cols[0].push_str(Some(label));
                kt.cols[1].push_int(*value);
            }
            Event::Gap { count, reason, t_end } => {
                let c = i64::try_from(*count)
                    .map_err(|_| value_err(row, "count", count, "must be at most 2^63-1"))?;
                kt.cols[0].push_int(Some(c));
                kt.cols[1].push_int(Some(i64::from(*reason)));
                kt.cols[2].push_int(*t_end);
            }
        }
        self.t.push(t);
        self.kind.push(ev.kind() as u8);
        Ok(())
    }

    /// The event at global row `i` (O(i) for the per-kind row lookup; use [`EventTable::events`]
    /// to walk all of them).
    pub fn events(&self) -> impl Iterator<Item = (i64, Event)> + '_ {
        let mut next = [0usize; NUM_KINDS];
        self.t.iter().zip(self.kind.iter()).map(move |(&t, &k)| {
            let r = next[k as usize];
            next[k as usize] += 1;
            (t, self.event_at(Kind::from_code(k).expect("validated kind"), r))
        })
    }

    /// Event `r` of kind `k` (row within that kind's table).
    pub fn event_at(&self, k: Kind, r: usize) -> Event {
        let c = &self.kinds[k as usize].cols;
        let pos = |a: &Column, b: &Column| match (a.int(r), b.int(r)) {
            (Some(x), Some(y)) => Some((x, y)),
            _ => None,
        };
        match k {
            Kind::Move => Event::Move {
                x: c[0].int(r).unwrap_or(0),
                y: c[1].int(r).unwrap_or(0),
                buttons: c[2].int(r).map(|v| v as u32),
            },
            Kind::RawMove => {
                Event::RawMove { dx: c[0].int(r).unwrap_or(0), dy: c[1].int(r).unwrap_or(0) }
            }
            Kind::Button => Event::Button {
                button: c[0].int(r).unwrap_or(0) as u8,
                pressed: c[1].bool(r).unwrap_or(false),
                pos: pos(&c[2], &c[3]),
            },
            Kind::Scroll => Event::Scroll {
                dx: c[0].int(r).unwrap_or(0),
                dy: c[1].int(r).unwrap_or(0),
                pos: pos(&c[2], &c[3]),
            },
            Kind::Key => Event::Key {
                pressed: c[0].bool(r).unwrap_or(false),
                usage: c[1].int(r).map(|v| v as u16),
                native: c[2].int(r).map(|v| v as u32),
            },
            Kind::Text => Event::Text { text: c[0].str(r).unwrap_or("").to_string() },
            Kind::Focus => Event::Focus {
                app: c[0].str(r).map(str::to_string),
                title: c[1].str(r).map(str::to_string),
                window: c[2].int(r),
                rect: match (c[3].int(r), c[4].int(r), c[5].int(r), c[6].int(r)) {
                    (Some(a), Some(b), Some(cc), Some(d)) => {
                        Some([a as i32, b as i32, cc as i32, d as i32])
                    }
                    _ => None,
                },
            },
            Kind::Marker => Event::Marker {
                label: c[0].str(r).unwrap_or("").to_string(),
                value: c[1].int(r),
            },
            Kind::Gap => Event::Gap {
                count: c[0].int(r).unwrap_or(0) as u64,
                reason: c[1].int(r).unwrap_or(0) as u8,
                t_end: c[2].int(r),
            },
        }
    }

    /// Room for `counts[k]` more rows of each kind k (their sum in all), so that appending them
    /// does not move what is already there. Best effort: a reservation the allocator refuses is
    /// skipped (the columns then grow as they are appended to).
    pub fn try_reserve(&mut self, counts: &[usize; NUM_KINDS]) {
        let n: usize = counts.iter().sum();
        if self.t.try_reserve(n).is_err() || self.kind.try_reserve(n).is_err() {
            return;
        }
        for (kt, &c) in self.kinds.iter_mut().zip(counts) {
            if c == 0 {
                continue;
            }
            for col in &mut kt.cols {
                let ok = match col {
                    Column::Int { vals, .. } => vals.try_reserve(c).is_ok(),
                    Column::Bool { vals, .. } => vals.try_reserve(c).is_ok(),
                    Column::Str { offsets, .. } => offsets.try_reserve(c).is_ok(),
                };
                if !ok {
                    return;
                }
            }
        }
    }

    /// Append all rows of `other`.
    pub fn extend_from(&mut self, other: &EventTable) {
        self.t.extend_from_slice(&other.t);
        self.kind.extend_from_slice(&other.kind);
        for (a, b) in self.kinds.iter_mut().zip(other.kinds.iter()) {
            for (ca, cb) in a.cols.iter_mut().zip(b.cols.iter()) {
                ca.extend_from(cb, None);
            }
        }
    }

    /// Append global rows `start..end` of `other`; `kind_start[k]` is the number of rows of kind
    /// `k` before `start` (the caller walks ranges in order and keeps these cursors).
    pub fn extend_rows(&mut self, other: &EventTable, start: usize, end: usize, kind_start: &mut [usize; NUM_KINDS]) {
        let all = byte_counts(&other.kind[start..end]);
        let mut cnt = [0usize; NUM_KINDS];
        cnt.copy_from_slice(&all[..NUM_KINDS]);
        self.t.extend_from_slice(&other.t[start..end]);
        self.kind.extend_from_slice(&other.kind[start..end]);
        for k in 0..NUM_KINDS {
            if cnt[k] > 0 {
                let (s, e) = (kind_start[k], kind_start[k] + cnt[k]);
                for (ca, cb) in self.kinds[k].cols.iter_mut().zip(other.kinds[k].cols.iter()) {
                    ca.extend_range(cb, s, e);
                }
                kind_start[k] = e;
            }
        }
    }

    /// Does every row have `t0 <= t < t1` and a kind in `kinds` (bit k set)? Checked row by row
    /// (not taken from a block's record), unless the query keeps every row of a valid table.
    pub fn all_wanted(&self, t0: i64, t1: Option<i64>, kinds: u16) -> bool {
        let all_kinds = (1u16 << NUM_KINDS) - 1;
        (t0 == i64::MIN && t1.is_none() && kinds & all_kinds == all_kinds)
            || self.t.iter().zip(&self.kind).all(|(&t, &k)| wanted(t, k, t0, t1, kinds))
    }

    /// The rows with `t0 <= t < t1` whose kind is in `kinds`: this table as it is when every
    /// row is wanted (no copy; see [`EventTable::all_wanted`]), else a copy of the wanted rows.
    /// How a reader cuts a decoded block to a query's window.
    pub fn into_wanted(self, t0: i64, t1: Option<i64>, kinds: u16) -> EventTable {
        if self.all_wanted(t0, t1, kinds) {
            return self;
        }
        let mut out = EventTable::new();
        out.extend_filtered(&self, t0, t1, kinds);
        out
    }

    /// Append the rows of `other` with `t0 <= t < t1` whose kind is in `kinds` (bit k set = keep).
    pub fn extend_filtered(&mut self, other: &EventTable, t0: i64, t1: Option<i64>, kinds: u16) {
        let keep: Vec<bool> = other.t.iter().zip(&other.kind).map(|(&t, &k)| wanted(t, k, t0, t1, kinds)).collect();
        self.extend_filtered_rows(other, &keep)
    }

    /// The rows `rows` of `self`, in that order (a row may repeat). Panics on a row out of range.
    pub fn take(&self, rows: &[u64]) -> EventTable {
        let mut kind_row = Vec::with_capacity(self.len());
        let mut per_kind = [0usize; NUM_KINDS];
        for &k in &self.kind {
            kind_row.push(per_kind[k as usize]);
            per_kind[k as usize] += 1;
        }
        let mut out = EventTable::new();
        out.t.reserve(rows.len());
        out.kind.reserve(rows.len());
        for &r in rows {
            let r = r as usize;
            let (k, kr) = (self.kind[r] as usize, kind_row[r]);
            out.t.push(self.t[r]);
            out.kind.push(k as u8);
            for (ca, cb) in out.kinds[k].cols.iter_mut().zip(self.kinds[k].cols.iter()) {
                ca.extend_range(cb, kr, kr + 1);
            }
        }
        out
    }

    /// Append the rows `i` of `other` with `keep[i]` (`keep.len() == other.len()`).
    pub fn extend_filtered_rows(&mut self, other: &EventTable, keep: &[bool]) {
        if keep.iter().all(|b| *b) {
            return self.extend_from(other);
        }
        let mut per_kind: [Vec<bool>; NUM_KINDS] = Default::default();
        for (i, &k) in other.kind.iter().enumerate() {
            per_kind[k as usize].push(keep[i]);
            if keep[i] {
                self.t.push(other.t[i]);
                self.kind.push(k);
            }
        }
        for (ki, (a, b)) in self.kinds.iter_mut().zip(other.kinds.iter()).enumerate() {
            if per_kind[ki].iter().any(|x| *x) {
                for (ca, cb) in a.cols.iter_mut().zip(b.cols.iter()) {
                    ca.extend_from(cb, Some(&per_kind[ki]));
                }
            }
        }
    }

    /// Check every invariant and value range. Called on every table a writer accepts from a
    /// caller, and on every table a reader decodes.
    pub fn validate(&self) -> Result<()> {
        self.validate_counted(&byte_counts(&self.kind), u16::MAX)
    }

    /// [`EventTable::validate`] with the rows of each kind code already counted (`all`: the
    /// [`byte_counts`] of `kind`, which the decoder has made anyway): the kind column is not
    /// counted a second time. Checks the columns of the kinds in `kinds` only (bit k = kind code
    /// k): a decoder that left the others empty (see `codec::decode_payload_kinds`).
    pub(crate) fn validate_counted(&self, all: &[usize; 256], kinds: u16) -> Result<()> {
        if self.t.len() != self.kind.len() {
            return Err(Error::Usage(format!(
                "`t` has {} rows but `kind` has {}",
                self.t.len(),
                self.kind.len()
            )));
        }
        debug_assert_eq!(*all, byte_counts(&self.kind));
        if all[NUM_KINDS..].iter().any(|&c| c > 0) {
            let row = self.kind.iter().position(|&k| k as usize >= NUM_KINDS).unwrap_or(0);
            let k = self.kind[row];
            return Err(value_err(Some(row as u64), "kind", k, "a kind code 0..=8"));
        }
        let mut counts = [0usize; NUM_KINDS];
        counts.copy_from_slice(&all[..NUM_KINDS]);
        for (ki, kt) in self.kinds.iter().enumerate() {
            if (kinds >> ki) & 1 == 0 {
                continue;
            }
            let kind = Kind::ALL[ki];
            if kt.cols.len() != KIND_FIELDS[ki].len() {
                return Err(Error::Usage(format!("{} table has wrong column count", kind.name())));
            }
            for (spec, col) in KIND_FIELDS[ki].iter().zip(&kt.cols) {
                let f = spec.field;
                if col.len() != counts[ki] {
                    return Err(Error::Usage(format!(
                        "{}.{} has {} rows but there are {} {} events",
                        kind.name(),
                        f.name(),
                        col.len(),
                        counts[ki],
                        kind.name()
                    )));
                }
                if let Some(v) = col.valid() {
                    if v.len() != col.len() {
                        return Err(Error::Usage(format!("{}.{} validity length", kind.name(), f.name())));
                    }
                    if spec.required {
                        if let Some(r) = v.iter().position(|b| !*b) {
                            return Err(value_err(
                                Some(r as u64),
                                f.name(),
                                "absent",
                                &format!("`{}` is required for {} events", f.name(), kind.name()),
                            ));
                        }
                    }
                }
                match (f.ty(), col) {
                    (FieldType::Coord, Column::Int { vals, .. }) => {
                        // One vectorisable pass first; row by row only to name the bad row.
                        if !all_within(vals, -COORD_MAX_RAW, COORD_MAX_RAW) {
                            for (r, &v) in vals.iter().enumerate() {
                                if col.is_present(r) {
                                    check_coord(v, f, Some(r as u64))?;
                                }
                            }
                        }
                    }
                    (FieldType::Int { min, max }, Column::Int { vals, .. }) => {
                        // One vectorisable pass first; row by row only to name the bad row.
                        if !all_within(vals, min, max) {
                            for (r, &v) in vals.iter().enumerate() {
                                if (v < min || v > max) && col.is_present(r) {
                                    return Err(value_err(
                                        Some(r as u64),
                                        f.name(),
                                        v,
                                        &format!("must be within {min}..={max}"),
                                    ));
                                }
                            }
                        }
                    }
                    (FieldType::Bool, Column::Bool { .. }) => {}
                    (FieldType::Str, Column::Str { offsets, data, .. }) => {
                        if offsets.first() != Some(&0) || *offsets.last().unwrap() as usize != data.len() {
                            return Err(Error::Usage(format!("{}.{} offsets", kind.name(), f.name())));
                        }
                        for (r, w) in offsets.windows(2).enumerate() {
                            if w[1] < w[0] {
                                return Err(Error::Usage(format!(
                                    "{}.{} offsets decrease at row {r}",
                                    kind.name(),
                                    f.name()
                                )));
                            }
                            if (w[1] - w[0]) as usize > crate::codec::MAX_STRING {
                                return Err(value_err(
                                    Some(r as u64),
                                    f.name(),
                                    format!("<{} bytes>", w[1] - w[0]),
                                    &format!("a string of at most {} bytes", crate::codec::MAX_STRING),
                                ));
                            }
                            if std::str::from_utf8(&data[w[0] as usize..w[1] as usize]).is_err() {
                                return Err(value_err(Some(r as u64), f.name(), "<bytes>", "valid UTF-8"));
                            }
                        }
                    }
                    _ => return Err(Error::Usage(format!("{}.{} column type", kind.name(), f.name()))),
                }
            }
            // Coordinate pairs are present together.
            if let (Some(x), Some(y)) = (kt.col(Field::X), kt.col(Field::Y)) {
                let same = match (x.valid(), y.valid()) {
                    (None, None) => true,
                    (Some(a), Some(b)) => a == b,
                    _ => false,
                };
                if let Some(r) = (!same).then(|| (0..x.len()).find(|&r| x.is_present(r) != y.is_present(r))).flatten() {
                    return Err(value_err(
                        Some(r as u64),
                        "y",
                        if y.is_present(r) { "present" } else { "absent" },
                        "x and y are present together or absent together",
                    ));
                }
            }
        }
        Ok(())
    }

    /// A JSON rendering of every event (used by conformance vectors and debugging).
    pub fn to_json_rows(&self) -> Vec<serde_json::Value> {
        use serde_json::{json, Map, Value};
        let mut next = [0usize; NUM_KINDS];
        let mut out = Vec::with_capacity(self.len());
        for (&t, &k) in self.t.iter().zip(&self.kind) {
            let r = next[k as usize];
            next[k as usize] += 1;
            let kind = Kind::ALL[k as usize];
            let mut m = Map::new();
            m.insert("t".into(), json!(t));
            m.insert("kind".into(), json!(kind.name()));
            for (spec, col) in kind.fields().iter().zip(&self.kinds[k as usize].cols) {
                let v = match spec.field.ty() {
                    FieldType::Coord => col.int(r).map(|v| json!(coord_to_f64(v))),
                    FieldType::Int { .. } => col.int(r).map(|v| json!(v)),
                    FieldType::Bool => col.bool(r).map(|v| json!(v)),
                    FieldType::Str => col.str(r).map(|v| json!(v)),
                };
                if let Some(v) = v {
                    m.insert(spec.field.name().into(), v);
                }
            }
            out.push(Value::Object(m));
        }
        out
    }
}

/// Whether every value of `vals` is within `min..=max`. One OR over the column of each value's
/// offset from `min` shifted right by k, where 2^k is the widest power of two within the range: a
/// loop without a branch that vectorises (an `all` over the bounds exits early, so it ran value by
/// value, a tenth of reading a file). Only a column that reaches past those 2^k values (a
/// coordinate of exactly +2^53) is checked again, value by value.
fn all_within(vals: &[i64], min: i64, max: i64) -> bool {
    let span = max.wrapping_sub(min) as u64;
    if span == u64::MAX {
        return true; // every i64
    }
    let k = 63 - (span + 1).leading_zeros(); // 2^k <= span + 1
    let past = vals.iter().fold(0u64, |acc, &v| acc | (v.wrapping_sub(min) as u64 >> k));
    past == 0 || vals.iter().all(|&v| v >= min && v <= max)
}

/// Appends to `out` the values `vals[i]` of the rows `i` of kind `code` (`kind`: a table's kind
/// column), in order. Eight rows at a time: eight of the kind (a run of moves) are copied at
/// once, eight with none of it skipped, and only the others looked at row by row (a branch per
/// row mispredicts at every edge of a run of moves).
pub(crate) fn gather_by_kind<T: Copy>(out: &mut Vec<T>, vals: &[T], kind: &[u8], code: u8) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let pat = u64::from(code) * ONES;
    let mut tc = vals.chunks_exact(8);
    let mut kc = kind.chunks_exact(8);
    for (t8, k8) in (&mut tc).zip(&mut kc) {
        let k8: [u8; 8] = k8.try_into().expect("chunks of 8");
        let x = u64::from_le_bytes(k8) ^ pat; // a zero byte where the row is of the kind
        if x == 0 {
            let t8: [T; 8] = t8.try_into().expect("chunks of 8");
            out.extend_from_slice(&t8);
        } else if x.wrapping_sub(ONES) & !x & (ONES << 7) != 0 {
            out.extend(t8.iter().zip(&k8).filter(|(_, &k)| k == code).map(|(&t, _)| t));
        }
    }
    out.extend(tc.remainder().iter().zip(kc.remainder()).filter(|(_, &k)| k == code).map(|(&t, _)| t));
}

/// How many times each byte value occurs, counted in four interleaved tables: in one table, each
/// increment of a repeated value waits for the one before it (a column of mostly one kind counted
/// at one value per store-to-load round trip, most of the time of validating a decoded block).
/// An SSE2 count per kind code (sixteen byte lanes, no store per byte) was 4-7 x faster alone
/// and took this function from 3.1 to 0.4 % of a one-thread wide read of the long balabit file,
/// but left the read's time unchanged (interleaved runs): this pass is the first to touch a
/// freshly decoded kind column, and what it saved the next pass over the column paid.
pub fn byte_counts(v: &[u8]) -> [usize; 256] {
    let mut c = [[0usize; 256]; 4];
    let mut quads = v.chunks_exact(4);
    for q in &mut quads {
        c[0][q[0] as usize] += 1;
        c[1][q[1] as usize] += 1;
        c[2][q[2] as usize] += 1;
        c[3][q[3] as usize] += 1;
    }
    for &b in quads.remainder() {
        c[0][b as usize] += 1;
    }
    let mut out = c[0];
    for t in &c[1..] {
        for (o, x) in out.iter_mut().zip(t) {
            *o += x;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_count_every_byte_at_every_length() {
        let v: Vec<u8> = (0..1031u32).map(|i| ((i * 37) % 11 + (i % 7) * 30) as u8).collect();
        for len in [0, 1, 3, 4, 5, 8, 1030, 1031] {
            let mut want = [0usize; 256];
            for &b in &v[..len] {
                want[b as usize] += 1;
            }
            assert_eq!(byte_counts(&v[..len]), want, "{len} bytes");
        }
    }

    #[test]
    fn all_within_agrees_with_the_bounds_at_their_edges() {
        let ranges = [
            (0, 255),
            (0, u32::MAX as i64),
            (i32::MIN as i64, i32::MAX as i64),
            (-COORD_MAX_RAW, COORD_MAX_RAW),
            (0, i64::MAX),
            (i64::MIN, i64::MAX),
            (3, 3),
            (-5, 1000),
        ];
        for (min, max) in ranges {
            let mid = ((i128::from(min) + i128::from(max)) / 2) as i64;
            for v in [min, max, min.wrapping_sub(1), max.wrapping_add(1), 0, -1, i64::MIN, i64::MAX, mid] {
                let want = v >= min && v <= max;
                assert_eq!(all_within(&[min, v, max, mid], min, max), want, "{v} in {min}..={max}");
            }
        }
        assert!(all_within(&[], 0, 0));
    }

    #[test]
    fn a_kind_code_past_the_last_kind_is_refused_with_its_row() {
        let mut t = EventTable::new();
        for i in 0..10 {
            t.push(i, &Event::Move { x: 0, y: 0, buttons: None }).unwrap();
        }
        t.kind[6] = 200;
        let e = t.validate().unwrap_err().to_string();
        assert!(e.contains("row 6") && e.contains("200"), "{e}");
    }
}
