"""The package metadata: an SPDX licence string with its file, read by setuptools without a warning."""

import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_license_is_an_spdx_string_with_its_file():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "Copyright (c) the gankit authors" in text


def test_setuptools_applies_the_metadata_without_a_warning(monkeypatch):
    pyprojecttoml = pytest.importorskip("setuptools.config.pyprojecttoml")
    from setuptools.dist import Distribution

    monkeypatch.chdir(ROOT)  # the readme and the licence file are found from the project's root
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the old licence table raised SetuptoolsDeprecationWarning here
        dist = pyprojecttoml.apply_configuration(Distribution(), "pyproject.toml")
    assert dist.metadata.license_expression == "MIT"
