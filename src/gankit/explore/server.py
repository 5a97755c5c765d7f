"""The local web app of ``gankit explore``: one page, its static files, one WebSocket per page, two exports.

Security, as Jupyter does it: the server binds to 127.0.0.1 unless told
otherwise; a random token in the printed URL is required by the page, its
files, its API and its WebSocket (without it: 403); a WebSocket whose Origin
is not the page's own is refused (403), so another site open in the browser
cannot drive it. Every message is validated (:mod:`gankit.explore.protocol`)
and a bad one is answered with its error; nothing the page sends can stop the
server. Everything is shipped in the package: the page works offline.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hmac
import json
import logging
import secrets
import socket
import threading
import webbrowser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from .protocol import MAX_MESSAGE, ProtocolError, parse
from .session import Session

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
REFUSED = "403: this page needs the token printed by `gankit explore` (open the URL it printed)"


class Explorer:
    """The app's state: its token and its live sessions.

    Args:
        token: the secret every request must carry (default: a fresh random one).
        out_root: where saved runs go.
        device: where the networks train.
        fps, metrics_every: passed to each :class:`Session`.
    """

    def __init__(self, token: str | None = None, *, out_root: str | Path = "runs/explore", device: str = "cpu",
                 fps: float = 25.0, metrics_every: float = 0.5):
        self.token = token or secrets.token_urlsafe(24)
        self.out_root, self.device, self.fps, self.metrics_every = Path(out_root), device, fps, metrics_every
        self.sessions: dict[str, Session] = {}
        self.app = Starlette(
            routes=[Route("/", self.page), Route("/static/{name}", self.static), Route("/api/export", self.export),
                    WebSocketRoute("/ws", self.websocket)],
            lifespan=self._lifespan,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette):
        yield
        await run_in_threadpool(self.close)  # the server stops: every worker ends after its current step

    # -- checks

    def authorised(self, query: Any) -> bool:
        given = query.get("token", "")
        return hmac.compare_digest(given.encode(), self.token.encode())

    @staticmethod
    def same_origin(headers: Any) -> bool:
        """True without an Origin (not a browser) or when the Origin is the page's own host."""
        origin = headers.get("origin")
        if origin is None:
            return True
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc == headers.get("host")

    # -- HTTP

    async def page(self, request: Request) -> Response:
        if not self.authorised(request.query_params):
            return PlainTextResponse(REFUSED, status_code=403)
        html = (STATIC / "index.html").read_text().replace("{{token}}", self.token)
        return HTMLResponse(html, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})

    async def static(self, request: Request) -> Response:
        if not self.authorised(request.query_params):
            return PlainTextResponse(REFUSED, status_code=403)
        name = request.path_params["name"]
        path = STATIC / name
        if Path(name).name != name or path.suffix not in STATIC_TYPES or not path.is_file():
            return PlainTextResponse(f"404: no file {name!r}", status_code=404)
        return Response(path.read_bytes(), media_type=STATIC_TYPES[path.suffix])

    async def export(self, request: Request) -> Response:
        """``/api/export?session=ID&run=a|b&format=png|gif``: the run's view as a picture."""
        q = request.query_params
        if not self.authorised(q):
            return PlainTextResponse(REFUSED, status_code=403)
        session = self.sessions.get(q.get("session", ""))
        run, fmt = q.get("run", "a"), q.get("format", "png")
        if session is None:
            return PlainTextResponse("400: session: no such live session (reload the page)", status_code=400)
        if run not in ("a", "b") or fmt not in ("png", "gif"):
            return PlainTextResponse("400: run must be a or b, format png or gif", status_code=400)
        try:
            body = await run_in_threadpool(session.export, run, fmt)
        except ValueError as e:
            return PlainTextResponse(f"400: {e}", status_code=400)
        name = f"gankit-explore-{run}.{fmt}"
        disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
        return Response(body, media_type=f"image/{fmt}", headers=disposition)

    # -- the WebSocket

    async def websocket(self, ws: WebSocket) -> None:
        if not self.authorised(ws.query_params) or not self.same_origin(ws.headers):
            await ws.close(code=1008)  # before accept: the handshake is answered 403
            return
        await ws.accept()
        loop = asyncio.get_running_loop()
        outbox: collections.deque[dict[str, Any]] = collections.deque()
        latest: dict[str, Any] = {}
        wake = asyncio.Event()

        def deliver(message: dict[str, Any], frame: bool) -> None:  # in the event loop
            if frame:
                latest["frame"] = message  # an unsent older frame is dropped: the page shows the newest
            else:
                outbox.append(message)
            wake.set()

        def send(message: dict[str, Any], frame: bool = False) -> None:  # from the worker thread
            try:
                loop.call_soon_threadsafe(deliver, message, frame)
            except RuntimeError:  # the loop is closed: the page has gone
                pass

        session = Session(send, out_root=self.out_root, device=self.device, fps=self.fps,
                          metrics_every=self.metrics_every)
        self.sessions[session.id] = session
        deliver(session.hello(), False)
        session.start()
        sender = asyncio.create_task(self._sender(ws, outbox, latest, wake))
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                try:
                    session.submit(parse(text if text is not None else message.get("bytes") or b""))
                except ProtocolError as e:
                    deliver({"type": "error", "message": str(e)}, False)
        except WebSocketDisconnect:
            pass
        finally:
            sender.cancel()
            self.sessions.pop(session.id, None)
            await run_in_threadpool(session.close)

    @staticmethod
    async def _sender(ws: WebSocket, outbox: collections.deque, latest: dict, wake: asyncio.Event) -> None:
        try:
            while True:
                await wake.wait()
                wake.clear()
                while outbox:
                    await ws.send_text(json.dumps(outbox.popleft()))
                frame = latest.pop("frame", None)
                if frame is not None:
                    await ws.send_text(json.dumps(frame))
        except (WebSocketDisconnect, RuntimeError, asyncio.CancelledError):
            pass

    def close(self) -> None:
        for session in list(self.sessions.values()):
            session.close()
        self.sessions.clear()


def url_host(host: str) -> str:
    """The host as a URL writes it (IPv6 in brackets; the wildcard as the loopback address)."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def make_server(host: str = "127.0.0.1", port: int = 0, *, token: str | None = None,
                out_root: str | Path = "runs/explore", device: str = "cpu", fps: float = 25.0):
    """The uvicorn server of an :class:`Explorer`, listening already; returns ``(server, socket, url, explorer)``.

    ``port=0`` takes a free port. ``server.run(sockets=[socket])`` serves until ``server.should_exit``.
    """
    import uvicorn

    explorer = Explorer(token, out_root=out_root, device=device, fps=fps)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except (OSError, OverflowError) as e:
        sock.close()
        raise ValueError(f"--host {host} --port {port}: cannot listen there ({getattr(e, 'strerror', e)}); "
                         "choose another --port (0: any free one)") from None
    sock.listen(128)  # connections wait in the backlog until the server takes them
    port = sock.getsockname()[1]
    url = f"http://{url_host(host)}:{port}/?token={explorer.token}"
    config = uvicorn.Config(explorer.app, log_level="warning", ws_max_size=MAX_MESSAGE + 1024, lifespan="on",
                            ws_ping_interval=None)
    return uvicorn.Server(config), sock, url, explorer


def serve(host: str = "127.0.0.1", port: int = 0, *, token: str | None = None, open_browser: bool = True,
          out_root: str | Path = "runs/explore", device: str = "cpu") -> int:
    """Run the app until Ctrl-C; print its URL (with the token) and open it in a browser unless told not to.

    Returns 0 after a clean stop (the workers end after their current step).
    """
    server, sock, url, explorer = make_server(host, port, token=token, out_root=out_root, device=device)
    print(f"gankit explore: {url}\n(Ctrl-C stops the server)", flush=True)
    if open_browser:
        threading.Timer(0.8, webbrowser.open, [url]).start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn has shut down gracefully, then passes Ctrl-C on
        pass
    finally:
        explorer.close()
        sock.close()
    print("gankit explore: stopped", flush=True)
    return 0


__all__ = ["Explorer", "make_server", "serve"]
