//! Fixed-rate actions: the events of a recording cut into time bins, the shape in which agents
//! that see one screen frame at a time consume input.
//!
//! A bin `i` is the half-open interval `edges[i] <= t < edges[i + 1]`. Bins come either from a
//! rate ([`Bins::rate`]: `start + ⌊i · 10⁹ / fps⌋`, exact for any rational fps) or from explicit
//! edges such as video frame times ([`Bins::from_edges`]). [`bin_actions`] then sweeps the events
//! once and gives, per bin:
//!
//! | output | meaning |
//! |---|---|
//! | `x`, `y`, `pos_known` | pointer position at the bin's end (the last `move`, or `button`/`scroll` with a position) |
//! | `dx`, `dy` | pointer step over the bin: `x[i] - x[i-1]`, with `x[-1] = start_x` (see below) |
//! | `moves` | number of `move` events |
//! | `raw_dx`, `raw_dy` | sums of `raw_move` deltas |
//! | `scroll_dx`, `scroll_dy`, `scrolls` | sums of `scroll` deltas, number of scrolls |
//! | `held` | mask of buttons held at the bin's end (bit `b` for button `b < 32`) |
//! | `buttons`, `keys` | every button / key event of the bin, in order, with its offset `dt` from the bin's start |
//! | `text` | the bin's `text` events, concatenated |
//!
//! Coordinates stay in the file's exact fixed-point unit (1/65536 px), so the steps are exact
//! sums: `x[i] == start_x + dx[0] + … + dx[i]` for every bin whose position is known, with no
//! rounding ever. `start_x` is the position before the first bin (the last one seen before
//! `edges[0]`) or, when nothing before it carried a position, the first position in the bins.
//!
//! **Order.** Files keep events in push order and `t` may decrease (FORMAT.md §3). An event goes
//! to the bin its `t` falls in; within a bin, events keep push order; the state sweep (position,
//! held buttons) runs in that order, which is push order whenever `t` never decreases.
//!
//! **Nothing vanishes.** Events before `edges[0]` or at/after the last edge are counted
//! (`before`, `after`) and only update the starting state (`before`). With
//! `lossless: true` the result also lists every binned event (`rows`, `event_offsets`,
//! `event_dt`): [`Actions::rebuild`] turns bins back into exactly the events that were binned.

use crate::error::{Error, Result};
use crate::model::{Field, Kind, NUM_KINDS};
use crate::table::{Column, EventTable};

/// The most bins one call makes (2²⁸: a day at 3 kHz); more is refused before allocating.
pub const MAX_BINS: usize = 1 << 28;

/// Bin edges: `edges.len() == bins + 1`, strictly increasing.
#[derive(Debug, Clone, PartialEq)]
pub struct Bins {
    edges: Vec<i64>,
}

impl Bins {
    /// Bins of `10⁹ · fps_den / fps_num` ns from `start` until they cover `end` (exclusive):
    /// edge `i` is `start + ⌊i · 10⁹ · fps_den / fps_num⌋`, computed exactly, so rates like
    /// 30000/1001 never drift. At least one bin.
    pub fn rate(start: i64, end: i64, fps_num: u64, fps_den: u64) -> Result<Bins> {
        if fps_num == 0 || fps_den == 0 {
            return Err(Error::Usage(format!("fps must be positive, got {fps_num}/{fps_den}")));
        }
        let step = 1_000_000_000i128 * fps_den as i128;
        if step < fps_num as i128 {
            return Err(Error::Usage(format!(
                "fps {fps_num}/{fps_den} is above 1e9 (bins shorter than 1 ns)"
            )));
        }
        if end < start {
            return Err(Error::Usage(format!("end ({end}) is before start ({start})")));
        }
        let span = end as i128 - start as i128;
        // smallest n with ⌊n·step/num⌋ >= span, i.e. n·step >= span·num
        let n = ((span * fps_num as i128 + step - 1) / step).max(1);
        if n > MAX_BINS as i128 {
            return Err(Error::Usage(format!(
                "{n} bins of {fps_num}/{fps_den} fps over {span} ns; at most {MAX_BINS} per call (cut the time range)"
            )));
        }
        let mut edges = Vec::with_capacity(n as usize + 1);
        for i in 0..=n {
            let e = start as i128 + i * step / fps_num as i128;
            edges.push(i64::try_from(e).map_err(|_| Error::Usage(format!("bin edge {e} overflows i64")))?);
        }
        Ok(Bins { edges })
    }

    /// Explicit edges (e.g. frame times and one final edge): at least two, strictly increasing.
    pub fn from_edges(edges: Vec<i64>) -> Result<Bins> {
        if edges.len() < 2 {
            return Err(Error::Usage(format!("bins need at least 2 edges, got {}", edges.len())));
        }
        if edges.len() - 1 > MAX_BINS {
            return Err(Error::Usage(format!("{} bins; at most {MAX_BINS} per call", edges.len() - 1)));
        }
        if let Some(i) = edges.windows(2).position(|w| w[1] <= w[0]) {
            return Err(Error::Usage(format!(
                "bin edges must increase strictly: edge {} is {} and edge {} is {}",
                i,
                edges[i],
                i + 1,
                edges[i + 1]
            )));
        }
        Ok(Bins { edges })
    }

    pub fn edges(&self) -> &[i64] {
        &self.edges
    }
    pub fn len(&self) -> usize {
        self.edges.len() - 1
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Events of one kind cut by bin (CSR): the events of bin `i` are rows
/// `offsets[i]..offsets[i + 1]` of the columns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Ragged<T> {
    pub offsets: Vec<u64>,
    /// Offset of each event from its bin's start, ns (`t - edges[bin]`, `0 <= dt`).
    pub dt: Vec<i64>,
    pub rows: Vec<T>,
}

impl<T> Ragged<T> {
    fn new(bins: usize) -> Self {
        let mut offsets = Vec::with_capacity(bins + 1);
        offsets.push(0);
        Ragged { offsets, dt: Vec::new(), rows: Vec::new() }
    }
    fn push(&mut self, dt: i64, row: T) {
        self.dt.push(dt);
        self.rows.push(row);
    }
    fn close_bin(&mut self) {
        self.offsets.push(self.rows.len() as u64);
    }
}

/// One button event of a bin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ButtonAction {
    pub button: u8,
    pub pressed: bool,
}

/// One key event of a bin (`usage`/`native` absent as in the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyAction {
    pub pressed: bool,
    pub usage: Option<u16>,
    pub native: Option<u32>,
}

/// Every binned event, for the lossless mode (see [`Actions::rebuild`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Lossless {
    /// The events of bin `i` are `rows[event_offsets[i]..event_offsets[i + 1]]`.
    pub event_offsets: Vec<u64>,
    /// Row of each binned event in the table that was binned, in bin order.
    pub rows: Vec<u64>,
    /// `t - edges[bin]` of each binned event.
    pub dt: Vec<i64>,
}

/// The per-bin result of [`bin_actions`]; every `Vec` of per-bin values has `bins()` entries.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Actions {
    pub edges: Vec<i64>,
    /// Events with `t < edges[0]`: they set the starting position and held buttons only.
    pub before: u64,
    /// Events with `t >= edges[last]`: counted, otherwise unused.
    pub after: u64,
    /// Pointer position before the first bin (see the module docs); None if none is known.
    pub start: Option<(i64, i64)>,
    pub x: Vec<i64>,
    pub y: Vec<i64>,
    pub pos_known: Vec<bool>,
    pub dx: Vec<i64>,
    pub dy: Vec<i64>,
    pub moves: Vec<u32>,
    pub raw_dx: Vec<i64>,
    pub raw_dy: Vec<i64>,
    pub scroll_dx: Vec<i64>,
    pub scroll_dy: Vec<i64>,
    pub scrolls: Vec<u32>,
    pub held: Vec<u32>,
    pub buttons: Ragged<ButtonAction>,
    pub keys: Ragged<KeyAction>,
    /// Arrow-style strings, one per bin: `text_offsets.len() == bins + 1`.
    pub text_offsets: Vec<i64>,
    pub text_data: Vec<u8>,
    pub lossless: Option<Lossless>,
}

impl Actions {
    pub fn bins(&self) -> usize {
        self.edges.len().saturating_sub(1)
    }

    /// The binned events back as a table, from the lossless listing alone: each event's `t` is
    /// rebuilt as `edges[bin] + dt` and events are put back in their original order. Equal to the
    /// binned table whenever `before == after == 0`; otherwise to its rows inside the bins.
    pub fn rebuild(&self, binned: &EventTable) -> Result<EventTable> {
        let ll = self.lossless.as_ref().ok_or_else(|| Error::Usage("rebuild needs actions made with lossless=true".into()))?;
        let mut t = Vec::with_capacity(ll.rows.len());
        for (b, w) in ll.event_offsets.windows(2).enumerate() {
            t.extend(ll.dt[w[0] as usize..w[1] as usize].iter().map(|dt| self.edges[b] + dt));
        }
        let mut order: Vec<(u64, usize)> = ll.rows.iter().enumerate().map(|(j, &r)| (r, j)).collect();
        order.sort_unstable();
        let mut keep = vec![false; binned.len()];
        let mut new_t = Vec::with_capacity(order.len());
        for &(row, j) in &order {
            let row = row as usize;
            if row >= binned.len() || keep[row] {
                return Err(Error::Usage(format!("lossless listing names row {row} twice or out of range")));
            }
            keep[row] = true;
            new_t.push(t[j]);
        }
        let mut out = EventTable::new();
        out.extend_filtered_rows(binned, &keep);
        out.t = new_t;
        Ok(out)
    }
}

/// Options of [`bin_actions`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ActionOptions {
    /// Also list every binned event ([`Actions::lossless`]).
    pub lossless: bool,
}

/// Sentinel bin keys of the sweep: 0 = before the bins, `n + 1` = after.
fn bin_key(edges: &[i64], t: i64, hint: &mut usize) -> usize {
    let n = edges.len() - 1;
    if t < edges[0] {
        return 0;
    }
    if t >= edges[n] {
        return n + 1;
    }
    // Sorted input walks forward from the last bin; anything else binary-searches.
    let h = *hint;
    let b = if edges[h] <= t && t < edges[h + 1] {
        h
    } else if h + 2 <= n && edges[h + 1] <= t && t < edges[h + 2] {
        h + 1
    } else {
        edges.partition_point(|&e| e <= t) - 1
    };
    *hint = b;
    b + 1
}

/// Cut `table`'s events into `bins`; see the module docs for every output.
pub fn bin_actions(table: &EventTable, bins: &Bins, opts: ActionOptions) -> Result<Actions> {
    let edges = bins.edges();
    let n = bins.len();
    let rows = table.len();
    if rows > u32::MAX as usize {
        return Err(Error::Usage(format!("{rows} events; actions take at most 2^32 - 1 per call")));
    }
    // Bin key and kind row of every event, then a stable counting sort by key.
    let mut key = Vec::with_capacity(rows);
    let mut kind_row = Vec::with_capacity(rows);
    let mut per_kind = [0u32; NUM_KINDS];
    let mut hint = 0usize;
    let mut counts = vec![0u64; n + 2];
    for (&t, &k) in table.t.iter().zip(&table.kind) {
        let b = bin_key(edges, t, &mut hint);
        counts[b] += 1;
        key.push(b as u32);
        kind_row.push(per_kind[k as usize]);
        per_kind[k as usize] += 1;
    }
    let sorted = key.windows(2).all(|w| w[0] <= w[1]);
    let order: Vec<u32> = if sorted {
        (0..rows as u32).collect()
    } else {
        let mut start = vec![0u64; n + 3];
        for b in 0..n + 2 {
            start[b + 1] = start[b] + counts[b];
        }
        let mut order = vec![0u32; rows];
        for (r, &b) in key.iter().enumerate() {
            order[start[b as usize] as usize] = r as u32;
            start[b as usize] += 1;
        }
        order
    };

    let col = |k: Kind, f: Field| -> &Column { table.kind_table(k).col(f).expect("kind has field") };
    let (mx, my, bx, by, bb, bp) = (
        col(Kind::Move, Field::X),
        col(Kind::Move, Field::Y),
        col(Kind::Button, Field::X),
        col(Kind::Button, Field::Y),
        col(Kind::Button, Field::Button),
        col(Kind::Button, Field::Pressed),
    );
    let (sx, sy, sdx, sdy) = (
        col(Kind::Scroll, Field::X),
        col(Kind::Scroll, Field::Y),
        col(Kind::Scroll, Field::Dx),
        col(Kind::Scroll, Field::Dy),
    );
    let (rdx, rdy) = (col(Kind::RawMove, Field::Dx), col(Kind::RawMove, Field::Dy));
    let (kp, ku, kn) = (col(Kind::Key, Field::Pressed), col(Kind::Key, Field::Usage), col(Kind::Key, Field::Native));
    let text = col(Kind::Text, Field::Text);

    let mut a = Actions {
        edges: edges.to_vec(),
        before: counts[0],
        after: counts[n + 1],
        x: vec![0; n],
        y: vec![0; n],
        pos_known: vec![false; n],
        dx: vec![0; n],
        dy: vec![0; n],
        moves: vec![0; n],
        raw_dx: vec![0; n],
        raw_dy: vec![0; n],
        scroll_dx: vec![0; n],
        scroll_dy: vec![0; n],
        scrolls: vec![0; n],
        held: vec![0; n],
        buttons: Ragged::new(n),
        keys: Ragged::new(n),
        text_offsets: Vec::with_capacity(n + 1),
        ..Default::default()
    };
    a.text_offsets.push(0);
    let mut ll = opts.lossless.then(|| Lossless {
        event_offsets: vec![0],
        rows: Vec::with_capacity(rows),
        dt: Vec::with_capacity(rows),
    });

    let mut pos: Option<(i64, i64)> = None;
    let mut held = 0u32;
    let mut at = 0usize; // index into `order`
    // Applies one event to the pointer position and held buttons.
    let step = |r: usize, pos: &mut Option<(i64, i64)>, held: &mut u32| -> Option<(i64, i64)> {
        let kr = kind_row[r] as usize;
        match Kind::ALL[table.kind[r] as usize] {
            Kind::Move => *pos = Some((mx.int(kr).unwrap_or(0), my.int(kr).unwrap_or(0))),
            Kind::Button => {
                if let (Some(x), Some(y)) = (bx.int(kr), by.int(kr)) {
                    *pos = Some((x, y));
                }
                let b = bb.int(kr).unwrap_or(0);
                if b < 32 {
                    if bp.bool(kr).unwrap_or(false) {
                        *held |= 1 << b;
                    } else {
                        *held &= !(1 << b);
                    }
                }
            }
            Kind::Scroll => {
                if let (Some(x), Some(y)) = (sx.int(kr), sy.int(kr)) {
                    *pos = Some((x, y));
                }
            }
            _ => {}
        }
        *pos
    };
    // Bin key 0: events before the bins set the starting state only.
    while at < rows && key[order[at] as usize] == 0 {
        step(order[at] as usize, &mut pos, &mut held);
        at += 1;
    }
    let mut prev = pos;
    a.start = pos;
    #[allow(clippy::needless_range_loop)] // b indexes a dozen per-bin outputs at once
    for b in 0..n {
        let e0 = edges[b];
        while at < rows && key[order[at] as usize] as usize == b + 1 {
            let r = order[at] as usize;
            at += 1;
            let t = table.t[r];
            let kr = kind_row[r] as usize;
            if let Some(ll) = ll.as_mut() {
                ll.rows.push(r as u64);
                ll.dt.push(t - e0);
            }
            let before = pos;
            step(r, &mut pos, &mut held);
            if before.is_none() && pos.is_some() && a.start.is_none() {
                a.start = pos;
                prev = pos;
            }
            match Kind::ALL[table.kind[r] as usize] {
                Kind::Move => a.moves[b] += 1,
                Kind::RawMove => {
                    a.raw_dx[b] += rdx.int(kr).unwrap_or(0);
                    a.raw_dy[b] += rdy.int(kr).unwrap_or(0);
                }
                Kind::Scroll => {
                    a.scroll_dx[b] += sdx.int(kr).unwrap_or(0);
                    a.scroll_dy[b] += sdy.int(kr).unwrap_or(0);
                    a.scrolls[b] += 1;
                }
                Kind::Button => a.buttons.push(
                    t - e0,
                    ButtonAction { button: bb.int(kr).unwrap_or(0) as u8, pressed: bp.bool(kr).unwrap_or(false) },
                ),
                Kind::Key => a.keys.push(
                    t - e0,
                    KeyAction {
                        pressed: kp.bool(kr).unwrap_or(false),
                        usage: ku.int(kr).map(|u| u as u16),
                        native: kn.int(kr).map(|u| u as u32),
                    },
                ),
                Kind::Text => a.text_data.extend_from_slice(text.str(kr).unwrap_or("").as_bytes()),
                Kind::Focus | Kind::Marker | Kind::Gap => {}
            }
        }
        if let (Some((x, y)), Some((px, py))) = (pos, prev) {
            a.x[b] = x;
            a.y[b] = y;
            a.pos_known[b] = true;
            a.dx[b] = x - px;
            a.dy[b] = y - py;
            prev = pos;
        }
        a.held[b] = held;
        a.buttons.close_bin();
        a.keys.close_bin();
        a.text_offsets.push(a.text_data.len() as i64);
        if let Some(ll) = ll.as_mut() {
            ll.event_offsets.push(ll.rows.len() as u64);
        }
    }
    a.lossless = ll;
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Event;

    fn table(events: &[(i64, Event)]) -> EventTable {
        let mut t = EventTable::new();
        for (ts, e) in events {
            t.push(*ts, e).unwrap();
        }
        t
    }
    const PX: i64 = 65536;

    #[test]
    fn rate_edges_are_exact_for_rational_fps() {
        // 30000/1001 fps: edge i = ⌊i · 1001/30000 s⌋, no drift after 10⁶ bins
        let b = Bins::rate(5, 5 + 33_366_666 * 1_000_000, 30_000, 1_001).unwrap();
        let e = b.edges();
        assert_eq!(e[1], 5 + 33_366_666);
        assert_eq!(e[30_000], 5 + 1_001_000_000_000);
        assert!(*e.last().unwrap() >= 5 + 33_366_666 * 1_000_000);
        assert_eq!(Bins::rate(0, 0, 20, 1).unwrap().len(), 1);
        assert_eq!(Bins::rate(0, 100_000_000, 20, 1).unwrap().len(), 2);
        assert_eq!(Bins::rate(0, 100_000_001, 20, 1).unwrap().len(), 3);
    }

    #[test]
    fn bad_bins_are_refused_with_their_values() {
        let e = Bins::rate(0, 10, 0, 1).unwrap_err().to_string();
        assert!(e.contains("0/1"), "{e}");
        let e = Bins::rate(0, i64::MAX, 1_000_000, 1).unwrap_err().to_string();
        assert!(e.contains("at most"), "{e}");
        let e = Bins::from_edges(vec![0, 5, 5]).unwrap_err().to_string();
        assert!(e.contains("edge 1 is 5 and edge 2 is 5"), "{e}");
        assert!(Bins::from_edges(vec![3]).is_err());
    }

    #[test]
    fn one_second_of_actions() {
        let ev = [
            (-5, Event::Move { x: PX, y: PX, buttons: None }),
            (0, Event::Move { x: 10 * PX, y: 20 * PX, buttons: None }),
            (10, Event::Button { button: 1, pressed: true, pos: None }),
            (40, Event::Move { x: 13 * PX + 1, y: 18 * PX, buttons: Some(1) }),
            (60, Event::Key { pressed: true, usage: Some(4), native: None }),
            (70, Event::Text { text: "a".into() }),
            (75, Event::Scroll { dx: 0, dy: -2 * PX, pos: Some((50 * PX, 50 * PX)) }),
            (80, Event::Key { pressed: false, usage: Some(4), native: Some(38) }),
            (90, Event::Button { button: 1, pressed: false, pos: Some((51 * PX, 52 * PX)) }),
            (140, Event::RawMove { dx: 3, dy: -4 }),
            (200, Event::Move { x: 0, y: 0, buttons: None }),
        ];
        let t = table(&ev);
        let bins = Bins::from_edges(vec![0, 50, 100, 150]).unwrap();
        let a = bin_actions(&t, &bins, ActionOptions { lossless: true }).unwrap();
        assert_eq!((a.before, a.after), (1, 1));
        assert_eq!(a.start, Some((PX, PX)));
        assert_eq!(a.x, vec![13 * PX + 1, 51 * PX, 51 * PX]);
        assert_eq!(a.dx, vec![12 * PX + 1, 38 * PX - 1, 0]);
        assert_eq!(a.dy, vec![17 * PX, 34 * PX, 0]);
        assert_eq!(a.moves, vec![2, 0, 0]);
        assert_eq!(a.held, vec![2, 0, 0]);
        assert_eq!(a.buttons.offsets, vec![0, 1, 2, 2]);
        assert_eq!(a.buttons.dt, vec![10, 40]);
        assert_eq!(a.keys.offsets, vec![0, 0, 2, 2]);
        assert_eq!(a.keys.dt, vec![10, 30]);
        assert_eq!(a.keys.rows[1], KeyAction { pressed: false, usage: Some(4), native: Some(38) });
        assert_eq!((a.scroll_dy.clone(), a.scrolls.clone()), (vec![0, -2 * PX, 0], vec![0, 1, 0]));
        assert_eq!((a.raw_dx.clone(), a.raw_dy.clone()), (vec![0, 0, 3], vec![0, 0, -4]));
        assert_eq!(a.text_offsets, vec![0, 0, 1, 1]);
        let ll = a.lossless.as_ref().unwrap();
        assert_eq!(ll.event_offsets, vec![0, 3, 8, 9]);
        assert_eq!(ll.rows, (1..10).collect::<Vec<u64>>());
    }

    #[test]
    fn unknown_position_until_the_first_one() {
        let t = table(&[
            (5, Event::Key { pressed: true, usage: Some(4), native: None }),
            (25, Event::Move { x: 7 * PX, y: 9 * PX, buttons: None }),
            (27, Event::Move { x: 8 * PX, y: 9 * PX, buttons: None }),
        ]);
        let a = bin_actions(&t, &Bins::from_edges(vec![0, 10, 20, 30]).unwrap(), ActionOptions::default()).unwrap();
        assert_eq!(a.start, Some((7 * PX, 9 * PX)));
        assert_eq!(a.pos_known, vec![false, false, true]);
        assert_eq!(a.dx, vec![0, 0, PX]);
        assert!(a.lossless.is_none());
    }

    /// A small seeded generator (xorshift) of tables with decreasing times, every kind, absent
    /// fields: bins -> events is exact, and the position steps rebuild every position.
    #[test]
    fn lossless_round_trip_on_generated_tables() {
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        let mut rnd = |m: u64| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s % m
        };
        for case in 0..200 {
            let mut evs = Vec::new();
            let mut t = rnd(1000) as i64 - 500;
            for _ in 0..rnd(300) {
                t += rnd(40) as i64 - if case % 3 == 0 { 10 } else { 0 };
                let e = match rnd(9) {
                    0..=2 => Event::Move { x: rnd(5000) as i64, y: rnd(5000) as i64, buttons: None },
                    3 => Event::Button {
                        button: rnd(40) as u8,
                        pressed: rnd(2) == 1,
                        pos: (rnd(2) == 1).then(|| (rnd(99) as i64, 3)),
                    },
                    4 => Event::Key { pressed: rnd(2) == 0, usage: (rnd(3) > 0).then(|| rnd(300) as u16), native: None },
                    5 => Event::Scroll { dx: rnd(9) as i64 - 4, dy: 1, pos: None },
                    6 => Event::Text { text: "é".repeat(rnd(3) as usize) },
                    7 => Event::RawMove { dx: rnd(7) as i64, dy: -(rnd(7) as i64) },
                    _ => Event::Marker { label: "m".into(), value: None },
                };
                evs.push((t, e));
            }
            let tab = table(&evs);
            let Some((lo, hi)) = tab.t_range() else { continue };
            let bins = Bins::rate(lo, hi + 1, 1 + rnd(5) * 1_000_000, 1_000).unwrap();
            let a = bin_actions(&tab, &bins, ActionOptions { lossless: true }).unwrap();
            assert_eq!((a.before, a.after), (0, 0));
            assert_eq!(a.rebuild(&tab).unwrap(), tab, "case {case}");
            // every known position equals start + the running sum of steps
            let (mut x, mut y) = a.start.unwrap_or((0, 0));
            for b in 0..a.bins() {
                x += a.dx[b];
                y += a.dy[b];
                if a.pos_known[b] {
                    assert_eq!((x, y), (a.x[b], a.y[b]), "case {case} bin {b}");
                }
            }
            let buttons = tab.kind_table(Kind::Button).len() as u64;
            assert_eq!(*a.buttons.offsets.last().unwrap(), buttons);
        }
    }
}
