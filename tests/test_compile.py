"""``--compile``: the networks' forward passes compiled in place (inductor), the same training to rounding,
checkpoints without the compiled wrapper's names, and D kept eager where a penalty needs a double backward."""

import shutil

import pytest
import torch

from gankit import TrainConfig
from gankit.api import train
from gankit.checkpoint import load_checkpoint
from gankit.training.run import Run

pytestmark = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                                reason="torch.compile on the CPU needs a C compiler")

FIELDS = {"data": "ring", "data_options": {"n": 512}, "g_hidden": (16,), "d_hidden": (16,), "iterations": 6,
          "log_every": 3, "snapshot_every": 0, "progress": False, "tensorboard": False}


def test_a_compiled_run_trains_as_the_eager_one_and_saves_plain_weights(tmp_path):
    train(TrainConfig(objective="gan", **FIELDS), tmp_path / "eager")
    train(TrainConfig(objective="gan", compile=True, **FIELDS), tmp_path / "compiled")
    a, b = (load_checkpoint(tmp_path / r / "checkpoints" / "latest.pt") for r in ("eager", "compiled"))
    for net in ("generator", "discriminator"):
        assert a[net].keys() == b[net].keys()  # no "_orig_mod." names: the checkpoint loads anywhere
        for k in a[net]:
            torch.testing.assert_close(b[net][k], a[net][k], rtol=1e-4, atol=1e-5)


def test_under_a_gradient_penalty_only_g_is_compiled(tmp_path):
    run = Run(TrainConfig(objective="wgan-gp", compile=True, **FIELDS))
    assert run.G._compiled_call_impl is not None and run.D._compiled_call_impl is None
    run.iteration(run.window)  # the penalty's double backward runs through the eager D
    assert all(torch.isfinite(p).all() for p in run.D.parameters())


def test_compiled_seeds_train_one_after_another(tmp_path):
    from gankit.seeds import SeedsInTurn, SeedsTrainer, seeds_trainer

    config = TrainConfig(objective="gan", compile=True, **FIELDS)
    with pytest.raises(ValueError, match="--compile cannot train stacked seeds yet"):
        SeedsTrainer(config, [0, 1], tmp_path / "stacked")
    assert isinstance(seeds_trainer(config, [0, 1], tmp_path / "s"), SeedsInTurn)
