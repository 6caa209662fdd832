//! `hidpack._native.Policy` and `PolicySession`: the core's privacy policies for Python
//! (`hidpack.policy` parses TOML and presets into the JSON form these compile).

use std::sync::Mutex;

use hidpack_core::policy::{Enforcer, Policy as CorePolicy, PolicyCounts, Verdict};
use hidpack_core::Event;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::to_py;
use crate::Prepared;

/// A compiled privacy policy (patterns in linear-time regular expressions).
#[pyclass(module = "hidpack._native", frozen)]
pub struct Policy {
    pub(crate) inner: CorePolicy,
}

#[pymethods]
impl Policy {
    /// Compile a policy from its JSON form (`{"name", "keys", "text", "titles", "rules",
    /// "title_key"}`); raises `PolicyError` naming the rule and setting.
    #[new]
    fn new(spec: &str) -> PyResult<Self> {
        Ok(Policy { inner: CorePolicy::from_json(spec).map_err(to_py)? })
    }

    /// What a recording's header says of it (JSON text; never the title key).
    fn describe(&self) -> String {
        self.inner.describe().to_string()
    }

    #[getter]
    fn is_off(&self) -> bool {
        self.inner.is_off()
    }

    /// `(keys, text, titles)` in force while the window `(app, title)` has focus.
    #[pyo3(signature = (app=None, title=None))]
    fn settings(&self, app: Option<&str>, title: Option<&str>) -> (&'static str, &'static str, &'static str) {
        let s = self.inner.settings(app, title);
        (s.keys.name(), s.text.name(), s.titles.name())
    }

    /// A stateful applier for one recording (the focused window, the title key, counters).
    fn session(&self) -> PyResult<PolicySession> {
        Ok(PolicySession { inner: Enforcer::new(self.inner.clone()).map_err(to_py)?, counts: Mutex::new(PolicyCounts::default()) })
    }
}

/// The class index of a HID usage (`other`, 10, when unknown or None).
#[pyfunction]
#[pyo3(signature = (usage))]
pub fn key_class(usage: Option<i64>) -> u8 {
    match usage.and_then(|u| u16::try_from(u).ok()) {
        Some(u) => hidpack_core::policy::key_class(Some(u)),
        None => 10,
    }
}

/// A policy applied to one recording's events in order.
#[pyclass(module = "hidpack._native", frozen)]
pub struct PolicySession {
    inner: Enforcer,
    counts: Mutex<PolicyCounts>,
}

impl PolicySession {
    fn judge(&self, ev: &Event) -> Verdict {
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        self.inner.judge(ev, &mut c)
    }
}

/// `{"withheld": {"key", "text", "title"}, "transformed": {"key_classes", "titles_hashed"}}`.
pub fn report_dict<'py>(py: Python<'py>, c: &PolicyCounts) -> PyResult<Bound<'py, PyDict>> {
    let w = PyDict::new(py);
    w.set_item("key", c.withheld_keys)?;
    w.set_item("text", c.withheld_text)?;
    w.set_item("title", c.withheld_titles)?;
    let t = PyDict::new(py);
    t.set_item("key_classes", c.key_classes)?;
    t.set_item("titles_hashed", c.titles_hashed)?;
    let d = PyDict::new(py);
    d.set_item("withheld", w)?;
    d.set_item("transformed", t)?;
    Ok(d)
}

#[pymethods]
impl PolicySession {
    /// A focus change: returns the `(app, title)` to store.
    #[pyo3(signature = (app=None, title=None))]
    fn focus(&self, app: Option<String>, title: Option<String>) -> (Option<String>, Option<String>) {
        let ev = Event::Focus { app, title, window: None, rect: None };
        match (self.judge(&ev), ev) {
            (Verdict::Replace(Event::Focus { app, title, .. }), _) | (_, Event::Focus { app, title, .. }) => (app, title),
            _ => unreachable!("a focus event stays a focus event"),
        }
    }

    /// `(usage, native)` to store for a key, or None to withhold it.
    #[pyo3(signature = (usage, native=None))]
    fn key(&self, usage: Option<u16>, native: Option<u32>) -> Option<(Option<u16>, Option<u32>)> {
        match self.judge(&Event::Key { pressed: true, usage, native }) {
            Verdict::Keep => Some((usage, native)),
            Verdict::Replace(Event::Key { usage, native, .. }) => Some((usage, native)),
            _ => None,
        }
    }

    /// Whether text is kept now (a False is counted as withheld text).
    fn keep_text(&self) -> bool {
        self.judge(&Event::Text { text: String::new() }) != Verdict::Withhold
    }

    fn hash_title(&self, title: &str) -> String {
        self.inner.hash_title(title)
    }

    /// The table through the policy, in row order (see `hidpack_core::policy::Enforcer::apply_table`).
    fn apply(&self, py: Python<'_>, table: &Prepared) -> PyResult<Prepared> {
        let t = table.take()?;
        let mut c = PolicyCounts::default();
        let out = py.detach(|| self.inner.apply_table(t, &mut c)).map_err(to_py)?;
        let mut g = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *g = PolicyCounts {
            withheld_keys: g.withheld_keys + c.withheld_keys,
            withheld_text: g.withheld_text + c.withheld_text,
            withheld_titles: g.withheld_titles + c.withheld_titles,
            key_classes: g.key_classes + c.key_classes,
            titles_hashed: g.titles_hashed + c.titles_hashed,
        };
        Ok(Prepared::new(out))
    }

    fn report<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = *self.counts.lock().unwrap_or_else(|e| e.into_inner());
        report_dict(py, &c)
    }
}
