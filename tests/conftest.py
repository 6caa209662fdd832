"""Test-session set-up shared by every test module.

Many tests run hidpack in a child process (``python -m hidpack ...``), often in another working
directory. The child must import the same hidpack as the tests: with a relative ``PYTHONPATH``
(``PYTHONPATH=python pytest tests``) it would instead import whatever pip installed, which may be
an older build (a 1.2 reader refuses 1.3 files). So the directory of the imported package goes
first on ``PYTHONPATH``, as an absolute path, for every child.
"""

from __future__ import annotations

import os
from pathlib import Path

import hidpack

_root = str(Path(hidpack.__file__).resolve().parent.parent)
_rest = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and os.path.abspath(p) != _root]
os.environ["PYTHONPATH"] = os.pathsep.join([_root, *_rest])
