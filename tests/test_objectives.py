"""Objectives and constraints: hand computations, closed forms, the registry contract."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import integrate, stats
from torch import nn

from gankit import TrainConfig
from gankit.models import build_models
from gankit.objectives import (
    CONSTRAINTS,
    OBJECTIVES,
    PRESETS,
    GradientPenalty,
    Objective,
    R1Penalty,
    SpectralNorm,
    WeightClip,
    bce_discriminator_loss,
    get_objective,
    hinge_discriminator_loss,
    least_squares_discriminator_loss,
    least_squares_generator_loss,
    make_constraint,
    minimax_generator_loss,
    nonsaturating_generator_loss,
    resolve,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)

F64 = {"rtol": 1e-12, "atol": 1e-12}
REAL = torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64)
FAKE = torch.tensor([-3.0, 0.0, 1.5, -0.25], dtype=torch.float64)


def sigmoid(x):
    return 1 / (1 + np.exp(-np.asarray(x, dtype=np.float64)))


def test_bce_discriminator_loss_by_hand():
    # -(E log D(x) + E log(1 - D(G(z)))) with D = sigmoid(logit), written out.
    d_real, d_fake = sigmoid(REAL), sigmoid(FAKE)
    expected = -(np.log(d_real).mean() + np.log(1 - d_fake).mean())
    torch.testing.assert_close(bce_discriminator_loss(REAL, FAKE).item(), expected, **F64)
    # The same as PyTorch's binary cross-entropy with real = 1, fake = 0.
    ref = F.binary_cross_entropy_with_logits(REAL, torch.ones_like(REAL)) + F.binary_cross_entropy_with_logits(
        FAKE, torch.zeros_like(FAKE)
    )
    torch.testing.assert_close(bce_discriminator_loss(REAL, FAKE), ref, **F64)


def test_generator_losses_by_hand():
    d_fake = sigmoid(FAKE)
    torch.testing.assert_close(minimax_generator_loss(FAKE).item(), np.log(1 - d_fake).mean(), **F64)
    torch.testing.assert_close(nonsaturating_generator_loss(FAKE).item(), -np.log(d_fake).mean(), **F64)
    torch.testing.assert_close(wasserstein_generator_loss(FAKE).item(), -FAKE.mean().item(), **F64)
    torch.testing.assert_close(wasserstein_critic_loss(REAL, FAKE).item(), (FAKE.mean() - REAL.mean()).item(), **F64)
    hinge = np.maximum(0, 1 - REAL.numpy()).mean() + np.maximum(0, 1 + FAKE.numpy()).mean()
    torch.testing.assert_close(hinge_discriminator_loss(REAL, FAKE).item(), hinge, **F64)


def test_least_squares_losses_by_hand():
    # Mao et al. 2017, 0-1-1 coding: L_D = 1/2 E (D(x) - 1)^2 + 1/2 E D(G(z))^2, L_G = 1/2 E (D(G(z)) - 1)^2.
    # REAL = (2, -1, 0.5): (1 + 4 + 0.25) / 3 / 2; FAKE = (-3, 0, 1.5, -0.25): (9 + 0 + 2.25 + 0.0625) / 4 / 2.
    d_expected = 5.25 / 6 + 11.3125 / 8
    torch.testing.assert_close(least_squares_discriminator_loss(REAL, FAKE).item(), d_expected, **F64)
    # (16 + 1 + 0.25 + 1.5625) / 4 / 2
    torch.testing.assert_close(least_squares_generator_loss(FAKE).item(), 18.8125 / 8, **F64)
    assert get_objective("least-squares") == Objective(least_squares_discriminator_loss, least_squares_generator_loss,
                                                       False)
    assert resolve("lsgan").objective == "least-squares" and resolve("least-squares").lr == PRESETS["gan"].lr


def test_least_squares_optimal_discriminator_is_the_density_ratio():
    # Pointwise, p (D - 1)^2 / 2 + q D^2 / 2 is least at D* = p / (p + q) (Mao et al. 2017, Prop. 1, a, b = 0, 1).
    p = torch.tensor([0.2, 1.0, 3.0, 0.0], dtype=torch.float64)
    q = torch.tensor([0.6, 1.0, 1.0, 2.0], dtype=torch.float64)
    zero, one = torch.zeros(4, 1, dtype=torch.float64), torch.ones(4, 1, dtype=torch.float64)

    def pointwise(D):  # (4,): p(x) L_D(D(x), .) on the real side + q(x) L_D(., D(x)) on the fake side
        return p * least_squares_discriminator_loss(D[:, None], zero) + q * least_squares_discriminator_loss(
            one, D[:, None])

    D_star = (p / (p + q)).requires_grad_(True)
    (grad,) = torch.autograd.grad(pointwise(D_star).sum(), D_star)
    torch.testing.assert_close(grad, torch.zeros(4, dtype=torch.float64), **F64)  # stationary, and convex
    for step in (-1e-3, 1e-3):
        assert (pointwise(D_star.detach() + step) > pointwise(D_star.detach())).all()


def test_label_swap_is_the_nonsaturating_loss():
    # The seed's trick: train G with the discriminator's cross-entropy, fakes labelled 1.
    swapped = F.binary_cross_entropy_with_logits(FAKE, torch.ones_like(FAKE))
    torch.testing.assert_close(nonsaturating_generator_loss(FAKE), swapped, **F64)


def test_losses_are_finite_for_extreme_logits():
    extreme = torch.tensor([-1e4, 1e4], dtype=torch.float32)
    for loss in (bce_discriminator_loss(extreme, extreme), minimax_generator_loss(extreme),
                 nonsaturating_generator_loss(extreme)):
        assert torch.isfinite(loss)


def test_minimax_gradient_vanishes_where_nonsaturating_does_not():
    # D confidently rejects the fakes: D(G(z)) = sigmoid(-10) ~ 4.5e-5.
    logits = torch.full((8,), -10.0, dtype=torch.float64, requires_grad=True)
    (g_minimax,) = torch.autograd.grad(minimax_generator_loss(logits), logits)
    (g_ns,) = torch.autograd.grad(nonsaturating_generator_loss(logits), logits)
    d = 1 / (1 + math.exp(10))
    # dL/dl per sample (mean over 8): minimax -sigmoid(l)/8, non-saturating (sigmoid(l) - 1)/8.
    torch.testing.assert_close(g_minimax, torch.full_like(logits, -d / 8), **F64)
    torch.testing.assert_close(g_ns, torch.full_like(logits, (d - 1) / 8), **F64)
    assert g_minimax.abs().max() < 1e-4 * g_ns.abs().min()


def test_optimal_discriminator_loss_is_2log2_minus_2js():
    # With logits l*(x) = log p(x) - log q(x) (i.e. D* = p/(p+q)), the BCE loss equals
    # 2 log 2 - 2 JS(p, q) (Goodfellow et al. 2014, Prop. 1 and Thm. 1).
    p, q = stats.norm(0, 1), stats.norm(1.5, 0.7)

    def loss_density(x):
        lp, lq = p.logpdf(x), q.logpdf(x)
        l_star = torch.tensor([lp - lq], dtype=torch.float64)
        # E_p softplus(-l*) + E_q softplus(l*), integrated pointwise.
        return p.pdf(x) * F.softplus(-l_star).item() + q.pdf(x) * F.softplus(l_star).item()

    loss = integrate.quad(loss_density, -12, 12, limit=200)[0]

    def js_density(x):
        m = 0.5 * (p.pdf(x) + q.pdf(x))
        return 0.5 * (p.pdf(x) * np.log(p.pdf(x) / m) + q.pdf(x) * np.log(q.pdf(x) / m))

    js = integrate.quad(js_density, -12, 12, limit=200)[0]
    np.testing.assert_allclose(loss, 2 * math.log(2) - 2 * js, rtol=1e-7)


# --------------------------------------------------------------------------- constraints


def test_clipping_leaves_every_parameter_within_c():
    _, D = build_models("mlp", (2,), 2, d_hidden=(16, 16))
    opt = torch.optim.SGD(D.parameters(), lr=10.0)
    clip = WeightClip(0.01)
    loss = wasserstein_critic_loss(D(torch.randn(32, 2)), D(torch.randn(32, 2) + 3))
    loss.backward()
    opt.step()
    assert max(p.abs().max().item() for p in D.parameters()) > 0.01  # the step left the box
    clip.after_step(D)
    for p in D.parameters():
        assert p.abs().max().item() <= 0.01
    # Parameters already inside are untouched.
    inside = [p.detach().clone() for p in D.parameters()]
    clip.after_step(D)
    for before, p in zip(inside, D.parameters(), strict=True):
        assert torch.equal(before, p)


def linear_critic(w: torch.Tensor) -> nn.Module:
    layer = nn.Linear(len(w), 1).double()
    with torch.no_grad():
        layer.weight.copy_(w[None])
        layer.bias.fill_(0.3)
    return nn.Sequential(layer, nn.Flatten(0))


def test_gradient_penalty_of_a_linear_critic():
    real, fake = torch.randn(64, 3, dtype=torch.float64), torch.randn(64, 3, dtype=torch.float64)
    unit = torch.tensor([0.6, 0.0, 0.8], dtype=torch.float64)  # ||w|| = 1: a 1-Lipschitz critic
    gp = GradientPenalty(10.0)
    torch.testing.assert_close(gp.penalty(linear_critic(unit), real, fake, None).item(), 0.0, rtol=0, atol=1e-12)
    w = torch.tensor([1.0, 2.0, 2.0], dtype=torch.float64)  # ||w|| = 3: GP = lambda (3 - 1)^2
    torch.testing.assert_close(gp.penalty(linear_critic(w), real, fake, None).item(), 40.0, **F64)
    r1 = R1Penalty(4.0)  # gamma/2 ||w||^2 = 2 * 9
    torch.testing.assert_close(r1.penalty(linear_critic(w), real, fake, None).item(), 18.0, **F64)


@pytest.mark.parametrize("lazy, plain, flag", [
    (GradientPenalty(10.0, every=4), GradientPenalty(10.0), "gp_every"),
    (R1Penalty(4.0, every=3), R1Penalty(4.0), "r1_every"),
])
def test_a_lazy_penalty_is_due_one_step_in_n_and_scaled_by_n(lazy, plain, flag):
    real, fake = torch.randn(64, 3, dtype=torch.float64), torch.randn(64, 3, dtype=torch.float64)
    D = linear_critic(torch.tensor([1.0, 2.0, 2.0], dtype=torch.float64))
    n = lazy.every
    torch.testing.assert_close(lazy.penalty(D, real, fake, None), n * plain.penalty(D, real, fake, None), **F64)
    assert [k for k in range(3 * n) if lazy.due(k)] == [0, n, 2 * n]
    assert all(plain.due(k) for k in range(5))
    assert f"every {n} steps" in lazy.describe() and "every" not in plain.describe()
    with pytest.raises(ValueError, match=f"{flag} must be an integer >= 1; got 0"):
        type(plain)(1.0, every=0)


def test_a_lazy_gradient_penalty_trains_with_the_penalty_on_its_steps_only(tiny):
    from gankit.training.run import Run

    cfg = TrainConfig(data="ring", data_options={"n": 256}, objective="wgan-gp", gp_every=4, iterations=3,
                      **tiny)
    run = Run(cfg)
    assert run.constraint.every == 4 and [k for k in range(10) if run.constraint.due(k)] == [0, 4, 8]
    with pytest.raises(ValueError, match="gp_every must be >= 1; got 0"):
        TrainConfig(objective="wgan-gp", gp_every=0)


@pytest.mark.parametrize("shape", [(2,), (1, 8, 8), (3, 8, 8)])
def test_gradient_penalty_works_for_any_input_shape(shape):
    arch = "mlp" if len(shape) == 1 else "dcgan"
    _, D = build_models(arch, shape, 4, d_hidden=(16,), width=8, d_norm="layer" if arch == "dcgan" else "none")
    real, fake = torch.randn(6, *shape), torch.randn(6, *shape)
    g = torch.Generator().manual_seed(0)
    penalty = GradientPenalty(10.0).penalty(D, real, fake, g)
    assert penalty.ndim == 0 and torch.isfinite(penalty) and penalty > 0
    penalty.backward()  # double backward reaches every weight (biases drop out of input gradients)
    assert all(p.grad is not None for n, p in D.named_parameters() if n.endswith("weight"))


def test_gradient_penalty_matches_a_per_sample_computation():
    _, D = build_models("mlp", (2,), 2, d_hidden=(8,))
    real, fake = torch.randn(5, 2), torch.randn(5, 2)
    eps = torch.rand(5, 1, generator=torch.Generator().manual_seed(1))
    got = GradientPenalty(10.0).penalty(D, real, fake, torch.Generator().manual_seed(1))
    terms = []
    for i in range(5):
        x = (eps[i] * real[i] + (1 - eps[i]) * fake[i]).requires_grad_(True)
        (g,) = torch.autograd.grad(D(x[None]).sum(), x)
        terms.append((g.norm() - 1) ** 2)
    torch.testing.assert_close(got, 10 * torch.stack(terms).mean(), rtol=1e-5, atol=1e-6)


def test_spectral_norm_makes_each_layer_1_lipschitz():
    torch.manual_seed(0)  # the weights and the power iteration's start: not whatever test ran before
    _, D = build_models("mlp", (4,), 2, d_hidden=(32, 32))
    D = SpectralNorm().prepare(D)
    D.train()
    for _ in range(100):  # power iterations run on forward passes in training mode (close top singular values
        # converge slowly: 30 were not always enough)
        D(torch.randn(8, 4))
    for m in D.modules():
        if isinstance(m, nn.Linear):
            torch.testing.assert_close(torch.linalg.svdvals(m.weight)[0].item(), 1.0, rtol=1e-2, atol=0)


# --------------------------------------------------------------------------- registry


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
@pytest.mark.parametrize("arch", ["mlp", "dcgan", "resnet"])
def test_every_objective_trains_every_model_family(name, arch):
    shape = (2,) if arch == "mlp" else (1, 8, 8)
    G, D = build_models(arch, shape, 4, g_hidden=(16,), d_hidden=(16,), width=8, d_norm="none")
    obj = get_objective(name)
    real, fake = torch.randn(6, *shape), G(torch.randn(6, 4))
    d_loss = obj.discriminator_loss(D(real), D(fake.detach()))
    g_loss = obj.generator_loss(D(real).detach(), D(fake)) if obj.generator_sees_real else obj.generator_loss(D(fake))
    for loss in (d_loss, g_loss):
        assert loss.ndim == 0 and torch.isfinite(loss)
    d_loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in D.parameters())
    assert all(p.grad is None for p in G.parameters())  # fakes were detached
    g_loss.backward()
    assert all(p.grad is not None for p in G.parameters())
    for fn in (obj.discriminator_loss, obj.generator_loss):
        assert ".. math::" in (fn.__doc__ or ""), fn.__name__


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown objective 'wgn'; choose from \['hinge', 'least-squares', 'minimax'"):
        get_objective("wgn")
    presets = (r"\['gan', 'gan-clusters', 'gan-fast', 'gan-r1', 'lsgan', 'minimax', 'pacgan', 'sngan', 'wgan', "
               r"'wgan-gp'\]")
    with pytest.raises(ValueError, match=r"choose a preset from " + presets):
        resolve("wgn")
    with pytest.raises(ValueError, match=r"unknown constraint 'clipping'; choose from \['clip'"):
        make_constraint("clipping")
    with pytest.raises(ValueError, match="clip must be > 0; got 0"):
        make_constraint("clip", clip=0)


def test_presets_are_the_papers_pairs():
    assert (PRESETS["wgan"].objective, PRESETS["wgan"].constraint) == ("wasserstein", "clip")
    assert (PRESETS["wgan"].optimizer, PRESETS["wgan"].lr, PRESETS["wgan"].d_steps) == ("rmsprop", 5e-5, 5)
    assert (PRESETS["wgan-gp"].objective, PRESETS["wgan-gp"].constraint) == ("wasserstein", "gradient-penalty")
    assert PRESETS["gan"].objective == "nonsaturating" and PRESETS["minimax"].objective == "minimax"
    assert set(CONSTRAINTS) == {"none", "clip", "gradient-penalty", "r1", "spectral-norm"}


def test_the_torch_free_names_agree_with_the_registries():
    """The config and ``--help`` read the names from :mod:`gankit.presets` (no torch); each registry builds them."""
    from gankit import presets
    from gankit.models import ACTIVATIONS
    from gankit.objectives import OBJECTIVES

    assert tuple(OBJECTIVES) == presets.OBJECTIVE_NAMES
    assert tuple(CONSTRAINTS) == presets.CONSTRAINT_NAMES
    assert tuple(ACTIVATIONS) == presets.ACTIVATION_NAMES
    assert all(p.objective in OBJECTIVES and p.constraint in CONSTRAINTS for p in presets.PRESETS.values())
