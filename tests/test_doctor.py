"""``gankit doctor``: runs made to fail in each way the theory predicts get the finding, with its evidence;
a run that went well gets none."""

from __future__ import annotations

import json

import pytest

from gankit import TrainConfig
from gankit.cli import main
from gankit.doctor import diagnose
from gankit.objectives import Objective, get_objective
from gankit.runfolder import STOPPED
from gankit.training import NonFiniteLossError, Trainer

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
    flat = findings["critic far from 1-Lipschitz"]  # c = 0.01: the critic's slope is tiny, its estimate K W1
    assert "at most" in flat.summary and "K W1" in flat.summary and "Gulrajani" in flat.theory
    assert any("layers' norms" in e for e in flat.evidence)


@pytest.mark.parametrize("checkpoint_every", [50, 1000])
def test_a_non_finite_stop_is_recorded_and_diagnosed(tmp_path, checkpoint_every, capsys):
    """SGD at 0.1 with momentum 0.9 blows the GAN up within 100 iterations: before or after a checkpoint."""
    run = tmp_path / "run"
    with pytest.raises(NonFiniteLossError, match="non-finite loss at iteration") as caught:
        _run(run, objective="gan", optimizer="sgd", lr=0.1, momentum=0.9, iterations=300,
             checkpoint_every=checkpoint_every)
    stop = json.loads((run / STOPPED).read_text())
    it = caught.value.iteration
    assert stop["iteration"] == it and stop["quantity"] == caught.value.quantity in ("d_loss", "penalty", "g_loss")
    assert stop["last_record"]["step"] < it and stop["message"] == str(caught.value)
    findings = {f.name: f for f in diagnose(run)}
    f = findings["non-finite stop"]
    assert f"iteration {it}" in f.summary and stop["quantity"] in f.summary
    assert "--lr" in f.fix and "Mescheder" in f.theory and "unfinished" not in findings
    kept = "no checkpoint was written" if checkpoint_every >= it else "the checkpoint kept stands at iteration"
    assert any(e.startswith(kept) for e in f.evidence)
    assert main(["doctor", str(run)]) == 0
    assert f"non-finite stop: {stop['quantity']}" in capsys.readouterr().out


def test_a_non_finite_generator_loss_is_named(tmp_path):
    trainer = Trainer(TrainConfig(**{**BASE, "iterations": 30, "log_every": 10}), tmp_path / "run")
    base, calls = get_objective("nonsaturating"), {"n": 0}

    def poisoned(fake):  # the generator loss turns NaN at its 14th call: iteration 14
        calls["n"] += 1
        loss = base.generator_loss(fake)
        return loss * float("nan") if calls["n"] >= 14 else loss

    trainer.objective = Objective(base.discriminator_loss, poisoned, True)
    with pytest.raises(NonFiniteLossError):
        trainer.fit()
    stop = json.loads((tmp_path / "run" / STOPPED).read_text())
    assert (stop["iteration"], stop["quantity"], stop["last_record"]["step"]) == (14, "g_loss", 10)
    summary = diagnose(tmp_path / "run")[0].summary
    assert "g_loss (the generator's loss) became NaN or infinite at iteration 14" in summary


def test_an_unconstrained_critic_diverges_oscillates_and_is_far_from_1_lipschitz(tmp_path):
    """The bare Wasserstein game without a constraint: its critic's values and slope grow without bound, and its
    preference flips between the reals and the fakes."""
    run = _run(tmp_path / "run", objective="wasserstein", iterations=300)
    findings = {f.name: f for f in diagnose(run)}
    diverging, swinging, steep = (findings[k] for k in ("divergence", "oscillation", "critic far from 1-Lipschitz"))
    assert "order of magnitude" in diverging.summary and "Arjovsky et al. 2017" in diverging.theory
    assert any("d_loss" in e and "x;" in e for e in diverging.evidence) and "wgan-gp" in diverging.fix
    assert "changes sign" in swinging.summary and "Mescheder et al. 2018" in swinging.theory
    assert "critic_real - critic_fake" in swinging.evidence[0] and "gan-r1" in swinging.fix
    assert "reaches" in steep.summary and "wgan-gp" in steep.fix


def test_a_critic_that_swings_without_growing_oscillates(tmp_path):
    run = _run(tmp_path / "run", objective="wasserstein", lr=3e-4, iterations=300)
    assert "oscillation" in _names(diagnose(run))


def test_a_tiny_gradient_penalty_leaves_the_critic_steep(tmp_path):
    run = _run(tmp_path / "run", objective="wgan-gp", gp_weight=1e-4, iterations=100)
    steep = {f.name: f for f in diagnose(run)}["critic far from 1-Lipschitz"]
    assert "reaches" in steep.summary and "--gp-weight, 0.0001" in steep.fix
    assert any("interpolated samples" in e for e in steep.evidence)


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
