//! Privacy policies, enforced in the core before an event reaches the ring.
//!
//! A [`Policy`] says, for the window in focus, how keys are kept:
//!
//! * [`KeyMode::Full`]: the key's HID usage and native code, and the text it produced;
//! * [`KeyMode::Classes`]: only the timing and a *key class* (letter, digit, space, ...), stored
//!   as usage [`KEY_CLASS_BASE`]` + class` (a range the HID keyboard page reserves); no native
//!   code, no text;
//! * [`KeyMode::Drop`]: nothing; withheld events are counted in a `gap` of reason `redacted`
//!   (one gap per run of withheld events: its count and first and last time, not each
//!   keystroke's time);
//!
//! and how text is kept ([`TextMode`]) and window titles ([`TitleMode`]: kept, replaced by a
//! keyed BLAKE2b-64 digest, or dropped). [`Rule`]s match the focused window's app name and title
//! (case-insensitive regular expressions, unanchored) and override the defaults while it has
//! focus; the first rule that matches wins. A key mode other than `Full` always drops text.
//!
//! # Why in the core
//! The policy runs inside [`crate::capture::Producer::push`] (and [`crate::Recorder::extend`]),
//! so every path into a recording goes through it: the Python per-event methods, batches, a
//! native client's hook thread. The mode in force is one atomic byte that a `focus` push
//! updates and a `key` push reads; the key is transformed *before* the pause state is looked
//! at, so no interleaving of `pause()`/`resume()` with pushes can let a raw key through.
//! Patterns are compiled with the `regex` crate, whose matching is linear in the title's length
//! (no backtracking: `(a+)+$` costs what `a+$` does), under a compiled-size limit.

use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

use blake2::digest::{KeyInit, Mac};
use regex::{Regex, RegexBuilder};
use serde_json::{json, Map, Value};

use crate::error::{Error, Result};

/// Usage stored for a key kept as a class: `KEY_CLASS_BASE + class index`.
pub const KEY_CLASS_BASE: u16 = 0xFFF0;
/// The key classes, in index order.
pub const KEY_CLASSES: [&str; 11] =
    ["letter", "digit", "space", "punctuation", "enter", "backspace", "tab", "modifier", "navigation", "function", "other"];
/// Compiled size limit of one pattern (bytes of the regex program).
pub const PATTERN_SIZE_LIMIT: usize = 1 << 20;
/// Longest pattern text accepted.
pub const MAX_PATTERN_LEN: usize = 4096;
/// Most rules in a policy.
pub const MAX_RULES: usize = 1024;

/// How keys are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMode {
    Full = 0,
    Classes = 1,
    Drop = 2,
}

/// How text (characters produced) is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextMode {
    Keep = 0,
    Drop = 1,
}

/// How window titles are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TitleMode {
    Keep = 0,
    Hash = 1,
    Drop = 2,
}

impl KeyMode {
    pub fn name(self) -> &'static str {
        ["full", "classes", "drop"][self as usize]
    }
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "full" => KeyMode::Full,
            "classes" => KeyMode::Classes,
            "drop" => KeyMode::Drop,
            _ => return None,
        })
    }
}

impl TextMode {
    pub fn name(self) -> &'static str {
        ["keep", "drop"][self as usize]
    }
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "keep" => TextMode::Keep,
            "drop" => TextMode::Drop,
            _ => return None,
        })
    }
}

impl TitleMode {
    pub fn name(self) -> &'static str {
        ["keep", "hash", "drop"][self as usize]
    }
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "keep" => TitleMode::Keep,
            "hash" => TitleMode::Hash,
            "drop" => TitleMode::Drop,
            _ => return None,
        })
    }
}

/// The settings in force while a window has focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub keys: KeyMode,
    pub text: TextMode,
    pub titles: TitleMode,
}

impl Settings {
    /// One byte, for the atomic the push path reads.
    pub fn pack(self) -> u8 {
        self.keys as u8 | (self.text as u8) << 2 | (self.titles as u8) << 4
    }
    pub fn unpack(b: u8) -> Settings {
        let keys = [KeyMode::Full, KeyMode::Classes, KeyMode::Drop][usize::from(b & 3).min(2)];
        let text = [TextMode::Keep, TextMode::Drop][usize::from(b >> 2 & 1)];
        let titles = [TitleMode::Keep, TitleMode::Hash, TitleMode::Drop][usize::from(b >> 4 & 3).min(2)];
        Settings { keys, text, titles }
    }
}

/// While a window whose app and title match has focus, these settings apply.
#[derive(Debug, Clone)]
pub struct Rule {
    app: Option<(String, Regex)>,
    title: Option<(String, Regex)>,
    pub keys: Option<KeyMode>,
    pub text: Option<TextMode>,
    pub titles: Option<TitleMode>,
}

impl Rule {
    /// Whether the window `(app, title)` matches (an absent name matches as the empty string).
    pub fn matches(&self, app: Option<&str>, title: Option<&str>) -> bool {
        if let Some((_, re)) = &self.app {
            if !re.is_match(app.unwrap_or("")) {
                return false;
            }
        }
        if let Some((_, re)) = &self.title {
            if !re.is_match(title.unwrap_or("")) {
                return false;
            }
        }
        true
    }
}

/// A privacy policy (see the module docs).
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub defaults: Settings,
    pub rules: Vec<Rule>,
    /// The key of title digests (16..=64 bytes); `None`: a random key per recording.
    title_key: Option<Vec<u8>>,
}

fn perr(msg: impl Into<String>) -> Error {
    Error::Policy(msg.into())
}

fn compile(name: &str, rule: usize, what: &str, pat: &str) -> Result<Regex> {
    if pat.len() > MAX_PATTERN_LEN {
        return Err(perr(format!(
            "policy {name}: rule {rule}: {what} pattern is {} bytes, the limit is {MAX_PATTERN_LEN}",
            pat.len()
        )));
    }
    RegexBuilder::new(pat)
        .case_insensitive(true)
        .size_limit(PATTERN_SIZE_LIMIT)
        .dfa_size_limit(PATTERN_SIZE_LIMIT)
        .build()
        .map_err(|e| perr(format!("policy {name}: rule {rule}: {what} pattern {pat:?} is invalid: {e}")))
}

fn parse_mode<T>(name: &str, at: &str, what: &str, v: Option<&Value>, parse: fn(&str) -> Option<T>, allowed: &str) -> Result<Option<T>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse(s)
            .map(Some)
            .ok_or_else(|| perr(format!("policy {name}: {at}{what} = {s:?}, expected one of {allowed}"))),
        Some(other) => Err(perr(format!("policy {name}: {at}{what} must be a string, got {other}"))),
    }
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect()
}

impl Policy {
    /// A policy from its JSON form: `{"name", "keys", "text", "titles", "rules": [{"app",
    /// "title", "keys", "text", "titles"}], "title_key": "hex"}` (every member optional; the
    /// defaults keep everything). Errors ([`Error::Policy`]) name the rule and the setting.
    pub fn from_json(spec: &str) -> Result<Policy> {
        let v: Value = serde_json::from_str(spec).map_err(|e| perr(format!("policy: not JSON: {e}")))?;
        let Value::Object(m) = v else { return Err(perr("policy: expected a JSON object")) };
        let known = ["name", "keys", "text", "titles", "rules", "title_key"];
        if let Some(k) = m.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(perr(format!("policy: unknown setting {k:?}; known: {}", known.join(", "))));
        }
        let name = match m.get("name") {
            None | Some(Value::Null) => "custom".to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => return Err(perr(format!("policy: name must be a string, got {other}"))),
        };
        let n = name.as_str();
        let defaults = Settings {
            keys: parse_mode(n, "", "keys", m.get("keys"), KeyMode::parse, "full, classes, drop")?.unwrap_or(KeyMode::Full),
            text: parse_mode(n, "", "text", m.get("text"), TextMode::parse, "keep, drop")?.unwrap_or(TextMode::Keep),
            titles: parse_mode(n, "", "titles", m.get("titles"), TitleMode::parse, "keep, hash, drop")?.unwrap_or(TitleMode::Keep),
        };
        let mut rules = Vec::new();
        match m.get("rules") {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) => {
                if a.len() > MAX_RULES {
                    return Err(perr(format!("policy {n}: {} rules, the limit is {MAX_RULES}", a.len())));
                }
                for (i, r) in a.iter().enumerate() {
                    let i = i + 1;
                    let Value::Object(r) = r else { return Err(perr(format!("policy {n}: rule {i} must be an object"))) };
                    let rk = ["app", "title", "keys", "text", "titles"];
                    if let Some(k) = r.keys().find(|k| !rk.contains(&k.as_str())) {
                        return Err(perr(format!("policy {n}: rule {i}: unknown setting {k:?}; known: {}", rk.join(", "))));
                    }
                    let at = format!("rule {i}: ");
                    let pat = |what: &str| -> Result<Option<(String, Regex)>> {
                        match r.get(what) {
                            None | Some(Value::Null) => Ok(None),
                            Some(Value::String(p)) => Ok(Some((p.clone(), compile(n, i, what, p)?))),
                            Some(other) => Err(perr(format!("policy {n}: rule {i}: {what} must be a string, got {other}"))),
                        }
                    };
                    let rule = Rule {
                        app: pat("app")?,
                        title: pat("title")?,
                        keys: parse_mode(n, &at, "keys", r.get("keys"), KeyMode::parse, "full, classes, drop")?,
                        text: parse_mode(n, &at, "text", r.get("text"), TextMode::parse, "keep, drop")?,
                        titles: parse_mode(n, &at, "titles", r.get("titles"), TitleMode::parse, "keep, hash, drop")?,
                    };
                    if rule.app.is_none() && rule.title.is_none() {
                        return Err(perr(format!("policy {n}: rule {i} matches nothing: give app and/or title")));
                    }
                    rules.push(rule);
                }
            }
            Some(_) => return Err(perr(format!("policy {n}: rules must be an array"))),
        }
        let title_key = match m.get("title_key") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                let k = hex_decode(s).ok_or_else(|| perr(format!("policy {n}: title_key must be hex, got {s:?}")))?;
                if !(16..=64).contains(&k.len()) {
                    return Err(perr(format!(
                        "policy {n}: title_key must be 16 to 64 bytes (32 to 128 hex digits), got {} bytes",
                        k.len()
                    )));
                }
                Some(k)
            }
            Some(other) => return Err(perr(format!("policy {n}: title_key must be a hex string, got {other}"))),
        };
        Ok(Policy { name, defaults, rules, title_key })
    }

    /// Keeps everything: no rules, every mode the keeping one.
    pub fn is_off(&self) -> bool {
        self.rules.is_empty() && self.defaults == Settings { keys: KeyMode::Full, text: TextMode::Keep, titles: TitleMode::Keep }
    }

    /// The settings in force while the window `(app, title)` has focus: the first matching
    /// rule's settings over the defaults; text is dropped unless keys are kept in full.
    pub fn settings(&self, app: Option<&str>, title: Option<&str>) -> Settings {
        let mut s = self.defaults;
        if let Some(r) = self.rules.iter().find(|r| r.matches(app, title)) {
            s.keys = r.keys.unwrap_or(s.keys);
            s.text = r.text.unwrap_or(s.text);
            s.titles = r.titles.unwrap_or(s.titles);
        }
        if s.keys != KeyMode::Full {
            s.text = TextMode::Drop;
        }
        s
    }

    fn hashes_titles(&self) -> bool {
        self.defaults.titles == TitleMode::Hash || self.rules.iter().any(|r| r.titles == Some(TitleMode::Hash))
    }

    /// What a recording's header says of the policy: every setting, never the title key.
    pub fn describe(&self) -> Value {
        let mut d = Map::new();
        d.insert("name".into(), json!(self.name));
        d.insert("keys".into(), json!(self.defaults.keys.name()));
        d.insert("text".into(), json!(self.defaults.text.name()));
        d.insert("titles".into(), json!(self.defaults.titles.name()));
        if !self.rules.is_empty() {
            let rules: Vec<Value> = self
                .rules
                .iter()
                .map(|r| {
                    let mut o = Map::new();
                    if let Some((p, _)) = &r.app {
                        o.insert("app".into(), json!(p));
                    }
                    if let Some((p, _)) = &r.title {
                        o.insert("title".into(), json!(p));
                    }
                    if let Some(k) = r.keys {
                        o.insert("keys".into(), json!(k.name()));
                    }
                    if let Some(k) = r.text {
                        o.insert("text".into(), json!(k.name()));
                    }
                    if let Some(k) = r.titles {
                        o.insert("titles".into(), json!(k.name()));
                    }
                    Value::Object(o)
                })
                .collect();
            d.insert("rules".into(), Value::Array(rules));
        }
        if self.hashes_titles() {
            let whose = if self.title_key.is_some() { "given by the caller" } else { "random per recording, not stored" };
            d.insert("title_hash".into(), json!(format!("blake2b-64, keyed; key {whose}")));
        }
        d.insert("key_classes".into(), json!({"usage_base": KEY_CLASS_BASE, "classes": KEY_CLASSES}));
        Value::Object(d)
    }

    /// The title hasher of one recording: the policy's key, or a fresh random one.
    pub fn hasher(&self) -> Result<TitleHasher> {
        match &self.title_key {
            Some(k) => Ok(TitleHasher { key: k.clone() }),
            None => {
                let mut k = vec![0u8; 32];
                getrandom::fill(&mut k).map_err(|e| perr(format!("policy {}: no random title key: {e}", self.name)))?;
                Ok(TitleHasher { key: k })
            }
        }
    }
}

/// Keyed BLAKE2b with an 8-byte digest: `"#" + 16 hex digits`, the same digest Python's
/// `hashlib.blake2b(title, key=key, digest_size=8)` gives.
#[derive(Clone)]
pub struct TitleHasher {
    key: Vec<u8>,
}

impl std::fmt::Debug for TitleHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TitleHasher { key: <withheld> }")
    }
}

impl TitleHasher {
    pub fn hash(&self, title: &str) -> String {
        let mut out = [0u8; 8];
        let mut mac = <blake2::Blake2bMac<blake2::digest::consts::U8> as KeyInit>::new_from_slice(&self.key)
            .expect("key of 16..=64 bytes");
        Mac::update(&mut mac, title.as_bytes());
        out.copy_from_slice(&mac.finalize().into_bytes());
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(17);
        s.push('#');
        for b in out {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 15)]));
        }
        s
    }
}

/// The class index (into [`KEY_CLASSES`]) of a HID usage; `other` when unknown. A usage that is
/// already a class (`KEY_CLASS_BASE + i`) keeps its class.
pub fn key_class(usage: Option<u16>) -> u8 {
    let Some(u) = usage else { return 10 };
    if u >= KEY_CLASS_BASE && usize::from(u - KEY_CLASS_BASE) < KEY_CLASSES.len() {
        return (u - KEY_CLASS_BASE) as u8;
    }
    match u {
        0x04..=0x1D => 0,
        0x1E..=0x27 | 0x59..=0x62 => 1,
        0x2C => 2,
        0x2D..=0x38 | 0x54..=0x57 | 0x63 | 0x64 | 0x85 | 0x86 | 0x87 => 3,
        0x28 | 0x58 => 4,
        0x2A | 0x4C => 5,
        0x2B => 6,
        0xE0..=0xE7 | 0x39 | 0x53 | 0x47 => 7,
        0x49..=0x52 => 8,
        0x3A..=0x45 | 0x68..=0x73 => 9,
        _ => 10,
    }
}

/// A policy applied to one recording: the settings of the focused window (one atomic byte),
/// the title key, and counters. Shared by every producer of a recorder.
#[derive(Debug)]
pub struct Enforcer {
    pub policy: Policy,
    hasher: TitleHasher,
    mode: AtomicU8,
}

/// What a key, text or focus event becomes under the policy.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Store the event as given.
    Keep,
    /// Store this event instead (a key as its class, a focus with its title hashed or dropped).
    Replace(crate::Event),
    /// Withhold it (count it in a `redacted` gap).
    Withhold,
}

/// What the policy did, counted by kind of action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicyCounts {
    pub withheld_keys: u64,
    pub withheld_text: u64,
    pub withheld_titles: u64,
    pub key_classes: u64,
    pub titles_hashed: u64,
}

impl Enforcer {
    pub fn new(policy: Policy) -> Result<Enforcer> {
        let hasher = policy.hasher()?;
        let mode = AtomicU8::new(policy.settings(None, None).pack());
        Ok(Enforcer { policy, hasher, mode })
    }

    /// The settings in force now.
    pub fn settings(&self) -> Settings {
        Settings::unpack(self.mode.load(Relaxed))
    }

    pub fn hash_title(&self, title: &str) -> String {
        self.hasher.hash(title)
    }

    /// Decide what `ev` becomes, updating the focus state for a `focus` event. Events other than
    /// key, text and focus are always kept. `count` receives what was done.
    pub fn judge(&self, ev: &crate::Event, count: &mut PolicyCounts) -> Verdict {
        use crate::Event;
        match ev {
            Event::Key { pressed, usage, native } => match self.settings().keys {
                KeyMode::Full => Verdict::Keep,
                KeyMode::Classes => {
                    count.key_classes += 1;
                    let class = Some(KEY_CLASS_BASE + u16::from(key_class(*usage)));
                    if native.is_none() && *usage == class {
                        return Verdict::Keep;
                    }
                    Verdict::Replace(Event::Key { pressed: *pressed, usage: class, native: None })
                }
                KeyMode::Drop => {
                    count.withheld_keys += 1;
                    Verdict::Withhold
                }
            },
            Event::Text { .. } => match self.settings().text {
                TextMode::Keep => Verdict::Keep,
                TextMode::Drop => {
                    count.withheld_text += 1;
                    Verdict::Withhold
                }
            },
            Event::Focus { app, title, window, rect } => {
                let s = self.policy.settings(app.as_deref(), title.as_deref());
                self.mode.store(s.pack(), Relaxed);
                let Some(title) = title else { return Verdict::Keep };
                let title = match s.titles {
                    TitleMode::Keep => return Verdict::Keep,
                    TitleMode::Hash => {
                        count.titles_hashed += 1;
                        Some(self.hasher.hash(title))
                    }
                    TitleMode::Drop => {
                        count.withheld_titles += 1;
                        None
                    }
                };
                Verdict::Replace(Event::Focus { app: app.clone(), title, window: *window, rect: *rect })
            }
            _ => Verdict::Keep,
        }
    }

    /// Apply the policy to a whole table, in row order (focus rows change the settings for the
    /// rows after them): withheld rows removed, with one `gap` (reason `redacted`, count, first
    /// and last time) where each run of withheld events began; a run ends at the next kept key,
    /// text or focus event. A table with no key, text or focus rows is returned as it is.
    pub fn apply_table(&self, table: crate::EventTable, count: &mut PolicyCounts) -> Result<crate::EventTable> {
        use crate::model::{gap_reason, Kind};
        use crate::Event;
        let c = table.counts();
        if c[Kind::Key as usize] + c[Kind::Text as usize] + c[Kind::Focus as usize] == 0 {
            return Ok(table);
        }
        let mut out = crate::EventTable::new();
        let mut run: Option<(i64, i64, u64)> = None;
        for (t, ev) in table.events() {
            let policed = matches!(ev, Event::Key { .. } | Event::Text { .. } | Event::Focus { .. });
            let v = self.judge(&ev, count);
            if v == Verdict::Withhold {
                run = Some(match run {
                    None => (t, t, 1),
                    Some((t0, _, n)) => (t0, t, n + 1),
                });
                continue;
            }
            if policed {
                if let Some((t0, t1, n)) = run.take() {
                    out.push(t0, &Event::Gap { count: n, reason: gap_reason::REDACTED, t_end: Some(t1) })?;
                }
            }
            match v {
                Verdict::Replace(e) => out.push(t, &e)?,
                _ => out.push(t, &ev)?,
            }
        }
        if let Some((t0, t1, n)) = run {
            out.push(t0, &Event::Gap { count: n, reason: gap_reason::REDACTED, t_end: Some(t1) })?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;

    fn strict() -> Policy {
        Policy::from_json(
            r#"{"name": "strict", "keys": "classes", "text": "drop", "titles": "hash",
                "rules": [{"app": "keepass|1password", "keys": "drop", "titles": "drop"},
                          {"title": "password|sign ?in", "keys": "drop", "titles": "drop"}]}"#,
        )
        .unwrap()
    }

    #[test]
    fn settings_follow_the_first_matching_rule() {
        let p = strict();
        assert_eq!(p.settings(None, None), Settings { keys: KeyMode::Classes, text: TextMode::Drop, titles: TitleMode::Hash });
        assert_eq!(p.settings(Some("KeePassXC"), Some("db")).keys, KeyMode::Drop);
        assert_eq!(p.settings(Some("firefox"), Some("Sign In - Bank")).titles, TitleMode::Drop);
        assert_eq!(p.settings(Some("firefox"), Some("news")).keys, KeyMode::Classes);
    }

    #[test]
    fn settings_pack_round_trips() {
        for k in [KeyMode::Full, KeyMode::Classes, KeyMode::Drop] {
            for x in [TextMode::Keep, TextMode::Drop] {
                for ti in [TitleMode::Keep, TitleMode::Hash, TitleMode::Drop] {
                    let s = Settings { keys: k, text: x, titles: ti };
                    assert_eq!(Settings::unpack(s.pack()), s);
                }
            }
        }
    }

    #[test]
    fn bad_policies_are_refused_with_the_setting_named() {
        let e = Policy::from_json(r#"{"keys": "some"}"#).unwrap_err().to_string();
        assert!(e.contains("keys") && e.contains("\"some\""), "{e}");
        let e = Policy::from_json(r#"{"rules": [{"keys": "drop"}]}"#).unwrap_err().to_string();
        assert!(e.contains("rule 1 matches nothing"), "{e}");
        let e = Policy::from_json(r#"{"rules": [{"title": "(unclosed"}]}"#).unwrap_err().to_string();
        assert!(e.contains("rule 1: title pattern"), "{e}");
        let e = Policy::from_json(r#"{"title_key": "abcd"}"#).unwrap_err().to_string();
        assert!(e.contains("16 to 64 bytes"), "{e}");
        let e = Policy::from_json(r#"{"colour": 1}"#).unwrap_err().to_string();
        assert!(e.contains("unknown setting \"colour\""), "{e}");
    }

    #[test]
    fn nested_quantifiers_match_in_linear_time() {
        // (a+)+$ on "aaaa...!" backtracks exponentially in Python's re; here it is one pass.
        let p = Policy::from_json(r#"{"rules": [{"title": "(a+)+$", "keys": "drop"}]}"#).unwrap();
        let title = format!("{}!", "a".repeat(100_000));
        let t = std::time::Instant::now();
        assert_eq!(p.settings(None, Some(&title)).keys, KeyMode::Full);
        // generous: a backtracking engine would not finish at all
        assert!(t.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn title_digest_is_keyed_blake2b_64() {
        // hashlib.blake2b(b"Inbox", key=bytes(range(32)), digest_size=8).hexdigest()
        let key: String = (0u8..32).map(|b| format!("{b:02x}")).collect();
        let p = Policy::from_json(&format!(r#"{{"titles": "hash", "title_key": "{key}"}}"#)).unwrap();
        let h = p.hasher().unwrap().hash("Inbox");
        assert_eq!(h.len(), 17);
        assert_eq!(h, TITLE_VECTOR);
    }
    const TITLE_VECTOR: &str = "#f9ad22a7ebbee9ed";

    #[test]
    fn key_classes() {
        assert_eq!(key_class(Some(0x04)), 0);
        assert_eq!(key_class(Some(0x27)), 1);
        assert_eq!(key_class(Some(0x2C)), 2);
        assert_eq!(key_class(Some(0x28)), 4);
        assert_eq!(key_class(Some(0xE1)), 7);
        assert_eq!(key_class(Some(0x4C)), 5);
        assert_eq!(key_class(Some(0x50)), 8);
        assert_eq!(key_class(Some(0x3A)), 9);
        assert_eq!(key_class(None), 10);
        assert_eq!(key_class(Some(KEY_CLASS_BASE + 3)), 3);
    }

    #[test]
    fn apply_table_withholds_runs_and_keeps_order() {
        let e = Enforcer::new(strict()).unwrap();
        let mut t = crate::EventTable::new();
        t.push(0, &Event::Key { pressed: true, usage: Some(0x04), native: Some(38) }).unwrap();
        t.push(1, &Event::Focus { app: Some("keepass".into()), title: Some("db".into()), window: None, rect: None }).unwrap();
        t.push(2, &Event::Key { pressed: true, usage: Some(0x05), native: Some(56) }).unwrap();
        t.push(3, &Event::Move { x: 1 << 16, y: 0, buttons: None }).unwrap();
        t.push(4, &Event::Key { pressed: false, usage: Some(0x05), native: Some(56) }).unwrap();
        t.push(5, &Event::Focus { app: Some("vim".into()), title: Some("notes".into()), window: None, rect: None }).unwrap();
        let mut c = PolicyCounts::default();
        let out = e.apply_table(t, &mut c).unwrap();
        let ev: Vec<(i64, Event)> = out.events().collect();
        assert_eq!(ev[0], (0, Event::Key { pressed: true, usage: Some(KEY_CLASS_BASE), native: None }));
        assert_eq!(ev[1], (1, Event::Focus { app: Some("keepass".into()), title: None, window: None, rect: None }));
        assert_eq!(ev[2], (3, Event::Move { x: 1 << 16, y: 0, buttons: None }));
        assert_eq!(ev[3], (2, Event::Gap { count: 2, reason: 3, t_end: Some(4) }));
        match &ev[4] {
            (5, Event::Focus { title: Some(h), .. }) => assert!(h.starts_with('#') && h.len() == 17),
            other => panic!("{other:?}"),
        }
        assert_eq!(ev.len(), 5);
        assert_eq!(c, PolicyCounts { withheld_keys: 2, withheld_text: 0, withheld_titles: 1, key_classes: 1, titles_hashed: 1 });
    }
}
