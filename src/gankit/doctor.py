"""``gankit doctor RUN``: what went wrong in a run, with the evidence, a fix and the theory that explains it.

It reads the run folder (config, metrics, ``stopped.json``, checkpoint) and,
on a known mixture or for a Wasserstein critic, draws samples of the
generator. Each check names a failure the theory predicts:

* **saturation** (the seed's minimax game): when D tells real from fake with
  confidence, :math:`\\log(1 - D(G(z)))` is flat in G's parameters,
  :math:`\\nabla_\\theta \\log(1 - D(G(z))) = -\\frac{D'}{1 - D}\\nabla_\\theta G \\to 0`
  as :math:`D(G(z)) \\to 0` (Goodfellow et al. 2014, section 3; Arjovsky and
  Bottou 2017, Theorem 2.4);
* **clipping pile-up** (the seed's WGAN): weight clipping pushes the critic's
  weights to :math:`\\pm c`, where it uses a fraction of its capacity
  (Gulrajani et al. 2017, section 3 and Figure 1b);
* **mode dropping** (known mixtures): modes without high-quality samples, or a
  mode histogram far from the mixture's weights (reverse KL), the failure
  PacGAN measures (Lin et al. 2018);
* **non-finite stop**: a loss became NaN or infinite and the loop stopped
  (``stopped.json``: the iteration, the quantity, the last finite metrics
  line); the updates of the seed's games are unstable when D's gradients grow
  (Arjovsky and Bottou 2017, section 2), and gradient steps of a game
  converge only when the step is small against the eigenvalues of the
  Jacobian of its vector field (Mescheder, Nowozin and Geiger 2017);
* **divergence**: over the logged lines (at least 8), a quantity's typical
  size grows by :data:`GROWTH` or more, to at least its :data:`LOUD` level:
  the median of :math:`|q|` over the last quarter of the lines is at least
  ``GROWTH`` times the median over the first quarter, for ``q`` among
  ``d_loss`` (for a Wasserstein critic, minus its estimate) and the gradient
  norms ``grad_norm_d``, ``grad_norm_g``. An unconstrained Wasserstein critic
  does this: the supremum over all functions is infinite, only over
  Lipschitz ones is it :math:`W_1` (Arjovsky et al. 2017, section 3);
* **oscillation**: D's preference for the real samples, the gap
  :math:`\\bar D(x) - \\bar D(G(z))` of a metrics line (``d_real - d_fake``, or
  ``critic_real - critic_fake`` of a critic), changes sign at least
  :data:`FLIPS` times after the first quarter of the lines, with
  :math:`|gap|` at least :data:`SWING` on both sides of each change (0.2 for
  a probability, 1.0 for a critic's score): D prefers the fakes as strongly
  as it preferred the reals, and back. Unregularised games circle their
  equilibrium instead of converging to it, as the Dirac-GAN shows
  (Mescheder et al. 2018, section 2); a penalty on D's gradients makes it
  attract (their section 4);
* **critic far from 1-Lipschitz** (Wasserstein critics): the largest norm of
  the checkpoint's critic gradient :math:`\\|\\nabla_x f(x)\\|` over real,
  generated and interpolated samples (a lower bound of its Lipschitz constant
  K, as :func:`gankit.divergences.lipschitz_estimate` takes it) above
  :data:`STEEP` or below 1 / ``STEEP``. The critic's gap is then
  :math:`K W_1`, not :math:`W_1` (Arjovsky et al. 2017, section 3); weight
  clipping at c = 0.01 leaves K tiny, and the gradient penalty holds the norm
  at 1 on the interpolates only when its weight is large enough (Gulrajani et
  al. 2017, section 4 and Proposition 1). The metrics hold no Lipschitz
  estimate, so the check measures the final checkpoint;
* **unfinished**: the checkpoint stands before T (stopped by a signal, or by
  a non-finite loss in a run older than ``stopped.json``).

A run with none of these gets no finding. A run stopped before its first
checkpoint (a non-finite loss in the first ``checkpoint_every`` iterations) is
read from its config and metrics alone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._json import from_jsonable
from .config import TrainConfig
from .data import load_dataset
from .divergences import lipschitz_upper_bound
from .metrics import mixture_coverage
from .runfolder import CHECKPOINT, STOPPED, read_metrics, run_problem
from .sampling import generate
from .training import load_generator

#: Saturated: over the second half of the logged training, median mean D(fake) below this and D(real) above 1 - it.
SATURATED = 0.05
#: Piled up: at least this share of the critic's weights within 1% of the clipping bound c.
PILED = 0.3
#: Mode dropping: a reverse KL of the mode histogram to the weights above this (nats), or a mode missed.
REVERSE_KL = 0.1
#: Divergence: the last quarter's median |q| at least this many times the first quarter's ...
GROWTH = 10.0
#: ... and at least this size (a BCE loss of 10 is a discriminator wrong with confidence e^-10).
LOUD = {"d_loss": 10.0, "grad_norm_d": 100.0, "grad_norm_g": 100.0}
#: Oscillation: at least this many sign changes of D's preference after the first quarter of the lines ...
FLIPS = 2
#: ... each between two lines whose |gap| is at least this (a probability; a critic's score).
SWING = {"probability": 0.2, "critic": 1.0}
#: Critic far from 1-Lipschitz: its largest input-gradient norm above this, or below its inverse.
STEEP = 4.0


@dataclass
class Finding:
    """One diagnosis: what, the evidence (iterations and numbers), what to do, and where the theory says why."""

    name: str
    summary: str
    evidence: list[str] = field(default_factory=list)
    fix: str = ""
    theory: str = ""


def _saturation(cfg: Any, records: list[dict[str, Any]]) -> list[Finding]:
    if cfg.objective != "minimax" or not records or "d_fake" not in records[-1]:
        return []
    late = records[len(records) // 2:]
    fake = float(np.median([r["d_fake"] for r in late]))
    real = float(np.median([r["d_real"] for r in late]))
    if fake >= SATURATED or real <= 1 - SATURATED:
        return []
    first = next(r for r in records if r["d_fake"] < SATURATED)
    peak = max(records, key=lambda r: r["grad_norm_g"])
    return [Finding(
        "saturation",
        "the discriminator rejects the fakes with confidence, and the minimax generator loss gives almost no "
        "gradient",
        [f"mean D(fake) {first['d_fake']:.3f} first below {SATURATED} at iteration {first['step']}; median over "
         f"iterations {late[0]['step']}-{late[-1]['step']}: D(fake) {fake:.3f}, D(real) {real:.3f}",
         f"G's gradient norm {late[-1]['grad_norm_g']:.3g} at iteration {late[-1]['step']}, against "
         f"{peak['grad_norm_g']:.3g} at iteration {peak['step']}"],
        "train G on the non-saturating loss (--objective gan) or a Wasserstein critic (--objective wgan-gp); "
        "fewer critic steps (--d-steps) delay it",
        "Goodfellow et al. 2014, section 3; Arjovsky and Bottou 2017, Theorem 2.4; "
        "gankit experiment vanishing-gradient")]


def _clipping(cfg: Any, D: torch.nn.Module) -> list[Finding]:
    if cfg.constraint != "clip":
        return []
    weights = torch.cat([p.detach().flatten().cpu() for name, p in D.named_parameters() if name.endswith("weight")])
    share = float((weights.abs() >= 0.99 * cfg.clip).float().mean())
    if share < PILED:
        return []
    return [Finding(
        "clipping pile-up",
        f"{share:.0%} of the critic's weights sit at the clipping bound +-c",
        [f"{share:.1%} of {weights.numel()} weights have |w| >= 0.99 c (c = {cfg.clip:g}) in the checkpoint"],
        "use the gradient penalty (--objective wgan-gp), which keeps the critic 1-Lipschitz without clipping",
        "Gulrajani et al. 2017, section 3 and Figure 1b; gankit experiment lipschitz-clipping")]


def _modes(G: torch.nn.Module, info: dict[str, Any], n: int, seed: int) -> list[Finding]:
    cfg = info["config"]
    if info["kind"] != "points":
        return []
    try:
        dataset = load_dataset(cfg.data, data_dir=cfg.data_dir, options=cfg.data_options, seed=cfg.seed)
    except (OSError, ValueError):
        return []
    if dataset.mixture is None:
        return []
    x = info["scaler"].to_data(generate(G, n, noise_dim=cfg.noise_dim, seed=seed)).cpu().numpy()
    cov = mixture_coverage(x, dataset.mixture)
    k = len(dataset.mixture.means)
    if cov["modes"] >= k and cov["reverse_kl"] <= REVERSE_KL:
        return []
    return [Finding(
        "mode dropping",
        f"the generator covers {cov['modes']} of the {k} modes" + (
            f" and weighs them unlike the data (reverse KL {cov['reverse_kl']:.3f})" if cov["modes"] >= k else ""),
        [f"{n} samples at iteration {info['step']}: {cov['modes']} of {k} modes with a high-quality sample "
         f"(within 3 std), {cov['high_quality']:.1%} high-quality samples, reverse KL of the mode histogram to "
         f"the weights {cov['reverse_kl']:.3f}"],
        "train longer, or with a recipe measured to keep the modes (--objective gan-r1, pacgan or wgan-gp; "
        "gankit benchmark compares them)",
        "Lin et al. 2018 (PacGAN); Arjovsky and Bottou 2017, section 2; gankit experiment mode-collapse")]


def _unfinished(info: dict[str, Any]) -> list[Finding]:
    cfg = info["config"]
    if info["step"] is not None and info["step"] >= cfg.iterations:
        return []
    where = "no checkpoint was written" if info["step"] is None else f"checkpoint step {info['step']}"
    return [Finding(
        "unfinished",
        f"the run stopped before iteration {cfg.iterations}: {where}",
        [f"{where}, config iterations {cfg.iterations}"],
        "continue it with gankit train --resume RUN; if it stopped on a non-finite loss, start again with a lower "
        "--lr or a constraint",
        "")]


_QUANTITIES = {"d_loss": "the discriminator's loss", "penalty": "the critic's penalty",
               "g_loss": "the generator's loss"}
_SHOWN = ("d_loss", "g_loss", "penalty", "w1_estimate", "grad_norm_d", "grad_norm_g")


def _line(record: dict[str, Any]) -> str:
    return ", ".join(f"{k} {record[k]:.3g}" for k in _SHOWN if isinstance(record.get(k), (int, float)))


def _non_finite(run_dir: Path, info: dict[str, Any], records: list[dict[str, Any]]) -> list[Finding]:
    try:
        stop = from_jsonable(json.loads((run_dir / STOPPED).read_text()))
    except (OSError, ValueError):
        return []
    if not isinstance(stop, dict):
        return []
    cfg, it = info["config"], stop.get("iteration")
    quantity = str(stop.get("quantity") or "a loss")
    lr = next((v for v in (cfg.lr, cfg.d_lr) if v is not None), float("nan"))
    evidence = [f"{STOPPED}: {quantity} NaN or infinite at iteration {it} ({cfg.objective}, lr {lr:g}, "
                f"amp {cfg.amp})"]
    last = stop.get("last_record") or (records[-1] if records else None)
    if isinstance(last, dict) and "step" in last:
        evidence.append(f"the last finite metrics line, iteration {last['step']}: {_line(last)}")
    if len(records) >= 2:  # how fast the gradients grew before it
        first, final = records[0], records[-1]
        evidence += [f"{k} {first[k]:.3g} at iteration {first['step']}, {final[k]:.3g} at iteration {final['step']}"
                     for k in ("grad_norm_d", "grad_norm_g") if k in first and k in final]
    evidence.append("no checkpoint was written" if info["step"] is None
                    else f"the checkpoint kept stands at iteration {info['step']}")
    amp = "; --amp off: fp16 overflows above 65504" if cfg.amp != "off" else ""
    return [Finding(
        "non-finite stop",
        f"{quantity} ({_QUANTITIES.get(quantity, 'a loss')}) became NaN or infinite at iteration {it}, and "
        "training stopped there",
        evidence,
        f"start a new run with a lower learning rate (--lr, {lr:g} here; a resumed run keeps it), or with a "
        f"penalty that bounds D's gradients (--objective gan-r1, or wgan-gp for a critic){amp}",
        "Arjovsky and Bottou 2017, section 2; Mescheder, Nowozin and Geiger 2017 (The Numerics of GANs); "
        "Mescheder et al. 2018, section 4")]


def _divergence(records: list[dict[str, Any]]) -> list[Finding]:
    if len(records) < 8:
        return []
    q = len(records) // 4
    early, late = records[:q], records[-q:]
    evidence, grown = [], []
    for key, loud in LOUD.items():
        if not all(isinstance(r.get(key), (int, float)) for r in records):
            continue
        a = float(np.median([abs(r[key]) for r in early]))
        b = float(np.median([abs(r[key]) for r in late]))
        if np.isfinite(b) and b >= loud and b >= GROWTH * a:
            peak = max(late, key=lambda r: abs(r[key]))
            grown.append(key)
            evidence.append(f"median |{key}| {a:.3g} over iterations {early[0]['step']}-{early[-1]['step']}, "
                            f"{b:.3g} over iterations {late[0]['step']}-{late[-1]['step']} ({b / max(a, 1e-12):.0f}x;"
                            f" {peak[key]:.3g} at iteration {peak['step']})")
    if not evidence:
        return []
    critic = "w1_estimate" in records[-1]
    return [Finding(
        "divergence",
        f"{', '.join(grown[:-1]) + ' and ' if len(grown) > 1 else ''}{grown[-1]} "
        + ("grows by an order of magnitude or more and does not settle" if len(grown) == 1
           else "grow by an order of magnitude or more and do not settle")
        + (" (the critic's estimate is -d_loss)" if critic and "d_loss" in grown else ""),
        evidence,
        ("constrain the critic: the gradient penalty (--objective wgan-gp) holds it near 1-Lipschitz; " if critic
         else "add a penalty on D's gradients (--objective gan-r1); ") + "a lower --lr slows the growth",
        "Arjovsky et al. 2017, section 3 (the supremum is finite only over Lipschitz critics); "
        "Arjovsky and Bottou 2017, section 2; Mescheder et al. 2018, section 4")]


def _oscillation(records: list[dict[str, Any]]) -> list[Finding]:
    if not records:
        return []
    kind, (real, fake) = (("probability", ("d_real", "d_fake")) if "d_real" in records[-1]
                          else ("critic", ("critic_real", "critic_fake")))
    lines = [r for r in records[len(records) // 4:] if real in r and fake in r]
    if len(lines) < 6:
        return []
    swing = SWING[kind]
    gaps = [(r["step"], r[real] - r[fake]) for r in lines]
    flips = [(s0, g0, s1, g1) for (s0, g0), (s1, g1) in zip(gaps[:-1], gaps[1:], strict=True)
             if g0 * g1 < 0 and abs(g0) >= swing and abs(g1) >= swing]
    if len(flips) < FLIPS:
        return []
    shown = "; ".join(f"{g0:+.3g} at {s0} -> {g1:+.3g} at {s1}" for s0, g0, s1, g1 in flips[:4])
    return [Finding(
        "oscillation",
        f"D's preference for the real samples ({real} - {fake}) changes sign {len(flips)} times: the game circles "
        "its equilibrium instead of settling",
        [f"{len(flips)} changes of sign of {real} - {fake} with |gap| >= {swing:g} on both sides, over iterations "
         f"{lines[0]['step']}-{lines[-1]['step']}: {shown}"],
        "add a penalty on D's gradients, which makes the equilibrium attract: --objective gan-r1 (or wgan-gp for a "
        "critic); a lower --lr, or fewer critic steps per G step, shortens the swings",
        "Mescheder et al. 2018, sections 2 and 4 (the Dirac-GAN); Mescheder, Nowozin and Geiger 2017")]


def _slopes(D: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The norms :math:`\\|\\nabla_x f(x)\\|` of the critic's input gradient at each sample of ``x``."""
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x).sum(), x)
    return grad.flatten(1).norm(dim=1)  # (n,)


def _lipschitz(G: torch.nn.Module, info: dict[str, Any], records: list[dict[str, Any]], n: int,
               seed: int) -> list[Finding]:
    cfg, D = info["config"], info["discriminator"]
    critic = bool(records) and "w1_estimate" in records[-1]
    if not critic or D is None or cfg.conditional or cfg.clusters or (cfg.pack or 1) > 1:
        return []
    n = min(n, 1000 if info["kind"] == "points" else 256)
    fake = generate(G, n, noise_dim=cfg.noise_dim, seed=seed).detach()
    sets = {"generated": fake}
    try:
        dataset = load_dataset(cfg.data, data_dir=cfg.data_dir, options=cfg.data_options, seed=cfg.seed)
    except (OSError, ValueError):
        dataset = None
    rng = torch.Generator().manual_seed(seed)
    if dataset is not None and tuple(dataset.x.shape[1:]) == tuple(fake.shape[1:]):
        real = dataset.x[torch.randperm(len(dataset.x), generator=rng)[:n]].to(fake.device)
        m = min(len(real), len(fake))
        u = torch.rand((m,) + (1,) * (fake.ndim - 1), generator=rng).to(fake.device)
        sets = {"real": real, "generated": fake, "interpolated": u * real[:m] + (1 - u) * fake[:m]}
    slopes = {k: _slopes(D, x.to(next(D.parameters()).device)) for k, x in sets.items()}
    K = max(float(v.max()) for v in slopes.values())
    if 1 / STEEP <= K <= STEEP:
        return []
    evidence = [f"input-gradient norm of the critic at iteration {info['step']}, on {k} samples: mean "
                f"{float(v.mean()):.3g}, max {float(v.max()):.3g}" for k, v in slopes.items()]
    steep = K > STEEP
    if not steep:  # the product of the layers' norms bounds the slope everywhere, not only at the samples
        try:
            bound = lipschitz_upper_bound(D, tuple(fake.shape[1:]))
            evidence.append(f"the product of its layers' norms bounds its slope everywhere: K <= {bound:.3g}")
        except (ValueError, TypeError, NotImplementedError, RuntimeError):
            pass
    last = records[-1]
    if last["w1_estimate"] > 0:
        evidence.append(f"the logged w1_estimate {last['w1_estimate']:.3g} at iteration {last['step']} is K W1 "
                        "(K the critic's Lipschitz constant), not W1")
    constraint = cfg.constraint or "none"
    if constraint == "clip":
        fix = (f"read w1_estimate as K W1 (c = {cfg.clip:g} makes K tiny), or use the gradient penalty "
               "(--objective wgan-gp), which holds the critic's slope near 1")
    elif constraint == "gradient-penalty":
        fix = (f"raise the penalty weight (--gp-weight, {cfg.gp_weight or 0:g} here) or lower --lr" if steep
               else "lower the penalty weight (--gp-weight) or give the critic more steps (--d-steps)")
    else:
        fix = f"constrain the critic (constraint {constraint} here): --objective wgan-gp adds the gradient penalty"
    summary = (f"the critic's slope reaches {K:.3g} on the samples (a 1-Lipschitz critic's is at most 1)" if steep
               else f"the critic's slope is at most {K:.3g} on the samples (the critic that attains W1 has slope 1)")
    return [Finding(
        "critic far from 1-Lipschitz", summary + ": its estimate is K W1, not W1", evidence, fix,
        "Arjovsky et al. 2017, section 3; Gulrajani et al. 2017, section 4 and Proposition 1; "
        "gankit experiment lipschitz-clipping")]


def _load(run_dir: Path) -> tuple[torch.nn.Module | None, dict[str, Any]]:
    """The generator and the checkpoint's info; for a run stopped before its first checkpoint, its config alone."""
    if not (run_dir / CHECKPOINT).exists() and run_problem(run_dir) is None:
        return None, {"config": TrainConfig.load(run_dir / "config.json"), "step": None, "kind": None,
                      "discriminator": None}
    return load_generator(run_dir, device="cpu")  # raises for a folder that is not a run


def diagnose(run_dir: str | Path, *, n: int = 2500, seed: int = 0) -> list[Finding]:
    """The findings of the run in ``run_dir`` (none for a run that went well)."""
    run_dir = Path(run_dir)
    G, info = _load(run_dir)
    records = read_metrics(run_dir / "metrics.jsonl")
    cfg = info["config"]
    stopped = _non_finite(run_dir, info, records)
    found = [*(stopped or _unfinished(info)), *_divergence(records), *_oscillation(records),
             *_saturation(cfg, records)]
    if G is not None:
        found += [*_clipping(cfg, info["discriminator"]), *_lipschitz(G, info, records, n, seed),
                  *_modes(G, info, n, seed)]
    return found


def format_findings(run_dir: str | Path, findings: list[Finding]) -> str:
    if not findings:
        return (f"{run_dir}: no finding (a non-finite stop, divergence, oscillation, saturation, clipping pile-up, "
                "a critic far from 1-Lipschitz, mode dropping and an unfinished run checked)")
    lines = [f"{run_dir}: {len(findings)} finding(s)"]
    for f in findings:
        lines += [f"- {f.name}: {f.summary}", *(f"    evidence: {e}" for e in f.evidence), f"    fix: {f.fix}"]
        if f.theory:
            lines.append(f"    why: {f.theory}")
    return "\n".join(lines)


def to_json(findings: list[Finding]) -> list[dict[str, Any]]:
    return [asdict(f) for f in findings]
