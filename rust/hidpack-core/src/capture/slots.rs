//! Events as ring slots: an event becomes one 64-byte slot (kind, flags, fields) and, for a
//! string, continuation slots carrying its bytes; the encoder turns the slots back into events.
//! The producer side builds slots on the stack and never allocates.

use crate::error::{Error, Result, ValueError};
use crate::model::{Event, Kind, COORD_MAX_RAW};

/// One ring slot: 7 words (56 bytes) + the ring's sequence word = one 64-byte cache line.
pub type Rec = [u64; 7];

pub(super) const STR_INLINE: usize = 8;
pub(super) const STR_CONT: usize = 56;
/// Slot header word: kind (8 bits) | flags (8) | first string length (24) | continuation slots (24).
pub(super) const KIND_BATCH: u64 = 0xFF;

pub(super) const F_A: u64 = 1; // optional field group A present
pub(super) const F_B: u64 = 2;
pub(super) const F_C: u64 = 4;
pub(super) const F_D: u64 = 8;
pub(super) const F_INTERNAL: u64 = 0x80; // a gap written by the recorder itself

pub(super) fn coord_ok(v: i64, field: &'static str) -> Result<()> {
    if v.abs() > COORD_MAX_RAW || v == i64::MIN {
        return Err(Error::Value(ValueError {
            row: None,
            field,
            value: v.to_string(),
            expected: "|coordinate| must be at most 2^53 units (2^37 px)".into(),
        }));
    }
    Ok(())
}

/// Slots for one event: the head slot and an iterator over the string bytes.
pub(super) struct Slots<'a> {
    head: Option<Rec>,
    s1: &'a [u8],
    s2: &'a [u8],
    /// Bytes of s1 ++ s2 already placed.
    done: usize,
    left: usize,
}

impl Slots<'_> {
    fn byte(&self, i: usize) -> u8 {
        if i < self.s1.len() {
            self.s1[i]
        } else {
            self.s2[i - self.s1.len()]
        }
    }
    fn fill(&mut self, out: &mut [u8]) {
        let total = self.s1.len() + self.s2.len();
        for b in out.iter_mut() {
            if self.done >= total {
                break;
            }
            *b = self.byte(self.done);
            self.done += 1;
        }
    }
}

impl Iterator for Slots<'_> {
    type Item = Rec;
    fn next(&mut self) -> Option<Rec> {
        if let Some(h) = self.head.take() {
            self.left -= 1;
            return Some(h);
        }
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let mut bytes = [0u8; STR_CONT];
        self.fill(&mut bytes);
        let mut r = [0u64; 7];
        for (i, w) in r.iter_mut().enumerate() {
            *w = u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        }
        Some(r)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}
impl ExactSizeIterator for Slots<'_> {}

pub(super) fn cont_slots(len: usize) -> usize {
    len.saturating_sub(STR_INLINE).div_ceil(STR_CONT)
}

/// Build the slots of one event (validating what the encoder would refuse).
pub(super) fn to_slots<'a>(t: i64, ev: &'a Event, max_str: usize, internal: bool) -> Result<Slots<'a>> {
    let mut w = [0u64; 7];
    w[0] = t as u64;
    let mut flags = if internal { F_INTERNAL } else { 0 };
    let (mut s1, mut s2): (&[u8], &[u8]) = (&[], &[]);
    let pos = |w: &mut [u64; 7], flags: &mut u64, pos: &Option<(i64, i64)>, a: usize| -> Result<()> {
        if let Some((x, y)) = pos {
            coord_ok(*x, "x")?;
            coord_ok(*y, "y")?;
            w[a] = *x as u64;
            w[a + 1] = *y as u64;
            *flags |= F_A;
        }
        Ok(())
    };
    match ev {
        Event::Move { x, y, buttons } => {
            coord_ok(*x, "x")?;
            coord_ok(*y, "y")?;
            w[1] = *x as u64;
            w[2] = *y as u64;
            if let Some(b) = buttons {
                w[3] = u64::from(*b);
                flags |= F_A;
            }
        }
        Event::RawMove { dx, dy } => {
            coord_ok(*dx, "dx")?;
            coord_ok(*dy, "dy")?;
            w[1] = *dx as u64;
            w[2] = *dy as u64;
        }
        Event::Button { button, pressed, pos: p } => {
            w[3] = u64::from(*button);
            w[4] = u64::from(*pressed);
            pos(&mut w, &mut flags, p, 1)?;
        }
        Event::Scroll { dx, dy, pos: p } => {
            coord_ok(*dx, "dx")?;
            coord_ok(*dy, "dy")?;
            w[3] = *dx as u64;
            w[4] = *dy as u64;
            pos(&mut w, &mut flags, p, 1)?;
        }
        Event::Key { pressed, usage, native } => {
            w[1] = u64::from(*pressed);
            if let Some(u) = usage {
                w[2] = u64::from(*u);
                flags |= F_A;
            }
            if let Some(n) = native {
                w[3] = u64::from(*n);
                flags |= F_B;
            }
        }
        Event::Text { text } => s1 = text.as_bytes(),
        Event::Focus { app, title, window, rect } => {
            if let Some(a) = app {
                s1 = a.as_bytes();
                flags |= F_A;
            }
            if let Some(ti) = title {
                s2 = ti.as_bytes();
                flags |= F_B;
            }
            if let Some(win) = window {
                w[1] = *win as u64;
                flags |= F_C;
            }
            if let Some(r) = rect {
                w[2] = (r[0] as u32 as u64) | (r[1] as u32 as u64) << 32;
                w[3] = (r[2] as u32 as u64) | (r[3] as u32 as u64) << 32;
                flags |= F_D;
            }
            w[4] = s2.len() as u64;
        }
        Event::Marker { label, value } => {
            s1 = label.as_bytes();
            if let Some(v) = value {
                w[1] = *v as u64;
                flags |= F_A;
            }
        }
        Event::Gap { count, reason, t_end } => {
            if *count > i64::MAX as u64 {
                return Err(Error::Value(ValueError {
                    row: None,
                    field: "count",
                    value: count.to_string(),
                    expected: "must be at most 2^63-1".into(),
                }));
            }
            w[1] = *count;
            w[2] = u64::from(*reason);
            if let Some(e) = t_end {
                w[3] = *e as u64;
                flags |= F_A;
            }
        }
    }
    let total = s1.len() + s2.len();
    if total > max_str {
        return Err(Error::Value(ValueError {
            row: None,
            field: if matches!(ev, Event::Focus { .. }) { "app+title" } else { "string" },
            value: format!("{total} bytes"),
            expected: format!("at most {max_str} bytes of strings per event with this ring (raise ring_capacity)"),
        }));
    }
    let ncont = cont_slots(total);
    w[5] = u64::from(ev.kind().code()) | flags << 8 | (s1.len() as u64) << 16 | (ncont as u64) << 40;
    let mut inl = [0u8; STR_INLINE];
    let mut sl = Slots { head: None, s1, s2, done: 0, left: 1 + ncont };
    sl.fill(&mut inl);
    w[6] = u64::from_le_bytes(inl);
    sl.head = Some(w);
    Ok(sl)
}

/// Decode one message (head + continuation slots) back into an event.
pub(super) fn from_slots(recs: &[Rec]) -> (i64, Event, bool) {
    let w = &recs[0];
    let t = w[0] as i64;
    let kind = (w[5] & 0xFF) as u8;
    let flags = (w[5] >> 8) & 0xFF;
    let len1 = ((w[5] >> 16) & 0xFF_FFFF) as usize;
    let internal = flags & F_INTERNAL != 0;
    let strings = |total: usize| -> Vec<u8> {
        let mut b = Vec::with_capacity(total);
        b.extend_from_slice(&w[6].to_le_bytes()[..total.min(STR_INLINE)]);
        for r in &recs[1..] {
            for word in r {
                for byte in word.to_le_bytes() {
                    if b.len() < total {
                        b.push(byte);
                    }
                }
            }
        }
        b
    };
    let utf8 = |b: Vec<u8>| String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    let pos = if flags & F_A != 0 { Some((w[1] as i64, w[2] as i64)) } else { None };
    let ev = match Kind::from_code(kind).unwrap_or(Kind::Marker) {
        Kind::Move => Event::Move { x: w[1] as i64, y: w[2] as i64, buttons: (flags & F_A != 0).then_some(w[3] as u32) },
        Kind::RawMove => Event::RawMove { dx: w[1] as i64, dy: w[2] as i64 },
        Kind::Button => Event::Button { button: w[3] as u8, pressed: w[4] != 0, pos },
        Kind::Scroll => Event::Scroll { dx: w[3] as i64, dy: w[4] as i64, pos },
        Kind::Key => Event::Key {
            pressed: w[1] != 0,
            usage: (flags & F_A != 0).then_some(w[2] as u16),
            native: (flags & F_B != 0).then_some(w[3] as u32),
        },
        Kind::Text => Event::Text { text: utf8(strings(len1)) },
        Kind::Focus => {
            let len2 = w[4] as usize;
            let mut b = strings(len1 + len2);
            let title = b.split_off(len1);
            Event::Focus {
                app: (flags & F_A != 0).then(|| utf8(b)),
                title: (flags & F_B != 0).then(|| utf8(title)),
                window: (flags & F_C != 0).then_some(w[1] as i64),
                rect: (flags & F_D != 0).then(|| {
                    [w[2] as u32 as i32, (w[2] >> 32) as u32 as i32, w[3] as u32 as i32, (w[3] >> 32) as u32 as i32]
                }),
            }
        }
        Kind::Marker => Event::Marker { label: utf8(strings(len1)), value: (flags & F_A != 0).then_some(w[1] as i64) },
        Kind::Gap => Event::Gap { count: w[1], reason: w[2] as u8, t_end: (flags & F_A != 0).then_some(w[3] as i64) },
    };
    (t, ev, internal)
}

pub(super) fn msg_len(head: &Rec) -> usize {
    1 + (head[5] >> 40) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events() -> Vec<Event> {
        vec![
            Event::Move { x: 1 << 16, y: -5, buttons: Some(3) },
            Event::Move { x: 0, y: 0, buttons: None },
            Event::RawMove { dx: -7, dy: 9 },
            Event::Button { button: 2, pressed: true, pos: Some((10, 20)) },
            Event::Button { button: 1, pressed: false, pos: None },
            Event::Scroll { dx: -65536, dy: 3, pos: Some((1, 2)) },
            Event::Scroll { dx: 0, dy: 1, pos: None },
            Event::Key { pressed: true, usage: Some(4), native: Some(38) },
            Event::Key { pressed: false, usage: None, native: None },
            Event::Text { text: String::new() },
            Event::Text { text: "héllo".into() },
            Event::Text { text: "x".repeat(200) },
            Event::Focus { app: Some("firefox".into()), title: Some("t".repeat(70)), window: Some(-4), rect: Some([-1, 2, i32::MAX, i32::MIN]) },
            Event::Focus { app: None, title: Some(String::new()), window: None, rect: None },
            Event::Focus { app: Some("a".into()), title: None, window: None, rect: None },
            Event::Marker { label: "frame".into(), value: Some(i64::MIN) },
            Event::Marker { label: "ünïcode\0nul".into(), value: None },
            Event::Gap { count: 5, reason: 1, t_end: Some(-3) },
            Event::Gap { count: 0, reason: 0, t_end: None },
        ]
    }

    #[test]
    fn slots_round_trip_every_kind() {
        for (i, ev) in events().into_iter().enumerate() {
            let t = i as i64 * 1000 - 5;
            let recs: Vec<Rec> = to_slots(t, &ev, 1 << 20, false).unwrap().collect();
            assert_eq!(recs.len(), msg_len(&recs[0]));
            let (t2, ev2, internal) = from_slots(&recs);
            assert_eq!((t2, &ev2, internal), (t, &ev, false));
        }
    }

    #[test]
    fn strings_longer_than_the_ring_are_refused() {
        let ev = Event::Text { text: "y".repeat(200) };
        assert!(matches!(to_slots(0, &ev, 100, false), Err(Error::Value(_))));
    }
}
