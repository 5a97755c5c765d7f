"""Class-conditional GANs: the projection head and conditional batch norm by hand, labelled data in and out,
clear errors for bad labels, sampling a class, stacked seeds, resume and evaluation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gankit import TrainConfig, Trainer, load_generator
from gankit.cli import main
from gankit.data import load_dataset
from gankit.models import DCGANGenerator, MLPDiscriminator, MLPGenerator, ResNetDiscriminator, build_models
from gankit.models.conditional import ConditionalBatchNorm2d, class_loss
from gankit.sampling import generate
from gankit.seeds import SeedsTrainer

SMALL = {"g_hidden": (16, 16), "d_hidden": (16, 16), "log_every": 10, "snapshot_every": 0, "progress": False,
         "tensorboard": False}


def test_the_projection_head_by_hand():
    torch.manual_seed(0)
    D = MLPDiscriminator((3,), hidden=(4,), activation="relu", n_classes=2)
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 1, 0, 1])
    W1, b1 = D.net[0].weight, D.net[0].bias
    w, b = D.net[2].weight[0], D.net[2].bias[0]
    V = D.projection.embed.weight.T  # (C, hidden): row y is v_y
    phi = torch.relu(x @ W1.T + b1)  # (5, 4)
    expected = phi @ w + b + (V[y] * phi).sum(1)  # psi(phi) + v_y . phi
    torch.testing.assert_close(D(x, y), expected)
    with pytest.raises(ValueError, match="class-conditional"):
        D(x)


@pytest.mark.parametrize("arch", ["mlp", "dcgan", "resnet"])
def test_the_class_logits_are_the_projection_terms_of_every_class(arch):
    torch.manual_seed(1)
    shape = (3,) if arch == "mlp" else (1, 8, 8)
    _, D = build_models(arch, shape, 4, g_hidden=(8,), d_hidden=(8, 6), width=4, n_classes=3, d_norm="none",
                        image=arch != "mlp")
    x, y = torch.randn(5, *shape), torch.tensor([0, 2, 1, 2, 0])
    scores, logits = D(x, y, logits=True)
    torch.testing.assert_close(scores, D(x, y))  # the same scores
    for c in range(3):  # logit c is what the score of class c adds to the score of class 0's
        shift = D(x, torch.full_like(y, c)) - D(x, torch.zeros_like(y))
        torch.testing.assert_close(logits[:, c] - logits[:, 0], shift, rtol=1e-5, atol=1e-5)
    _, plain = build_models(arch, shape, 4, g_hidden=(8,), d_hidden=(8, 6), width=4, image=arch != "mlp")
    with pytest.raises(ValueError, match="unconditional: it has no class logits"):
        plain(x, logits=True)


def test_the_class_loss_is_the_cross_entropy_by_hand():
    logits, y = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]]), torch.tensor([0, 1])
    by_hand = [-(2.0 - np.log(np.exp(2.0) + 1 + np.exp(-1.0))), -(0.5 - np.log(2 * np.exp(0.5) + np.exp(3.0)))]
    torch.testing.assert_close(class_loss(logits, y), torch.tensor(np.mean(by_hand), dtype=torch.float32))
    stacked = class_loss(torch.stack([logits, logits.flip(0)]), torch.stack([y, y.flip(0)]))  # (S, B, C)
    torch.testing.assert_close(stacked, torch.full((2,), float(np.mean(by_hand))))


def test_the_class_loss_teaches_d_to_classify_and_is_refused_without_classes(tmp_path, capsys):
    def accuracy(weight: float) -> float:
        config = TrainConfig(data="digits", conditional=True, model="mlp", iterations=150, class_loss=weight,
                             seed=3, lr=2e-4, **{**SMALL, "d_hidden": (64, 64)})  # a rate at which, without
        # the class loss, the projection head stays near chance in 150 steps
        trainer = Trainer(config, tmp_path / f"w{weight}")
        trainer.fit()
        data = trainer.dataset
        with torch.no_grad():
            trainer.D.eval()
            _, logits = trainer.D(data.x, data.labels, logits=True)
        return float((logits.argmax(1) == data.labels).float().mean())

    assert accuracy(1.0) > 0.6 > 0.25 > accuracy(0.0)  # chance is 0.1
    assert TrainConfig(data="digits", conditional=True).resolved("image", (1, 8, 8)).class_loss > 0  # the recipe's
    assert TrainConfig(data="digits").resolved("image", (1, 8, 8)).class_loss == 0
    assert main(["train", "--data", "ring", "--class-loss", "1", "--iterations", "2", "--out",
                 str(tmp_path / "r")]) == 2
    assert "--class-loss applies to class-conditional runs only" in capsys.readouterr().err


def test_the_conditional_generators_by_hand():
    torch.manual_seed(0)
    G = MLPGenerator(2, (3,), hidden=(), n_classes=4)  # one linear layer of [z, onehot(y)]
    z, y = torch.randn(6, 2), torch.tensor([0, 1, 2, 3, 0, 2])
    W, b = G.net[0].weight, G.net[0].bias
    torch.testing.assert_close(G(z, y), torch.cat([z, F.one_hot(y, 4).float()], 1) @ W.T + b)

    bn = ConditionalBatchNorm2d(3, n_classes=2)
    with torch.no_grad():
        bn.gain.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))  # gamma_y = column y
        bn.bias.weight.copy_(torch.tensor([[0.5, -0.5], [0.0, 1.0], [2.0, 0.0]]))
    h, y = torch.randn(4, 3, 2, 2), torch.tensor([0, 1, 1, 0])
    normed = (h - h.mean((0, 2, 3), keepdim=True)) / torch.sqrt(h.var((0, 2, 3), unbiased=False, keepdim=True) + 1e-5)
    gamma, beta = bn.gain.weight.T[y], bn.bias.weight.T[y]  # (4, 3)
    expected = normed * gamma[:, :, None, None] + beta[:, :, None, None]
    torch.testing.assert_close(bn(h, F.one_hot(y, 2).float()), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", ["mlp", "dcgan", "resnet"])
def test_every_family_is_conditional_on_its_class(arch):
    torch.manual_seed(0)
    G, D = build_models(arch, (1, 8, 8), 8, g_hidden=(16,), d_hidden=(16,), width=8, image=True, n_classes=3)
    for m in G.modules():  # conditional batch norm starts as gamma_y = 1, beta_y = 0 for every class: train it a bit
        if isinstance(m, ConditionalBatchNorm2d):
            torch.nn.init.normal_(m.gain.weight, 1.0, 0.5)
            torch.nn.init.normal_(m.bias.weight, 0.0, 0.5)
    z = torch.randn(6, 8).repeat(2, 1)
    y = torch.tensor([0] * 6 + [2] * 6)
    x = G(z, y)
    assert x.shape == (12, 1, 8, 8)
    assert not torch.allclose(x[:6], x[6:])  # the same noise, another class, another image
    scores = D(x, y)
    assert scores.shape == (12,)
    assert not torch.allclose(scores, D(x, torch.full_like(y, 1)))  # the class changes the score


def test_unconditional_networks_keep_their_parameters_and_initial_weights():
    # conditioning is an addition: an unconditional run builds exactly the networks it built before
    torch.manual_seed(0)
    G = DCGANGenerator(100, (1, 28, 28), 16)
    assert not hasattr(G, "class_prior") and G.n_classes == 0
    assert sorted(n for n, _ in ResNetDiscriminator((1, 28, 28), 8).named_parameters())[0].startswith("blocks")


def _two_blobs(path, n=400, seed=0, header=True):
    """Labelled 2-D points: class 0 around (-3, 0), class 1 around (3, 0)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = np.stack([np.where(y == 1, 3.0, -3.0) + 0.3 * rng.standard_normal(n), 0.3 * rng.standard_normal(n)], 1)
    rows = "\n".join(f"{a:.5f},{b:.5f},{c}" for (a, b), c in zip(x, y, strict=True))
    path.write_text(("px,py,label\n" if header else "") + rows + "\n")
    return x, y


def test_sample_class_gives_that_class_on_a_tiny_trained_toy(tmp_path, capsys):
    _two_blobs(tmp_path / "blobs.csv")
    run = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "blobs.csv"), "--conditional", "--objective", "gan",
                 "--iterations", "300", "--g-hidden", "32,32", "--d-hidden", "32,32", "--lr", "2e-3", "--quiet",
                 "--no-tensorboard", "--snapshot-every", "0", "--out", str(run)]) == 0
    for k, side in ((0, -1), (1, 1)):
        out = tmp_path / f"c{k}.npz"
        assert main(["sample", str(run), "--class", str(k), "--n", "500", "--out", str(out)]) == 0
        got = np.load(out)
        assert (got["labels"] == k).all()
        assert np.mean(np.sign(got["x"][:, 0]) == side) > 0.9  # class 1's samples on the right, class 0's left
    assert main(["sample", str(run), "--class", "2", "--out", str(tmp_path / "x.npy")]) == 2
    assert "--class 2: not a class" in capsys.readouterr().err


def test_a_labelled_csv_and_npz_round_trip(tmp_path):
    x, y = _two_blobs(tmp_path / "blobs.csv")
    ds = load_dataset(str(tmp_path / "blobs.csv"))
    assert ds.sample_shape == (2,) and ds.columns == ("px", "py")  # the label column is not a feature
    np.testing.assert_array_equal(ds.labels.numpy(), y)
    np.testing.assert_allclose(ds.scaler.to_data(ds.x).numpy(), x, atol=1e-4)
    np.savez(tmp_path / "blobs.npz", x=x, labels=y)
    np.testing.assert_array_equal(load_dataset(str(tmp_path / "blobs.npz")).labels.numpy(), y)
    # samples of a conditional run written as CSV and npz read back as labelled data
    config = TrainConfig(data=str(tmp_path / "blobs.csv"), objective="gan", conditional=True, iterations=5, **SMALL)
    Trainer(config, tmp_path / "run").fit()
    for suffix in ("csv", "npz"):
        out = tmp_path / f"samples.{suffix}"
        assert main(["sample", str(tmp_path / "run"), "--n", "40", "--seed", "3", "--out", str(out)]) == 0
        back = load_dataset(str(out))
        assert back.labels is not None and len(back.labels) == 40 and back.sample_shape == (2,)
    G, info = load_generator(tmp_path / "run")
    _, labels = generate(G, 40, seed=3, return_labels=True)
    np.testing.assert_array_equal(load_dataset(str(tmp_path / "samples.npz")).labels.numpy(), labels.numpy())


@pytest.mark.parametrize(("rows", "message"), [
    ("1,2,-1", "class label -1 at row 0 is out of range"),
    ("1,2,5000", "class label 5000 at row 0 is out of range"),
    ("1,2,", "label column 3 ('label'): '' is empty"),
    ("1,2,1.5", "label column 3 ('label'): '1.5' is not an integer class"),
    ("1,2,nan", "label column 3 ('label'): 'nan' is not an integer class"),
])
def test_bad_csv_labels_get_one_line_naming_the_file_and_column(tmp_path, capsys, rows, message):
    path = tmp_path / "bad.csv"
    path.write_text("a,b,label\n0,0,0\n" + rows + "\n" if "row 0" not in message else "a,b,label\n" + rows + "\n")
    assert main(["train", "--data", str(path), "--conditional", "--iterations", "1", "--quiet",
                 "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gankit: error:") and str(path) in err and message in err


@pytest.mark.parametrize(("labels", "message"), [
    (np.array([0.0, 1.0, 1.0]), "class labels must be integers 0..C-1; got floats (float64)"),
    (np.array([0.0, np.nan, 1.0]), "got NaN or infinite at row 1"),
    (np.array([0, 1]), "one class label per sample is needed: 3 samples, labels of shape (2,)"),
    (np.array([0, -2, 1]), "class label -2 at row 1 is out of range"),
])
def test_bad_npz_labels_get_one_line_naming_the_file_and_array(tmp_path, capsys, labels, message):
    path = tmp_path / "bad.npz"
    np.savez(path, x=np.arange(6.0).reshape(3, 2), labels=labels)
    assert main(["train", "--data", str(path), "--conditional", "--iterations", "1", "--quiet",
                 "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}, array 'labels'" in err and message in err


def test_conditional_needs_labels_and_refuses_packing(tmp_path, capsys):
    assert main(["train", "--data", "ring", "--conditional", "--iterations", "1", "--quiet",
                 "--out", str(tmp_path / "a")]) == 2
    assert "--conditional needs labelled data; ring has no labels" in capsys.readouterr().err
    assert main(["train", "--data", "digits", "--conditional", "--objective", "pacgan", "--iterations", "1",
                 "--quiet", "--out", str(tmp_path / "b")]) == 2
    assert "--pack must be 1 with --conditional" in capsys.readouterr().err


@pytest.mark.parametrize("objective", ["gan", "wgan", "wgan-gp", "gan-r1", "sngan", "lsgan"])
def test_stacked_conditional_seeds_equal_the_single_runs(tmp_path, objective):
    config = TrainConfig(data="digits", model="mlp", objective=objective, conditional=True, iterations=20,
                         ema_decay=0.9, **SMALL)
    stacked = SeedsTrainer(config, [0, 4], tmp_path / "many", pictures=False)
    stacked.fit()
    for seed, run in zip([0, 4], stacked.runs, strict=True):
        single = Trainer(dataclasses.replace(config, seed=seed), tmp_path / f"one-{seed}")
        single.fit()
        z, y = torch.randn(64, single.config.noise_dim), torch.arange(64) % 10
        with torch.no_grad():
            torch.testing.assert_close(run.G.eval()(z, y), single.G.eval()(z, y), rtol=1e-4, atol=5e-4)
            torch.testing.assert_close(run.G_eval(z, y), single.G_eval(z, y), rtol=1e-4, atol=5e-4)


@pytest.mark.parametrize("extra", [{"conditional": True, "model": "mlp", "objective": "wgan-gp"},
                                   {"conditional": True, "objective": "gan-r1", "augment": "translation,cutout,color",
                                    "width": 8},
                                   {"clusters": 4, "objective": "gan-clusters", "width": 8}])  # k-means classes
def test_a_resumed_conditional_run_ends_with_the_same_weights(tmp_path, extra):
    config = TrainConfig(data="digits", iterations=12, checkpoint_every=5, **{**SMALL, **extra})
    whole = Trainer(config, tmp_path / "whole")
    whole.fit()
    part = Trainer(config, tmp_path / "part")
    part.fit(steps=5)
    resumed = Trainer.resume(tmp_path / "part")
    resumed.fit()
    for a, b in ((whole.G, resumed.G), (whole.D, resumed.D), (whole.ema.model, resumed.ema.model)):
        for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
            torch.testing.assert_close(p, q, rtol=0, atol=0, msg=name)


def test_a_run_saved_before_the_class_loss_resumes_without_it(tmp_path):
    from gankit.checkpoint import load_checkpoint, save_checkpoint

    config = TrainConfig(data="digits", conditional=True, iterations=8, checkpoint_every=4, width=8, **SMALL)
    Trainer(config, tmp_path / "run").fit(steps=4)
    path = tmp_path / "run" / "checkpoints" / "latest.pt"
    state = load_checkpoint(path)
    assert state["config"]["class_loss"] == 0.2  # today's recipe
    del state["config"]["class_loss"]  # as a run saved before the field existed
    save_checkpoint(state, path)
    resumed = Trainer.resume(tmp_path / "run")
    assert resumed.config.class_loss == 0.0  # the game it trained with, not today's recipe
    resumed.fit()


def test_evaluation_reports_the_class_accuracy_per_asked_class(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    from gankit.evaluation import evaluate_run

    config = TrainConfig(data="digits", conditional=True, iterations=30, width=8, **SMALL)
    Trainer(config, tmp_path / "run").fit()
    result = evaluate_run(tmp_path / "run", n=300, run_c2st=False, figures=False, progress=False, kid_subsets=5)
    cond = result["conditional"]
    assert 0 <= cond["accuracy"] <= 1 and cond["n"] == 300
    assert [c["class"] for c in cond["per_class"]] == list(range(10))
    assert sum(c["n"] for c in cond["per_class"]) == 300
    assert result["discriminator"]["n_fake"] == 300  # the conditional D is tested with the samples' classes


def test_an_image_folder_of_class_sub_folders_is_labelled_by_them(tmp_path):
    from PIL import Image

    for cls, value in (("cats", 30), ("dogs", 200)):
        (tmp_path / "pets" / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((8, 8), value + i, np.uint8)).save(tmp_path / "pets" / cls / f"{i}.png")
    ds = load_dataset(str(tmp_path / "pets"))
    assert ds.classes == ("cats", "dogs") and ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert ds.scaler.to_data(ds.x)[3:].min() >= 199.5  # the dogs are the bright ones
    (tmp_path / "pets" / "loose.png").write_bytes((tmp_path / "pets" / "cats" / "0.png").read_bytes())
    assert load_dataset(str(tmp_path / "pets")).labels is None  # not every image in a class folder: no labels
