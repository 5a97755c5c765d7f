"""FusedRMSprop: torch.optim.RMSprop's update through the fused Adam kernel, checked against RMSprop itself."""

from __future__ import annotations

import pytest
import torch

from gankit.training import make_optimizer
from gankit.training.rmsprop import FusedRMSprop, fused_rmsprop_or_default


def _params(seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shapes = [(37, 19), (19,), (5, 3, 3, 3), (1,)]
    return [torch.randn(s, generator=g).mul_(0.1).requires_grad_() for s in shapes]


def _grads(params: list[torch.Tensor], g: torch.Generator) -> list[torch.Tensor | None]:
    """Gradients over seven orders of magnitude; the last parameter has none on some steps."""
    out = []
    for i, p in enumerate(params):
        scale = 10.0 ** (torch.rand((), generator=g).item() * 7 - 6)
        out.append(None if i == len(params) - 1 and torch.rand((), generator=g).item() < 0.3
                   else torch.randn(p.shape, generator=g) * scale)
    return out


def _step(opt: torch.optim.Optimizer, params: list[torch.Tensor], grads: list[torch.Tensor | None]) -> None:
    for p, grad in zip(params, grads, strict=True):
        p.grad = None if grad is None else grad.clone()
    opt.step()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_update_as_torch_rmsprop(seed):
    """300 steps on random gradients, the rate changed on the way: parameters and square averages agree with
    torch.optim.RMSprop's to a few units in the last place, and stay as close to RMSProp computed in float64
    as torch's own float32 RMSprop does (the kernel only rounds in another order); the step counts are RMSprop's."""
    ref, mine = _params(seed), _params(seed)
    exact = [p.detach().double().requires_grad_() for p in _params(seed)]
    opts = [torch.optim.RMSprop(ref, lr=5e-5), FusedRMSprop(mine, lr=5e-5), torch.optim.RMSprop(exact, lr=5e-5)]
    g = torch.Generator().manual_seed(100 + seed)
    for t in range(300):
        if t == 150:
            for opt in opts:
                opt.param_groups[0]["lr"] = 1e-3
        grads = _grads(ref, g)
        for opt, params in zip(opts, (ref, mine, exact), strict=True):
            _step(opt, params, [None if x is None else x.to(params[0].dtype) for x in grads])
    a, b, c = opts
    eps = torch.finfo(torch.float32).eps
    for p, q, r in zip(ref, mine, exact, strict=True):
        va, vb, vc = a.state[p]["square_avg"], b.state[q]["square_avg"], c.state[r]["square_avg"]
        assert torch.equal(a.state[p]["step"], b.state[q]["step"])
        assert ((va - vb).abs() <= 16 * eps * va).all()
        assert ((p - q).abs() <= 32 * eps * p.detach().abs().clamp_min(1e-3)).all()
        for ours, theirs, truth in ((q, p, r), (vb, va, vc)):
            err_ours, err_theirs = (ours.double() - truth).abs().max(), (theirs.double() - truth).abs().max()
            assert err_ours <= 2 * err_theirs + 4 * eps * truth.abs().max(), (err_ours, err_theirs)
    moved = sum((p.detach() - p0).abs().sum().item() for p, p0 in zip(mine, _params(seed), strict=True))
    assert moved > 0.1  # the updates did move the parameters


def test_checkpoints_load_either_way():
    """RMSprop's state_dict continues in FusedRMSprop and back, as RMSprop would have continued."""
    ref, mine = _params(3), _params(3)
    a, b = torch.optim.RMSprop(ref, lr=1e-3), torch.optim.RMSprop(mine, lr=1e-3)
    g = torch.Generator().manual_seed(7)
    for _ in range(20):
        _step(a, ref, grads := _grads(ref, g))
        _step(b, mine, grads)
    fused = FusedRMSprop(mine, lr=1e-3)
    fused.load_state_dict(b.state_dict())
    for _ in range(20):
        _step(a, ref, grads := _grads(ref, g))
        _step(fused, mine, grads)
    back = torch.optim.RMSprop(mine, lr=1e-3)
    back.load_state_dict(fused.state_dict())
    for _ in range(5):
        _step(a, ref, grads := _grads(ref, g))
        _step(back, mine, grads)
    for p, q in zip(ref, mine, strict=True):
        torch.testing.assert_close(back.state[q]["square_avg"], a.state[p]["square_avg"], rtol=1e-5, atol=0)
        torch.testing.assert_close(q, p, rtol=1e-5, atol=1e-7)


def test_only_default_rmsprop_is_fused():
    params = _params(0)
    opt = FusedRMSprop(params, lr=1e-3)
    opt.param_groups[0]["momentum"] = 0.9
    for p in params:
        p.grad = torch.ones_like(p)
    with pytest.raises(ValueError, match="no momentum"):
        opt.step()


def test_make_optimizer_fuses_where_the_kernel_runs(monkeypatch):
    params = _params(0)
    assert type(make_optimizer(params, "rmsprop", 5e-5, (0.9, 0.999), 0.0)) is FusedRMSprop

    def missing(*args, **kwargs):
        raise NotImplementedError("no fused kernel for this device")

    monkeypatch.setattr(torch, "_fused_adam_", missing)
    assert type(fused_rmsprop_or_default(params, 5e-5)) is torch.optim.RMSprop
