"""What the server sends the page, declared once: the messages and their keys, the curves, colours and limits.

The page reads this from its ``hello`` message (``hello["schema"]``) instead of
keeping its own copy: the names of the metrics it plots, their labels and
colours, and how much history it keeps all come from here, and
``tests/test_explore.py`` checks that every message the session sends has the
keys declared for its type. The messages the page may send are the other
direction's schema (:data:`gankit.explore.protocol.MESSAGES`).
"""

from __future__ import annotations

from typing import Any

#: type -> the keys every message of that type carries (beside ``type``).
OUTBOUND: dict[str, tuple[str, ...]] = {
    "hello": ("session", "resumed", "objectives", "presets", "controls", "state", "schema", "history"),
    "state": ("state",),
    "frame": ("playing", "runs"),
    "error": ("message",),
    "status": ("message", "state"),
    "saved": ("run", "path", "step"),
}

#: The colours of what the canvas draws.
COLOURS: dict[str, str] = {
    "real": "#16a34a", "fake": "#7c3aed", "arrow": "#b45309", "manifold": "#2563eb", "mode": "#15803d",
    "histogram": "#7c3aed", "limit": "#dc2626",  # the critic's weights; a bound drawn on a chart (log 2, +-c)
    "discriminator": "#1e3a8a", "mapping": "#64748b",  # 1-D: the curve of D(x) or f(x); the lines z -> G(z)
}


def _curve(key: str, label: str, colour: str, per: str | None = None) -> dict[str, Any]:
    """One plotted series: ``record[key]`` (divided by ``record[per]`` when given), its label and colour."""
    return {"key": key, "label": label, "colour": colour, **({"per": per} if per else {})}


#: chart -> its series, each a key of the metrics lines the frames carry.
CURVES: dict[str, list[dict[str, Any]]] = {
    "losses": [_curve("d_loss", "D/critic loss", "#7c3aed"), _curve("g_loss", "G loss", "#b45309"),
               _curve("penalty", "penalty", "#94a3b8")],
    "distances": [_curve("w1", "exact W1", "#2563eb"), _curve("w1_estimate", "critic's W1 estimate", "#0891b2"),
                  _curve("js", "JS (k-NN)", "#dc2626"), _curve("js_from_d", "JS from D: log 2 − L_D/2", "#f59e0b")],
    "coverage": [_curve("modes", "modes captured (share)", "#15803d", per="n_modes"),
                 _curve("high_quality", "high-quality share", "#7c3aed")],
}

#: Metrics lines the page keeps per run (the oldest are dropped).
HISTORY_LIMIT = 2000


def schema() -> dict[str, Any]:
    """The whole outbound schema, as the hello message carries it."""
    return {"messages": {k: list(v) for k, v in OUTBOUND.items()}, "colours": dict(COLOURS),
            "curves": CURVES, "history_limit": HISTORY_LIMIT}


def check(message: dict[str, Any]) -> dict[str, Any]:
    """``message`` itself if it has a declared type and every key of that type; else a ``ValueError``."""
    kind = message.get("type")
    if kind not in OUTBOUND:
        raise ValueError(f"outbound message of undeclared type {kind!r}; declared: {sorted(OUTBOUND)}")
    missing = [k for k in OUTBOUND[kind] if k not in message]
    if missing:
        raise ValueError(f"outbound {kind!r} message lacks {missing}")
    return message
