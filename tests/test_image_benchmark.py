"""The image benchmark and the image scores: the protocol runs end to end, scores real images as the floor,
refuses what it cannot score, and the image defaults are the measured recipes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gankit import TrainConfig
from gankit.cli import main
from gankit.data import load_dataset
from gankit.presets import DEFAULT_RECIPES, default_recipe
from gankit.training import Trainer


@pytest.fixture
def cache(tmp_path_factory, monkeypatch):
    path = tmp_path_factory.getbasetemp() / "classifier-cache"  # one digits classifier for the module's tests
    monkeypatch.setenv("GANKIT_CACHE", str(path))
    return path


def test_real_images_score_as_the_floor_and_noise_does_not(cache):
    from gankit.evaluation.images import Reference

    ref = Reference("digits")
    floor = ref.floor
    assert floor["fid"] < 20 and floor["precision"] > 0.7 and floor["recall"] > 0.7 and floor["class_kl"] < 0.05
    assert floor["class_accuracy"] > 0.95  # the classifier on images it mostly trained on
    noise = ref.score(torch.rand(500, 1, 8, 8) * 2 - 1)
    assert noise["fid"] > 10 * floor["fid"] and noise["precision"] < 0.1
    with pytest.raises(ValueError, match="cannot be scored against digits"):
        ref.score(torch.zeros(10, 1, 28, 28))


def test_the_image_benchmark_runs_every_recipe_and_reports_the_floor(tmp_path, cache, capsys):
    out = tmp_path / "bench"
    assert main(["benchmark", "--data", "digits", "--recipes", "gan,wgan-gp+cond", "--quick", "--quiet",
                 "--workers", "1", "--out", str(out)]) == 0
    report = json.loads((out / "benchmark.json").read_text())
    assert report["recipes"] == ["gan", "wgan-gp+cond"] and report["protocol"]["iterations"] == 4
    assert set(report["table"]["gan"]) >= {"fid", "kid", "precision", "recall", "class_kl", "it_per_s"}
    assert "class_accuracy" in report["table"]["wgan-gp+cond"] and "class_accuracy" not in report["table"]["gan"]
    assert report["settings"]["wgan-gp+cond"]["conditional"] is True
    assert (out / "grid_gan.png").exists() and (out / "runs" / "gan" / "seed-0" / "config.json").exists()
    # a recipe's seeds train as `gankit train --seeds` trains them: here stacked, into one seeds folder
    assert [(r["recipe"], r["seed"]) for r in report["results"]] == [(n, s) for n in ("gan", "wgan-gp+cond")
                                                                      for s in (0, 1)]
    assert all(r["stacked"] for r in report["results"]) and report["table"]["gan"]["seeds"] == 2
    assert json.loads((out / "runs" / "gan" / "seeds.json").read_text())["seeds"] == [0, 1]
    text = capsys.readouterr().out
    assert "| real images (floor) |" in text and "`wgan-gp+cond`" in text
    assert main(["benchmark", "--data", "digits", "--recipes", "nope", "--quick", "--out", str(out)]) == 2
    assert "unknown recipe 'nope'" in capsys.readouterr().err
    again = tmp_path / "again"  # the same command: the same numbers
    assert main(["benchmark", "--data", "digits", "--recipes", "gan,wgan-gp+cond", "--quick", "--quiet",
                 "--workers", "1", "--out", str(again)]) == 0
    repeat = json.loads((again / "benchmark.json").read_text())
    scores = ("fid", "kid", "precision", "recall", "class_kl", "class_accuracy")
    for a, b in zip(report["results"], repeat["results"], strict=True):
        assert {k: a.get(k) for k in scores} == {k: b.get(k) for k in scores}
    # --sequential: each seed a plain run of its own, the same runs as the stack's to rounding
    single = tmp_path / "single"
    assert main(["benchmark", "--data", "digits", "--recipes", "gan", "--quick", "--quiet", "--sequential",
                 "--workers", "1", "--out", str(single)]) == 0
    plain = json.loads((single / "benchmark.json").read_text())["results"]
    assert [r["seed"] for r in plain] == [0, 1] and not any(r["stacked"] for r in plain)
    assert not (single / "runs" / "gan" / "seeds.json").exists()
    for a, b in zip(report["results"][:2], plain, strict=True):
        assert b["fid"] == pytest.approx(a["fid"], rel=1e-3) and b["precision"] == pytest.approx(a["precision"],
                                                                                                abs=0.01)


def test_samples_from_anywhere_are_scored_with_the_same_protocol(tmp_path, cache, capsys):
    digits = load_dataset("digits")
    np.savez(tmp_path / "real.npz", x=digits.x[:400].numpy(), labels=digits.labels[:400].numpy())
    assert main(["eval", "--samples", str(tmp_path / "real.npz"), "--data", "digits", "--quiet",
                 "--json", str(tmp_path / "s.json")]) == 0
    score = json.loads((tmp_path / "s.json").read_text())["score"]
    assert score["n"] == 400 and score["class_accuracy"] > 0.95
    capsys.readouterr()
    # what gankit sample writes: the data's own units (digits: 0..16), read as such and scored the same
    np.savez(tmp_path / "units.npz", x=(digits.x[:400].numpy() + 1) * 8, labels=digits.labels[:400].numpy())
    assert main(["eval", "--samples", str(tmp_path / "units.npz"), "--data", "digits", "--quiet",
                 "--json", str(tmp_path / "u.json")]) == 0
    assert "read as digits's pixel values 0..16" in capsys.readouterr().out
    assert json.loads((tmp_path / "u.json").read_text())["score"]["fid"] == pytest.approx(score["fid"], rel=1e-4)
    np.save(tmp_path / "pixels.npy", (digits.x[:50].numpy() + 1) * 127.5)  # 0..255: not the digits' units
    assert main(["eval", "--samples", str(tmp_path / "pixels.npy"), "--data", "digits"]) == 2
    assert "outside the digits pixel range 0..16" in capsys.readouterr().err
    assert main(["eval", "--samples", str(tmp_path / "units.npz"), "--data", "digits", "--units", "model"]) == 2
    assert "outside the model range [-1, 1] (--units model)" in capsys.readouterr().err
    np.savez(tmp_path / "clusters.npz", x=digits.x[:40].numpy(), labels=np.arange(40) % 20)  # not 10 classes
    assert main(["eval", "--samples", str(tmp_path / "clusters.npz"), "--data", "digits"]) == 2
    assert "labels up to 19, but digits has 10 classes" in capsys.readouterr().err


def test_the_default_recipe_is_the_measured_one_for_the_datas_kind():
    assert TrainConfig(data="ring").resolved("points", (2,)).objective == default_recipe("points") == "gan-r1"
    image = TrainConfig(data="digits").resolved("image", (1, 8, 8))
    assert image.objective == DEFAULT_RECIPES["image"] and image.ema_decay > 0
    assert TrainConfig(data="ring", objective="gan").resolved("points", (2,)).objective == "gan"  # one flag away


def test_train_help_names_the_default_recipes(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = "".join(capsys.readouterr().out.split())  # argparse may wrap a name at its hyphen
    assert f"{DEFAULT_RECIPES['image']}forimages,gan-r1forpoints" in text


@pytest.mark.parametrize(("per_side", "longer", "wider"), [(5, 1, 1), (7, 2, 1), (10, 1, 2)])
def test_the_points_default_grows_with_the_mixtures_modes(tmp_path, per_side, longer, wider):
    """25 modes: the recipe as measured; 49: twice the iterations; 100: twice the width, four times the batch."""
    base = TrainConfig(data="ring").resolved("points", (2,))
    options = {"n_per_side": per_side, "n": 500}
    cfg = Trainer(TrainConfig(data="grid", data_options=options, progress=False), tmp_path / "a").config
    assert cfg.objective == "gan-r1" and cfg.iterations == longer * base.iterations
    assert cfg.g_hidden == tuple(wider * w for w in base.g_hidden)
    assert cfg.d_hidden == tuple(wider * w for w in base.d_hidden)
    assert cfg.batch_size == wider**2 * base.batch_size
    given = Trainer(TrainConfig(data="grid", data_options=options, iterations=123, g_hidden=(8,), batch_size=32,
                                progress=False), tmp_path / "b").config
    assert (given.iterations, given.g_hidden, given.batch_size) == (123, (8,), 32)  # the user's values are kept


def test_only_modes_that_stand_apart_are_counted():
    from gankit.data.toy import Mixture, grid_mixture

    assert grid_mixture(7).distinct_modes() == 49
    stroke = np.stack([np.linspace(0, 1, 300), np.zeros(300)], 1)  # a line drawn by hand: a kernel density
    drawn = Mixture(stroke, np.full(300, 0.03), np.full(300, 1 / 300))
    assert drawn.distinct_modes() == 0
    near = Mixture(np.array([[0.0, 0.0], [0.59, 0.0], [5.0, 5.0]]), np.array([0.1, 0.1, 0.1]), np.ones(3) / 3)
    assert near.distinct_modes() == 0 and Mixture(near.means * 1.03, near.stds, near.weights).distinct_modes() == 3
    rng = np.random.default_rng(0)  # against every pair, with unequal widths
    for _ in range(200):
        k = int(rng.integers(2, 12))
        means, stds = rng.uniform(-3, 3, (k, 2)), rng.uniform(0.01, 0.4, k)
        gaps = np.linalg.norm(means[:, None] - means[None], axis=-1) - 3 * (stds[:, None] + stds[None])
        apart = bool(np.all(gaps[~np.eye(k, dtype=bool)] > 0))
        assert Mixture(means, stds, np.ones(k) / k).distinct_modes() == (k if apart else 0)
