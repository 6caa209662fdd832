//! The event model: kinds, their fields, and the fixed-point coordinate type.
//!
//! Every event has a timestamp `t` (int64 ns since the file's start; equal and decreasing values are
//! kept, in push order) and a [`Kind`]. Each kind has a fixed list of fields ([`KIND_FIELDS`]); a
//! field is required or optional, and an optional field that the source did not give is *absent*,
//! which is not the same as zero.
//!
//! Coordinates (`x`, `y`, `dx`, `dy`) are stored as integers in units of 1/65536 pixel
//! ([`COORD_SCALE`]). That holds integer pixels (Windows, X11 core), X11 XInput2's 16.16 fixed point,
//! Wayland's 24.8 and the 1/256 grid macOS reports, all exactly. A value that is not on the grid, or
//! whose magnitude exceeds [`COORD_MAX_PX`], is refused: hidpack never rounds.

use crate::error::{Error, ValueError};

/// Units per pixel of stored coordinates.
pub const COORD_SCALE: f64 = 65536.0;
/// Largest accepted |coordinate| in pixels (2^37): keeps every stored value exact as an f64.
pub const COORD_MAX_PX: i64 = 1 << 37;
/// Largest accepted |coordinate| in stored units (2^53).
pub const COORD_MAX_RAW: i64 = 1 << 53;

/// Event kinds. The discriminant is the kind code stored in files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Kind {
    Move = 0,
    RawMove = 1,
    Button = 2,
    Scroll = 3,
    Key = 4,
    Text = 5,
    Focus = 6,
    Marker = 7,
    Gap = 8,
}

pub const NUM_KINDS: usize = 9;

impl Kind {
    pub const ALL: [Kind; NUM_KINDS] = [
        Kind::Move,
        Kind::RawMove,
        Kind::Button,
        Kind::Scroll,
        Kind::Key,
        Kind::Text,
        Kind::Focus,
        Kind::Marker,
        Kind::Gap,
    ];
    pub fn from_code(c: u8) -> Option<Kind> {
        Kind::ALL.get(c as usize).copied()
    }
    pub fn code(self) -> u8 {
        self as u8
    }
    pub fn name(self) -> &'static str {
        KIND_NAMES[self as usize]
    }
    pub fn from_name(s: &str) -> Option<Kind> {
        KIND_NAMES.iter().position(|n| *n == s).map(|i| Kind::ALL[i])
    }
    /// The fields of this kind, in storage order.
    pub fn fields(self) -> &'static [FieldSpec] {
        KIND_FIELDS[self as usize]
    }
}

pub const KIND_NAMES: [&str; NUM_KINDS] =
    ["move", "raw_move", "button", "scroll", "key", "text", "focus", "marker", "gap"];

/// How a field's values are typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Fixed-point coordinate, stored as i64 units of 1/65536 px.
    Coord,
    /// Integer within `[min, max]`.
    Int { min: i64, max: i64 },
    Bool,
    /// UTF-8 string.
    Str,
}

/// Global field identifiers (also the field id stored in column chunks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Field {
    X = 0,
    Y = 1,
    Dx = 2,
    Dy = 3,
    Buttons = 4,
    Button = 5,
    Pressed = 6,
    Usage = 7,
    Native = 8,
    Text = 9,
    App = 10,
    Title = 11,
    Window = 12,
    Left = 13,
    Top = 14,
    Right = 15,
    Bottom = 16,
    Label = 17,
    Value = 18,
    Count = 19,
    Reason = 20,
    TEnd = 21,
}

pub const NUM_FIELDS: usize = 22;

pub const FIELD_NAMES: [&str; NUM_FIELDS] = [
    "x", "y", "dx", "dy", "buttons", "button", "pressed", "usage", "native", "text", "app", "title",
    "window", "left", "top", "right", "bottom", "label", "value", "count", "reason", "t_end",
];

impl Field {
    pub fn name(self) -> &'static str {
        FIELD_NAMES[self as usize]
    }
    pub fn id(self) -> u8 {
        self as u8
    }
    pub fn from_name(s: &str) -> Option<Field> {
        FIELD_NAMES.iter().position(|n| *n == s).map(|i| ALL_FIELDS[i])
    }
    pub fn ty(self) -> FieldType {
        use Field::*;
        const I32: FieldType = FieldType::Int { min: i32::MIN as i64, max: i32::MAX as i64 };
        match self {
            X | Y | Dx | Dy => FieldType::Coord,
            Buttons => FieldType::Int { min: 0, max: u32::MAX as i64 },
            Button => FieldType::Int { min: 0, max: u8::MAX as i64 },
            Pressed => FieldType::Bool,
            Usage => FieldType::Int { min: 0, max: u16::MAX as i64 },
            Native => FieldType::Int { min: 0, max: u32::MAX as i64 },
            Text | App | Title | Label => FieldType::Str,
            Window | Value | TEnd => FieldType::Int { min: i64::MIN, max: i64::MAX },
            Left | Top | Right | Bottom => I32,
            Count => FieldType::Int { min: 0, max: i64::MAX },
            Reason => FieldType::Int { min: 0, max: u8::MAX as i64 },
        }
    }
}

pub const ALL_FIELDS: [Field; NUM_FIELDS] = {
    use Field::*;
    [
        X, Y, Dx, Dy, Buttons, Button, Pressed, Usage, Native, Text, App, Title, Window, Left, Top,
        Right, Bottom, Label, Value, Count, Reason, TEnd,
    ]
};

/// One field of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    pub field: Field,
    pub required: bool,
}

const fn r(field: Field) -> FieldSpec {
    FieldSpec { field, required: true }
}
const fn o(field: Field) -> FieldSpec {
    FieldSpec { field, required: false }
}

/// The fields of each kind, in storage order.
pub const KIND_FIELDS: [&[FieldSpec]; NUM_KINDS] = {
    use Field::*;
    [
        &[r(X), r(Y), o(Buttons)],
        &[r(Dx), r(Dy)],
        &[r(Button), r(Pressed), o(X), o(Y)],
        &[r(Dx), r(Dy), o(X), o(Y)],
        &[r(Pressed), o(Usage), o(Native)],
        &[r(Text)],
        &[o(App), o(Title), o(Window), o(Left), o(Top), o(Right), o(Bottom)],
        &[r(Label), o(Value)],
        &[r(Count), r(Reason), o(TEnd)],
    ]
};

/// Gap reasons (the `reason` field of a `gap`).
pub mod gap_reason {
    pub const UNKNOWN: u8 = 0;
    pub const DROPPED: u8 = 1;
    pub const PAUSED: u8 = 2;
    pub const REDACTED: u8 = 3;
}

/// Convert a pixel value to stored units, refusing anything that is not exact.
pub fn coord_from_f64(v: f64, field: &'static str, row: Option<u64>) -> Result<i64, Error> {
    let err = |expected: &str| {
        Error::Value(ValueError { row, field, value: format!("{v:?}"), expected: expected.into() })
    };
    if !v.is_finite() {
        return Err(err("a coordinate must be finite"));
    }
    let q = v * COORD_SCALE; // exact: scaling by a power of two
    if q.abs() > COORD_MAX_RAW as f64 {
        return Err(err("|coordinate| must be at most 2^37 px"));
    }
    if q.fract() != 0.0 {
        return Err(err("not a multiple of 1/65536 px; hidpack stores coordinates exactly and never rounds"));
    }
    Ok(q as i64)
}

/// Convert whole pixels to stored units.
pub fn coord_from_px(v: i64, field: &'static str, row: Option<u64>) -> Result<i64, Error> {
    if v.abs() > COORD_MAX_PX || v == i64::MIN {
        return Err(Error::Value(ValueError {
            row,
            field,
            value: v.to_string(),
            expected: "|coordinate| must be at most 2^37 px".into(),
        }));
    }
    Ok(v * 65536)
}

/// Stored units to pixels (always exact: |raw| <= 2^53).
#[inline]
pub fn coord_to_f64(raw: i64) -> f64 {
    // Multiplying by 2^-16 is exact, like dividing by 2^16, and vectorises better.
    raw as f64 * (1.0 / COORD_SCALE)
}

/// A single event, as a native capture client builds it.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Absolute pointer position in stored units (see [`coord_from_f64`]); `buttons` = held mask.
    Move { x: i64, y: i64, buttons: Option<u32> },
    RawMove { dx: i64, dy: i64 },
    Button { button: u8, pressed: bool, pos: Option<(i64, i64)> },
    Scroll { dx: i64, dy: i64, pos: Option<(i64, i64)> },
    Key { pressed: bool, usage: Option<u16>, native: Option<u32> },
    Text { text: String },
    Focus { app: Option<String>, title: Option<String>, window: Option<i64>, rect: Option<[i32; 4]> },
    Marker { label: String, value: Option<i64> },
    Gap { count: u64, reason: u8, t_end: Option<i64> },
}

impl Event {
    pub fn kind(&self) -> Kind {
        match self {
            Event::Move { .. } => Kind::Move,
            Event::RawMove { .. } => Kind::RawMove,
            Event::Button { .. } => Kind::Button,
            Event::Scroll { .. } => Kind::Scroll,
            Event::Key { .. } => Kind::Key,
            Event::Text { .. } => Kind::Text,
            Event::Focus { .. } => Kind::Focus,
            Event::Marker { .. } => Kind::Marker,
            Event::Gap { .. } => Kind::Gap,
        }
    }
}
