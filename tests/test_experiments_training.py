"""Building blocks of the training experiments (mode collapse, W1 tracking, clipping, tests)."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

from gankit.data import Dataset, Scaler, load_dataset
from gankit.data.toy import gaussian_mixture_1d
from gankit.experiments import _runs
from gankit.experiments.hypothesis_test import ALPHA, _gan_tracker
from gankit.experiments.lipschitz_clipping import fraction_at_bound, layer_gradient_norms, linear_layers
from gankit.experiments.mode_collapse import _moment_match, compare, fit_gaussian
from gankit.experiments.wasserstein_tracks_quality import _tracker
from gankit.objectives import get_objective
from gankit.parallel import map_runs
from gankit.training import discriminator_scores

# ----------------------------------------------------------------------------- (5a) Gaussian fits


def test_forward_kl_fit_is_the_moment_match():
    # argmin_{mu, sigma} KL(p || N(mu, sigma^2)) matches the mean and variance of p (any p):
    # mu* = sum w m, sigma*^2 = sum w (s^2 + m^2) - mu*^2 = 0.3 * 0.25 + 0.7 * 1 + (0.3 + 6.3) - 1.8^2.
    mixture = gaussian_mixture_1d((-1.0, 3.0), (0.5, 1.0), (0.3, 0.7))
    mu, sigma = _moment_match(mixture)
    assert mu == pytest.approx(1.8)
    assert sigma == pytest.approx(math.sqrt(0.075 + 0.7 + 6.6 - 3.24))
    fit = fit_gaussian(mixture, "forward_kl")
    assert fit["mu"] == pytest.approx(mu, abs=2e-3)
    assert fit["sigma"] == pytest.approx(sigma, rel=2e-3)


def test_reverse_kl_fit_seeks_one_mode_and_every_fit_recovers_a_gaussian():
    mixture = gaussian_mixture_1d((-3.0, 3.0), (0.4, 0.4))  # well separated: modes 15 std apart
    for name in ("reverse_kl", "nonsaturating_dstar"):
        fit = fit_gaussian(mixture, name)
        assert abs(fit["mu"]) == pytest.approx(3.0, abs=0.02), name
        assert fit["sigma"] == pytest.approx(0.4, rel=0.02), name
    # reverse KL on one mode of two equal ones: KL(p_g || p_r) = log 2 (p_r is half p_g there)
    assert fit_gaussian(mixture, "reverse_kl")["value"] == pytest.approx(math.log(2.0), abs=1e-3)
    single = gaussian_mixture_1d((1.5,), (0.7,))
    for name in ("forward_kl", "reverse_kl", "nonsaturating_dstar"):
        fit = fit_gaussian(single, name)
        assert fit["mu"] == pytest.approx(1.5, abs=2e-3), name
        assert fit["sigma"] == pytest.approx(0.7, rel=2e-3), name


def test_fit_gaussian_rejects_an_unknown_objective():
    with pytest.raises(ValueError, match="objective"):
        fit_gaussian(gaussian_mixture_1d(), "js")


def test_compare_is_a_one_sided_rank_test_with_a_bootstrap_interval():
    from scipy.stats import mannwhitneyu

    wgan, gan = [8, 8, 7, 8, 8, 8], [5, 6, 8, 4, 6, 7]
    t = compare(wgan, gan, larger_is_better=True)
    assert t["p_better"] == pytest.approx(mannwhitneyu(wgan, gan, alternative="greater").pvalue)
    assert t["verdict"] == "better" and t["ci95"][0] <= t["mean_difference"] <= t["ci95"][1]
    assert t["mean_difference"] == pytest.approx(np.mean(wgan) - np.mean(gan))
    # reverse KL: smaller is better, so the same numbers read the other way round
    assert compare(wgan, gan, larger_is_better=False)["verdict"] == "worse"
    tie = compare([25] * 5, [25] * 5, larger_is_better=True)
    assert tie["verdict"] == "no difference shown" and tie["ci95"] == [0.0, 0.0]
    # an undefined reverse KL (+inf) takes part in the rank test but leaves the means undefined
    worst = compare([0.01, 0.02, 0.03], [0.5, np.inf, 0.6], larger_is_better=False)
    assert worst["mean_difference"] is None and worst["ci95"] is None and 0 < worst["p_better"] < 0.1


# ----------------------------------------------------------------------------- shared helpers


def test_spearman_is_scipys_and_nan_for_a_constant_series():
    a = np.array([0.3, 0.1, 0.9, 0.5, 0.7])
    b = np.array([1.0, 3.0, 2.0, 5.0, 4.0])
    assert _runs.spearman(a, b) == pytest.approx(spearmanr(a, b).statistic)
    assert _runs.spearman(a, np.exp(a)) == pytest.approx(1.0)
    assert _runs.spearman(a, -a) == pytest.approx(-1.0)
    assert math.isnan(_runs.spearman(a, np.ones(5)))


def test_real_draws_are_fresh_seeded_and_in_data_units():
    ring = load_dataset("ring", options={"n": 500})
    a, b, c = (_runs.real_draw(ring, 300, s) for s in (1, 1, 2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not any(torch.equal(a[:1], row[None]) for row in ring.x)  # from the mixture, not the training rows
    radius = a.norm(dim=1)
    assert float((radius - 1).abs().max()) < 0.06  # ring radius 1, std 0.01: within 6 std in each axis
    x = torch.randn(400, 2)  # no mixture: a subset of the rows, mapped back to data units
    points = Dataset("points", x, "points", Scaler((1.0, -1.0), (2.0, 3.0)))
    d = _runs.real_draw(points, 50, 0)
    assert d.shape == (50, 2)
    data_rows = {tuple(r) for r in (x * torch.tensor([2.0, 3.0]) + torch.tensor([1.0, -1.0])).tolist()}
    assert all(tuple(r) in data_rows for r in d.tolist())


def test_fit_run_calls_back_at_every_logging_step_and_reruns_identically(tmp_path):
    seen = []

    def callback(trainer, record):
        x = _runs.fake_draw(trainer, 64, 5)
        record["probe"] = float(x.mean())
        seen.append((record["step"], x))

    config = _runs.small_config("wgan-gp", "ring", seed=3, iterations=30, width=16, log_every=10)
    assert (config.g_hidden, config.snapshot_every, config.tensorboard, config.progress) == ((16,) * 3, 0, False, False)
    trainer = _runs.fit_run(tmp_path / "run", config, callbacks=[callback])
    assert [s for s, _ in seen] == [10, 20, 30]
    assert [r["probe"] for r in trainer.records] == [float(x.mean()) for _, x in seen]
    first = [x for _, x in seen]
    seen.clear()
    _runs.fit_run(tmp_path / "run", config, callbacks=[callback])  # the old folder is replaced, not resumed
    assert all(torch.equal(x, y) for x, (_, y) in zip(first, seen, strict=True))


def test_fake_draws_leave_the_runs_noise_stream_alone(tmp_path):
    config = _runs.small_config("gan", "ring", seed=0, iterations=5, width=8)
    trainer = _runs.Trainer(config, tmp_path / "r")
    state = trainer.noise_generator.get_state()
    a, b = _runs.fake_draw(trainer, 10, 4), _runs.fake_draw(trainer, 10, 4)
    assert torch.equal(a, b)
    assert torch.equal(trainer.noise_generator.get_state(), state)
    s = discriminator_scores(trainer.D, trainer.dataset.x[:7])
    assert s.shape == (7,) and s.dtype == np.float64 and trainer.D.training


def test_map_runs_keeps_the_order_with_worker_processes():
    assert map_runs(math.sqrt, [1.0, 4.0, 9.0, 16.0], workers=2) == [1.0, 2.0, 3.0, 4.0]
    assert map_runs(math.sqrt, [9.0], workers=1) == [3.0]


# ----------------------------------------------------------------------------- (6) W1 tracking


def test_critic_over_upper_bound_never_exceeds_the_exact_w1_of_the_same_samples(tmp_path):
    # Kantorovich-Rubinstein duality holds for the empirical measures themselves: for any
    # K-Lipschitz f, mean f(real) - mean f(fake) <= K W1(real, fake) exactly.
    rows, callback = _tracker(200, seed=0)
    config = _runs.small_config("wgan", "ring", seed=0, iterations=40, width=32, log_every=10, lr=5e-4)
    _runs.fit_run(tmp_path / "w", config, callbacks=[callback])
    assert len(rows) == 4
    for r in rows:
        assert r["snapshot_lower_bound"] <= r["w1_exact"] + 1e-9
        assert 0 < r["k_estimate"] <= r["k_upper"]
        assert r["critic_estimate"] == pytest.approx(r["w1_lower_bound"] * r["k_upper"])


# ----------------------------------------------------------------------------- (7) clipping


def test_fraction_at_bound():
    w = torch.tensor([0.01, -0.01, 0.00995, -0.0098, 0.0, 0.005, 0.0101, -0.02])
    # within 1% of c = 0.01: 0.01, -0.01, 0.00995, 0.0101; not -0.0098 (2% off) nor -0.02
    assert fraction_at_bound(w, 0.01) == pytest.approx(4 / 8)


def test_layer_gradient_norms_of_a_linear_critic_are_closed_form():
    # f(x) = w.x + b, L = mean f(fake) - mean f(real): dL/df = +-1/B per sample, so
    # ||dL/dz|| = sqrt(2B)/B, and dL/dw = mean(fake) - mean(real).
    torch.manual_seed(0)
    D = nn.Sequential(nn.Linear(2, 1))
    real, fake = torch.randn(16, 2), torch.randn(16, 2) + 1
    signal, weight = layer_gradient_norms(D, get_objective("wasserstein"), real, fake)
    assert signal == [pytest.approx(math.sqrt(2 * 16) / 16)]
    assert weight == [pytest.approx(float((fake.mean(0) - real.mean(0)).norm()), rel=1e-5)]


@pytest.mark.parametrize("c", [0.01, 0.1])
def test_backpropagated_gradient_grows_geometrically_with_weights_piled_at_c(c):
    # All weights at +c, zero biases, positive inputs: every ReLU passes, and each hidden
    # layer of width w multiplies the backpropagated norm by exactly c * w.
    w, depth = 32, 5
    sizes = [2, *([w] * depth), 1]
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < depth:
            layers.append(nn.ReLU())
    D = nn.Sequential(*layers)
    with torch.no_grad():
        for m in linear_layers(D):
            m.weight.fill_(c)
            m.bias.zero_()
    real, fake = torch.rand(8, 2) + 0.1, torch.rand(8, 2) + 0.1
    signal, _ = layer_gradient_norms(D, get_objective("wasserstein"), real, fake)
    ratios = [signal[i] / signal[i + 1] for i in range(depth - 1)]  # hidden layer l vs l + 1
    np.testing.assert_allclose(ratios, c * w, rtol=1e-5)


# ----------------------------------------------------------------------------- (8) hypothesis test


def test_calibrated_threshold_controls_the_type_i_error_on_a_fresh_draw(tmp_path):
    rows, callback = _gan_tracker(2000, seed=0)
    config = _runs.small_config("gan", "ring", seed=0, iterations=20, width=16, log_every=10)
    _runs.fit_run(tmp_path / "g", config, callbacks=[callback])
    assert [r["step"] for r in rows] == [10, 20]
    sd = math.sqrt(ALPHA * (1 - ALPHA) * 2 / 2000)
    for r in rows:
        assert abs(r["type_i_at_alpha"] - ALPHA) <= 4 * sd
        assert 0.0 <= r["auc"] <= 1.0
        assert r["roc"]["fpr"][0] == 0.0 and r["roc"]["tpr"][-1] == 1.0
