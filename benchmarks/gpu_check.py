"""Every CUDA path of gankit in one run: pass or fail, and the speed of each.

Run it whenever a GPU is at hand (about 5 minutes on one GPU with the defaults)::

    python benchmarks/gpu_check.py --out runs/gpu-check

Each check is a whole ``gankit`` command in its own process, so one failure is
reported with its last error line and the others still run:

* image training (``gan-fast`` on Fashion-MNIST, or ``--data digits``) in
  float32, bf16 and fp16 autocast, sampling its EMA generator; TensorBoard grids;
* a class-conditional ``wgan-gp`` image run (gradient penalty through autocast);
* 64 stacked seeds of ``gan-r1`` on the ring (``--seeds 0-63``);
* torchrun with one process per GPU (NCCL on CUDA, gloo on the CPU);
* the explorer's ``--bench`` on the device;
* ``gankit eval`` and ``gankit sample`` on the device (the image scores in the
  domain classifier's features).

``--device cpu`` runs the same checks on the CPU (what the tests do, with
tiny budgets); the table and ``OUT/gpu_check.json`` give every check's wall
time, iterations per second where it trains, and its result.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def _gankit(*args: str) -> list[str]:
    return [sys.executable, "-m", "gankit", *args]


def _rate(run: Path) -> float | None:
    """Iterations per second of a run folder's last metrics line (a stacked run: its first seed's)."""
    for path in (run / "metrics.jsonl", run / "seed-0" / "metrics.jsonl"):
        if path.is_file():
            lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
            if lines:
                return float(lines[-1].get("it_per_s", 0.0)) or None
    return None


def checks(device: str, data: str, iterations: int, out: Path, gpus: int, bench_seconds: float,
           stacked: int = 64) -> list[dict]:
    """The checks, in order: name, command, and the run folder whose speed is reported."""
    common = ["--iterations", str(iterations), "--log-every", str(max(1, iterations // 4)), "--device", device,
              "--quiet", "--overwrite"]
    image = ["--data", data, *common]
    ring = ["--data", "ring", "--objective", "gan-r1", *common]
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))
    found = []
    for amp in ("off", "bf16", "fp16"):
        run = out / f"image-{amp}"
        found.append({"name": f"image training, amp {amp}, EMA", "run": run,
                      "cmd": _gankit("train", *image, "--objective", "gan-fast", "--amp", amp, "--out", str(run))})
    run = out / "image-conditional-wgan-gp"
    found.append({"name": "conditional wgan-gp, bf16", "run": run,
                  "cmd": _gankit("train", *image, "--objective", "wgan-gp", "--conditional", "--amp", "bf16",
                                 "--out", str(run))})
    run = out / f"stacked-{stacked}"
    found.append({"name": f"{stacked} stacked seeds (gan-r1, ring)", "run": run,
                  "cmd": _gankit("train", *ring, "--seeds", f"0-{stacked - 1}", "--out", str(run))})
    run = out / "torchrun"
    found.append({"name": f"torchrun, {gpus} process(es), {'NCCL' if device != 'cpu' else 'gloo'}", "run": run,
                  "cmd": [torchrun, "--standalone", "--nproc_per_node", str(gpus), "-m", "gankit", "train", *ring,
                          "--out", str(run)]})
    found.append({"name": "explore --bench", "run": None,
                  "cmd": _gankit("explore", "--device", device, "--bench", str(bench_seconds), "--rounds", "1")})
    found.append({"name": "eval (image scores)", "run": None,
                  "cmd": _gankit("eval", str(out / "image-off"), "--device", device, "--quiet")})
    found.append({"name": "sample 64 (EMA generator)", "run": None,
                  "cmd": _gankit("sample", str(out / "image-off"), "--n", "64", "--device", device,
                                 "--out", str(out / "samples.png"))})
    return found


def run_check(check: dict, timeout: float) -> dict[str, Any]:
    tic = time.perf_counter()
    try:
        done = subprocess.run(check["cmd"], capture_output=True, text=True, timeout=timeout)
        ok, tail = done.returncode == 0, (done.stderr or done.stdout).strip().splitlines()[-1:]
        why = "" if ok else f"exit {done.returncode}: {tail[0] if tail else ''}"
    except subprocess.TimeoutExpired:
        ok, why = False, f"over {timeout:g} s"
    seconds = time.perf_counter() - tic
    rate = _rate(check["run"]) if ok and check["run"] is not None else None
    return {"name": check["name"], "ok": ok, "seconds": seconds, "it_per_s": rate, "why": why,
            "command": " ".join(map(str, check["cmd"]))}


def table(rows: list[dict[str, Any]], device: str) -> str:
    lines = [f"| check ({device}) | result | it/s | wall s |", "| --- | --- | --- | --- |"]
    for r in rows:
        rate = f"{r['it_per_s']:.1f}" if r["it_per_s"] else "-"
        lines.append(f"| {r['name']} | {'pass' if r['ok'] else 'FAIL ' + r['why']} | {rate} | {r['seconds']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="gpu_check.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (default: cuda)")
    p.add_argument("--data", default="fashion-mnist", choices=("fashion-mnist", "digits"),
                   help="the image data (default: fashion-mnist)")
    p.add_argument("--iterations", type=int, default=300, help="iterations of every training check (default 300)")
    p.add_argument("--bench-seconds", type=float, default=5.0, help="explore --bench seconds per measurement")
    p.add_argument("--stacked", type=int, default=64, help="seeds of the stacked check (default 64)")
    p.add_argument("--timeout", type=float, default=240.0, help="seconds one check may take (default 240)")
    p.add_argument("--out", default="runs/gpu-check", help="output folder (default runs/gpu-check)")
    args = p.parse_args(argv)
    if min(args.iterations, args.stacked) < 1 or args.timeout <= 0 or args.bench_seconds <= 0:
        p.error("--iterations, --stacked, --timeout and --bench-seconds must be positive")
    import torch

    if args.device != "cpu" and not torch.cuda.is_available():
        p.error(f"--device {args.device}: CUDA is not available here (torch {torch.__version__}); "
                "--device cpu runs the same checks on the CPU")
    gpus = torch.cuda.device_count() if args.device != "cpu" else 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for check in checks(args.device, args.data, args.iterations, out, gpus, args.bench_seconds, args.stacked):
        rows.append(run_check(check, args.timeout))
        r = rows[-1]
        print(f"{r['name']}: {'pass' if r['ok'] else 'FAIL ' + r['why']} ({r['seconds']:.1f} s)", flush=True)
    info = {"device": args.device, "torch": torch.__version__, "cuda": torch.version.cuda,
            "gpu": torch.cuda.get_device_name(0) if args.device != "cpu" else None,
            "rows": rows}
    (out / "gpu_check.json").write_text(json.dumps(info, indent=1) + "\n")
    text = table(rows, info["gpu"] or args.device)
    (out / "gpu_check.md").write_text(text + "\n")
    print(text)
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
