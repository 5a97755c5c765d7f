"""gankit benchmark: the PacGAN protocol's arithmetic, weighted mixtures, packing, and a quick end-to-end run."""

import json
import math

import numpy as np
import pytest
import torch
from scipy.stats import chi

from gankit.benchmark import N_SAMPLES, PUBLISHED, THRESHOLD, run_benchmark, score_samples, summarise
from gankit.cli import main
from gankit.data import grid_mixture, load_dataset, ring_mixture
from gankit.data.toy import mixture_from_arrays
from gankit.models import MLPDiscriminator, Packed, build_models, pack_size
from gankit.objectives import GradientPenalty, R1Penalty

# P(|x - mu| < 3 sigma) for an isotropic 2-D Gaussian: the chi distribution with 2 degrees of freedom
HQ_PERFECT = 1 - math.exp(-THRESHOLD**2 / 2)


@pytest.mark.parametrize("mixture", [ring_mixture(), grid_mixture()], ids=["ring", "grid"])
def test_a_perfect_sampler_captures_every_mode_with_989_per_mille_high_quality(mixture):
    assert HQ_PERFECT == pytest.approx(chi(2).cdf(3.0), rel=1e-12)
    # 40 runs of 2,500 samples: the mean high-quality share within 4 standard errors of 0.98889
    scores = [score_samples(mixture.sample(N_SAMPLES, torch.Generator().manual_seed(s)).numpy(), mixture)
              for s in range(40)]
    K = len(mixture.means)
    assert all(s["modes"] == K for s in scores)
    hq = np.array([s["high_quality"] for s in scores])
    assert abs(hq.mean() - HQ_PERFECT) < 4 * math.sqrt(HQ_PERFECT * (1 - HQ_PERFECT) / (N_SAMPLES * 40))
    # reverse KL of a multinomial histogram: about (K - 1) / (2 n) nats, never far from 0
    rkl = np.array([s["reverse_kl"] for s in scores])
    assert rkl.mean() == pytest.approx((K - 1) / (2 * N_SAMPLES * HQ_PERFECT), rel=0.3)


@pytest.mark.parametrize("k", [1, 2, 5])
def test_k_equally_filled_modes_of_K_give_reverse_kl_log_K_over_k(k):
    mix = grid_mixture()
    K = len(mix.means)
    x = np.repeat(mix.means[:k], 100, axis=0)  # exactly at k modes, 100 samples each
    s = score_samples(x, mix)
    assert (s["modes"], s["high_quality"]) == (k, 1.0)
    assert s["reverse_kl"] == pytest.approx(math.log(K / k), rel=1e-12)


def test_reverse_kl_is_against_the_mixtures_own_weights():
    w = np.array([0.5, 0.3, 0.2])
    mix = mixture_from_arrays([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]], 0.1, w)
    x = np.repeat(mix.means, [50, 30, 20], axis=0)  # the right proportions: reverse KL 0
    assert score_samples(x, mix)["reverse_kl"] == pytest.approx(0.0, abs=1e-12)
    x = np.repeat(mix.means, [20, 30, 50], axis=0)
    p = np.array([0.2, 0.3, 0.5])
    assert score_samples(x, mix)["reverse_kl"] == pytest.approx(float((p * np.log(p / w)).sum()), rel=1e-12)


def test_samples_between_modes_are_not_high_quality():
    mix = ring_mixture()
    far = np.array([[0.0, 0.0], [2.0, 2.0]])  # the centre and outside the ring
    s = score_samples(np.concatenate([mix.means, far]), mix)
    assert s["high_quality"] == pytest.approx(8 / 10) and s["modes"] == 8


def test_summary_reports_mean_and_std_over_seeds_and_counts_undefined_reverse_kl():
    rows = [{"modes": 8, "n_modes": 8, "high_quality": 0.9, "reverse_kl": 0.01},
            {"modes": 6, "n_modes": 8, "high_quality": 0.5, "reverse_kl": 0.03},
            {"modes": 0, "n_modes": 8, "high_quality": 0.0, "reverse_kl": None}]
    s = summarise(rows)
    assert s["modes_mean"] == pytest.approx(14 / 3) and s["modes_std"] == pytest.approx(np.std([8, 6, 0]))
    assert s["reverse_kl_mean"] == pytest.approx(0.02) and s["reverse_kl_undefined"] == 1
    assert not s["all_modes_every_seed"]


def test_published_rows_are_the_cited_tables():
    ring = {row[0]: row[1:4] for row in PUBLISHED["ring"]}
    grid = {row[0]: row[1:4] for row in PUBLISHED["grid"]}
    assert ring["GAN"] == (6.3, 98.2, 0.45) and grid["GAN"] == (17.3, 94.8, 0.70)
    assert ring["PacGAN4"] == (7.8, 95.9, 0.07) and grid["PacGAN4"] == (24.8, 93.6, 0.04)


# --------------------------------------------------------------------------- packing


def test_a_pack_of_m_samples_is_one_input_of_m_times_the_features():
    torch.manual_seed(0)
    G, D = build_models("mlp", (2,), 2, g_hidden=(8,), d_hidden=(16,), pack=4)
    assert isinstance(D, Packed) and pack_size(D) == 4 and D.inner.net[0].in_features == 8
    x = torch.randn(12, 2)
    assert D(x).shape == (3,)
    # pack j is samples 4j .. 4j+3 side by side
    torch.testing.assert_close(D(x)[1], D.inner(x[4:8].reshape(1, 8))[0])
    with pytest.raises(ValueError, match="multiple of 4 samples; got 6"):
        D(x[:6])
    # images: m samples stacked along the channels
    _, Dimg = build_models("dcgan", (1, 8, 8), 4, width=4, pack=2)
    assert Dimg(torch.randn(6, 1, 8, 8)).shape == (3,)


def test_pack_one_is_the_plain_discriminator():
    torch.manual_seed(3)
    _, D1 = build_models("mlp", (2,), 2, d_hidden=(16, 16), pack=1)
    torch.manual_seed(3)
    _, D = build_models("mlp", (2,), 2, d_hidden=(16, 16))
    assert isinstance(D1, MLPDiscriminator) and pack_size(D1) == 1
    x = torch.randn(5, 2)
    torch.testing.assert_close(D1(x), D(x), rtol=0, atol=0)


def test_penalties_of_a_packed_critic_are_per_pack():
    torch.manual_seed(0)
    _, D = build_models("mlp", (2,), 2, d_hidden=(16,), pack=2)
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    # R1 by hand: the gradient of each pack's score with respect to its 4 inputs
    packs = real.reshape(4, 4).requires_grad_(True)
    (g,) = torch.autograd.grad(D.inner(packs).sum(), packs)
    torch.testing.assert_close(R1Penalty(2.0).penalty(D, real, fake, None), (g**2).sum(1).mean(), rtol=1e-6, atol=0)
    # the gradient penalty draws one epsilon per pack
    gen = torch.Generator().manual_seed(1)
    eps = torch.rand(4, 1, generator=torch.Generator().manual_seed(1))
    x_hat = (eps * real.reshape(4, 4) + (1 - eps) * fake.reshape(4, 4)).requires_grad_(True)
    (g,) = torch.autograd.grad(D.inner(x_hat).sum(), x_hat)
    expected = 10 * ((g.norm(dim=1) - 1) ** 2).mean()
    torch.testing.assert_close(GradientPenalty(10).penalty(D, real, fake, gen), expected, rtol=1e-6, atol=0)


# --------------------------------------------------------------------------- end to end


def test_quick_benchmark_writes_the_table_the_json_and_the_figures(tmp_path):
    report = run_benchmark(tmp_path, data=("ring",), recipes=("gan", "pacgan"), seeds=2, quick=True, workers=1,
                           progress=False)
    saved = json.loads((tmp_path / "benchmark.json").read_text())
    assert saved["table"]["ring"]["gan"]["seeds"] == 2 == len([r for r in saved["results"] if r["recipe"] == "gan"])
    assert saved["protocol"]["samples"] == N_SAMPLES
    md = (tmp_path / "benchmark.md").read_text()
    assert "| gankit `pacgan` |" in md and "PacGAN4 (published" in md
    assert (tmp_path / "samples_ring.png").stat().st_size > 0
    # each seed is a normal run folder with its own scores, and the scores are the protocol's on its samples
    run = tmp_path / "runs" / "ring" / "gan" / "seed-1"
    per_seed = json.loads((run / "benchmark.json").read_text())
    assert per_seed == {k: v for k, v in next(r for r in saved["results"] if r["recipe"] == "gan"
                                              and r["seed"] == 1).items()}
    assert (run / "checkpoints" / "latest.pt").exists() and report["quick"]


def test_benchmark_on_a_mixture_file_and_bad_arguments(tmp_path, capsys):
    mix = mixture_from_arrays([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]], 0.1, [1, 2, 1])
    path = mix.save(tmp_path / "three.npz", mix.sample(3000, torch.Generator().manual_seed(0)))
    args = ["benchmark", "--quick", "--data", str(path), "--recipes", "gan", "--seeds", "1", "--workers", "1",
            "--out", str(tmp_path / "b"), "--quiet"]
    assert main(args) == 0
    saved = json.loads((tmp_path / "b" / "benchmark.json").read_text())
    assert saved["table"][str(path)]["gan"]["n_modes"] == 3
    assert main(["benchmark", "--recipes", "gann", "--out", str(tmp_path / "c")]) == 2
    assert "unknown recipe(s) ['gann']" in capsys.readouterr().err
    assert main(["benchmark", "--data", "moons", "--out", str(tmp_path / "c")]) == 2
    assert "not a mixture" in capsys.readouterr().err
    assert load_dataset(str(path)).mixture is not None


def test_sequential_benchmark_scores_the_same_runs_one_by_one(tmp_path):
    kw = dict(data=("ring",), recipes=("gan",), seeds=2, quick=True, workers=1, progress=False)
    stacked = run_benchmark(tmp_path / "stacked", **kw)
    alone = run_benchmark(tmp_path / "alone", sequential=True, **kw)
    assert stacked["batched"] and not alone["batched"]
    assert "seeds one by one" in (tmp_path / "alone" / "benchmark.md").read_text()
    assert (tmp_path / "alone" / "runs" / "ring" / "gan" / "seed-1" / "checkpoints" / "latest.pt").exists()
    # the same seeds in law and, up to rounding, in value: the scores of 2,500 samples agree
    for a, b in zip(stacked["results"], alone["results"], strict=True):
        assert (a["seed"], a["modes"]) == (b["seed"], b["modes"])
        assert abs(a["high_quality"] - b["high_quality"]) <= 0.004
