"""What an installed hidpack says about itself: ``hidpack --version``, its licence files and the
dependencies that make every CLI command work after ``pip install .``."""

from __future__ import annotations

import importlib.metadata
import re
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

import hidpack

from shared_data import REPO
from test_cli import run


def pyproject():
    with open(REPO / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def test_version_flag_prints_the_package_version():
    for module in ("hidpack.cli", "hidpack"):
        rc, out, err = run("--version", module=module)
        assert rc == 0, err
        assert out == "hidpack %s\n" % importlib.metadata.version("hidpack")
        assert re.fullmatch(r"hidpack \d+\.\d+\.\d+\S*\n", out)
    assert hidpack.__version__ == importlib.metadata.version("hidpack")


def test_licence_files_are_the_standard_texts_and_declared():
    mit = (REPO / "LICENSE-MIT").read_text()
    assert "Copyright (c) the hidpack developers" in mit
    assert "Permission is hereby granted, free of charge, to any person obtaining a copy" in mit
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in mit
    apache = (REPO / "LICENSE-APACHE").read_text()
    assert apache.lstrip().startswith("Apache License\n")
    assert "Version 2.0, January 2004" in apache and "END OF TERMS AND CONDITIONS" in apache
    assert len(apache.splitlines()) > 190  # the whole text, not a pointer to it
    project = pyproject()["project"]
    assert project["license"] == "MIT OR Apache-2.0"
    assert sorted(project["license-files"]) == ["LICENSE-APACHE", "LICENSE-MIT"]
    assert not [c for c in project["classifiers"] if c.startswith("License ::")]  # PEP 639: the expression only


def test_every_cli_command_needs_only_the_base_install():
    """CSV import and Parquet export need pyarrow, OWAMcap import mcap, ``record`` pynput,
    ``export --to hf`` datasets: they are dependencies; the extras are only the notebooks' libraries."""
    project = pyproject()["project"]
    deps = {re.split(r"[<>=;\[ ]", d)[0].lower() for d in project["dependencies"]}
    assert {"numpy", "zstandard", "pyarrow", "mcap", "pynput", "datasets"} <= deps
    extras = project["optional-dependencies"]
    for name in ("pandas", "polars", "dask"):
        assert extras[name], name
    # the names older installs used stay valid, and install nothing beyond the dependencies
    assert extras["arrow"] == extras["parquet"] == extras["mcap"] == extras["record"] == []
