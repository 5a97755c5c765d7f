"""Stacked image seeds (grouped convolutions, :mod:`gankit.training.stacked_conv`): each stacked DCGAN seed is the
single run with that seed after 20 iterations, a stopped and resumed stack ends where the uninterrupted one does,
and what cannot be stacked is refused, saying why."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
import torch
from torch import nn

from gankit import TrainConfig
from gankit.seeds import SeedsTrainer, train_seeds
from gankit.training import Run
from gankit.training.stacked import StackedRuns, stackable

# digits: 8 x 8 grey images, one stride-2 stage per network; narrow and small batches keep a test to seconds
TINY = {"data": "digits", "model": "dcgan", "width": 8, "batch_size": 32, "iterations": 20, "log_every": 10,
        "snapshot_every": 0, "checkpoint_every": 1000, "progress": False, "tensorboard": False}
TOLERANCE = 1e-4  # max abs difference of weights and samples, stacked against single
SEEDS = (0, 1, 2)


def max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a if a[k].dtype.is_floating_point)


def trained(run, iterations: int):
    for _ in range(iterations):
        run.iteration(run.window)
    return run


@pytest.mark.parametrize(("objective", "fields"), [
    ("gan", {}),  # batch norm in both networks
    ("gan", {"conditional": True}),  # conditional batch norm in G, the projection head in D
    ("gan", {"reuse_fakes": True}),  # the critic step's samples, with their graph, in the generator step
    ("wgan-gp", {"model": "dcgan"}),  # layer norm (GroupNorm(1, C)) in D, the penalty's double backward
    ("sngan", {}),  # spectral norm of D's convolutions, five critic steps
])
def test_each_stacked_dcgan_seed_is_the_single_run_with_that_seed(objective, fields):
    config = TrainConfig(objective=objective, **{**TINY, **fields})
    stack = trained(StackedRuns([Run(dataclasses.replace(config, seed=s)) for s in SEEDS]), 20)
    assert stackable(stack.config) and stack.config.model == "dcgan"
    for s, run in zip(SEEDS, stack.runs, strict=True):
        single = trained(Run(dataclasses.replace(config, seed=s)), 20)
        assert max_difference(single.G.state_dict(), run.G.state_dict()) <= TOLERANCE
        assert max_difference(single.D.state_dict(), run.D.state_dict()) <= TOLERANCE
        assert max_difference(single.ema.state_dict(), run.ema.state_dict()) <= TOLERANCE  # before sampling
        x = single.sample(64, generator=torch.Generator().manual_seed(7))  # the EMA, its statistics recomputed
        torch.testing.assert_close(run.sample(64, generator=torch.Generator().manual_seed(7)), x, rtol=0,
                                   atol=TOLERANCE)
    samples = stack.sample(64, generator=torch.Generator().manual_seed(7))  # (S, 64, 1, 8, 8), each run's own
    assert samples.shape == (len(SEEDS), 64, 1, 8, 8) and not torch.equal(samples[0], samples[1])


# A ResNet generator's conv biases feed a batch norm, which removes them: their true gradient is zero and the
# computed one rounding noise, which Adam turns into steps of about its learning rate either way. A single run moves
# them by ~1e-3 in 20 iterations when its weights are perturbed by 1e-7 (relative); so do the stacked runs. The
# batch norms' running means follow them. Everything else is compared.
NOISE_ONLY = re.compile(r"(conv1|conv2|shortcut)\.bias$|running_mean$")


@pytest.mark.parametrize("conditional", [False, True])
def test_each_stacked_resnet_seed_is_the_single_run_with_that_seed(conditional):
    config = TrainConfig(objective="gan", **{**TINY, "model": "resnet", "conditional": conditional})
    stack = trained(StackedRuns([Run(dataclasses.replace(config, seed=s)) for s in (0, 1)]), 20)
    for s, run in zip((0, 1), stack.runs, strict=True):
        single = trained(Run(dataclasses.replace(config, seed=s)), 20)
        assert max_difference(single.D.state_dict(), run.D.state_dict()) <= TOLERANCE
        kept = [{k: v for k, v in net.G.state_dict().items() if not NOISE_ONLY.search(k)} for net in (single, run)]
        assert len(kept[0]) < len(single.G.state_dict()) and max_difference(*kept) <= TOLERANCE


def test_stacked_seeds_stay_apart():
    """A step of one stacked run's loss moves its own weights only: the gradient of another run's rows is zero."""
    config = TrainConfig(objective="gan", **TINY)
    stack = StackedRuns([Run(dataclasses.replace(config, seed=s)) for s in (0, 1)])
    real, _ = stack.real_batch()
    scores = stack.D(real)  # (S, B)
    scores[0].sum().backward()
    for p in stack.D.parameters():
        assert p.grad[0].abs().sum() > 0 and torch.count_nonzero(p.grad[1]) == 0


def test_a_resumed_stack_of_image_seeds_ends_as_the_uninterrupted_one(tmp_path):
    config = TrainConfig(objective="gan", conditional=True, **{**TINY, "iterations": 12, "checkpoint_every": 4})
    whole = SeedsTrainer(config, [1, 4], tmp_path / "whole", pictures=False)
    whole.fit()
    half = SeedsTrainer(config, [1, 4], tmp_path / "half", pictures=False)
    half.fit(steps=7)  # the last checkpoint is at iteration 7: stopped inside a logging interval
    resumed = SeedsTrainer.resume(tmp_path / "half", pictures=False)
    assert resumed.step == 7
    resumed.fit()
    assert resumed.step == whole.step == 12
    for a, b in zip(whole.runs, resumed.runs, strict=True):
        for net in ("G", "D"):
            for x, y in zip(getattr(a, net).state_dict().values(), getattr(b, net).state_dict().values(),
                            strict=True):
                assert torch.equal(x, y)
        for x, y in zip(a.ema.state_dict().values(), b.ema.state_dict().values(), strict=True):
            assert torch.equal(x, y)
    last = [{k: v for k, v in t.records[-1].items() if k != "it_per_s"} for t in (whole, resumed)]
    assert last[0]["step"] == 12 and last[0] == last[1]  # the mean over seeds of the interval the resume ended


def test_what_cannot_be_stacked_is_refused_saying_why(tmp_path):
    with pytest.raises(ValueError, match="--augment translation cannot train stacked seeds"):
        SeedsTrainer(TrainConfig(objective="gan", augment="translation", **TINY), [0, 1], tmp_path / "a")
    with pytest.raises(ValueError, match="--amp fp16 cannot train stacked seeds.*bf16"):
        SeedsTrainer(TrainConfig(objective="gan", amp="fp16", device="cpu", **TINY), [0, 1], tmp_path / "b")

    def generator() -> nn.Module:
        return nn.Sequential(nn.Linear(100, 64), nn.Tanh(), nn.Unflatten(1, (1, 8, 8)))

    def discriminator() -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 1), nn.Flatten(0))

    fields = {k: v for k, v in TINY.items() if k not in ("model", "width")}
    runs = [Run(TrainConfig(objective="gan", seed=s, **fields), generator=generator, discriminator=discriminator)
            for s in (0, 1)]
    with pytest.raises(ValueError, match="'custom' models cannot be trained as stacked seeds"):
        StackedRuns(runs)


def test_train_seeds_stacks_image_runs_and_runs_the_rest_one_by_one(tmp_path):
    config = TrainConfig(objective="gan", **{**TINY, "iterations": 2})
    generators, dirs = train_seeds(config, [0, 1], tmp_path / "stacked", pictures=False)
    assert [d.name for d in dirs] == ["seed-0", "seed-1"] and len(generators) == 2
    assert (tmp_path / "stacked" / "seeds.json").exists()  # the manifest of a stacked set
    _, dirs = train_seeds(dataclasses.replace(config, augment="translation"), [0, 1], tmp_path / "apart")
    assert json.loads((tmp_path / "apart" / "seeds.json").read_text())["stacked"] is False  # in turn
    assert (tmp_path / "apart" / "summary.json").exists()


def test_the_seeds_bench_times_stacked_image_seeds():
    from gankit.bench_seeds import format_seeds_report, run_seeds_bench

    out = run_seeds_bench([1, 2], iterations=2, rounds=1, data="digits", model="dcgan", progress=False)
    assert [r["seeds"] for r in out["rows"]] == [1, 2] and out["model"]["name"] == "dcgan"
    assert out["objective"] == "gan-fast" and out["model"]["width"] == 32
    for r in out["rows"]:
        assert r["ratio"] == pytest.approx(r["batched_it_per_s"] / r["sequential_it_per_s"])
    assert "DCGAN width 32 (grouped)" in format_seeds_report(out)
    with pytest.raises(ValueError, match="unknown model 'vgg'"):
        run_seeds_bench([1], data="digits", model="vgg")
