"""The table ``gankit eval RUN`` prints: each metric of the generated samples beside the real-vs-real baseline."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# --------------------------------------------------------------------------- the table


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    x = float(x)
    if not math.isfinite(x):
        return "inf" if x > 0 else ("-inf" if x < 0 else "nan")
    return f"{x:.4g}"


def format_table(result: dict[str, Any]) -> str:
    """A plain-text table: metric, generated, real-vs-real baseline."""
    rows: list[tuple[str, Any, Any]] = []
    if "modes" in result:
        m, r = result["modes"], result["modes"]["real"]
        rows += [(f"modes captured (of {m['n_modes']})", m["modes"], r["modes"]),
                 ("high-quality samples (< 3 std)", m["high_quality"], r["high_quality"]),
                 ("reverse KL of the modes to the mixture's weights (nats)", m["reverse_kl"], r["reverse_kl"])]
    dist = result.get("distances", {})
    for key, label in (("w1", "Wasserstein-1"), ("w2", "Wasserstein-2"), ("energy", "energy distance^2"),
                       ("mmd", "MMD^2 (RBF)")):
        if key in dist:
            method = f" ({dist[key]['method']})" if "method" in dist[key] else ""
            rows.append((f"{label}{method}", dist[key]["value"], dist[key]["baseline"]))
    d = result.get("discriminator")
    if d is not None:
        who = "D" if d["scores"] == "probability" else "critic"
        rows.append((f"{who}: AUC real vs generated", d["auc"], None))
        if d.get("type_i") is not None:
            rows += [(f"{who}: type I error at D = 0.5", d["type_i"], None),
                     (f"{who}: type II error at D = 0.5", d["type_ii"], None)]
        rows += [(f"{who}: power at alpha = {d['alpha']:g}", d["power_at_alpha"], None),
                 (f"{who}: type I at calibrated threshold", d["type_i_at_alpha"], None)]
    c = result.get("c2st")
    if c is not None:
        rows += [(f"C2ST accuracy ({c['space']})", c["accuracy"], None), ("C2ST p-value", c["p_value"], None)]
    f = result.get("features")
    if f is not None:
        r = f["real"]
        rows += [(f"FID ({f['extractor']})", f["fid"], r["fid"]),
                 ("KID mean", f["kid"]["mean"], r["kid"]["mean"]), ("KID std", f["kid"]["std"], r["kid"]["std"]),
                 ("precision (k=3)", f["precision"], r["precision"]), ("recall (k=3)", f["recall"], r["recall"])]
    cl = result.get("classes")
    if cl is not None:
        rows += [(f"classes covered (of {cl['n_classes']})", cl["classes_covered"], cl["real"]["classes_covered"]),
                 ("KL(class histogram || data)", cl["kl_to_data"], cl["real"]["kl_to_data"])]
    co = result.get("conditional")
    if co is not None:
        ceiling = (cl or {}).get("classifier_accuracy_on_real")
        rows.append(("class accuracy (the class asked)", co["accuracy"], ceiling))
        worst = min(co["per_class"], key=lambda c: c["accuracy"])
        rows.append((f"  worst class: {worst['name']}", worst["accuracy"], None))
    st = result.get("stacked")
    if st is not None:
        rows += [(f"stacked modes (of {st['n_modes']}, n={st['n']})", st["modes"], st["real"]["modes"]),
                 ("KL(mode histogram || uniform)", st["reverse_kl"], st["real"]["reverse_kl"])]
    width = max([len(r[0]) for r in rows] + [10])
    lines = [f"{'metric':<{width}}  {'generated':>12}  {'real':>12}", "-" * (width + 28)]
    lines += [f"{label:<{width}}  {_fmt(a):>12}  {_fmt(b):>12}" for label, a, b in rows]
    head = f"{result.get('run', result['data'])}: {result['n']} samples"
    if "step" in result:
        head += f", iteration {result['step']}"
    lines = [head, *lines, "(real: modes and classes of held-out real samples, the classifier's accuracy on them; "
                           "distances, FID, KID, precision, recall between training and held-out real samples)",
             f"(eval took {result['seconds']:.1f} s wall, {result.get('cpu_seconds', float('nan')):.1f} s CPU)"]
    return "\n".join(lines)
