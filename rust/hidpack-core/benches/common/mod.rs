//! Shared by the criterion benches: the first events of the balabit-mouse corpus (moves, buttons,
//! scrolls, as the normalized CSV gives them), read from `$HIDPACK_DATA` (default
//! `<repo>/../shared/data`; never copied into the repository).

use std::io::Read;
use std::path::PathBuf;

use hidpack_core::{Event, EventTable};

fn data_dir() -> PathBuf {
    std::env::var_os("HIDPACK_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

/// The first `n` events of the balabit corpus; panics, naming the file, when it is missing or short.
pub fn balabit(n: usize) -> EventTable {
    let path = data_dir().join("balabit-mouse/events.csv.zst");
    let f = std::fs::File::open(&path)
        .unwrap_or_else(|e| panic!("corpus {} not found ({e}); set HIDPACK_DATA", path.display()));
    let mut text = String::new();
    zstd::stream::read::Decoder::new(f).unwrap().take((n as u64) * 256).read_to_string(&mut text).unwrap();
    let mut t = EventTable::new();
    for line in text.lines().skip(1) {
        if t.len() == n {
            break;
        }
        let c: Vec<&str> = line.split(',').collect();
        if c.len() < 6 {
            break; // the last, cut line
        }
        let ts: i64 = c[0].parse().unwrap();
        let px = |s: &str| s.parse::<i64>().map(|v| v << 16).ok();
        let (x, y) = (px(c[2]), px(c[3]));
        let button: Option<u8> = c[4].parse().ok();
        let ev = match c[1] {
            "move" => Event::Move { x: x.unwrap(), y: y.unwrap(), buttons: button.map(u32::from) },
            "down" | "up" => Event::Button { button: button.unwrap_or(1), pressed: c[1] == "down", pos: x.zip(y) },
            "scroll" => Event::Scroll { dx: 0, dy: i64::from(button.unwrap_or(1)) << 16, pos: x.zip(y) },
            _ => continue,
        };
        t.push(ts, &ev).unwrap();
    }
    assert_eq!(t.len(), n, "fewer than {n} events read from {}", path.display());
    t
}

/// The first `n` key events of the aalto keystroke corpus, one table per session (participant):
/// `native` = the JavaScript key code and `usage` = a fixed function of it (as an importer's key
/// table makes it), `pressed` from `key_down`/`key_up`. Panics, naming the file, when it is
/// missing or short.
#[allow(dead_code)] // not every bench uses every corpus
pub fn aalto_sessions(n: usize) -> Vec<EventTable> {
    let path = data_dir().join("aalto136m-keys/events.csv.zst");
    let f = std::fs::File::open(&path)
        .unwrap_or_else(|e| panic!("corpus {} not found ({e}); set HIDPACK_DATA", path.display()));
    let mut text = String::new();
    zstd::stream::read::Decoder::new(f).unwrap().take((n as u64) * 64).read_to_string(&mut text).unwrap();
    let (mut out, mut session, mut total) = (Vec::new(), String::new(), 0usize);
    for line in text.lines().skip(1) {
        let c: Vec<&str> = line.split(',').collect();
        if total == n || c.len() < 6 {
            break; // enough, or the last, cut line
        }
        if c[5] != session || out.is_empty() {
            session = c[5].to_string();
            out.push(EventTable::new());
        }
        let code: u32 = c[4].parse().unwrap();
        let ev = Event::Key { pressed: c[1] == "key_down", usage: Some((code as u16).wrapping_mul(7) % 251), native: Some(code) };
        out.last_mut().unwrap().push(c[0].parse().unwrap(), &ev).unwrap();
        total += 1;
    }
    assert_eq!(total, n, "fewer than {n} events read from {}", path.display());
    out
}
