"""``gankit doctor RUN``: what went wrong in a run, with the evidence, a fix and the theory that explains it.

It reads the run folder (config, metrics, checkpoint) and, on a known
mixture, draws samples of the generator. Each check names a failure the
theory predicts:

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
* **unfinished**: the checkpoint stands before T (stopped by a signal or a
  non-finite loss).

A run with none of these gets no finding.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .data import load_dataset
from .metrics import mixture_coverage
from .runfolder import read_metrics
from .sampling import generate
from .training import load_generator

#: Saturated: over the second half of the logged training, median mean D(fake) below this and D(real) above 1 - it.
SATURATED = 0.05
#: Piled up: at least this share of the critic's weights within 1% of the clipping bound c.
PILED = 0.3
#: Mode dropping: a reverse KL of the mode histogram to the weights above this (nats), or a mode missed.
REVERSE_KL = 0.1


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
    if info["step"] >= cfg.iterations:
        return []
    return [Finding(
        "unfinished",
        f"the checkpoint stands at iteration {info['step']} of {cfg.iterations}",
        [f"checkpoint step {info['step']}, config iterations {cfg.iterations}"],
        "continue it with gankit train --resume RUN; if it stopped on a non-finite loss, start again with a lower "
        "--lr or a constraint",
        "")]


def diagnose(run_dir: str | Path, *, n: int = 2500, seed: int = 0) -> list[Finding]:
    """The findings of the run in ``run_dir`` (none for a run that went well)."""
    run_dir = Path(run_dir)
    G, info = load_generator(run_dir, device="cpu")
    records = read_metrics(run_dir / "metrics.jsonl")
    cfg = info["config"]
    return [*_unfinished(info), *_saturation(cfg, records), *_clipping(cfg, info["discriminator"]),
            *_modes(G, info, n, seed)]


def format_findings(run_dir: str | Path, findings: list[Finding]) -> str:
    if not findings:
        return f"{run_dir}: no finding (saturation, clipping pile-up, mode dropping and an unfinished run checked)"
    lines = [f"{run_dir}: {len(findings)} finding(s)"]
    for f in findings:
        lines += [f"- {f.name}: {f.summary}", *(f"    evidence: {e}" for e in f.evidence), f"    fix: {f.fix}"]
        if f.theory:
            lines.append(f"    why: {f.theory}")
    return "\n".join(lines)


def to_json(findings: list[Finding]) -> list[dict[str, Any]]:
    return [asdict(f) for f in findings]
