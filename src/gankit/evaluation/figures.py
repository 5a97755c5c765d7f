"""Evaluation figures: ROC, samples with modes captured or missed, classes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import viz
from ..data import Dataset

# --------------------------------------------------------------------------- figures


def evaluation_figures(
    out: Path, result: dict[str, Any], dataset: Dataset, fake: np.ndarray, real: np.ndarray,
) -> list[str]:
    """Write the evaluation's figures into ``out``: the discriminator's ROC, samples (a grid, or points over the
    mixture's modes) and class histograms where the result has them; returns their file names."""
    paths: list[Path] = []
    disc = result.get("discriminator")
    if disc is not None:
        paths.append(_roc_figure(out / "eval_roc.png", disc))
    if dataset.kind == "image":
        scaler = dataset.scaler
        peak = scaler.loc[0] + scaler.scale[0]  # data units of the model's +1
        paths.append(viz.save_image_grid(np.clip(fake[:64] / peak, 0, 1), out / "eval_samples.png", nrow=8, scale=2))
        if "classes" in result or "stacked" in result:
            paths.append(_class_figure(out / "eval_classes.png", result, dataset))
    else:
        paths.append(_points_figure(out / ("eval_modes.png" if dataset.mixture is not None else "eval_samples.png"),
                                    result, dataset, fake, real))
    return [p.name for p in paths]


def _roc_figure(path: Path, disc: dict[str, Any]) -> Path:
    roc = disc["roc_full"]
    fig = viz.new_figure(4.6, 4.4)
    ax = fig.add_subplot()
    who = "discriminator" if disc["scores"] == "probability" else "critic (raw scores)"
    ax.plot(roc["fpr"], roc["tpr"], lw=1.6, label=f"{who}, AUC = {disc['auc']:.3f}")
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="chance")
    a = disc["alpha"]
    ax.axvline(a, c="#d62728", lw=0.8, ls=":")
    ax.scatter([disc["type_i_at_alpha"]], [disc["power_at_alpha"]], c="#d62728", zorder=3,
               label=f"level {a:g}: power {disc['power_at_alpha']:.3f}")
    if disc.get("type_i") is not None:
        ax.scatter([disc["type_i"]], [1 - disc["type_ii"]], marker="s", c="black", zorder=3,
                   label=f"D = 0.5: type I {disc['type_i']:.3f}, type II {disc['type_ii']:.3f}")
    ax.set_xlabel("type I error (real rejected)")
    ax.set_ylabel("power (generated rejected)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(f"the {'discriminator' if disc['scores'] == 'probability' else 'critic'} as a test of "
                 "H0: x is real", fontsize=9)
    ax.legend(loc="lower right", fontsize=7)
    return viz.save(fig, path)


def _points_figure(path: Path, result: dict[str, Any], dataset: Dataset, fake: np.ndarray, real: np.ndarray) -> Path:
    fig = viz.new_figure(5.2, 5.0)
    ax = fig.add_subplot()
    modes = result.get("modes")
    mix = dataset.mixture
    if fake.shape[1] == 1:
        lo, hi = np.percentile(np.concatenate([real[:, 0], fake[:, 0]]), [0.5, 99.5])
        bins = np.linspace(lo, hi, 80)
        ax.hist(real[:, 0], bins=bins, density=True, alpha=0.4, color="black", label="held-out real")
        ax.hist(fake[:, 0], bins=bins, density=True, alpha=0.5, color="#ff7f0e", label="generated")
        if modes is not None:
            for mu, c in zip(mix.means[:, 0], modes["counts"], strict=True):
                ax.axvline(mu, color="#2ca02c" if c else "#d62728", lw=1.2)
    else:
        ax.scatter(real[:, 0], real[:, 1], s=2, c="black", alpha=0.25, label="held-out real")
        ax.scatter(fake[:, 0], fake[:, 1], s=2, c="#ff7f0e", alpha=0.5, label="generated")
        if modes is not None and mix.means.shape[1] == 2:
            captured = np.asarray(modes["counts"]) > 0
            for (mx, my), sd, ok in zip(mix.means, mix.stds, captured, strict=True):
                ax.add_patch(_circle((mx, my), 3 * sd, "#2ca02c" if ok else "#d62728"))
            ax.scatter(*mix.means[captured].T, marker="+", s=40, c="#2ca02c", label="mode captured (3 std circle)")
            ax.scatter(*mix.means[~captured].T, marker="x", s=40, c="#d62728", label="mode missed")
        ax.set_aspect("equal", adjustable="datalim")
    title = f"{result['n']} samples"
    if modes is not None:
        title += (f": {modes['modes']}/{modes['n_modes']} modes, {100 * modes['high_quality']:.1f}% high quality, "
                  f"reverse KL {modes['reverse_kl']:.3f}")
    ax.set_title(title, fontsize=8)
    ax.legend(loc="upper right", fontsize=7)
    return viz.save(fig, path)


def _circle(center, radius, color):
    from matplotlib.patches import Circle

    return Circle(center, radius, fill=False, ec=color, lw=1.0)


def _class_figure(path: Path, result: dict[str, Any], dataset: Dataset) -> Path:
    if "stacked" in result:
        st = result["stacked"]
        hists = list(zip(st["channel_histograms"], st["data_channel_histograms"] or [None] * 3, strict=False))
        titles = [f"channel {c}" for c in range(len(hists))]
        suptitle = (f"{st['modes']}/{st['n_modes']} modes, reverse KL {st['reverse_kl']:.3f} "
                    f"({st['n']} samples; real: {st['real']['modes']})")
    else:
        cl = result["classes"]
        hists = [(cl["histogram"], cl["data_histogram"])]
        titles = [f"{cl['classes_covered']}/{cl['n_classes']} classes covered, KL to data {cl['kl_to_data']:.3f}"]
        suptitle = ""
    classes = list(dataset.classes or [str(i) for i in range(len(hists[0][0]))])
    fig = viz.new_figure(max(5.0, 3.4 * len(hists)), 3.6)
    axes = fig.subplots(1, len(hists), squeeze=False)[0]
    x = np.arange(len(classes))
    for ax, (h, d), t in zip(axes, hists, titles, strict=True):
        ax.bar(x - 0.2, h, width=0.4, color="#ff7f0e", label="generated")
        if d is not None:
            ax.bar(x + 0.2, d, width=0.4, color="black", alpha=0.6, label="data")
        ax.set_xticks(x)
        ax.set_xticklabels(classes, rotation=60, fontsize=7, ha="right")
        ax.set_title(t, fontsize=8)
        ax.legend(fontsize=7)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    return viz.save(fig, path)


