"""HTML reports: one page for a set of experiment results, or for one run folder.

The pages are static HTML next to the files they show (figures are linked
relative to the page), readable in any browser without a server.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
td, th { border: 1px solid #ddd; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
.pass { color: #0a7d22; font-weight: bold; } .fail { color: #b00020; font-weight: bold; } .na { color: #777; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.4em 0; }
.claim { font-style: italic; } .note { color: #555; font-size: 0.92em; }
code { background: #f5f5f5; padding: 0 0.2em; }
"""


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _verdict(passed: bool | None) -> str:
    cls, text = {True: ("pass", "PASS"), False: ("fail", "FAIL"), None: ("na", "n/a")}[passed]
    return f'<span class="{cls}">{text}</span>'


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list) and len(value) > 12:
        return _esc(f"[{len(value)} values]")
    if isinstance(value, dict):
        return "<br>".join(f"{_esc(k)}: {_format(v)}" for k, v in value.items())
    return _esc(value)


def _numbers_table(numbers: dict[str, Any]) -> str:
    rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_format(v)}</td></tr>" for k, v in numbers.items())
    return f"<table>{rows}</table>"


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{_esc(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{_esc(title)}</h1>{body}</body></html>\n")


def experiments_report(out_root: str | Path, results: list[dict[str, Any]] | None = None) -> Path:
    """Write ``out_root/report.html`` from the experiments' ``result.json`` files."""
    from .experiments import load_results

    out_root = Path(out_root)
    results = results if results is not None else load_results(out_root)
    if not results:
        raise FileNotFoundError(f"{out_root}: no experiment results (result.json) found; run `gankit experiment all`")
    summary = "".join(
        f"<tr><td><a href='#{_esc(r['name'])}'>{_esc(r['name'])}</a></td><td>{_verdict(r['passed'])}</td>"
        f"<td>{_esc(r['criterion'])}</td><td>{r['seconds']:.1f}</td></tr>"
        for r in results
    )
    n_pass = sum(r["passed"] is True for r in results)
    n_fail = sum(r["passed"] is False for r in results)
    quick = any(r.get("quick") for r in results)
    body = [
        f"<p>{n_pass} passed, {n_fail} failed, {len(results) - n_pass - n_fail} not applicable"
        f"{' (quick sizes: criteria marked n/a are meaningful only at full size)' if quick else ''}.</p>",
        f"<table><tr><th>experiment</th><th>result</th><th>criterion</th><th>seconds</th></tr>{summary}</table>",
    ]
    for r in results:
        figures = "".join(f"<img src='{_esc(r['name'])}/{_esc(f)}' alt='{_esc(f)}'>" for f in r.get("figures", []))
        notes = "".join(f"<p class='note'>{_esc(n)}</p>" for n in r.get("notes", []))
        body.append(
            f"<h2 id='{_esc(r['name'])}'>{_esc(r['name'])} {_verdict(r['passed'])}</h2>"
            f"<p class='claim'>Claim: {_esc(r.get('claim', ''))}</p>"
            f"<p>Criterion: {_esc(r['criterion'])}</p>"
            f"<p class='note'>seed {r.get('seed')}, {r['seconds']:.1f} s{', quick sizes' if r.get('quick') else ''}</p>"
            f"{_numbers_table(r['numbers'])}{notes}{figures}"
        )
    path = out_root / "report.html"
    path.write_text(_page("gankit: the seed's claims, measured", "".join(body)))
    return path


def run_report(run_dir: str | Path) -> Path:
    """Write ``run_dir/report.html``: config, last metrics, pictures and evaluation of one run."""
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if not config_path.exists():
        raise FileNotFoundError(f"{run_dir}: not a run folder (no config.json)")
    config = json.loads(config_path.read_text())
    metrics = run_dir / "metrics.jsonl"
    records = [json.loads(line) for line in metrics.read_text().splitlines()] if metrics.exists() else []
    body = [f"<h2>Configuration</h2>{_numbers_table(config)}"]
    if records:
        body.append(f"<h2>Last logged metrics (iteration {records[-1]['step']})</h2>{_numbers_table(records[-1])}")
    evaluation = run_dir / "eval.json"
    if evaluation.exists():
        body.append(f"<h2>Evaluation</h2>{_numbers_table(json.loads(evaluation.read_text()))}")
    pictures = [p for p in ("samples.png", "training.gif", "curves.png") if (run_dir / p).exists()]
    pictures += sorted(p.name for p in run_dir.glob("eval_*.png"))
    if pictures:
        body.append("<h2>Pictures</h2>" + "".join(f"<img src='{_esc(p)}' alt='{_esc(p)}'>" for p in pictures))
    path = run_dir / "report.html"
    path.write_text(_page(f"gankit run: {config.get('objective')} on {config.get('data')}", "".join(body)))
    return path
