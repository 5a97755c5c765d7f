"""``gankit explore``: the command (its parser imports nothing heavy; the server is imported when it runs)."""

from __future__ import annotations

import argparse
import logging
import os

log = logging.getLogger("gankit")

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _cmd_explore(args: argparse.Namespace) -> int:
    if args.bench is not None:
        if not args.bench > 0 or args.rounds < 1:
            raise ValueError(f"--bench {args.bench} --rounds {args.rounds}: seconds must be > 0 and rounds >= 1")
        if args.device != "cpu":
            raise ValueError(f"--device {args.device}: --bench measures one CPU core; leave --device out")
        from .bench import main as bench_main

        return bench_main(seconds=args.bench, device=args.device, rounds=args.rounds)
    from ..sampling import pick_device
    from .server import check_token, serve

    token = args.token if args.token is not None else os.environ.get("GANKIT_EXPLORE_TOKEN") or None
    if token is not None:
        check_token(token, "--token" if args.token is not None else "$GANKIT_EXPLORE_TOKEN")
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port {args.port}: a port is 0 (any free one) to 65535")
    try:
        device = str(pick_device(args.device))
    except ValueError as e:
        raise ValueError(f"--device {args.device}: {e}") from None
    if args.host not in LOOPBACK:
        log.warning("--host %s: the page is reachable from other machines; anyone who has the URL with its token "
                    "can train and save runs here", args.host)
    return serve(args.host, args.port, token=token, open_browser=not args.no_browser, out_root=args.out,
                 device=device)


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "explore", help="watch GAN and WGAN train live in the browser",
        description="Start a local web app that trains a 2-D or 1-D GAN live with gankit's own loop: choose the "
                    "data (or draw it), the objective and its settings; play, pause or step one D step, one G step "
                    "or one iteration; see D(x) as a heat map (1-D: D(x), the densities and the map z -> G(z) as "
                    "curves), the generator's push on each sample, its manifold, the losses, exact W1 and JS, "
                    "modes and the critic's weights; compare two runs side by side; save a run folder (gankit "
                    "sample/eval accept it) or export a PNG or GIF. A reloaded page attaches to its session again.",
        epilog="The URL carries a random token; the page, its files and its WebSocket refuse requests without it, "
               "and any request naming another host than 127.0.0.1, localhost, [::1] or --host (DNS rebinding). "
               "Ctrl-C stops the server.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1, this machine only; another host is warned about)")
    p.add_argument("--port", type=int, default=0, metavar="N", help="port (default: 0, any free port)")
    p.add_argument("--no-browser", action="store_true", help="print the URL without opening a browser")
    p.add_argument("--token", metavar="TEXT",
                   help="the token the URL carries, at least 16 random bytes' worth (e.g. 22 random URL-safe "
                        "characters) (default: $GANKIT_EXPLORE_TOKEN, else a random one)")
    p.add_argument("--out", default="runs/explore", metavar="DIR",
                   help="where saved runs go (default: runs/explore)")
    p.add_argument("--device", default="cpu",
                   help="where the networks train: cpu, cuda, cuda:N or auto (default: cpu, the fastest for "
                        "these small networks)")
    p.add_argument("--bench", type=float, nargs="?", const=10.0, metavar="SECONDS",
                   help="instead of serving: measure view updates per second and training speed against the "
                        "headless trainer, each on one core (default: 10 s per measurement)")
    p.add_argument("--rounds", type=int, default=3, metavar="N",
                   help="with --bench: alternating rounds, medians reported (default: 3)")
    p.set_defaults(func=_cmd_explore)
    return p


__all__ = ["register"]
