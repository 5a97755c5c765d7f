"""Generator EMA (closed form, exact resume, what samples and evaluation use) and mixed precision."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from gankit import TrainConfig, Trainer, load_generator
from gankit.cli import main
from gankit.ema import EMA
from gankit.evaluation import evaluate_run
from gankit.models import MLPGenerator
from gankit.objectives import GradientPenalty, R1Penalty
from gankit.seeds import SeedsTrainer
from gankit.training import generate
from test_training import distance_to_n31


def test_ema_is_the_closed_form_for_a_constant_sequence():
    torch.manual_seed(0)
    model, start = nn.Linear(3, 2), nn.Linear(3, 2)
    ema = EMA(start, 0.9)
    a = [p.detach().clone() for p in start.parameters()]
    for _ in range(7):  # theta_t = c for t >= 1: bar theta_t = beta^t a + (1 - beta^t) c
        ema.update(model)
    for p, a0, c in zip(ema.model.parameters(), a, model.parameters(), strict=True):
        torch.testing.assert_close(p, 0.9**7 * a0 + (1 - 0.9**7) * c.detach(), rtol=1e-6, atol=1e-7)
        assert not p.requires_grad
    with pytest.raises(ValueError, match="ema_decay"):
        EMA(model, 1.0)
    with pytest.raises(ValueError, match="ema_decay"):
        TrainConfig(ema_decay=-0.1)


def test_ema_resumes_exactly_and_is_what_samples_and_evaluation_use(tmp_path, tiny, capsys):
    fields = {**tiny, "data": "ring", "data_options": {"n": 3000}, "objective": "gan", "ema_decay": 0.95,
              "checkpoint_every": 7}
    whole = Trainer(TrainConfig(iterations=20, **fields), tmp_path / "whole")
    whole.fit()
    half = Trainer(TrainConfig(iterations=20, **fields), tmp_path / "half")
    half.fit(steps=10)
    rest = Trainer.resume(tmp_path / "half")
    rest.fit()
    for a, b in zip(whole.ema.model.state_dict().values(), rest.ema.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    # the EMA differs from the trained generator, and is the one sampled unless raw is asked
    G, info = load_generator(tmp_path / "whole", device="cpu")
    raw, raw_info = load_generator(tmp_path / "whole", device="cpu", raw=True)
    assert info["ema"] and not raw_info["ema"]
    z = torch.randn(64, whole.config.noise_dim)
    torch.testing.assert_close(G(z), whole.ema.model.eval()(z))
    torch.testing.assert_close(raw(z), whole.G.eval()(z))
    assert not torch.allclose(G(z), raw(z))
    assert torch.equal(whole.sample(50, data_units=False, generator=torch.Generator().manual_seed(1)),
                       generate(whole.ema.model, 50, seed=None, generator=torch.Generator().manual_seed(1)))
    for flag in ([], ["--raw-generator"]):
        out = tmp_path / f"s{len(flag)}.npy"
        assert main(["sample", str(tmp_path / "whole"), "--n", "20", "--out", str(out), "--device", "cpu",
                     *flag]) == 0
    assert not np.allclose(np.load(tmp_path / "s0.npy"), np.load(tmp_path / "s1.npy"))
    result = evaluate_run(tmp_path / "whole", n=200, device="cpu", run_c2st=False, figures=False, write=False,
                          progress=False)
    assert result["generator"] == "ema"
    # a checkpoint without an EMA cannot be resumed with one
    plain = Trainer(TrainConfig(iterations=5, **{**fields, "ema_decay": 0.0}), tmp_path / "plain")
    plain.fit()
    with pytest.raises(ValueError, match="ema_decay"):
        Trainer.resume(tmp_path / "plain", ema_decay=0.9)


def test_stacked_seeds_keep_each_seeds_ema(tmp_path, tiny):
    config = TrainConfig(data="ring", data_options={"n": 3000}, objective="gan", iterations=20, ema_decay=0.9,
                         **tiny)
    stacked = SeedsTrainer(config, [0, 3], tmp_path / "stacked", pictures=False)
    stacked.fit()
    for k, run in zip([0, 3], stacked.runs, strict=True):
        single = Trainer(dataclasses.replace(config, seed=k), tmp_path / f"single{k}")
        single.fit()
        for a, b in zip(run.ema.model.state_dict().values(), single.ema.model.state_dict().values(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
        assert load_generator(run.run_dir, device="cpu")[1]["ema"]


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
@pytest.mark.parametrize("objective", ["gan", "wgan-gp"])
def test_mixed_precision_trains(tmp_path, tiny, amp, objective):
    config = TrainConfig(data="gaussian-1d", data_options={"n": 20_000}, objective=objective, iterations=600,
                         amp=amp, device="cpu", **tiny)
    trainer = Trainer(config, tmp_path / "run")
    before = distance_to_n31(trainer)
    trainer.fit()
    after = distance_to_n31(trainer)
    assert all(np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"]) for r in trainer.records)
    assert after < before / 2, (before, after)
    assert trainer.G.net[0].weight.dtype == torch.float32  # weights and optimiser state stay float32


def test_fp16_resumes_exactly_with_its_loss_scale_and_is_refused_for_stacked_seeds(tmp_path, tiny):
    fields = {**tiny, "data": "ring", "data_options": {"n": 3000}, "objective": "wgan-gp", "amp": "fp16",
              "device": "cpu", "checkpoint_every": 7}
    whole = Trainer(TrainConfig(iterations=16, **fields), tmp_path / "whole")
    whole.fit()
    half = Trainer(TrainConfig(iterations=16, **fields), tmp_path / "half")
    half.fit(steps=8)
    rest = Trainer.resume(tmp_path / "half")
    assert rest.update_d.scaler.get_scale() == half.update_d.scaler.get_scale()
    rest.fit()
    for a, b in zip(whole.G.state_dict().values(), rest.G.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="bf16"):
        SeedsTrainer(TrainConfig(iterations=4, **fields), [0, 1], tmp_path / "seeds")


@pytest.mark.parametrize("penalty", [GradientPenalty(weight=1.0), R1Penalty(gamma=1.0)])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_penalties_are_computed_in_float32_under_autocast(penalty, dtype):
    torch.manual_seed(0)
    D = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1), nn.Flatten(0))
    real, fake = torch.randn(64, 2), torch.randn(64, 2).to(dtype).float()  # a fake batch as autocast makes it
    exact = penalty.penalty(D, real, fake, torch.Generator().manual_seed(1))
    with torch.autocast("cpu", dtype=dtype):
        mixed = penalty.penalty(D, real, fake.to(dtype), torch.Generator().manual_seed(1))
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, exact, rtol=1e-6, atol=1e-7)


def test_the_ema_ramp_up_bounds_the_half_life_by_the_steps_so_far():
    ema = EMA(nn.Linear(2, 2), 0.999, rampup=0.05)
    for t in (1, 10, 100, 1000, 10**6):
        beta = ema.beta(t)
        assert beta == min(0.999, 0.5 ** (1 / (0.05 * t)))
        assert beta <= 0.999 and (beta == 0.999 or np.isclose(np.log(0.5) / np.log(beta), 0.05 * t))
    assert EMA(nn.Linear(2, 2), 0.999).beta(10) == 0.999  # no ramp-up: the constant decay


def test_the_averaged_generator_samples_with_batch_statistics_of_its_own(tmp_path, tiny):
    from gankit.ema import CALIBRATION_BATCH, CALIBRATION_BATCHES, CALIBRATION_SEED, standing_statistics

    torch.manual_seed(0)
    G = MLPGenerator(4, (3,), hidden=(8, 8), batchnorm=True)
    bn = G.net[3]  # the batch norm of the second hidden layer
    standing_statistics(G)
    g = torch.Generator().manual_seed(CALIBRATION_SEED)
    means, variances = [], []
    with torch.no_grad():
        for _ in range(CALIBRATION_BATCHES):
            h = G.net[:3](torch.randn(CALIBRATION_BATCH, 4, generator=g))  # what enters the batch norm
            means.append(h.mean(0))
            variances.append(h.var(0, unbiased=True))
    torch.testing.assert_close(bn.running_mean, torch.stack(means).mean(0))  # the plain average over the passes
    torch.testing.assert_close(bn.running_var, torch.stack(variances).mean(0))
    assert G.training and bn.momentum == 0.1  # left as it was
    # the run's EMA samples with such statistics, during training and from the run folder
    config = TrainConfig(data="digits", iterations=6, ema_decay=0.9, width=4, **tiny)
    run = Trainer(config, tmp_path / "run")
    run.fit()
    G_file, info = load_generator(tmp_path / "run")
    assert info["ema"]
    torch.testing.assert_close(generate(G_file, 16, seed=1), generate(run.G_eval, 16, seed=1))
