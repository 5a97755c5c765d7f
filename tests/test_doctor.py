"""``gankit doctor``: runs made to fail in each way the theory predicts get the finding, with its evidence;
a run that went well gets none."""

from __future__ import annotations

import json

import pytest

from gankit import TrainConfig
from gankit.cli import main
from gankit.doctor import diagnose
from gankit.training import Trainer

BASE = dict(data="ring", progress=False, tensorboard=False, snapshot_every=0, log_every=25)


def _run(path, **fields):
    Trainer(TrainConfig(**{**BASE, **fields}), path).fit()
    return path


def _names(findings):
    return {f.name for f in findings}


def test_a_saturated_minimax_run_is_diagnosed(tmp_path):
    run = _run(tmp_path / "run", objective="minimax", iterations=400, d_steps=5)
    findings = {f.name: f for f in diagnose(run)}
    assert "saturation" in findings
    f = findings["saturation"]
    assert "iteration" in f.evidence[0] and "non-saturating" in f.fix and "Goodfellow" in f.theory


def test_the_seeds_wgan_piles_its_weights_at_the_clipping_bound(tmp_path):
    run = _run(tmp_path / "run", objective="wgan", iterations=300)
    findings = {f.name: f for f in diagnose(run)}
    assert "clipping pile-up" in findings and "wgan-gp" in findings["clipping pile-up"].fix
    assert "mode dropping" in findings  # 300 clipped iterations leave modes out, too


def test_an_early_stop_is_unfinished_and_a_short_run_drops_modes(tmp_path):
    path = tmp_path / "run"
    Trainer(TrainConfig(**{**BASE, "objective": "gan", "iterations": 1000}), path).fit(steps=100)
    assert _names(diagnose(path)) >= {"unfinished", "mode dropping"}


def test_a_run_that_went_well_gets_no_finding(tmp_path, capsys):
    run = _run(tmp_path / "run", objective="gan-r1", iterations=1500)
    assert diagnose(run) == []
    assert main(["doctor", str(run), "--json", str(tmp_path / "f.json")]) == 0
    assert "no finding" in capsys.readouterr().out
    assert json.loads((tmp_path / "f.json").read_text()) == []


def test_doctor_names_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["doctor", str(tmp_path)]) != 0
    assert str(tmp_path) in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--help"])
def test_doctor_has_help(flag, capsys):
    with pytest.raises(SystemExit):
        main(["doctor", flag])
    assert "saturated" in capsys.readouterr().out
