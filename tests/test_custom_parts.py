"""Your own parts through the front door: networks and games of the user's, trained, resumed and sampled."""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gankit
from gankit import Objective, TrainConfig, load_generator, register_objective
from gankit.api import session
from gankit.config import ConfigError
from gankit.objectives import (
    bce_discriminator_loss,
    get_objective,
    nonsaturating_generator_loss,
    relativistic_average_discriminator_loss,
    relativistic_average_generator_loss,
)
from gankit.sampling import generate
from gankit.training import HookBase, Run, fit, generator_step

F64 = {"rtol": 1e-12, "atol": 1e-12}
NOISE = 8


def networks(width: int = 32) -> tuple[nn.Module, nn.Module]:
    """A user's own pair for 2-D points: G maps z (B, 8) to x (B, 2), D maps x to one raw score each (B,)."""
    G = nn.Sequential(
        nn.Linear(NOISE, width), nn.ReLU(),
        nn.Linear(width, width), nn.ReLU(),
        nn.Linear(width, 2),
    )
    D = nn.Sequential(
        nn.Linear(2, width), nn.LeakyReLU(0.2),
        nn.Linear(width, width), nn.LeakyReLU(0.2),
        nn.Linear(width, 1), nn.Flatten(0),  # (B, 1) -> (B,)
    )
    return G, D


def seeded_networks(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(seed)
    return networks()


def config(**changes) -> TrainConfig:
    values = {"data": "ring", "objective": "relativistic-average", "noise_dim": NOISE, "iterations": 20,
              "batch_size": 64, "log_every": 5, "snapshot_every": 10, "progress": False, "tensorboard": False}
    return TrainConfig(**{**values, **changes})


def losses(run_dir) -> list[dict]:
    """The metrics lines of a run folder without their timing."""
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "it_per_s"} for r in lines]


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


# --------------------------------------------------------------------------- the front door


def test_own_networks_and_the_relativistic_game_resume_bit_for_bit_and_sample(tmp_path):
    G, D = seeded_networks()
    G_full, run_full = gankit.train(config(), tmp_path / "full", generator=G, discriminator=D)
    assert G_full is G  # the user's module, trained in place

    G, D = seeded_networks()
    with session(config(), tmp_path / "half", generator=G, discriminator=D) as trainer:
        trainer.fit(steps=10)  # stopped at 10 of 20: the checkpoint is written as an interrupted run's
    assert trainer.step == 10
    G, D = networks()  # other weights: the checkpoint's replace them
    G_resumed, run = gankit.train(resume=tmp_path / "half", generator=G, discriminator=D)

    assert_same_weights(G_resumed, G_full)
    saved = TrainConfig.load(run / "config.json")
    assert (saved.model, saved.objective) == ("custom", "relativistic-average")
    assert losses(run) == losses(run_full)  # the interval the run was stopped in included
    assert (run / "samples.png").exists()  # the pictures draw the user's D too

    G_loaded, info = load_generator(run, generator=lambda: networks()[0], discriminator=networks()[1])
    assert_same_weights(G_loaded, G_full)
    assert info["step"] == 20 and info["discriminator"] is not None
    x = info["scaler"].to_data(generate(G_loaded, 500, seed=0))
    assert x.shape == (500, 2) and torch.isfinite(x).all()


def test_a_run_of_own_parts_asks_for_them_by_name(tmp_path):
    G, D = seeded_networks()
    gankit.train(config(iterations=2, snapshot_every=0), tmp_path / "run", generator=G, discriminator=D)
    with pytest.raises(ValueError, match=r"model 'custom' .* pass generator= and discriminator="):
        gankit.train(resume=tmp_path / "run", overrides={"iterations": 4})
    with pytest.raises(ValueError, match=r"load it in Python with them: gankit.load_generator\(.*generator=G\)"):
        load_generator(tmp_path / "run")
    gankit.train(config(model="mlp", iterations=2, snapshot_every=0), tmp_path / "mlp")
    with pytest.raises(ValueError, match=r"generator= and discriminator= are for runs trained with your own"):
        load_generator(tmp_path / "mlp", generator=G)


@pytest.mark.parametrize(
    ("parts", "error", "message"),
    [({"generator": "G"}, ValueError, r"generator= needs discriminator= too"),
     ({"discriminator": "D"}, ValueError, r"discriminator= needs generator= too"),
     ({"generator": "G", "discriminator": "flat"}, ValueError,
      r"discriminator= must give one raw score per sample, shape \(B,\); for B = 2 it gave \(2, 1\)"),
     ({"generator": "wide", "discriminator": "D"}, ValueError, r"generator= must map noise of shape \(B, 8\)"),
     ({"generator": "G", "discriminator": "nothing"}, TypeError,
      r"discriminator= must be a torch.nn.Module or a function of no arguments returning one; got a function "
      r"returning NoneType"),
     ({"objective": "nonsaturating"}, TypeError, r"objective= must be a gankit.objectives.Objective; got str")],
)
def test_wrong_parts_are_named(parts, error, message):
    G, D = networks()
    made = {"G": G, "D": D, "flat": nn.Sequential(nn.Linear(2, 1)), "wide": nn.Linear(NOISE + 1, 2),
            "nothing": lambda: None, "nonsaturating": "nonsaturating"}
    with pytest.raises(error, match=message):
        Run(config(), **{k: made[v] for k, v in parts.items()})


def test_own_parts_do_not_go_with_a_config_that_builds_them_or_with_stacked_seeds(tmp_path):
    G, D = networks()
    with pytest.raises(ValueError, match=r"leave the config's model unset .* not 'mlp'"):
        Run(config(model="mlp"), generator=G, discriminator=D)
    with pytest.raises(ValueError, match=r"objective= is the run's game: leave the config's objective unset"):
        Run(config(), objective=get_objective("nonsaturating"))
    with pytest.raises(ValueError, match=r"generator=, discriminator= cannot go with stacked seeds"):
        gankit.train(config(), tmp_path / "seeds", seeds=[0, 1], generator=G, discriminator=D)
    with pytest.raises(ConfigError, match=r"conditional must be false with model 'custom'"):
        config(model="custom", conditional=True)


def test_a_factory_is_built_under_the_run_seed():
    def G():
        return networks()[0]

    def D():
        return networks()[1]

    a, b, c = (Run(config(seed=s), generator=G, discriminator=D) for s in (3, 3, 4))
    assert_same_weights(a.G, b.G)
    assert not torch.equal(a.G[0].weight, c.G[0].weight)


# --------------------------------------------------------------------------- the relativistic average game


def test_relativistic_average_losses_by_hand():
    real = torch.tensor([1.0, -0.5], dtype=torch.float64)
    fake = torch.tensor([0.0, 2.0], dtype=torch.float64)
    # mean C(x_f) = 1, mean C(x_r) = 0.25: real relative to fakes [0, -1.5], fakes relative to reals [-0.25, 1.75]

    def sp(v):  # softplus(v) = -log(1 - sigmoid(v)) = -log sigmoid(-v)
        return math.log1p(math.exp(v))

    d_by_hand = (sp(-0.0) + sp(1.5)) / 2 + (sp(-0.25) + sp(1.75)) / 2
    g_by_hand = (sp(0.25) + sp(-1.75)) / 2 + (sp(0.0) + sp(-1.5)) / 2
    torch.testing.assert_close(relativistic_average_discriminator_loss(real, fake).item(), d_by_hand, **F64)
    torch.testing.assert_close(relativistic_average_generator_loss(real, fake).item(), g_by_hand, **F64)
    # the same as PyTorch's binary cross-entropy on the relative logits (real = 1, fake = 0; roles swapped for G)
    bce = F.binary_cross_entropy_with_logits
    real_rel, fake_rel = real - fake.mean(), fake - real.mean()
    torch.testing.assert_close(relativistic_average_discriminator_loss(real, fake),
                               bce(real_rel, torch.ones(2, dtype=torch.float64))
                               + bce(fake_rel, torch.zeros(2, dtype=torch.float64)), **F64)
    torch.testing.assert_close(relativistic_average_generator_loss(real, fake),
                               bce(fake_rel, torch.ones(2, dtype=torch.float64))
                               + bce(real_rel, torch.zeros(2, dtype=torch.float64)), **F64)
    # S stacked runs, (S, B): one loss per run, each its own row's
    both = relativistic_average_discriminator_loss(torch.stack([real, fake]), torch.stack([fake, real]))
    torch.testing.assert_close(both, torch.stack([relativistic_average_discriminator_loss(real, fake),
                                                  relativistic_average_discriminator_loss(fake, real)]), **F64)


def test_the_relativistic_generator_loss_sees_the_reals_through_the_fakes_mean():
    """d L_G / d C(x_f) has the real term's share: the reals' relative scores move with the fakes' mean."""
    real = torch.tensor([1.0, -0.5], dtype=torch.float64)
    fake = torch.tensor([0.0, 2.0], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(relativistic_average_generator_loss(real, fake), fake)
    fake_rel = fake.detach() - real.mean()
    real_rel = real - fake.detach().mean()
    fake_term = -(1 - torch.sigmoid(fake_rel)) / 2  # d/dC(x_f) of mean softplus(-(C(x_f) - mean C(x_r)))
    real_term = -torch.sigmoid(real_rel).mean() / 2  # d/dC(x_f) of mean softplus(C(x_r) - mean C(x_f))
    torch.testing.assert_close(grad, fake_term + real_term, **F64)


def test_only_a_game_that_asks_scores_reals_in_the_generator_step():
    """The generator step draws a real minibatch for the relativistic game, and never for a built-in one."""
    for name, draws in (("nonsaturating", False), ("relativistic-average", True)):
        G, D = seeded_networks()
        run = Run(config(objective=name), generator=G, discriminator=D)
        before = run.sampler.state_dict()["generator"]
        run.generator_step()
        assert (not torch.equal(run.sampler.state_dict()["generator"], before)) == draws, name


def test_a_generator_step_of_the_relativistic_game_needs_reals():
    G, D = networks()
    opt = torch.optim.SGD(G.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="pass real="):
        generator_step(G, D, opt, get_objective("relativistic-average"), torch.randn(4, NOISE))


# --------------------------------------------------------------------------- the registry


def test_an_unknown_objective_name_is_refused_with_the_valid_ones_and_how_to_register():
    with pytest.raises(ConfigError, match=r"objective 'ragann' is unknown; choose a preset from .* or an objective "
                                          r"from .*'relativistic-average'.*register it first: "
                                          r"gankit.register_objective\(name, objective\)"):
        TrainConfig(objective="ragann")
    with pytest.raises(ValueError, match=r"unknown objective 'ragann'; choose from .* gankit.register_objective"):
        get_objective("ragann")
    with pytest.raises(ValueError, match=r"'wgan' is taken by gankit"):
        register_objective("wgan", get_objective("nonsaturating"))
    with pytest.raises(ValueError, match=r"name must be letters, digits"):
        register_objective("my game", get_objective("nonsaturating"))
    with pytest.raises(TypeError, match=r"objective must be a gankit.objectives.Objective"):
        register_objective("my-game", (bce_discriminator_loss, nonsaturating_generator_loss, True))


def test_a_registered_game_and_a_game_passed_in_python_train_as_the_built_in_one():
    """The non-saturating GAN registered under a name of its own, or passed as objective=, takes the bare game's
    settings and trains bit for bit as the built-in ``nonsaturating``."""
    copy = Objective(bce_discriminator_loss, nonsaturating_generator_loss, True)
    register_objective("test-ns-copy", copy)
    register_objective("test-ns-copy", copy)  # the same objective again: allowed
    with pytest.raises(ValueError, match="names another objective already; pass replace=True"):
        register_objective("test-ns-copy", Objective(bce_discriminator_loss, nonsaturating_generator_loss, False))
    base = {"model": "mlp", "g_hidden": (16,), "d_hidden": (16,), "iterations": 6, "log_every": 3}
    runs = {"built-in": Run(config(objective="nonsaturating", **base)),
            "registered": Run(config(objective="test-ns-copy", **base)),
            "passed": Run(config(objective=None, **base), objective=copy)}
    assert runs["passed"].config.objective == "custom"
    records = {}
    for name, run in runs.items():
        records[name] = []
        fit(run, [Keep(records[name])], until=6)
    for name in ("registered", "passed"):
        assert_same_weights(runs[name].G, runs["built-in"].G)
        assert [r["g_loss"] for r in records[name]] == [r["g_loss"] for r in records["built-in"]]


def test_built_in_losses_are_unchanged():
    real = torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64)
    fake = torch.tensor([-0.5, 1.5, 0.0], dtype=torch.float64)
    bce = F.binary_cross_entropy_with_logits
    ones, zeros = torch.ones(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    ns = get_objective("nonsaturating")
    assert not ns.generator_sees_real and ns.probabilistic
    torch.testing.assert_close(ns.discriminator_loss(real, fake), bce(real, ones) + bce(fake, zeros), **F64)
    torch.testing.assert_close(ns.generator_loss(fake), bce(fake, ones), **F64)
    w = get_objective("wasserstein")
    torch.testing.assert_close(w.generator_loss(fake).item(), -1 / 3, **F64)
    torch.testing.assert_close(w.discriminator_loss(real, fake).item(), 1 / 3 - 1.5 / 3, **F64)
    # the generator step's loss is the objective's on D(G(z)), exactly
    G, D = seeded_networks()
    z = torch.randn(16, NOISE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = ns.generator_loss(D(G(z)))
    loss = generator_step(G, D, torch.optim.SGD(G.parameters(), lr=0.0), ns, z)
    assert torch.equal(loss, expected)


class Keep(HookBase):
    """Keeps every metrics line."""

    def __init__(self, records: list):
        self.records = records

    def record(self, run, record):
        self.records.append(record)
