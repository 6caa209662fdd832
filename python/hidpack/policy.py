"""Privacy policies: what a recording may keep, decided before an event enters the recorder.

A policy says, for the window in focus, how keys are kept:

* ``full``: the key's HID usage and native code, and the text it produced;
* ``classes``: only the timing and a *key class* (letter, digit, space, punctuation, enter,
  backspace, tab, modifier, navigation, function, other), stored as usage ``0xFFF0 + class``
  (a range the HID keyboard page reserves); no native code, no text;
* ``drop``: nothing; the withheld events are counted in a ``gap`` of reason ``redacted``;

and how window titles are kept (``keep``, ``hash``: a keyed BLAKE2b digest, the same title gives
the same digest within a recording, ``drop``). Rules match the focused window's app name and title
with regular expressions (case-insensitive, Rust ``regex`` syntax: matching takes time linear in
the title, so no pattern can stall a push; no backreferences or look-around) and override the
defaults while it has focus (password managers, banking, sign-in pages).

This module reads presets and TOML files; the policy itself is compiled and enforced by the
native core (``rust/hidpack-core/src/policy.rs``) inside every ``Recorder`` push and ``extend``
batch, before the event reaches the ring, and by :meth:`Policy.apply_table` for imports. The policy in force is stored in the recording's
header (``metadata["privacy_policy"]``), so every reader knows what was withheld; the title key
never is.

A policy file is TOML::

    preset = "strict"        # optional starting point: "off" (keep everything) or "strict"
    keys = "classes"         # full | classes | drop
    text = "drop"            # keep | drop (text is always dropped under classes and drop)
    titles = "hash"          # keep | hash | drop
    title_key = "00112233..."  # hex; default: a random key per recording (digests unlinkable)

    [[rule]]
    title = "password|sign in|log ?in|bank"
    keys = "drop"
    titles = "drop"

    [[rule]]
    app = "keepassxc|1password|bitwarden"
    keys = "drop"
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

from . import _native

__all__ = [
    "Policy",
    "Rule",
    "PolicyError",
    "KEY_CLASSES",
    "KEY_CLASS_BASE",
    "key_class",
    "load_policy",
    "PRESETS",
]

KEY_MODES = ("full", "classes", "drop")
TEXT_MODES = ("keep", "drop")
TITLE_MODES = ("keep", "hash", "drop")

KEY_CLASSES: Tuple[str, ...] = (
    "letter",
    "digit",
    "space",
    "punctuation",
    "enter",
    "backspace",
    "tab",
    "modifier",
    "navigation",
    "function",
    "other",
)
#: usage stored for a key kept as a class: ``KEY_CLASS_BASE + KEY_CLASSES.index(name)``
KEY_CLASS_BASE = 0xFFF0
REDACTED = 3  # gap reason

#: A policy that cannot be used (``HidpackError`` and ``ValueError``): a bad value, an unknown
#: setting, an invalid pattern. The message names the file, the rule and the setting.
PolicyError = _native.PolicyError


def key_class(usage: Optional[int]) -> int:
    """The class index (into :data:`KEY_CLASSES`) of a HID usage; ``other`` when unknown."""
    return _native.key_class(None if usage is None else int(usage))


@dataclass(frozen=True)
class Rule:
    """While a window whose app and title match has focus, these settings apply. ``app`` and
    ``title`` are regular expressions (Rust ``regex`` syntax: linear-time matching, no
    backreferences or look-around), matched case-insensitively anywhere in the name."""

    app: Optional[str] = None
    title: Optional[str] = None
    keys: Optional[str] = None
    text: Optional[str] = None
    titles: Optional[str] = None

    def matches(self, app: Optional[str], title: Optional[str]) -> bool:
        probe = Policy(name="rule", rules=(Rule(app=self.app, title=self.title, keys="drop"),))
        return probe.settings(app, title)[0] == "drop"

    def describe(self) -> Dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


STRICT_RULES = (
    Rule(app=r"keepass|1password|bitwarden|lastpass|dashlane|pinentry|seahorse|gnome-keyring", keys="drop", titles="drop"),
    Rule(title=r"password|passwort|mot de passe|sign ?in|log ?in|login|2fa|one-time|bank|credit card", keys="drop", titles="drop"),
)


@dataclass(frozen=True)
class Policy:
    """A privacy policy (see the module docs). ``Policy()`` keeps everything.

    The policy is compiled by the native core when it is made (an invalid one raises
    :class:`PolicyError` at once); the same compiled form is what a :class:`hidpack.Recorder`
    enforces inside every push."""

    name: str = "off"
    keys: str = "full"
    text: str = "keep"
    titles: str = "keep"
    rules: Tuple[Rule, ...] = ()
    title_key: Optional[bytes] = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_native", _native.Policy(json.dumps(self._spec())))

    def _spec(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"name": self.name, "keys": self.keys, "text": self.text, "titles": self.titles}
        d["rules"] = [r.describe() for r in self.rules]
        if self.title_key is not None:
            d["title_key"] = bytes(self.title_key).hex()
        return d

    @property
    def native(self) -> "_native.Policy":
        """The compiled policy (what ``Recorder(policy=...)`` hands to the core)."""
        return self._native  # type: ignore[attr-defined,no-any-return]

    @property
    def is_off(self) -> bool:
        return bool(self.native.is_off)

    def settings(self, app: Optional[str], title: Optional[str]) -> Tuple[str, str, str]:
        """``(keys, text, titles)`` in force while this window has focus (the first matching
        rule's settings override the defaults)."""
        return self.native.settings(app, title)

    def describe(self) -> Dict[str, Any]:
        """What goes into the header: every setting, never the title key."""
        return json.loads(self.native.describe())  # type: ignore[no-any-return]

    def session(self) -> "_native.PolicySession":
        """A stateful applier for one recording (tracks focus; holds the title key):
        ``focus(app, title)``, ``key(usage, native)``, ``keep_text()``, ``hash_title(t)``,
        ``apply(prepared_table)`` and ``report()``."""
        return self.native.session()

    def apply_table(self, table: Any) -> Tuple["_native.Prepared", Dict[str, Any]]:
        """Apply the policy to an event table (any form :func:`hidpack.write_table` takes), in
        row order, with a fresh session: returns the table ready for a writer and the report.
        Withheld rows are removed, with one ``gap`` (reason ``redacted``, count, first and
        last time) where each run of withheld events began; key usages replaced by classes;
        titles hashed or dropped; other events unchanged."""
        from .writing import prepare

        s = self.session()
        out = s.apply(prepare(table))
        return out, s.report()


PRESETS: Mapping[str, Policy] = {
    "off": Policy(),
    "strict": Policy(name="strict", keys="classes", text="drop", titles="hash", rules=STRICT_RULES),
}


def _toml_loads(text: str) -> Dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python < 3.11
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib.loads(text)


_TOP_KEYS = {"preset", "name", "keys", "text", "titles", "title_key", "rule"}
_RULE_KEYS = {"app", "title", "keys", "text", "titles"}


def load_policy(spec: Any) -> Policy:
    """A :class:`Policy` from a preset name (``"strict"``, ``"off"``), a TOML file path, a dict
    (the TOML's structure) or a Policy (returned as is). Raises :class:`PolicyError` naming
    the file and the setting for anything invalid."""
    if isinstance(spec, Policy):
        return spec
    where = "policy"
    if isinstance(spec, (str, os.PathLike)):
        s = os.fspath(spec)
        if s in PRESETS:
            return PRESETS[s]
        if not os.path.isfile(s):
            raise PolicyError("policy %r is neither a preset (%s) nor a file" % (s, ", ".join(PRESETS)))
        where = s
        try:
            with open(s, "r", encoding="utf-8") as f:
                data = _toml_loads(f.read())
        except (OSError, UnicodeDecodeError) as e:
            raise PolicyError("%s: cannot read: %s" % (s, e)) from None
        except Exception as e:  # tomllib.TOMLDecodeError
            raise PolicyError("%s: invalid TOML: %s" % (s, e)) from None
    elif isinstance(spec, Mapping):
        data = dict(spec)
    else:
        raise PolicyError("a policy is a preset name, a TOML file path or a dict, not %s" % type(spec).__name__)
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise PolicyError("%s: unknown setting(s) %s; known: %s" % (where, ", ".join(sorted(unknown)), ", ".join(sorted(_TOP_KEYS))))
    base = PRESETS.get(str(data.get("preset", "off")))
    if base is None:
        raise PolicyError("%s: preset = %r, expected one of %s" % (where, data.get("preset"), ", ".join(PRESETS)))
    for k in ("keys", "text", "titles", "name", "preset"):
        if k in data and not isinstance(data[k], str):
            raise PolicyError("%s: %s must be a string, got %r" % (where, k, data[k]))
    rules = list(base.rules)
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list):
        raise PolicyError("%s: rule must be an array of tables ([[rule]])" % where)
    extra: List[Rule] = []
    for i, r in enumerate(raw_rules):
        if not isinstance(r, dict):
            raise PolicyError("%s: rule %d must be a table" % (where, i + 1))
        bad = set(r) - _RULE_KEYS
        if bad:
            raise PolicyError("%s: rule %d: unknown setting(s) %s; known: %s" % (where, i + 1, ", ".join(sorted(bad)), ", ".join(sorted(_RULE_KEYS))))
        for k, v in r.items():
            if not isinstance(v, str):
                raise PolicyError("%s: rule %d: %s must be a string, got %r" % (where, i + 1, k, v))
        extra.append(Rule(**r))
    key = data.get("title_key")
    title_key = None
    if key is not None:
        try:
            title_key = bytes.fromhex(str(key))
        except ValueError:
            raise PolicyError("%s: title_key must be hex, got %r" % (where, key)) from None
        if not 16 <= len(title_key) <= 64:
            raise PolicyError("%s: title_key must be 16 to 64 bytes (32 to 128 hex digits), got %d bytes" % (where, len(title_key)))
    try:
        return Policy(
            name=str(data.get("name", os.path.basename(where) if where != "policy" else base.name)),
            keys=data.get("keys", base.keys),
            text=data.get("text", base.text),
            titles=data.get("titles", base.titles),
            rules=tuple(extra) + tuple(rules),  # the file's rules first: they win
            title_key=title_key,
        )
    except PolicyError as e:
        raise PolicyError("%s: %s" % (where, e)) from None
