"""Evaluation of run folders: eval.json agrees with the metric functions, the callback logs, errors are clear."""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from gankit import TrainConfig, Trainer, load_generator, train
from gankit.cli import build_parser
from gankit.data import load_dataset
from gankit.evaluation import (
    attach_evaluation,
    discriminator_test,
    evaluate_generator,
    evaluate_run,
    format_table,
    held_out_data,
    make_eval_callback,
)
from gankit.metrics import class_coverage, fid, mode_coverage, sample_distances, stacked_modes
from gankit.training import generate

N = 300  # samples per evaluation: small and fast, large enough for the tolerances below


def strict_json(path):
    """Standard JSON only: Infinity / NaN literals are refused."""
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A classifier cache in tmp, shared by the module (the digits classifier is trained once, on a tiny budget)."""
    path = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANKIT_CACHE", str(path))
        from gankit.classifier import get_classifier

        get_classifier("digits", epochs=6, progress=False)
        yield path


def tiny_fields(**extra):
    return {"g_hidden": (32, 32), "d_hidden": (32, 32), "log_every": 10, "snapshot_every": 0, "progress": False,
            "tensorboard": False, **extra}


@pytest.fixture(scope="module")
def ring_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    runs = {}
    for objective in ("gan", "wgan-gp"):
        _, runs[objective] = train(TrainConfig(data="ring", objective=objective, iterations=60,
                                               data_options={"n": 5000}, **tiny_fields()), root / objective)
    return runs


def test_ring_eval_json_matches_the_metric_functions(ring_runs):
    run = ring_runs["gan"]
    result = evaluate_run(run, n=N, progress=False)
    saved = strict_json(run / "eval.json")
    for key in ("modes", "distances", "discriminator", "c2st", "held_out", "seconds", "timings", "notes"):
        assert key in saved, key
    assert saved["seconds"] > 0 and saved["n"] == N and saved["step"] == 60
    for name in ("eval_roc.png", "eval_modes.png"):
        assert (run / name).stat().st_size > 0

    # the same samples and held-out data, metric functions called directly
    G, info = load_generator(run)
    ds = load_dataset("ring", options={"n": 5000}, seed=0)
    to_data = ds.scaler.to_data  # the ring is standardised for training; metrics are in data units
    fake = to_data(generate(G, N, seed=0))
    real, _, _, independent = held_out_data(ds, 3 * N, options={"n": 5000}, seed=0)
    real = to_data(real)
    assert independent
    direct = mode_coverage(fake.numpy(), ds.mixture.means, ds.mixture.stds)
    for key in ("modes", "high_quality", "reverse_kl", "counts"):
        assert result["modes"][key] == direct[key]
    # real samples of the mixture: P(|x - mu| < 3 std) = 1 - exp(-9/2) = 0.989 in 2-D; 4 binomial sds at n = 300
    assert result["modes"]["real"]["modes"] == 8
    assert abs(result["modes"]["real"]["high_quality"] - (1 - math.exp(-4.5))) < 4 * math.sqrt(0.011 * 0.989 / N)
    train_x = to_data(ds.x[torch.randperm(len(ds), generator=torch.Generator().manual_seed(11))[:N]])
    dist = sample_distances(real[:N], fake, held_out=train_x, seed=0)
    for key in ("w1", "w2", "energy", "mmd"):
        np.testing.assert_allclose(result["distances"][key]["value"], dist[key]["value"], rtol=1e-12)
        np.testing.assert_allclose(result["distances"][key]["baseline"], dist[key]["baseline"], rtol=1e-12)
    # 60 iterations do not fit the ring: generated samples are farther than real ones from held-out data
    assert result["distances"]["w1"]["value"] > 3 * result["distances"]["w1"]["baseline"]

    d = result["discriminator"]
    assert d["scores"] == "probability" and 0 <= d["type_i"] <= 1 and 0 <= d["type_ii"] <= 1
    # level calibrated on other held-out real data: the type I error on fresh real data is alpha +- sampling error
    assert abs(d["type_i_at_alpha"] - 0.05) < 4 * math.sqrt(0.05 * 0.95 / N)
    table = format_table(result)
    assert "modes captured (of 8)" in table and "type I error at D = 0.5" in table


def test_critic_is_tested_on_raw_scores(ring_runs):
    run = ring_runs["wgan-gp"]
    result = evaluate_run(run, n=N, run_c2st=False, progress=False)
    d = result["discriminator"]
    assert d["scores"] == "critic" and d["type_i"] is None and d["type_ii"] is None
    assert any("0.5 has no meaning" in note for note in d["notes"])
    assert "type I error at D = 0.5" not in format_table(result)

    G, info = load_generator(run)
    D = info["discriminator"]
    ds = load_dataset("ring", options={"n": 5000}, seed=0)
    real_all, _, _, _ = held_out_data(ds, 3 * N, options={"n": 5000}, seed=0)
    real, calib, fake = real_all[:N], real_all[N:2 * N], generate(G, N, seed=0)
    again = discriminator_test(D, real, calib, fake, probabilistic=False)
    assert again["auc"] == d["auc"]
    with torch.no_grad():
        s_real, s_calib, s_fake = (D(x).double().numpy() for x in (real, calib, fake))
    # reference: scikit-learn's AUC with real as the positive (high-score) class, on raw critic scores
    np.testing.assert_allclose(d["auc"], roc_auc_score(np.r_[np.ones(N), np.zeros(N)], np.r_[s_real, s_fake]))
    t_alpha = np.sort(s_calib)[int(0.05 * N)]
    assert d["threshold_alpha"] == pytest.approx(t_alpha)
    assert d["power_at_alpha"] == pytest.approx(np.mean(s_fake < t_alpha))
    assert d["roc"]["fpr"][0] == 0 and d["roc"]["tpr"][-1] == 1


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory, cache):
    run = tmp_path_factory.mktemp("runs") / "digits"
    train(TrainConfig(data="digits", objective="gan", iterations=30, width=8, **tiny_fields()), run)
    return run


def test_digits_features_and_classes(digits_run, cache):
    result = evaluate_run(digits_run, n=N, kid_subsets=10, progress=False)
    f, cl = result["features"], result["classes"]
    assert f["extractor"] == "classifier:digits" and f["cached"] is True
    assert str(cache) in f["path"]
    assert result["held_out"]["independent"] is False  # the digits have no split left out of training
    assert result["held_out"]["n_per_set"] == N
    # consistent with the metric functions on the classifier's outputs for the same samples
    from gankit.classifier import get_classifier

    model, _ = get_classifier("digits", train=False)
    ds = load_dataset("digits")
    G, _ = load_generator(digits_run)
    fake = generate(G, N, seed=0)
    real, real_y, _, _ = held_out_data(ds, 3 * N, seed=0)
    with torch.no_grad():
        logits_f, feat_f = model(fake)
        logits_r, feat_r = model(real[:N])
    np.testing.assert_allclose(f["fid"], fid(feat_f.double().numpy(), feat_r.double().numpy()), rtol=1e-9)
    direct = class_coverage(logits_f.argmax(1).numpy(), 10, real_y[:N].numpy())
    assert cl["classes_covered"] == direct["classes_covered"]
    np.testing.assert_allclose(cl["histogram"], direct["histogram"])
    assert cl["classifier_accuracy_on_real"] > 0.9  # training images, tiny budget: still mostly right
    # a 30-iteration generator is far from the digits; real vs real is close
    assert f["fid"] > 2 * f["real"]["fid"]
    assert 0 <= f["precision"] <= 1 and 0 <= f["recall"] <= 1 and f["kid"]["std"] >= 0
    for name in ("eval_samples.png", "eval_classes.png", "eval_roc.png"):
        assert (digits_run / name).stat().st_size > 0
    strict_json(digits_run / "eval.json")


def test_stacked_digits_dcgan_trains_samples_and_counts_modes(tmp_path, cache):
    ds = load_dataset("stacked-digits", options={"n": 3000}, seed=1)
    assert ds.sample_shape == (3, 8, 8) and ds.labels.shape == (3000, 3)
    assert torch.equal(ds.x, load_dataset("stacked-digits", options={"n": 3000}, seed=1).x)
    assert not torch.equal(ds.x, load_dataset("stacked-digits", options={"n": 3000}, seed=2).x)
    # each channel is a digit image with its label
    base = load_dataset("digits")
    assert any(torch.equal(ds.x[0, 1], img[0]) for img in base.x[base.labels == ds.labels[0, 1]])

    run = tmp_path / "stacked"
    config = TrainConfig(data="stacked-digits", data_options={"n": 3000}, objective="gan", iterations=20,
                         width=8, **tiny_fields(snapshot_every=10))
    train(config, run)
    G, _ = load_generator(run)
    assert (run / "samples.png").exists() and generate(G, 2).shape == (2, 3, 8, 8)
    from gankit.cli import main

    assert main(["sample", str(run), "--n", "16", "--out", str(tmp_path / "s.png")]) == 0

    result = evaluate_run(run, n=N, n_stacked=1500, kid_subsets=5, run_c2st=False, progress=False)
    st = result["stacked"]
    assert st["n_modes"] == 1000 and st["n"] == 1500
    assert 0 < st["modes"] <= 1000 and st["real"]["modes"] <= 1000
    # ideal uniform generator: 1000 (1 - (1 - 1/1000)^n) modes expected
    assert st["expected_modes_uniform"] == pytest.approx(1000 * (1 - 0.999**1500))
    from gankit.classifier import get_classifier

    model, _ = get_classifier("digits", train=False)
    fake = generate(G, 1500, seed=0)
    with torch.no_grad():
        labels = torch.stack([model(fake[:, c:c + 1])[0].argmax(1) for c in range(3)], 1).numpy()
    direct = stacked_modes(labels, 10)
    assert (st["modes"], st["reverse_kl"]) == (direct["modes"], direct["reverse_kl"])
    assert result["features"]["dim"] == 3 * model.feature_dim
    assert (run / "eval_classes.png").exists()


def test_callback_adds_eval_keys_at_the_right_steps(tmp_path):
    fields = tiny_fields()
    config = TrainConfig(data="ring", objective="gan", iterations=60, eval_every=20, data_options={"n": 3000},
                         **fields)
    trainer = attach_evaluation(Trainer(config, tmp_path / "with"))  # eval_every: the evaluation callback
    assert len(attach_evaluation(trainer).callbacks) == 1  # attached once
    trainer.fit()
    lines = [json.loads(line) for line in (tmp_path / "with" / "metrics.jsonl").read_text().splitlines()]
    evaluated = [r["step"] for r in lines if "eval/w1" in r]
    assert evaluated == [20, 40, 60]
    for r in lines:
        if r["step"] in evaluated:
            assert {"eval/modes", "eval/high_quality", "eval/auc", "eval/w1_baseline"} <= set(r)
            assert 0 <= r["eval/modes"] <= 8 and 0 <= r["eval/auc"] <= 1
            assert r["eval/w1"] > r["eval/w1_baseline"] > 0
    # the callback draws its own noise: training is exactly the same without it
    plain = Trainer(dataclasses.replace(config, eval_every=0), tmp_path / "without")
    plain.fit()
    for a, b in zip(trainer.G.state_dict().values(), plain.G.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="eval_every"):
        make_eval_callback(TrainConfig(eval_every=0))


def test_evaluation_every_n_not_a_multiple_of_log_every_runs_at_the_next_logging_step(tmp_path):
    fields = tiny_fields()  # log_every 10
    config = TrainConfig(data="ring", objective="gan", iterations=60, eval_every=25, data_options={"n": 3000},
                         **fields)
    trainer = attach_evaluation(Trainer(config, tmp_path / "run"))
    trainer.fit()
    assert [r["step"] for r in trainer.records if "eval/w1" in r] == [30, 50]  # past 25 and 50


def test_errors_name_what_is_wrong(tmp_path, digits_run, ring_runs):
    with pytest.raises(FileNotFoundError, match="no generator"):
        (tmp_path / "empty").mkdir()
        evaluate_run(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no such run folder"):
        evaluate_run(tmp_path / "missing")
    from gankit.classifier import DomainClassifier

    with pytest.raises(ValueError, match=r"\(1, 28, 28\).*\(1, 8, 8\)"):
        evaluate_run(digits_run, n=N, feature_extractor=DomainClassifier((1, 28, 28)), write=False, progress=False)
    G, _ = load_generator(ring_runs["gan"])
    with pytest.raises(ValueError, match=r"shape \(2,\).*\(1,\)"):
        evaluate_generator(G, load_dataset("gaussian-1d", options={"n": 1000}), n=N, progress=False)
    with pytest.raises(ValueError, match="n must be"):
        evaluate_run(ring_runs["gan"], n=1, write=False)


def test_any_module_can_be_the_feature_extractor(digits_run):
    class Pixels(torch.nn.Module):
        def forward(self, x):
            return x.flatten(1)  # features only: no classes

    result = evaluate_run(digits_run, n=N, feature_extractor=Pixels(), kid_subsets=5, run_c2st=False,
                          figures=False, write=False, progress=False)
    assert result["features"]["dim"] == 64 and "classes" not in result


def test_command_line(ring_runs, capsys):
    parser = build_parser()
    run = ring_runs["gan"]
    args = parser.parse_args(["eval", str(run), "--n", str(N), "--no-c2st", "--no-figures", "--quiet"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "modes captured" in out and "eval.json" in out
    assert strict_json(run / "eval.json")["n"] == N
    with pytest.raises(SystemExit) as e:
        parser.parse_args(["eval", "--help"])
    assert e.value.code == 0
    assert "radius=2" in capsys.readouterr().out  # the VEEGAN ring is documented


def test_without_a_held_out_split_the_reference_sets_are_disjoint():
    from gankit.data import Dataset
    from gankit.evaluation.core import reference_sets

    ds = Dataset("my.csv", torch.arange(200.0).reshape(100, 2), "points")  # every row distinct
    ref = reference_sets(ds, 50, data="my.csv", options={}, data_dir=None, seed=0)
    assert not ref["independent"] and ref["k"] == 33  # 100 rows: three disjoint thirds
    rows = [set(map(tuple, ref[key].tolist())) for key in ("real", "calib", "train")]
    assert all(len(r) == 33 for r in rows)
    assert not (rows[0] & rows[1] or rows[0] & rows[2] or rows[1] & rows[2])
