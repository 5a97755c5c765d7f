"""Cheap evaluation metrics logged during training every ``eval_every`` iterations."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..metrics import (
    class_coverage,
    fid,
    mixture_coverage,
    roc_auc,
    sample_distances,
    stacked_modes,
)
from ..sampling import discriminator_scores, generate
from .core import make_feature_extractor, reference_sets

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- during training


def make_eval_callback(
    trainer_or_config: Any,
    *,
    every: int | None = None,
    n: int = 500,
    seed: int = 0,
    feature_extractor: Any = "auto",
    train_classifier: bool = True,
) -> Callable[[Any, dict[str, Any]], None]:
    """A training callback adding cheap evaluation metrics to the logged record every ``every`` iterations.

    At the first logging step at or after each multiple of ``every``
    (default: the config's ``eval_every``; any value, not only a multiple of
    ``log_every``), it draws ``n`` samples from its own seeded noise (the
    training's random streams are untouched) and adds:

    * ``eval/w1`` and ``eval/w1_baseline``: Wasserstein-1 between generated and
      held-out real samples (data units; exact up to 16 dimensions, sliced above)
      and between training and held-out real samples;
    * mixtures: ``eval/modes``, ``eval/high_quality``, ``eval/reverse_kl``
      (infinite when no sample is of high quality: ``"inf"`` in ``metrics.jsonl``);
    * ``eval/auc``: the discriminator's AUC, held-out real vs generated;
    * images with a domain classifier: ``eval/fid``, ``eval/classes_covered``,
      ``eval/kl_classes``, and for a class-conditional generator
      ``eval/class_accuracy`` (the classifier's agreement with the classes asked);
      stacked sets: ``eval/modes``, ``eval/reverse_kl`` (on ``n`` samples, not the protocol's 26,000).

    Evaluation happens at logging steps: with ``log_every`` 30 and ``every``
    50, at iterations 60, 120, 150, ... (the first logging step past 50, 100,
    150, ...). Which steps evaluate depends on the step alone, so a resumed run
    evaluates where an uninterrupted one would.

    Args:
        trainer_or_config: the :class:`~gankit.training.Trainer` or its
            :class:`~gankit.config.TrainConfig`.
        every: iterations between evaluations (default ``config.eval_every``).
        n: samples per evaluation.
        seed: seeds the evaluation noise and the held-out draw.
        feature_extractor: images: as in :func:`evaluate_generator`.
        train_classifier: train the domain classifier once when none is cached.

    Returns:
        ``fn(trainer, record)``.
    """
    config = getattr(trainer_or_config, "config", trainer_or_config)
    every = config.eval_every if every is None else every
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"every (eval_every) must be an integer >= 1; got {every!r}")
    if n < 4:
        raise ValueError(f"n must be >= 4; got {n}")
    state: dict[str, Any] = {}

    def setup(trainer) -> None:
        ds = trainer.dataset
        ref = reference_sets(ds, n, data=trainer.config.data, options=trainer.config.data_options,
                              data_dir=trainer.config.data_dir, seed=seed)
        state["real"], state["calib"], state["real_y"], train_x = ref["real"], ref["calib"], ref["real_y"], ref["train"]
        clusters = getattr(trainer, "clusters", None)  # a cluster-conditional D scores the samples' clusters
        state["d_real_y"] = clusters.assign(state["real"]) if clusters is not None else state["real_y"]
        to_data = ds.scaler.to_data
        state["baseline"] = sample_distances(to_data(state["real"]), to_data(state["real"]),
                                             held_out=to_data(train_x), metrics=("w1",), seed=seed)["w1"]["baseline"]
        state["feats"] = None
        if ds.kind == "image" and feature_extractor is not None:
            stacked = ds.labels is not None and ds.labels.ndim == 2
            feats = make_feature_extractor(feature_extractor, trainer.config.data, ds.sample_shape, stacked,
                                       train=train_classifier, data_dir=trainer.config.data_dir,
                                       device=trainer.device, progress=False, notes=[])
            if feats is not None:
                state["feats"], state["stacked"] = feats, stacked
                state["f_real"] = feats(state["real"])[1]

    def callback(trainer, record: dict[str, Any]) -> None:
        step = record["step"]
        previous = (step - 1) // trainer.config.log_every * trainer.config.log_every  # the logging step before
        if step // every == previous // every:  # no multiple of every in (previous, step]
            return
        if not state:
            setup(trainer)
        ds = trainer.dataset
        fake, fake_y = generate(trainer.G_eval, len(state["real"]), noise_dim=trainer.config.noise_dim,
                                seed=seed + record["step"], return_labels=True)
        fake = fake.cpu()
        to_data = ds.scaler.to_data
        w1 = sample_distances(to_data(state["real"]), to_data(fake), held_out=to_data(state["real"]),
                              metrics=("w1",), seed=seed)["w1"]["value"]
        out: dict[str, Any] = {"eval/w1": w1, "eval/w1_baseline": state["baseline"]}
        if ds.mixture is not None:
            mc = mixture_coverage(to_data(fake).numpy(), ds.mixture)
            out.update({"eval/modes": mc["modes"], "eval/high_quality": mc["high_quality"],
                        "eval/reverse_kl": mc["reverse_kl"]})
        d_real = discriminator_scores(trainer.D, state["real"], labels=state["d_real_y"])
        d_fake = discriminator_scores(trainer.D, fake, labels=fake_y)
        out["eval/auc"] = roc_auc(d_real, d_fake, scores="raw")  # the AUC depends on the order of the scores only
        feats = state.get("feats")
        if feats is not None:
            labels, f_fake = feats(fake)
            out["eval/fid"] = fid(f_fake, state["f_real"])
            n_classes = len(ds.classes) if ds.classes else 10
            if labels is not None and state["stacked"]:
                sm = stacked_modes(labels, n_classes)
                out.update({"eval/modes": sm["modes"], "eval/reverse_kl": sm["reverse_kl"]})
            elif labels is not None:
                ref = None if state["real_y"] is None else state["real_y"].numpy()
                cov = class_coverage(labels, n_classes, ref)
                out.update({"eval/classes_covered": cov["classes_covered"],
                            "eval/kl_classes": cov["kl_to_data"]})
                if fake_y is not None and getattr(trainer, "clusters", None) is None:  # conditional on the labels:
                    # how often the classifier sees the class asked for
                    out["eval/class_accuracy"] = float((labels == fake_y.cpu().numpy()).mean())
        record.update(out)

    callback.evaluation = True  # type: ignore[attr-defined]  (how attach_evaluation recognises it)
    return callback


def attach_evaluation(trainer: Any, **kwargs: Any) -> Any:
    """Add the evaluation callback to a trainer whose config asks for it (``eval_every``); returns the trainer.

    Evaluation sits above the training loop and is attached from here, so the
    loop never imports it. A trainer of stacked seeds gets it on every run.
    ``kwargs`` go to :func:`make_eval_callback`.
    """
    for run in getattr(trainer, "runs", None) or [trainer]:
        if run.config.eval_every and not any(getattr(cb, "evaluation", False) for cb in run.callbacks):
            run.callbacks.append(make_eval_callback(run, **kwargs))
    return trainer


