"""``gankit export``: the exported generator maps noise (and classes) to what ``gankit sample`` gives, in data
units, loaded back with TorchScript and with ONNX Runtime, at any batch size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gankit import TrainConfig
from gankit.cli import main
from gankit.export import export
from gankit.sampling import generate
from gankit.training import Trainer, load_generator

TINY = dict(iterations=4, log_every=2, snapshot_every=0, progress=False, tensorboard=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    made = {}
    for name, cfg in {
        "points": TrainConfig(data="ring", objective="gan", g_hidden=(16, 16), d_hidden=(16,), batch_size=32, **TINY),
        "image": TrainConfig(data="digits", objective="gan-fast", width=8, batch_size=16, **TINY),
        "conditional": TrainConfig(data="digits", objective="gan-fast", width=8, batch_size=16, conditional=True,
                                   **TINY),
    }.items():
        Trainer(cfg, root / name).fit()
        made[name] = root / name
    return made


def _expected(run, z, y=None):
    G, info = load_generator(run, device="cpu")
    with torch.no_grad():
        x = G(z) if y is None else G(z, y)
    return info["scaler"].to_data(x).numpy()


@pytest.mark.parametrize("name", ["points", "image", "conditional"])
def test_torchscript_equals_the_generator_in_data_units_at_any_batch_size(runs, name, tmp_path):
    path, _ = export(runs[name], tmp_path / "g.pt", "torchscript")
    module = torch.jit.load(str(path))
    for n in (1, 7, 33):  # traced at 4: the batch axis stays free
        noise_dim = load_generator(runs[name])[1]["config"].noise_dim
        z = torch.randn(n, noise_dim, generator=torch.Generator().manual_seed(n))
        y = torch.arange(n) % 10 if name == "conditional" else None
        got = (module(z) if y is None else module(z, y)).numpy()
        np.testing.assert_allclose(got, _expected(runs[name], z, y), atol=1e-5, rtol=1e-5)


def test_torchscript_gives_what_gankit_sample_writes(runs, tmp_path):
    export(runs["image"], tmp_path / "g.pt")
    module = torch.jit.load(str(tmp_path / "g.pt"))
    assert main(["sample", str(runs["image"]), "--n", "5", "--seed", "3", "--out", str(tmp_path / "s.npy")]) == 0
    G, info = load_generator(runs["image"], device="cpu")
    g = torch.Generator().manual_seed(3)  # the noise gankit sample draws for --seed 3
    z = torch.randn(5, info["config"].noise_dim, generator=g)
    x_model = generate(G, 5, noise_dim=info["config"].noise_dim, seed=3)
    np.testing.assert_allclose(module(z).numpy(), info["scaler"].to_data(x_model).numpy(), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(np.load(tmp_path / "s.npy"), module(z).numpy(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["points", "conditional"])
def test_onnx_runtime_equals_the_generator(runs, name, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    path, _ = export(runs[name], tmp_path / "g.onnx", "onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    noise_dim = load_generator(runs[name])[1]["config"].noise_dim
    for n in (1, 9):
        z = torch.randn(n, noise_dim, generator=torch.Generator().manual_seed(n))
        feed = {"z": z.numpy()}
        y = None
        if name == "conditional":
            y = torch.arange(n) % 10
            feed["y"] = y.numpy()
        (got,) = session.run(["x"], feed)
        np.testing.assert_allclose(got, _expected(runs[name], z, y), atol=1e-5, rtol=1e-5)


def test_bad_requests_name_the_flag(runs, tmp_path, capsys):
    assert main(["export", str(runs["points"]), "--out", str(tmp_path / "g.onnx")]) != 0  # torchscript to .onnx
    assert "--out" in capsys.readouterr().err
    with pytest.raises(ValueError, match="--format tflite"):
        export(runs["points"], tmp_path / "g.pt", "tflite")
    assert main(["export", str(tmp_path / "nothing"), "--out", str(tmp_path / "g.pt")]) != 0
    assert "nothing" in capsys.readouterr().err
