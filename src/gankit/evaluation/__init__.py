r"""Evaluate a trained generator: the metrics that fit its data, figures, ``eval.json``.

``gankit eval RUN`` (or :func:`evaluate_run`) draws ``n`` fresh samples from
the run's generator and compares them with *held-out* real samples:

* Gaussian mixtures with known modes (``ring``, ``grid``, the 1-D mixtures):
  modes captured, fraction of high-quality samples and reverse KL
  (:func:`gankit.metrics.mode_coverage`, the VEEGAN / PacGAN protocol on 2,500
  samples). The published variants are data options of ``ring``:

  ========================  ============================================  ============================
  variant                   generating distribution                       ``--data-option``
  ========================  ============================================  ============================
  PacGAN 2D-ring (default)  8 modes, radius 1, std 0.01                   (none)
  VEEGAN 2D-ring            8 modes, radius 2, std 0.02                   ``radius=2 std=0.02``
  WGAN-GP "8 Gaussians"     radius 2, std 0.02, all scaled by 1/1.414     ``radius=1.4142 std=0.014142``
  PacGAN 2D-grid            25 modes at {-4,-2,0,2,4}^2, std 0.05         ``--data grid``
  ========================  ============================================  ============================

* every data set: distances between generated and held-out real samples
  (Wasserstein-1/2, energy distance, MMD; :func:`gankit.metrics.sample_distances`)
  next to the real-vs-real baseline (training samples vs held-out ones);
* the run's discriminator as a test of H0 "x is real"
  (:func:`gankit.metrics.hypothesis_test`): Type I / II errors at D = 0.5, ROC,
  AUC and the power at level alpha = 0.05 calibrated on other held-out real
  samples; a Wasserstein critic has no probabilities, so only its ROC, AUC and
  calibrated power are reported, on its raw scores; and a classifier two-sample
  test (:func:`gankit.metrics.c2st`) with a freshly trained classifier;
* images: FID, KID and improved precision / recall (k = 3) on the features of
  a domain classifier (:mod:`gankit.classifier`; Inception weights are not
  available offline), the histogram of predicted classes and its KL to the
  data's, and for the stacked sets the number of modes captured out of 1000
  (:func:`gankit.metrics.stacked_modes`, 26,000 samples as in PacGAN).

Held-out data: toy distributions and stacked sets are drawn afresh with another
seed; Fashion-MNIST uses its test split; the 8x8 digits and file data have no
split the trainer left out, so a random part of the training data stands in
(``eval.json`` notes it). Every result states its sample sizes.

During training, :func:`make_eval_callback` adds a few cheap metrics
(``eval/modes``, ``eval/w1``, ``eval/fid``, ...) to ``metrics.jsonl`` every
``eval_every`` iterations.
"""

from .callback import attach_evaluation, make_eval_callback
from .core import EVAL_FILE, N_STACKED, discriminator_test, evaluate_generator, evaluate_run, held_out_data, to_json
from .table import format_table

__all__ = [
    "attach_evaluation",
    "EVAL_FILE",
    "N_STACKED",
    "discriminator_test",
    "evaluate_generator",
    "evaluate_run",
    "format_table",
    "held_out_data",
    "make_eval_callback",
    "to_json",
]
