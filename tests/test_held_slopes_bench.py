"""benchmarks/held_slopes.py: a penalised preset with D's slopes held and with PyTorch's activations."""

import json

import pytest
import torch

from conftest import load_benchmark
from gankit import TrainConfig
from gankit.models.slopes import FrozenSlope
from gankit.training import Trainer


def test_both_ways_train_the_same_numbers(tmp_path):
    bench = load_benchmark("held_slopes")
    config = TrainConfig(data="ring", objective="wgan-gp", g_hidden=(32, 32), d_hidden=(32, 32), iterations=4,
                         snapshot_every=0, tensorboard=False, progress=False)
    held, plain = (Trainer(config, tmp_path / name, parts=[]) for name in ("held", "plain"))
    assert bench.unfreeze(plain.D) == 2 and not any(isinstance(m, FrozenSlope) for m in plain.D.modules())
    for trainer in (held, plain):
        trainer.fit()
    for a, b in zip([*held.G.parameters(), *held.D.parameters()], [*plain.G.parameters(), *plain.D.parameters()],
                    strict=True):
        assert torch.equal(a, b)


def test_the_benchmark_reports_both_ways(tmp_path, capsys):
    bench = load_benchmark("held_slopes")
    out = tmp_path / "result.json"
    assert bench.main(["--data", "ring", "--objective", "gan-r1", "--iterations", "4", "--rounds", "1",
                       "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["median_it_per_s"]) == set(bench.WAYS) and result["speed_up"] > 0
    assert "held / PyTorch's:" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="D holds no slopes"):  # no penalty, nothing to compare
        bench.run("ring", "gan", 2, 1)


@pytest.mark.parametrize("flag", ["--iterations", "--rounds"])
def test_bad_arguments_are_refused_naming_the_flag(flag, capsys):
    with pytest.raises(SystemExit) as exit_:
        load_benchmark("held_slopes").main([flag, "0"])
    assert exit_.value.code == 2 and f"{flag} must be >= 1; got 0" in capsys.readouterr().err
