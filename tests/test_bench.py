"""``gankit bench``: the figures are there, the FLOP count is the analytic one, both loops train the same models."""

import json
import math

import pytest
import torch

from gankit.bench import (
    baseline_updates,
    bench_config,
    bench_dataset,
    format_report,
    image_bench_config,
    random_images,
    run_bench,
)
from gankit.cli import build_parser


def linear_flops(rows: int, sizes: list[int], skip_first: bool = False) -> int:
    """Sum of 2 * rows * a * b over the Linear layers a -> b of an MLP with these widths."""
    pairs = list(zip(sizes[:-1], sizes[1:], strict=True))[1 if skip_first else 0:]
    return sum(2 * rows * a * b for a, b in pairs)


def analytic_flops(noise_dim, g_hidden, d_hidden, d, M, K) -> int:
    r"""Matrix-product FLOPs of one generator iteration of our loop.

    A Linear layer a -> b on B rows costs 2 B a b in the forward pass. Backward
    costs 2 B a b more for the weight gradient (where the weights need it) and
    2 B a b more for the input gradient (where the input needs it: every layer
    but the first, and the first too when the network's input needs a gradient).
    Biases, batch norm and activations are not matrix products.

    Write F_G(B), F_D(B) for a forward pass of G or D on B rows and F^{>=2} for
    the same sum without the first layer. A critic step (D without batch norm
    scores cat([real, fake]) in one pass on 2M rows):
        G forward under no_grad           F_G(M)
        D forward                         F_D(2M)
        D backward: weight gradients      F_D(2M)
                    input gradients       F_D^{>=2}(2M)   (the data need none)
    The generator step (D's weights frozen):
        G forward, D forward              F_G(M) + F_D(M)
        D backward: input gradients only  F_D(M)          (all layers: G(z) needs one)
        G backward: weight gradients      F_G(M)
                    input gradients       F_G^{>=2}(M)    (z needs none)
    One iteration is K critic steps and one generator step.
    """
    g = [noise_dim, *g_hidden, d]
    c = [d, *d_hidden, 1]
    critic = linear_flops(M, g) + 2 * linear_flops(2 * M, c) + linear_flops(2 * M, c, skip_first=True)
    generator = 2 * linear_flops(M, g) + linear_flops(M, g, skip_first=True) + 2 * linear_flops(M, c)
    return K * critic + generator


SMALL = {"noise_dim": 8, "g_hidden": (16, 32, 24), "d_hidden": (32, 16), "batch_size": 16}


@pytest.fixture(scope="module")
def result():
    config = bench_config(**SMALL, d_steps=3)
    return run_bench(3, 2, config=config, dataset=random_images(200, (1, 8, 8)), warmup=1, progress=False)


def test_the_result_has_every_figure_and_is_json(result):
    for key in ("ours", "baseline", "gemm"):
        assert result[key]["it_per_s"] > 0 and math.isfinite(result[key]["it_per_s"]), key
        assert result[key]["gflops"] > 0, key
    assert len(result["ours"]["rounds"]) == len(result["baseline"]["rounds"]) == 2
    ratio = result["ours"]["it_per_s"] / result["baseline"]["it_per_s"]
    assert result["ratio"] == pytest.approx(ratio)
    assert result["fraction_of_ceiling"] == pytest.approx(result["ours"]["it_per_s"] / result["ceiling_it_per_s"])
    assert result["baseline"]["ceiling_it_per_s"] > 0
    assert result["threads"] == torch.get_num_threads() and result["device"] == "cpu"
    json.loads(json.dumps(result))


def test_flops_per_iteration_is_the_analytic_count(result):
    expected = analytic_flops(**{k: SMALL[k] for k in ("noise_dim", "g_hidden")}, d_hidden=SMALL["d_hidden"],
                              d=64, M=SMALL["batch_size"], K=3)
    assert result["flops_per_iteration"] == expected
    # an MLP's only FLOPs are matrix products: the ceiling replays all of them
    assert result["gemm_flops_per_iteration"] == expected


def test_flops_of_the_default_model_are_the_analytic_count():
    """The benchmark's own model: 3.206 GFLOP per iteration (5 critic steps of M = 64, one generator step)."""
    expected = analytic_flops(100, (128, 256, 512, 1024), (512, 256), 784, 64, 5)
    assert expected == 3_206_479_872
    config = bench_config(iterations=1)
    assert (config.g_hidden, config.d_hidden, config.noise_dim, config.batch_size) == ((128, 256, 512, 1024),
                                                                                       (512, 256), 100, 64)


def test_baseline_and_ours_train_the_same_model_shapes(result):
    assert result["models"]["ours"] == result["models"]["baseline"]
    widths = [s[0] for s in result["models"]["ours"]["generator"] if len(s) == 2]
    assert widths == [16, 32, 24, 64]


def test_the_default_models_are_the_widely_copied_mlp_wgan():
    from gankit.training import build_networks

    config = bench_config().resolved("image", (1, 28, 28))
    G, D, constraint = build_networks(config, (1, 28, 28), "image")
    linear = [(m.in_features, m.out_features) for m in G.modules() if isinstance(m, torch.nn.Linear)]
    assert linear == [(100, 128), (128, 256), (256, 512), (512, 1024), (1024, 784)]
    assert [m.num_features for m in G.modules() if isinstance(m, torch.nn.BatchNorm1d)] == [256, 512, 1024]
    layers = list(G.net)  # BatchNorm right after the 256, 512 and 1024 linear layers, none after the first
    for i, m in enumerate(layers):
        if isinstance(m, torch.nn.BatchNorm1d):
            assert isinstance(layers[i - 1], torch.nn.Linear) and layers[i - 1].out_features == m.num_features
    assert [(m.in_features, m.out_features) for m in D.modules() if isinstance(m, torch.nn.Linear)] == [
        (784, 512), (512, 256), (256, 1)]
    assert all(m.negative_slope == 0.2 for m in [*G.modules(), *D.modules()] if isinstance(m, torch.nn.LeakyReLU))
    assert isinstance(G.out, torch.nn.Tanh)
    assert (config.optimizer, config.lr, config.clip, config.batch_size, config.d_steps) == ("rmsprop", 5e-5, 0.01,
                                                                                             64, 5)


def test_the_baseline_trains_and_clips_the_critic():
    config = bench_config(**SMALL, d_steps=2)
    updates, G, D = baseline_updates(config, random_images(64, (1, 8, 8)), torch.device("cpu"))
    before = [p.detach().clone() for p in G.parameters()]
    for _ in range(5):
        next(updates)
    assert all(float(p.detach().abs().max()) <= config.clip for p in D.parameters())
    # every weight matrix moved (a bias right before a batch norm has no gradient, so not every tensor)
    assert all(not torch.equal(a, b) for a, b in zip(before, G.parameters(), strict=True) if b.ndim == 2)


def test_missing_fashion_mnist_falls_back_to_random_images_with_a_note(tmp_path):
    data, note = bench_dataset("fashion-mnist", data_dir=str(tmp_path))
    assert data.sample_shape == (1, 28, 28) and "not installed" in note
    assert float(data.x.min()) >= -1 and float(data.x.max()) <= 1


def test_bench_command_has_help(capsys):
    parser = build_parser()
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["bench", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--iterations", "--rounds", "--device", "--threads", "--data", "--json", "--quiet"):
        assert flag in text, flag
    args = parser.parse_args(["bench", "--iterations", "7", "--threads", "1"])
    assert (args.iterations, args.threads, args.rounds, args.quiet) == (7, 1, 3, False)
    assert parser.parse_args(["bench", "--no-progress"]).quiet  # the old spelling still works


@pytest.mark.parametrize(("field", "value"), [("iterations", 0), ("rounds", 0), ("threads", 0)])
def test_bad_arguments_name_the_field(field, value):
    kwargs = {"iterations": 1, "rounds": 1, field: value}
    with pytest.raises(ValueError, match=field):
        run_bench(kwargs.pop("iterations"), kwargs.pop("rounds"), dataset=random_images(32, (1, 8, 8)),
                  config=bench_config(**SMALL), progress=False, **kwargs)


def test_a_penalised_iteration_runs_only_the_products_the_algorithm_needs():
    r"""WGAN-GP's critic step adds, to the WGAN's, on the M interpolates :math:`\hat x`:
        D forward                                      F_D(M)
        input gradient (create_graph)                  F_D(M)          (every layer: x-hat needs it)
        double backward: weight gradients              F_D(M)
                         the first derivative's input F_D^{<last}(M)   (the last layer's is constant)
    D's LeakyReLUs hold their slope, so no product of zeros runs down the forward pass.
    """
    K, M = 3, SMALL["batch_size"]
    config = bench_config(**SMALL, d_steps=K, objective="wgan-gp")
    out = run_bench(2, 1, config=config, dataset=random_images(200, (1, 8, 8)), warmup=1, progress=False)
    assert "baseline" not in out and out["config"]["constraint"] == "gradient-penalty"  # the baseline is wgan.py's
    c = [64, *SMALL["d_hidden"], 1]
    gp = 3 * linear_flops(M, c) + linear_flops(M, c[:-1])
    assert out["flops_per_iteration"] == analytic_flops(8, (16, 32, 24), (32, 16), 64, M, K) + K * gp
    assert out["gemm_flops_per_iteration"] == out["flops_per_iteration"]
    assert "MLP wgan-gp" in format_report(out) and "gradient penalty 10" in format_report(out)


def test_the_image_step_against_the_ceiling_of_its_convolutions():
    config = image_bench_config(model="dcgan", width=4, batch_size=8)
    out = run_bench(2, 1, config=config, dataset=random_images(64, (1, 8, 8)), warmup=1, progress=False,
                    model="dcgan")
    assert out["convolutions"] and "baseline" not in out  # no baseline loop for the image networks
    # a DCGAN step's FLOPs are all in its convolutions and linear layers: the ceiling replays every one of them
    assert out["gemm_flops_per_iteration"] == out["flops_per_iteration"] > 0
    assert out["ceiling_it_per_s"] > 0 and out["config"]["model"] == "dcgan"
    text = format_report(out)
    assert "DCGAN gan-fast" in text and "convs and matmuls alone (ceiling)" in text
    with pytest.raises(ValueError, match="--model vgg"):
        run_bench(2, 1, dataset=random_images(64, (1, 8, 8)), model="vgg")


def test_the_seeds_bench_times_stacked_against_one_after_another():
    from gankit.bench_seeds import format_seeds_report, run_seeds_bench

    out = run_seeds_bench([1, 3], iterations=2, rounds=1, progress=False)
    assert [r["seeds"] for r in out["rows"]] == [1, 3]
    for r in out["rows"]:
        assert r["batched_it_per_s"] > 0
        assert r["ratio"] == pytest.approx(r["batched_it_per_s"] / r["sequential_it_per_s"])
    assert "3" in format_seeds_report(out)
    with pytest.raises(ValueError, match="--seeds"):
        run_seeds_bench([0])


def test_the_ceiling_replays_broadcast_operands_in_their_layout():
    """A gradient penalty's backward multiplies an expanded tensor (stride 0): the replay keeps that layout."""
    from gankit.bench import GemmReplay, _GemmRecorder

    w = torch.randn(1, 8)
    ones = torch.ones(()).expand(5, 1)  # d sum / d scores, as autograd hands it on
    recorder = _GemmRecorder()
    with recorder:
        out = ones @ w  # (5, 8)
    replay = GemmReplay(recorder.gemms, torch.device("cpu"))
    (op, args, _), = replay.calls
    assert args[0].stride() == (0, 0) and args[0].shape == (5, 1) and args[1].shape == (1, 8)
    assert replay.flops == 2 * 5 * 8 and op(*args).shape == out.shape
