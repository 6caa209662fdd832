//! A reversible tokenizer: an [`EventTable`] to a stream of integer tokens (`u32` ids of a fixed,
//! versioned vocabulary) and back. The spec, with every id range, is `docs/TOKENS.md`.
//!
//! A stream is a header, then one group of tokens per event:
//!
//! ```text
//! STREAM  time_unit:NUM  coord_unit:NUM          header: the units every later number counts in
//! [TIME_NEG] [DT_MORE..] DT_LAST                 time shift from the previous event (omitted when 0)
//! [BTNS_NONE | BTNS mask:NUM]                    the held-buttons state of later moves, when it changes
//! head args                                      the event: one head token, then its arguments
//! ```
//!
//! Times are counted in `time_unit` ns and coordinates in `coord_unit` stored units (1/65536 px).
//! Pointer positions are sent as steps from the previous position (the cursor), and a small step
//! of a move is part of the move's head token, so a typical move is one or two tokens.
//!
//! **Lossless mode** ([`TokenizerOptions::lossless`]): the units are the coarsest ones that divide
//! every time and coordinate of the table (found by the encoder and written to the header), every
//! kind is tokenized and native key codes are kept: `decode(encode(t)) == t`, field for field,
//! absent optional fields included.
//!
//! **Lossy mode** (fixed units): absolute times and positions are rounded to the nearest unit
//! (halves up) and the steps between the *rounded* values are sent, so errors never accumulate:
//! every decoded time and position is within `unit / 2` of the original. Relative amounts
//! (`raw_move` and `scroll` `dx`/`dy`) are rounded as running sums, so every prefix sum of the
//! decoded amounts is within `coord_unit / 2` of the original's (one amount alone within one
//! unit). Kinds not asked for are skipped and counted ([`Encoded::skipped`]); native key codes
//! dropped are counted too.
//!
//! Decoding takes untrusted tokens: every problem is an [`Error::Token`] with the position and
//! the token, memory grows only with the tokens consumed, and nothing panics.

use crate::bytes::gcd;
use crate::error::{Error, Result};
use crate::model::{Event, Kind, COORD_MAX_RAW, NUM_KINDS};
use crate::table::{Column, EventTable};

/// The vocabulary's version. A stream of another version is refused by its header token.
pub const VERSION: u32 = 1;
/// Digits of time shifts are base 2^12: a shift below 4096 units is one token.
pub const DT_BITS: u32 = 12;
/// Digits of other numbers are base 2^10: a number below 1024 is one token.
pub const NUM_BITS: u32 = 10;
/// Steps with both axes within `-STEP_R..=STEP_R` units are one token.
pub const STEP_R: i64 = 15;
const STEP_SIDE: u32 = 2 * STEP_R as u32 + 1;
const DT_BASE: u32 = 1 << DT_BITS;
const NUM_BASE: u32 = 1 << NUM_BITS;
/// Where a button's or scroll's position is: absent, at the cursor, or a step away (a step follows).
const POS_NONE: u32 = 0;
const POS_CURSOR: u32 = 1;
const POS_STEP: u32 = 2;

/// Token ids (see `docs/TOKENS.md`). Ranges are given by their first id.
pub mod id {
    use super::{DT_BASE, NUM_BASE, STEP_SIDE};
    /// Never produced; refused by the decoder (free for padding outside a stream).
    pub const PAD: u32 = 0;
    /// Stream header of vocabulary version 1; `time_unit:NUM coord_unit:NUM` follow.
    pub const STREAM: u32 = 1;
    /// The following time shift is negative (timestamps may decrease).
    pub const TIME_NEG: u32 = 2;
    /// Later moves have no `buttons` field.
    pub const BTNS_NONE: u32 = 3;
    /// Later moves have `buttons` = the NUM that follows.
    pub const BTNS: u32 = 4;
    /// A move whose step is not small: `dx:ZNUM dy:ZNUM`.
    pub const MOVE_FAR: u32 = 5;
    /// `raw_move`: a step argument (`STEP` or `STEP_FAR dx dy`).
    pub const RAW_MOVE: u32 = 6;
    /// `scroll` (3 ids: + position mode): a step argument (the amounts), then the position.
    pub const SCROLL: u32 = 7;
    /// `text`: its UTF-8 bytes as BYTE tokens follow, up to the next non-BYTE token.
    pub const TEXT: u32 = 10;
    /// `focus`: `present:NUM` (bit i: field i of app, title, window, left, top, right, bottom),
    /// then those fields (strings as STR, integers as ZNUM).
    pub const FOCUS: u32 = 11;
    /// `marker`: `label:STR`.
    pub const MARKER: u32 = 12;
    /// `marker` with a value: `label:STR value:ZNUM`.
    pub const MARKER_VALUE: u32 = 13;
    /// `gap`: `count:NUM reason:NUM`.
    pub const GAP: u32 = 14;
    /// `gap` with an end: `count:NUM reason:NUM (t_end - t):ZNUM` (in time units).
    pub const GAP_END: u32 = 15;
    /// A step argument that is not small: `dx:ZNUM dy:ZNUM`.
    pub const STEP_FAR: u32 = 16;
    /// `key` in general (8 ids: + pressed*4 + has_usage*2 + has_native): then `usage:NUM`, `native:NUM`
    /// (those present).
    pub const KEY_ANY: u32 = 17;
    /// `button` in general (6 ids: + pressed*3 + position mode): `button:NUM`, then the position.
    pub const BUTTON_ANY: u32 = 25;
    /// First id of the reserved range 31..64 (refused).
    pub const RESERVED: u32 = 31;
    /// `button` 0..=7 (48 ids: + (pressed*3 + position mode)*8 + button), then the position.
    pub const BUTTON: u32 = 64;
    /// `key` with a usage 0..=255 (1024 ids: + (pressed*2 + has_native)*256 + usage), then
    /// `native:NUM` when it has one.
    pub const KEY: u32 = BUTTON + 48;
    /// A move with a small step (31*31 ids: + (dy+15)*31 + (dx+15)).
    pub const MOVE: u32 = KEY + 1024;
    /// A small step argument (31*31 ids, as MOVE).
    pub const STEP: u32 = MOVE + STEP_SIDE * STEP_SIDE;
    /// One byte of a string (256 ids).
    pub const BYTE: u32 = STEP + STEP_SIDE * STEP_SIDE;
    /// A digit of a time shift with more digits after it (4096 ids), most significant first.
    pub const DT_MORE: u32 = BYTE + 256;
    /// The last digit of a time shift (4096 ids).
    pub const DT_LAST: u32 = DT_MORE + DT_BASE;
    /// A digit of a number with more digits after it (1024 ids), most significant first.
    pub const NUM_MORE: u32 = DT_LAST + DT_BASE;
    /// The last digit of a number (1024 ids).
    pub const NUM_LAST: u32 = NUM_MORE + NUM_BASE;
    /// The vocabulary size: every id is below it.
    pub const SIZE: u32 = NUM_LAST + NUM_BASE;
}

/// How a table is tokenized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenizerOptions {
    /// Nanoseconds per time unit; `None`: the coarsest unit that loses nothing (lossless).
    pub time_unit: Option<u64>,
    /// Stored coordinate units (1/65536 px) per coordinate unit; `None`: the coarsest lossless one.
    pub coord_unit: Option<u64>,
    /// The kinds tokenized (bit k = kind code k); the others are skipped and counted.
    pub kinds: u16,
    /// Keep native key codes (otherwise dropped and counted).
    pub native: bool,
}

impl TokenizerOptions {
    /// Every field of every event, exactly.
    pub fn lossless() -> Self {
        TokenizerOptions { time_unit: None, coord_unit: None, kinds: ALL_KINDS, native: true }
    }
}

impl Default for TokenizerOptions {
    /// The training default: 1 ms, whole pixels, every kind, native key codes dropped.
    fn default() -> Self {
        TokenizerOptions { time_unit: Some(1_000_000), coord_unit: Some(65536), kinds: ALL_KINDS, native: false }
    }
}

const ALL_KINDS: u16 = (1 << NUM_KINDS) - 1;

/// What [`encode`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub tokens: Vec<u32>,
    /// Nanoseconds per time unit, as written in the header.
    pub time_unit: u64,
    /// Stored coordinate units per coordinate unit, as written in the header.
    pub coord_unit: u64,
    /// Events left out, per kind code (kinds not in [`TokenizerOptions::kinds`]).
    pub skipped: [u64; NUM_KINDS],
    /// Key events whose native code was dropped ([`TokenizerOptions::native`] false).
    pub natives_dropped: u64,
}

fn usage_err(msg: String) -> Error {
    Error::Usage(msg)
}

// ------------------------------------------------------------------------------------------------
// Numbers

#[inline]
fn zig(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
fn unzig(z: u64) -> i64 {
    (z >> 1) as i64 ^ -((z & 1) as i64)
}

/// `v` as base-2^BITS digits, most significant first: `MORE + d` for all but the last, `LAST + d`.
#[inline]
fn push_digits<const BITS: u32>(out: &mut Vec<u32>, v: u64, more: u32, last: u32) {
    let mask = (1u64 << BITS) - 1;
    if v <= mask {
        out.push(last + v as u32);
        return;
    }
    let mut shift = (63 - v.leading_zeros()) / BITS * BITS;
    while shift > 0 {
        out.push(more + ((v >> shift) & mask) as u32);
        shift -= BITS;
    }
    out.push(last + (v & mask) as u32);
}

#[inline]
fn num(out: &mut Vec<u32>, v: u64) {
    push_digits::<NUM_BITS>(out, v, id::NUM_MORE, id::NUM_LAST);
}

#[inline]
fn znum(out: &mut Vec<u32>, v: i64) {
    num(out, zig(v));
}

#[inline]
fn small(d: i64) -> bool {
    (-STEP_R..=STEP_R).contains(&d)
}

#[inline]
fn step_index(dx: i64, dy: i64) -> u32 {
    (dy + STEP_R) as u32 * STEP_SIDE + (dx + STEP_R) as u32
}

/// A step argument: one STEP token when small, else STEP_FAR dx dy.
#[inline]
fn step(out: &mut Vec<u32>, dx: i64, dy: i64) {
    if small(dx) && small(dy) {
        out.push(id::STEP + step_index(dx, dy));
    } else {
        out.push(id::STEP_FAR);
        znum(out, dx);
        znum(out, dy);
    }
}

fn string(out: &mut Vec<u32>, s: &[u8]) {
    num(out, s.len() as u64);
    out.extend(s.iter().map(|&b| id::BYTE + u32::from(b)));
}

// ------------------------------------------------------------------------------------------------
// Quantization

/// `v` rounded to a multiple of `u` (halves up), as the multiple's index; moved one unit toward
/// zero when the rounded value would leave `limit` (so it decodes within range).
#[inline]
fn quant(v: i64, u: i64, limit: (i128, i128)) -> i64 {
    if u == 1 {
        return v;
    }
    // (a power-of-two unit, as whole pixels: a shift, where a division costs ~30 cycles)
    let q = match v.checked_add(u / 2) {
        Some(s) if u & (u - 1) == 0 => s >> u.trailing_zeros(),
        Some(s) => s.div_euclid(u),
        None => ((v as i128 + (u / 2) as i128).div_euclid(u as i128)) as i64,
    };
    let r = q as i128 * u as i128;
    if r < limit.0 || r > limit.1 {
        q - q.signum()
    } else {
        q
    }
}

/// A running sum rounded to whole units (relative amounts: errors do not add up).
#[derive(Default, Clone, Copy)]
struct Sum {
    raw: i128,
    sent: i64,
}

impl Sum {
    /// The step (in units) that takes the sent sum to the rounded true sum after adding `v`.
    #[inline]
    fn add(&mut self, v: i64, u: i64, exact: bool) -> i64 {
        if exact {
            return v / u;
        }
        self.raw += v as i128;
        let q = (self.raw + (u / 2) as i128).div_euclid(u as i128) as i64;
        let d = q - self.sent;
        self.sent = q;
        d
    }
}

/// A running gcd whose "does g divide v" test is a multiply and a compare (Granlund and
/// Montgomery's test with the inverse of g's odd part mod 2^64), not a ~30-cycle division: the
/// lossless encoder runs it on every time and coordinate.
#[derive(Default)]
struct Gcd {
    g: u64,
    shift: u32,
    inv: u64,
    lim: u64,
}

impl Gcd {
    fn set(&mut self, g: u64) {
        self.g = g;
        if g == 0 {
            return;
        }
        self.shift = g.trailing_zeros();
        let m = g >> self.shift;
        let mut inv = m; // Newton's iteration doubles the correct low bits: 3 -> 6 -> ... -> 96
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(m.wrapping_mul(inv)));
        }
        self.inv = inv;
        self.lim = u64::MAX / m;
    }

    #[inline]
    fn add(&mut self, v: i64) {
        let v = v.unsigned_abs();
        if self.g == 0 {
            self.set(v);
        } else if v & ((1u64 << self.shift) - 1) != 0 || (v >> self.shift).wrapping_mul(self.inv) > self.lim {
            self.set(gcd(self.g, v % self.g));
        }
    }
}

fn int_col(c: &Column) -> (&[i64], Option<&[bool]>) {
    match c {
        Column::Int { vals, valid } => (vals, valid.as_deref()),
        _ => (&[], None),
    }
}

fn bool_col(c: &Column) -> (&[bool], Option<&[bool]>) {
    match c {
        Column::Bool { vals, valid } => (vals, valid.as_deref()),
        _ => (&[], None),
    }
}

#[inline]
fn present(valid: Option<&[bool]>, r: usize) -> bool {
    valid.is_none_or(|v| v[r])
}

/// The coordinate columns of each kind (indexes into its [`KindTable`](crate::table::KindTable)).
const COORD_COLS: [(Kind, &[usize]); 4] =
    [(Kind::Move, &[0, 1]), (Kind::RawMove, &[0, 1]), (Kind::Button, &[2, 3]), (Kind::Scroll, &[0, 1, 2, 3])];

/// The coarsest lossless units of the tokenized kinds of `t`: (time ns, coordinate units).
fn exact_units(t: &EventTable, kinds: u16) -> (u64, u64) {
    let mut gt = Gcd::default();
    for (&ti, &k) in t.t.iter().zip(&t.kind) {
        if (kinds >> k) & 1 == 1 {
            gt.add(ti);
            if gt.g == 1 {
                break;
            }
        }
    }
    let mut gc = Gcd::default();
    for (k, cols) in COORD_COLS {
        if (kinds >> k as u8) & 1 == 0 {
            continue;
        }
        for &c in cols {
            let (vals, valid) = int_col(&t.kinds[k as usize].cols[c]);
            for (r, &v) in vals.iter().enumerate() {
                if present(valid, r) {
                    gc.add(v);
                }
            }
        }
    }
    if (kinds >> Kind::Gap as u8) & 1 == 1 && gt.g != 1 {
        let (vals, valid) = int_col(&t.kinds[Kind::Gap as usize].cols[2]);
        for (r, &v) in vals.iter().enumerate() {
            if present(valid, r) {
                gt.add(v);
            }
        }
    }
    // (a gcd of 2^63 comes only from times all 0 or i64::MIN: 2^62 divides them as well)
    let gt = match gt.g {
        0 => 1,
        g if g > i64::MAX as u64 => 1 << 62,
        g => g,
    };
    (gt, if gc.g == 0 { 65536 } else { gc.g })
}

// ------------------------------------------------------------------------------------------------
// Encoding

/// Tokenize `table` (which must be valid; it is checked).
pub fn encode(table: &EventTable, opts: &TokenizerOptions) -> Result<Encoded> {
    table.validate()?;
    let (auto_t, auto_c) = if opts.time_unit.is_none() || opts.coord_unit.is_none() {
        exact_units(table, opts.kinds)
    } else {
        (1, 1)
    };
    let tu = opts.time_unit.unwrap_or(auto_t);
    let cu = opts.coord_unit.unwrap_or(auto_c);
    if tu == 0 || tu > i64::MAX as u64 {
        return Err(usage_err(format!("time unit must be within 1..=2^63-1 ns, got {tu}")));
    }
    if cu == 0 || cu > COORD_MAX_RAW as u64 {
        return Err(usage_err(format!("coordinate unit must be within 1..=2^53 (1/65536 px), got {cu}")));
    }
    let mut e = Encoder {
        out: Vec::with_capacity(table.len() * 3 + 8),
        tu: tu as i64,
        cu: cu as i64,
        // units that divide every value: quantization is an exact division
        exact_c: opts.coord_unit.is_none() || cu == 1,
        native: opts.native,
        tq: 0,
        cursor: (0, 0),
        buttons: None,
        raw: [Sum::default(); 2],
        scroll: [Sum::default(); 2],
        skipped: [0; NUM_KINDS],
        natives_dropped: 0,
    };
    e.out.push(id::STREAM);
    num(&mut e.out, tu);
    num(&mut e.out, cu);
    e.run(table, opts.kinds);
    Ok(Encoded { tokens: e.out, time_unit: tu, coord_unit: cu, skipped: e.skipped, natives_dropped: e.natives_dropped })
}

struct Encoder {
    out: Vec<u32>,
    tu: i64,
    cu: i64,
    exact_c: bool,
    native: bool,
    /// Time of the last event sent, in units.
    tq: i64,
    /// Last pointer position sent, in units.
    cursor: (i64, i64),
    /// Buttons state of moves.
    buttons: Option<u32>,
    raw: [Sum; 2],
    scroll: [Sum; 2],
    skipped: [u64; NUM_KINDS],
    natives_dropped: u64,
}

const COORD_LIMIT: (i128, i128) = (-(COORD_MAX_RAW as i128), COORD_MAX_RAW as i128);
const TIME_LIMIT: (i128, i128) = (i64::MIN as i128, i64::MAX as i128);

impl Encoder {
    #[inline]
    fn coord(&self, v: i64) -> i64 {
        quant(v, self.cu, COORD_LIMIT)
    }

    #[inline]
    fn time(&mut self, t: i64) -> i64 {
        let q = quant(t, self.tu, TIME_LIMIT);
        let d = q.wrapping_sub(self.tq);
        self.tq = q;
        if d != 0 {
            if d < 0 {
                self.out.push(id::TIME_NEG);
            }
            push_digits::<DT_BITS>(&mut self.out, d.unsigned_abs(), id::DT_MORE, id::DT_LAST);
        }
        q
    }

    /// Step from the cursor to (x, y), moving the cursor.
    #[inline]
    fn to(&mut self, x: i64, y: i64) -> (i64, i64) {
        let (qx, qy) = (self.coord(x), self.coord(y));
        let d = (qx - self.cursor.0, qy - self.cursor.1);
        self.cursor = (qx, qy);
        d
    }

    /// Position mode of an optional position, and its step (when mode is POS_STEP).
    #[inline]
    fn pos(&mut self, xs: (&[i64], Option<&[bool]>), ys: &[i64], r: usize) -> (u32, (i64, i64)) {
        if !present(xs.1, r) {
            return (POS_NONE, (0, 0));
        }
        match self.to(xs.0[r], ys[r]) {
            (0, 0) => (POS_CURSOR, (0, 0)),
            d => (POS_STEP, d),
        }
    }

    fn run(&mut self, t: &EventTable, kinds: u16) {
        let mv = &t.kinds[Kind::Move as usize].cols;
        let (mx, my, mb) = (int_col(&mv[0]).0, int_col(&mv[1]).0, int_col(&mv[2]));
        let rm = &t.kinds[Kind::RawMove as usize].cols;
        let (rdx, rdy) = (int_col(&rm[0]).0, int_col(&rm[1]).0);
        let bt = &t.kinds[Kind::Button as usize].cols;
        let (bb, bp, bx, by) = (int_col(&bt[0]).0, bool_col(&bt[1]).0, int_col(&bt[2]), int_col(&bt[3]).0);
        let sc = &t.kinds[Kind::Scroll as usize].cols;
        let (sdx, sdy, sx, sy) = (int_col(&sc[0]).0, int_col(&sc[1]).0, int_col(&sc[2]), int_col(&sc[3]).0);
        let ky = &t.kinds[Kind::Key as usize].cols;
        let (kp, ku, kn) = (bool_col(&ky[0]).0, int_col(&ky[1]), int_col(&ky[2]));
        let mut next = [0usize; NUM_KINDS];
        for (&ti, &k) in t.t.iter().zip(&t.kind) {
            let r = next[k as usize];
            next[k as usize] += 1;
            if (kinds >> k) & 1 == 0 {
                self.skipped[k as usize] += 1;
                continue;
            }
            let tq = self.time(ti);
            match k {
                0 => {
                    let b = present(mb.1, r).then(|| mb.0[r] as u32);
                    if b != self.buttons {
                        match b {
                            None => self.out.push(id::BTNS_NONE),
                            Some(m) => {
                                self.out.push(id::BTNS);
                                num(&mut self.out, u64::from(m));
                            }
                        }
                        self.buttons = b;
                    }
                    let (dx, dy) = self.to(mx[r], my[r]);
                    if small(dx) && small(dy) {
                        self.out.push(id::MOVE + step_index(dx, dy));
                    } else {
                        self.out.push(id::MOVE_FAR);
                        znum(&mut self.out, dx);
                        znum(&mut self.out, dy);
                    }
                }
                1 => {
                    let dx = self.raw[0].add(rdx[r], self.cu, self.exact_c);
                    let dy = self.raw[1].add(rdy[r], self.cu, self.exact_c);
                    self.out.push(id::RAW_MOVE);
                    step(&mut self.out, dx, dy);
                }
                2 => {
                    let (mode, d) = self.pos(bx, by, r);
                    let pressed = u32::from(bp[r]);
                    let b = bb[r] as u64;
                    if b < 8 {
                        self.out.push(id::BUTTON + (pressed * 3 + mode) * 8 + b as u32);
                    } else {
                        self.out.push(id::BUTTON_ANY + pressed * 3 + mode);
                        num(&mut self.out, b);
                    }
                    if mode == POS_STEP {
                        step(&mut self.out, d.0, d.1);
                    }
                }
                3 => {
                    let dx = self.scroll[0].add(sdx[r], self.cu, self.exact_c);
                    let dy = self.scroll[1].add(sdy[r], self.cu, self.exact_c);
                    let (mode, d) = self.pos(sx, sy, r);
                    self.out.push(id::SCROLL + mode);
                    step(&mut self.out, dx, dy);
                    if mode == POS_STEP {
                        step(&mut self.out, d.0, d.1);
                    }
                }
                4 => {
                    let pressed = u32::from(kp[r]);
                    let usage = present(ku.1, r).then(|| ku.0[r] as u64);
                    let mut native = present(kn.1, r).then(|| kn.0[r] as u64);
                    if native.is_some() && !self.native {
                        native = None;
                        self.natives_dropped += 1;
                    }
                    match usage {
                        Some(u) if u < 256 => {
                            let has_n = u32::from(native.is_some());
                            self.out.push(id::KEY + (pressed * 2 + has_n) * 256 + u as u32);
                        }
                        _ => {
                            let flags = pressed * 4 + u32::from(usage.is_some()) * 2 + u32::from(native.is_some());
                            self.out.push(id::KEY_ANY + flags);
                            if let Some(u) = usage {
                                num(&mut self.out, u);
                            }
                        }
                    }
                    if let Some(n) = native {
                        num(&mut self.out, n);
                    }
                }
                5 => {
                    self.out.push(id::TEXT);
                    let s = str_bytes(&t.kinds[5].cols[0], r);
                    self.out.extend(s.iter().map(|&b| id::BYTE + u32::from(b)));
                }
                6 => self.focus(&t.kinds[6].cols, r),
                7 => {
                    let c = &t.kinds[7].cols;
                    let (vals, valid) = int_col(&c[1]);
                    let has_v = present(valid, r);
                    self.out.push(if has_v { id::MARKER_VALUE } else { id::MARKER });
                    string(&mut self.out, str_bytes(&c[0], r));
                    if has_v {
                        znum(&mut self.out, vals[r]);
                    }
                }
                _ => {
                    let c = &t.kinds[8].cols;
                    let (end, end_valid) = int_col(&c[2]);
                    let has_end = present(end_valid, r);
                    self.out.push(if has_end { id::GAP_END } else { id::GAP });
                    num(&mut self.out, int_col(&c[0]).0[r] as u64);
                    num(&mut self.out, int_col(&c[1]).0[r] as u64);
                    if has_end {
                        let qe = quant(end[r], self.tu, TIME_LIMIT);
                        znum(&mut self.out, qe.wrapping_sub(tq));
                    }
                }
            }
        }
    }

    /// FOCUS, a NUM of presence bits (bit i = field i of the focus kind), then the fields present.
    fn focus(&mut self, c: &[Column], r: usize) {
        let bits = (0..c.len()).filter(|&i| c[i].is_present(r)).fold(0u64, |b, i| b | 1 << i);
        self.out.push(id::FOCUS);
        num(&mut self.out, bits);
        for (i, col) in c.iter().enumerate() {
            if bits >> i & 1 == 1 {
                match col {
                    Column::Str { .. } => string(&mut self.out, str_bytes(col, r)),
                    _ => znum(&mut self.out, int_col(col).0[r]),
                }
            }
        }
    }
}

fn str_bytes(c: &Column, r: usize) -> &[u8] {
    match c {
        Column::Str { offsets, data, .. } => &data[offsets[r] as usize..offsets[r + 1] as usize],
        _ => &[],
    }
}

// ------------------------------------------------------------------------------------------------
// Decoding

/// Rebuild the events of a token stream (untrusted: any problem is an [`Error::Token`]).
pub fn decode(tokens: &[u32]) -> Result<EventTable> {
    let mut d = Decoder { tok: tokens, pos: 0, out: EventTable::new(), tu: 1, cu: 1, tq: 0, cursor: (0, 0), buttons: None };
    d.run()?;
    Ok(d.out)
}

struct Decoder<'a> {
    tok: &'a [u32],
    pos: usize,
    out: EventTable,
    tu: i64,
    cu: i64,
    /// Time of the last event, in units.
    tq: i64,
    /// Pointer position, in units.
    cursor: (i64, i64),
    buttons: Option<u32>,
}

fn in_range(t: u32, first: u32, n: u32) -> bool {
    t.wrapping_sub(first) < n
}

impl Decoder<'_> {
    fn err(&self, pos: usize, msg: impl Into<String>) -> Error {
        Error::Token { pos: pos as u64, token: self.tok.get(pos).copied(), msg: msg.into() }
    }

    /// The next token (consumed), or an error naming what was expected.
    fn next(&mut self, what: &str) -> Result<u32> {
        let t = *self.tok.get(self.pos).ok_or_else(|| self.err(self.pos, format!("the stream ends where {what} was expected")))?;
        self.pos += 1;
        Ok(t)
    }

    fn digits<const BITS: u32>(&mut self, more: u32, last: u32, what: &str) -> Result<u64> {
        let start = self.pos;
        let base = 1u32 << BITS;
        let mut acc = 0u64;
        loop {
            let t = self.next(what)?;
            let (d, done) = if in_range(t, more, base) {
                if acc == 0 && t == more {
                    return Err(self.err(self.pos - 1, format!("{what} has a leading zero digit")));
                }
                (t - more, false)
            } else if in_range(t, last, base) {
                (t - last, true)
            } else {
                return Err(self.err(self.pos - 1, format!("expected a digit of {what}, found {}", name(t))));
            };
            acc = acc
                .checked_mul(u64::from(base))
                .map(|a| a + u64::from(d))
                .ok_or_else(|| self.err(start, format!("{what} overflows 64 bits")))?;
            if done {
                return Ok(acc);
            }
        }
    }

    fn num(&mut self, what: &str) -> Result<u64> {
        self.digits::<NUM_BITS>(id::NUM_MORE, id::NUM_LAST, what)
    }

    fn znum(&mut self, what: &str) -> Result<i64> {
        self.num(what).map(unzig)
    }

    /// A number that must be at most `max`.
    fn num_max(&mut self, what: &str, max: u64) -> Result<u64> {
        let at = self.pos;
        let v = self.num(what)?;
        if v > max {
            return Err(self.err(at, format!("{what} = {v} is above its maximum {max}")));
        }
        Ok(v)
    }

    /// A step argument.
    fn step(&mut self, what: &str) -> Result<(i64, i64)> {
        let t = self.next(what)?;
        if in_range(t, id::STEP, STEP_SIDE * STEP_SIDE) {
            Ok(step_of(t - id::STEP))
        } else if t == id::STEP_FAR {
            Ok((self.znum("a step's dx")?, self.znum("a step's dy")?))
        } else {
            Err(self.err(self.pos - 1, format!("expected {what} (STEP or STEP_FAR), found {}", name(t))))
        }
    }

    /// A length-prefixed string.
    fn string(&mut self, what: &str) -> Result<String> {
        let at = self.pos;
        let n = self.num(what)?;
        if n > crate::codec::MAX_STRING as u64 || n > (self.tok.len() - self.pos) as u64 {
            return Err(self.err(at, format!("{what} of {n} bytes is longer than the tokens left or the string limit")));
        }
        let start = self.pos;
        let mut b = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let t = self.next(what)?;
            if !in_range(t, id::BYTE, 256) {
                return Err(self.err(self.pos - 1, format!("expected a byte of {what}, found {}", name(t))));
            }
            b.push((t - id::BYTE) as u8);
        }
        String::from_utf8(b).map_err(|_| self.err(start, format!("{what} is not valid UTF-8")))
    }

    /// A coordinate in units, as stored units.
    fn coord(&self, head: usize, v: i64) -> Result<i64> {
        v.checked_mul(self.cu).ok_or_else(|| self.err(head, format!("coordinate {v} x unit {} overflows", self.cu)))
    }

    /// Move the cursor by `d`; the new position in stored units.
    fn go(&mut self, head: usize, d: (i64, i64)) -> Result<(i64, i64)> {
        match (self.cursor.0.checked_add(d.0), self.cursor.1.checked_add(d.1)) {
            (Some(x), Some(y)) => {
                self.cursor = (x, y);
                Ok((self.coord(head, x)?, self.coord(head, y)?))
            }
            _ => Err(self.err(head, "the pointer position overflows")),
        }
    }

    /// An optional position in position mode `mode`.
    fn pos(&mut self, head: usize, mode: u32) -> Result<Option<(i64, i64)>> {
        match mode {
            POS_NONE => Ok(None),
            POS_CURSOR => self.go(head, (0, 0)).map(Some),
            _ => {
                let d = self.step("a position step")?;
                self.go(head, d).map(Some)
            }
        }
    }

    fn run(&mut self) -> Result<()> {
        if self.tok.first() != Some(&id::STREAM) {
            return Err(self.err(0, "a token stream starts with STREAM (vocabulary version 1)"));
        }
        self.pos = 1;
        let at = self.pos;
        let tu = self.num("the time unit")?;
        if tu == 0 || tu > i64::MAX as u64 {
            return Err(self.err(at, format!("time unit {tu} is not within 1..=2^63-1 ns")));
        }
        let at = self.pos;
        let cu = self.num("the coordinate unit")?;
        if cu == 0 || cu > COORD_MAX_RAW as u64 {
            return Err(self.err(at, format!("coordinate unit {cu} is not within 1..=2^53")));
        }
        (self.tu, self.cu) = (tu as i64, cu as i64);
        while self.pos < self.tok.len() {
            let start = self.pos;
            let mut t = self.next("an event")?;
            let neg = t == id::TIME_NEG;
            if neg {
                t = self.next("a time shift")?;
                if !in_range(t, id::DT_MORE, 2 * DT_BASE) {
                    return Err(self.err(self.pos - 1, format!("expected a time shift after TIME_NEG, found {}", name(t))));
                }
            }
            if in_range(t, id::DT_MORE, 2 * DT_BASE) {
                self.pos -= 1;
                let d = self.digits::<DT_BITS>(id::DT_MORE, id::DT_LAST, "a time shift")? as i64;
                self.tq = if neg { self.tq.wrapping_sub(d) } else { self.tq.wrapping_add(d) };
                t = self.next("an event after its time shift")?;
            }
            if t == id::BTNS_NONE || t == id::BTNS {
                self.buttons = match t {
                    id::BTNS => Some(self.num_max("a buttons mask", u64::from(u32::MAX))? as u32),
                    _ => None,
                };
                t = self.next("an event after its buttons state")?;
            }
            let time = self
                .tq
                .checked_mul(self.tu)
                .ok_or_else(|| self.err(start, format!("time {} x unit {} ns overflows int64", self.tq, self.tu)))?;
            let head = self.pos - 1;
            if t == id::FOCUS {
                self.focus(head)?;
                self.out.t.push(time);
                self.out.kind.push(Kind::Focus as u8);
                continue;
            }
            let ev = self.event(t, head)?;
            self.out.push(time, &ev).map_err(|e| self.err(head, format!("the event does not fit: {e}")))?;
        }
        Ok(())
    }

    /// A focus's fields, pushed to its columns (sides of the window are present one by one,
    /// which [`Event::Focus`] cannot say).
    fn focus(&mut self, head: usize) -> Result<()> {
        let at = self.pos;
        let bits = self.num("the fields of a focus")?;
        let n = Kind::Focus.fields().len();
        if bits >> n != 0 {
            return Err(self.err(at, format!("focus field bits {bits:#x} (at most {:#x})", (1 << n) - 1)));
        }
        let mut vals: [Option<i64>; 7] = [None; 7];
        let mut strs: [Option<String>; 2] = [None, None];
        for (i, spec) in Kind::Focus.fields().iter().enumerate() {
            if bits >> i & 1 == 0 {
                continue;
            }
            let what = spec.field.name();
            match spec.field.ty() {
                crate::model::FieldType::Str => strs[i] = Some(self.string(what)?),
                crate::model::FieldType::Int { min, max } => {
                    let at = self.pos;
                    let v = self.znum(what)?;
                    if v < min || v > max {
                        return Err(self.err(at, format!("focus {what} = {v} is not within {min}..={max}")));
                    }
                    vals[i] = Some(v);
                }
                _ => return Err(self.err(head, "focus field type")),
            }
        }
        let cols = &mut self.out.kinds[Kind::Focus as usize].cols;
        for (i, col) in cols.iter_mut().enumerate() {
            match col {
                Column::Str { .. } => col.push_str(strs[i].as_deref()),
                _ => col.push_int(vals[i]),
            }
        }
        Ok(())
    }

    fn event(&mut self, t: u32, head: usize) -> Result<Event> {
        if in_range(t, id::MOVE, STEP_SIDE * STEP_SIDE) || t == id::MOVE_FAR {
            let d = if t == id::MOVE_FAR {
                (self.znum("a move's dx")?, self.znum("a move's dy")?)
            } else {
                step_of(t - id::MOVE)
            };
            let (x, y) = self.go(head, d)?;
            return Ok(Event::Move { x, y, buttons: self.buttons });
        }
        if in_range(t, id::BUTTON, 48) || in_range(t, id::BUTTON_ANY, 6) {
            let (pressed, mode, button) = if in_range(t, id::BUTTON, 48) {
                let i = t - id::BUTTON;
                let pm = i / 8;
                (pm / 3 == 1, pm % 3, (i % 8) as u8)
            } else {
                let i = t - id::BUTTON_ANY;
                (i / 3 == 1, i % 3, self.num_max("a button number", 255)? as u8)
            };
            let pos = self.pos(head, mode)?;
            return Ok(Event::Button { button, pressed, pos });
        }
        if in_range(t, id::KEY, 1024) {
            let i = t - id::KEY;
            let (pressed, has_native, usage) = (i / 512 == 1, (i / 256) % 2 == 1, (i % 256) as u16);
            let native = if has_native { Some(self.num_max("a native key code", u64::from(u32::MAX))? as u32) } else { None };
            return Ok(Event::Key { pressed, usage: Some(usage), native });
        }
        if in_range(t, id::KEY_ANY, 8) {
            let f = t - id::KEY_ANY;
            let usage = if f & 2 != 0 { Some(self.num_max("a key usage", u64::from(u16::MAX))? as u16) } else { None };
            let native = if f & 1 != 0 { Some(self.num_max("a native key code", u64::from(u32::MAX))? as u32) } else { None };
            return Ok(Event::Key { pressed: f & 4 != 0, usage, native });
        }
        if in_range(t, id::SCROLL, 3) {
            let (dx, dy) = self.step("a scroll's amounts")?;
            let (dx, dy) = (self.coord(head, dx)?, self.coord(head, dy)?);
            let pos = self.pos(head, t - id::SCROLL)?;
            return Ok(Event::Scroll { dx, dy, pos });
        }
        match t {
            id::RAW_MOVE => {
                let (dx, dy) = self.step("a raw move's step")?;
                Ok(Event::RawMove { dx: self.coord(head, dx)?, dy: self.coord(head, dy)? })
            }
            id::TEXT => {
                let start = self.pos;
                while self.pos < self.tok.len() && in_range(self.tok[self.pos], id::BYTE, 256) {
                    self.pos += 1;
                }
                if self.pos - start > crate::codec::MAX_STRING {
                    return Err(self.err(start, "a text longer than the string limit"));
                }
                let b: Vec<u8> = self.tok[start..self.pos].iter().map(|&t| (t - id::BYTE) as u8).collect();
                let text = String::from_utf8(b).map_err(|_| self.err(start, "a text that is not valid UTF-8"))?;
                Ok(Event::Text { text })
            }
            id::MARKER | id::MARKER_VALUE => {
                let label = self.string("a marker label")?;
                let value = if t == id::MARKER_VALUE { Some(self.znum("a marker value")?) } else { None };
                Ok(Event::Marker { label, value })
            }
            id::GAP | id::GAP_END => {
                let count = self.num_max("a gap count", i64::MAX as u64)?;
                let reason = self.num_max("a gap reason", 255)? as u8;
                let t_end = if t == id::GAP_END {
                    let at = self.pos;
                    let e = self.tq.wrapping_add(self.znum("a gap's end")?);
                    Some(e.checked_mul(self.tu).ok_or_else(|| self.err(at, format!("gap end {e} x unit {} ns overflows int64", self.tu)))?)
                } else {
                    None
                };
                Ok(Event::Gap { count, reason, t_end })
            }
            _ => Err(self.err(head, format!("expected an event, found {}", name(t)))),
        }
    }
}

fn step_of(i: u32) -> (i64, i64) {
    ((i % STEP_SIDE) as i64 - STEP_R, (i / STEP_SIDE) as i64 - STEP_R)
}

// ------------------------------------------------------------------------------------------------
// The vocabulary, for people

/// The id ranges of the vocabulary: (name, first id, count), in id order.
pub const RANGES: [(&str, u32, u32); 25] = [
    ("PAD", id::PAD, 1),
    ("STREAM", id::STREAM, 1),
    ("TIME_NEG", id::TIME_NEG, 1),
    ("BTNS_NONE", id::BTNS_NONE, 1),
    ("BTNS", id::BTNS, 1),
    ("MOVE_FAR", id::MOVE_FAR, 1),
    ("RAW_MOVE", id::RAW_MOVE, 1),
    ("SCROLL", id::SCROLL, 3),
    ("TEXT", id::TEXT, 1),
    ("FOCUS", id::FOCUS, 1),
    ("MARKER", id::MARKER, 1),
    ("MARKER_VALUE", id::MARKER_VALUE, 1),
    ("GAP", id::GAP, 1),
    ("GAP_END", id::GAP_END, 1),
    ("STEP_FAR", id::STEP_FAR, 1),
    ("KEY_ANY", id::KEY_ANY, 8),
    ("BUTTON_ANY", id::BUTTON_ANY, 6),
    ("RESERVED", id::RESERVED, id::BUTTON - id::RESERVED),
    ("BUTTON", id::BUTTON, 48),
    ("KEY", id::KEY, 1024),
    ("MOVE", id::MOVE, STEP_SIDE * STEP_SIDE),
    ("STEP", id::STEP, STEP_SIDE * STEP_SIDE),
    ("BYTE", id::BYTE, 256),
    ("DT_MORE/DT_LAST", id::DT_MORE, 2 * DT_BASE),
    ("NUM_MORE/NUM_LAST", id::NUM_MORE, 2 * NUM_BASE),
];

const POS_NAMES: [&str; 3] = ["", "@cursor", "@step"];

/// A readable name of one token id (for debugging and `describe`).
pub fn name(t: u32) -> String {
    let pm = |m: u32| POS_NAMES[m as usize];
    let ud = |p: bool| if p { "down" } else { "up" };
    match t {
        id::PAD => "PAD".into(),
        id::STREAM => format!("STREAM v{VERSION}"),
        id::TIME_NEG => "TIME_NEG".into(),
        id::BTNS_NONE => "BTNS_NONE".into(),
        id::BTNS => "BTNS".into(),
        id::MOVE_FAR => "MOVE_FAR".into(),
        id::RAW_MOVE => "RAW_MOVE".into(),
        _ if in_range(t, id::SCROLL, 3) => format!("SCROLL{}", pm(t - id::SCROLL)),
        id::TEXT => "TEXT".into(),
        id::FOCUS => "FOCUS".into(),
        id::MARKER => "MARKER".into(),
        id::MARKER_VALUE => "MARKER_VALUE".into(),
        id::GAP => "GAP".into(),
        id::GAP_END => "GAP_END".into(),
        id::STEP_FAR => "STEP_FAR".into(),
        _ if in_range(t, id::KEY_ANY, 8) => {
            let f = t - id::KEY_ANY;
            format!("KEY_ANY {}{}{}", ud(f & 4 != 0), if f & 2 != 0 { " +usage" } else { "" }, if f & 1 != 0 { " +native" } else { "" })
        }
        _ if in_range(t, id::BUTTON_ANY, 6) => {
            let i = t - id::BUTTON_ANY;
            format!("BUTTON_ANY {}{}", ud(i / 3 == 1), pm(i % 3))
        }
        _ if in_range(t, id::RESERVED, id::BUTTON - id::RESERVED) => format!("RESERVED {t}"),
        _ if in_range(t, id::BUTTON, 48) => {
            let i = t - id::BUTTON;
            format!("BUTTON {} {}{}", i % 8, ud(i / 24 == 1), pm((i / 8) % 3))
        }
        _ if in_range(t, id::KEY, 1024) => {
            let i = t - id::KEY;
            format!("KEY {} 0x{:02x}{}", ud(i / 512 == 1), i % 256, if (i / 256) % 2 == 1 { " +native" } else { "" })
        }
        _ if in_range(t, id::MOVE, STEP_SIDE * STEP_SIDE) => {
            let (dx, dy) = step_of(t - id::MOVE);
            format!("MOVE {dx:+} {dy:+}")
        }
        _ if in_range(t, id::STEP, STEP_SIDE * STEP_SIDE) => {
            let (dx, dy) = step_of(t - id::STEP);
            format!("STEP {dx:+} {dy:+}")
        }
        _ if in_range(t, id::BYTE, 256) => {
            let b = (t - id::BYTE) as u8;
            if b.is_ascii_graphic() || b == b' ' { format!("BYTE {:?}", b as char) } else { format!("BYTE 0x{b:02x}") }
        }
        _ if in_range(t, id::DT_MORE, DT_BASE) => format!("DT_MORE {}", t - id::DT_MORE),
        _ if in_range(t, id::DT_LAST, DT_BASE) => format!("DT {}", t - id::DT_LAST),
        _ if in_range(t, id::NUM_MORE, NUM_BASE) => format!("NUM_MORE {}", t - id::NUM_MORE),
        _ if in_range(t, id::NUM_LAST, NUM_BASE) => format!("NUM {}", t - id::NUM_LAST),
        _ => format!("UNKNOWN {t} (vocabulary size {})", id::SIZE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_gcd_agrees_with_euclid() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64; // xorshift, seeded
        for round in 0..2000 {
            let base = [1u64, 3, 1_000_000, 65536, 256 * 7, 999_983][round % 6];
            let (mut g, mut want) = (Gcd::default(), 0u64);
            for _ in 0..(round % 17) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let v = ((x % 5000) as i64 - 2500) * base as i64 * if x & 64 == 0 { 1 } else { (x >> 40) as i64 % 9 };
                g.add(v);
                want = gcd(want, v.unsigned_abs());
                assert_eq!(g.g, want, "after {v}");
            }
        }
        let mut g = Gcd::default();
        g.add(i64::MIN);
        g.add(0);
        assert_eq!(g.g, 1 << 63);
    }
}
