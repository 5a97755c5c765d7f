"""DiffAugment (Zhao et al. 2020): each transform as the paper's code specifies it, differentiable, seeded, and
applied to both real and generated images wherever D sees them."""

from __future__ import annotations

import pytest
import torch

from gankit import TrainConfig
from gankit.augment import Augment, color, cutout, diff_augment, parse_policy, translation
from gankit.models import build_models
from gankit.objectives import get_objective, make_constraint
from gankit.training import discriminator_step, generator_step


def test_translation_moves_the_image_by_whole_pixels_within_an_eighth_and_pads_with_zeros():
    x = torch.zeros(200, 1, 16, 16)
    x[:, 0, 8, 8] = 1.0  # a single bright pixel
    out = translation(x, torch.Generator().manual_seed(0))
    assert torch.equal(out.sum((1, 2, 3)), torch.ones(200))  # moved, not blurred: one pixel of 1 each
    where = out[:, 0].flatten(1).argmax(1)
    dy, dx = where // 16 - 8, where % 16 - 8
    assert dy.abs().max() == 2 and dx.abs().max() == 2  # int(16 / 8 + 0.5) = 2: every shift in -2..2 occurs
    assert len(set(zip(dy.tolist(), dx.tolist(), strict=True))) == 25
    edge = translation(torch.ones(500, 1, 16, 16), torch.Generator().manual_seed(1))
    assert set(edge.unique().tolist()) == {0.0, 1.0}  # what comes in at the border is zero
    assert (edge == 0).flatten(1).sum(1).max() == 2 * 16 * 2 - 4  # at most two rows and two columns of zeros


def test_cutout_zeroes_one_square_of_half_the_side_clipped_at_the_border():
    out = cutout(torch.ones(300, 2, 16, 16), torch.Generator().manual_seed(0))
    zeros = out[:, 0] == 0
    assert torch.equal(zeros, out[:, 1] == 0)  # the same square in every channel
    rows, cols = zeros.any(2).sum(1), zeros.any(1).sum(1)
    assert torch.equal(zeros.sum((1, 2)), rows * cols)  # a rectangle
    assert rows.max() == 8 and cols.max() == 8 and rows.min() < 8  # 8 x 8 inside, clipped at the border


def test_colour_is_brightness_saturation_and_contrast_by_hand():
    x = torch.rand(5, 3, 4, 4) * 2 - 1
    g = torch.Generator().manual_seed(0)  # one draw per sample for each transform, in this order
    b, s, c = (torch.rand(5, 1, 1, 1, generator=g) for _ in range(3))
    y = x + (b - 0.5)  # brightness
    y = (y - y.mean(1, keepdim=True)) * (2 * s) + y.mean(1, keepdim=True)  # saturation
    y = (y - y.mean((1, 2, 3), keepdim=True)) * (c + 0.5) + y.mean((1, 2, 3), keepdim=True)  # contrast
    torch.testing.assert_close(color(x, torch.Generator().manual_seed(0)), y)


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_every_transform_is_differentiable(policy):
    x = torch.rand(3, 2, 8, 8, dtype=torch.float64, requires_grad=True)

    def f(x):
        return diff_augment(x, policy, torch.Generator().manual_seed(5))  # the same draws at every call

    assert torch.autograd.gradcheck(f, (x,))


def test_policies_are_parsed_in_the_papers_order_and_unknown_names_refused():
    assert parse_policy("cutout, translation") == ("translation", "cutout")
    assert parse_policy("none") == () and parse_policy("") == ()
    with pytest.raises(ValueError, match="unknown augmentation"):
        parse_policy("flip")
    assert TrainConfig(augment="cutout,color").augment == "color,cutout"
    with pytest.raises(ValueError, match="augment takes color, translation, cutout"):
        TrainConfig(augment="rotate")


def test_the_same_stream_gives_the_same_augmentation_and_resumes_it():
    a, b = Augment("color,translation,cutout", seed=3), Augment("color,translation,cutout", seed=3)
    x = torch.rand(16, 1, 8, 8)
    assert torch.equal(a(x), b(x))
    state = a.state_dict()
    first = a(x)
    a.load_state_dict(state)
    assert torch.equal(a(x), first)


def test_discriminator_and_generator_steps_augment_real_and_fake_alike():
    torch.manual_seed(0)
    G, D = build_models("dcgan", (1, 8, 8), 4, width=4, d_norm="none")
    seen = []

    def recording(x):
        seen.append(tuple(x.shape))
        return diff_augment(x, "translation,cutout", torch.Generator().manual_seed(len(seen)))

    opt = torch.optim.SGD(D.parameters(), lr=0.0)
    real, z = torch.rand(6, 1, 8, 8) * 2 - 1, torch.randn(6, 4)
    discriminator_step(G, D, opt, get_objective("nonsaturating"), make_constraint("r1", r1_gamma=1.0), real, z,
                       augment=recording)
    assert seen == [(6, 1, 8, 8), (6, 1, 8, 8)]  # the real half, then the generated half
    seen.clear()
    generator_step(G, D, torch.optim.SGD(G.parameters(), lr=0.0), get_objective("nonsaturating"), z,
                   augment=recording)
    assert seen == [(6, 1, 8, 8)]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters() if p.requires_grad)
