"""Privacy policies: what a recording may keep, decided before an event enters the recorder.

A policy says, for the window in focus, how keys are kept:

* ``full``: the key's HID usage and native code, and the text it produced;
* ``classes``: only the timing and a *key class* (letter, digit, space, punctuation, enter,
  backspace, tab, modifier, navigation, function, other), stored as usage ``0xFFF0 + class``
  (a range the HID keyboard page reserves); no native code, no text;
* ``drop``: nothing; the withheld events are counted in a ``gap`` of reason ``redacted``;

and how window titles are kept (``keep``, ``hash``: a keyed BLAKE2b digest, the same title gives
the same digest within a recording, ``drop``). Rules match the focused window's app name and title
with regular expressions (case-insensitive) and override the defaults while it has focus
(password managers, banking, sign-in pages). The policy in force is stored in the recording's
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

import hashlib
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

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


class PolicyError(_native.HidpackError, ValueError):
    """A policy that cannot be used: a bad value, an unknown key, an invalid pattern. The
    message names the file, the setting and the value."""


def _class_of_usage(u: int) -> int:
    if 0x04 <= u <= 0x1D:
        return 0
    if 0x1E <= u <= 0x27 or 0x59 <= u <= 0x62:
        return 1
    if u == 0x2C:
        return 2
    if 0x2D <= u <= 0x38 or 0x54 <= u <= 0x57 or u in (0x63, 0x64, 0x85, 0x86, 0x87):
        return 3
    if u in (0x28, 0x58):
        return 4
    if u in (0x2A, 0x4C):
        return 5
    if u == 0x2B:
        return 6
    if 0xE0 <= u <= 0xE7 or u in (0x39, 0x53, 0x47):
        return 7
    if 0x49 <= u <= 0x52 and u != 0x4C:
        return 8
    if 0x3A <= u <= 0x45 or 0x68 <= u <= 0x73:
        return 9
    return 10


_CLASS_TABLE = np.array([_class_of_usage(u) for u in range(0x10000)], dtype=np.int64)


def key_class(usage: Optional[int]) -> int:
    """The class index (into :data:`KEY_CLASSES`) of a HID usage; ``other`` when unknown."""
    if usage is None or not 0 <= int(usage) < 0x10000:
        return 10
    u = int(usage)
    if u >= KEY_CLASS_BASE and u - KEY_CLASS_BASE < len(KEY_CLASSES):
        return u - KEY_CLASS_BASE
    return int(_CLASS_TABLE[u])


@dataclass(frozen=True)
class Rule:
    """While a window whose app and title match has focus, these settings apply."""

    app: Optional[str] = None
    title: Optional[str] = None
    keys: Optional[str] = None
    text: Optional[str] = None
    titles: Optional[str] = None

    def matches(self, app: Optional[str], title: Optional[str]) -> bool:
        if self.app is not None and not re.search(self.app, app or "", re.IGNORECASE):
            return False
        if self.title is not None and not re.search(self.title, title or "", re.IGNORECASE):
            return False
        return True

    def describe(self) -> Dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


STRICT_RULES = (
    Rule(app=r"keepass|1password|bitwarden|lastpass|dashlane|pinentry|seahorse|gnome-keyring", keys="drop", titles="drop"),
    Rule(title=r"password|passwort|mot de passe|sign ?in|log ?in|login|2fa|one-time|bank|credit card", keys="drop", titles="drop"),
)


@dataclass(frozen=True)
class Policy:
    """A privacy policy (see the module docs). ``Policy()`` keeps everything."""

    name: str = "off"
    keys: str = "full"
    text: str = "keep"
    titles: str = "keep"
    rules: Tuple[Rule, ...] = ()
    title_key: Optional[bytes] = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        for what, value, allowed in (
            ("keys", self.keys, KEY_MODES),
            ("text", self.text, TEXT_MODES),
            ("titles", self.titles, TITLE_MODES),
        ):
            if value not in allowed:
                raise PolicyError("policy %s: %s = %r, expected one of %s" % (self.name, what, value, ", ".join(allowed)))
        for i, r in enumerate(self.rules):
            if r.app is None and r.title is None:
                raise PolicyError("policy %s: rule %d matches nothing: give app and/or title" % (self.name, i + 1))
            for what, value, allowed in (("keys", r.keys, KEY_MODES), ("text", r.text, TEXT_MODES), ("titles", r.titles, TITLE_MODES)):
                if value is not None and value not in allowed:
                    raise PolicyError(
                        "policy %s: rule %d: %s = %r, expected one of %s" % (self.name, i + 1, what, value, ", ".join(allowed))
                    )
            for what, pat in (("app", r.app), ("title", r.title)):
                if pat is not None:
                    try:
                        re.compile(pat)
                    except re.error as e:
                        raise PolicyError("policy %s: rule %d: %s pattern %r is invalid: %s" % (self.name, i + 1, what, pat, e)) from None

    @property
    def is_off(self) -> bool:
        return self.keys == "full" and self.text == "keep" and self.titles == "keep" and not self.rules

    def settings(self, app: Optional[str], title: Optional[str]) -> Tuple[str, str, str]:
        """``(keys, text, titles)`` in force while this window has focus (the first matching
        rule's settings override the defaults)."""
        keys, text, titles = self.keys, self.text, self.titles
        for r in self.rules:
            if r.matches(app, title):
                keys = r.keys or keys
                text = r.text or text
                titles = r.titles or titles
                break
        if keys != "full":
            text = "drop"
        return keys, text, titles

    def describe(self) -> Dict[str, Any]:
        """What goes into the header: every setting, never the title key."""
        d: Dict[str, Any] = {"name": self.name, "keys": self.keys, "text": self.text, "titles": self.titles}
        if self.rules:
            d["rules"] = [r.describe() for r in self.rules]
        if self.titles == "hash" or any(r.titles == "hash" for r in self.rules):
            d["title_hash"] = "blake2b-64, keyed; key %s" % ("given by the caller" if self.title_key else "random per recording, not stored")
        d["key_classes"] = {"usage_base": KEY_CLASS_BASE, "classes": list(KEY_CLASSES)}
        return d

    def session(self) -> "PolicySession":
        """A stateful applier for one recording (tracks focus; holds the title key)."""
        return PolicySession(self)


PRESETS: Mapping[str, Policy] = {
    "off": Policy(),
    "strict": Policy(name="strict", keys="classes", text="drop", titles="hash", rules=STRICT_RULES),
}


class PolicySession:
    """Applies a policy to events in order (one recording): tracks the focused window."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._title_key = policy.title_key or os.urandom(32)
        self.keys, self.text, self.titles = policy.settings(None, None)
        self.withheld: Dict[str, int] = {"key": 0, "text": 0, "title": 0}
        self.transformed: Dict[str, int] = {"key_classes": 0, "titles_hashed": 0}

    def hash_title(self, title: str) -> str:
        return "#" + hashlib.blake2b(title.encode("utf-8"), key=self._title_key[:64], digest_size=8).hexdigest()

    def focus(self, app: Optional[str], title: Optional[str]) -> Tuple[Optional[str], Optional[str]]:
        """Update the window in focus; returns the (app, title) to store."""
        self.keys, self.text, self.titles = self.policy.settings(app, title)
        if title is None:
            return app, None
        if self.titles == "drop":
            self.withheld["title"] += 1
            return app, None
        if self.titles == "hash":
            self.transformed["titles_hashed"] += 1
            return app, self.hash_title(title)
        return app, title

    def key(self, usage: Optional[int], native: Optional[int]) -> Optional[Tuple[Optional[int], Optional[int]]]:
        """``(usage, native)`` to store, or ``None`` to withhold the key event."""
        if self.keys == "full":
            return usage, native
        if self.keys == "classes":
            self.transformed["key_classes"] += 1
            return KEY_CLASS_BASE + key_class(usage), None
        self.withheld["key"] += 1
        return None

    def keep_text(self) -> bool:
        if self.text == "keep":
            return True
        self.withheld["text"] += 1
        return False

    def report(self) -> Dict[str, Any]:
        return {"withheld": dict(self.withheld), "transformed": dict(self.transformed)}

    # -- whole tables (imports) --------------------------------------------------------------

    def apply_table(self, table: Dict[str, Any]) -> Dict[str, Any]:
        """Apply the policy to an event table in the importers' write form (a dict of ``t``,
        ``kind`` and field columns, ``<field>_valid`` masks, strings as lists), in row order.
        Returns a new table: withheld rows removed, with one ``gap`` (reason ``redacted``,
        count, first and last time) where each run of withheld events began; key usages
        replaced by classes; titles hashed or dropped. Other events are unchanged."""
        from ._io import TableBuilder
        from ._table import KINDS

        K = {name: i for i, name in enumerate(KINDS)}
        t = np.asarray(table["t"])
        kinds = np.asarray(table["kind"])
        names = [k for k in table if k not in ("t", "kind") and not k.endswith("_valid")]
        cols = {k: table[k] for k in names}
        valid = {k: (np.asarray(table[k + "_valid"]) if k + "_valid" in table else None) for k in names}

        def get(name: str, i: int) -> Any:
            if name not in cols:
                return None
            v = valid[name]
            if v is not None and not v[i]:
                return None
            x = cols[name][i]
            if x is None:
                return None
            return x.item() if hasattr(x, "item") else x

        b = TableBuilder()
        run: Optional[List[int]] = None  # [t0, t1, count]

        def close_run() -> None:
            nonlocal run
            if run is not None:
                b.add(run[0], K["gap"], count=run[2], reason=REDACTED, t_end=run[1])
                run = None

        for i in range(len(t)):
            k = int(kinds[i])
            ti = int(t[i])
            fields = {name: get(name, i) for name in names}
            fields = {name: v for name, v in fields.items() if v is not None}
            withheld = False
            if k == K["focus"]:
                _, title = self.focus(fields.get("app"), fields.get("title"))
                fields.pop("title", None)
                if title is not None:
                    fields["title"] = title
            elif k == K["key"]:
                r = self.key(fields.get("usage"), fields.get("native"))
                if r is None:
                    withheld = True
                else:
                    fields.pop("usage", None)
                    fields.pop("native", None)
                    if r[0] is not None:
                        fields["usage"] = r[0]
                    if r[1] is not None:
                        fields["native"] = r[1]
            elif k == K["text"]:
                withheld = not self.keep_text()
            if withheld:
                if run is None:
                    run = [ti, ti, 0]
                run[1] = ti
                run[2] += 1
                continue
            if k in (K["key"], K["text"], K["focus"]):
                close_run()
            b.add(ti, k, **fields)
        close_run()
        return b.build()


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
