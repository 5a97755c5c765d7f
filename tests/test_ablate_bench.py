"""benchmarks/ablate.py: one of gankit's speed-ups undone, against gankit as it is."""

import json

import pytest
import torch
from torch import nn

from conftest import load_benchmark
from gankit import TrainConfig
from gankit.models.layout import Flatten, Unflatten
from gankit.models.slopes import FrozenSlope
from gankit.training import Trainer


def _params(trainer):
    return [*trainer.G.parameters(), *trainer.D.parameters()]


def test_held_slopes_undone_train_the_same_numbers(tmp_path):
    bench = load_benchmark("ablate")
    config = TrainConfig(data="ring", objective="wgan-gp", g_hidden=(32, 32), d_hidden=(32, 32), iterations=4,
                         snapshot_every=0, tensorboard=False, progress=False)
    held, plain = (Trainer(config, tmp_path / name, parts=[]) for name in ("held", "plain"))
    assert bench.unfreeze(plain.D) == 2 and not any(isinstance(m, FrozenSlope) for m in plain.D.modules())
    for trainer in (held, plain):
        trainer.fit()
    assert all(torch.equal(a, b) for a, b in zip(_params(held), _params(plain), strict=True))


def test_layout_undone_puts_back_torchs_reshapes_and_trains_the_same_values(tmp_path):
    bench = load_benchmark("ablate")
    config = TrainConfig(data="digits", model="dcgan", width=8, batch_size=8, objective="gan-fast", iterations=3,
                         snapshot_every=0, tensorboard=False, progress=False)
    kept, undone = (Trainer(config, tmp_path / name, parts=[]) for name in ("kept", "undone"))
    assert bench.channels_first_boundaries(undone.G) + bench.channels_first_boundaries(undone.D) == 2
    assert not any(isinstance(m, (Flatten, Unflatten)) for m in [*undone.G.modules(), *undone.D.modules()])
    assert any(type(m) is nn.Flatten for m in undone.D.modules())
    for trainer in (kept, undone):
        trainer.fit()
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(_params(kept), _params(undone), strict=True))


def test_the_benchmark_reports_both_ways(tmp_path, capsys):
    bench = load_benchmark("ablate")
    out = tmp_path / "result.json"
    assert bench.main(["--undo", "slopes", "--data", "ring", "--objective", "gan-r1", "--iterations", "4",
                       "--rounds", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["median_it_per_s"]) == set(result["ways"]) and result["speed_up"] > 0
    assert "held slopes / PyTorch's activations:" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="nothing to undo"):  # no penalty: no slopes held
        bench.run("slopes", "ring", "gan", 2, 1)
    with pytest.raises(SystemExit, match="nothing to undo"):  # MLPs: no image reshapes
        bench.run("layout", "ring", "gan", 2, 1)


@pytest.mark.parametrize("flag", ["--iterations", "--rounds", "--threads"])
def test_bad_arguments_are_refused_naming_the_flag(flag, capsys):
    with pytest.raises(SystemExit) as exit_:
        load_benchmark("ablate").main(["--undo", "slopes", flag, "0"])
    assert exit_.value.code == 2 and f"{flag} must be >= 1; got 0" in capsys.readouterr().err
