"""The local web app of ``gankit explore``: one page, its static files, one WebSocket per page, two exports.

Security, as Jupyter does it, and against DNS rebinding:

* the server binds to 127.0.0.1 unless told otherwise;
* every HTTP and WebSocket request must name an allowed host in its ``Host``
  header (127.0.0.1, localhost, [::1] and the ``--host`` given; for a wildcard
  address also this machine's names and addresses), and a request that carries
  an ``Origin`` must come from one of those hosts on the server's port: else
  403. A page of another site, even one whose name was rebound to 127.0.0.1,
  names its own host;
* a random token of at least 16 random bytes (:data:`MIN_TOKEN_BITS`) in the
  printed URL is required by the page, its files, its API and its WebSocket
  (without it: 403); it is URL-encoded in the page's links and written as a
  JSON string in its script;
* every message is validated (:mod:`gankit.explore.protocol`), a bad one is
  answered with its error, and nothing the page sends can stop the server.

A session outlives its WebSocket: the page keeps the session's id (in its
tab's ``sessionStorage``) and a reloaded page asks for it again
(``/ws?token=...&session=ID``), so training goes on and the page catches up.
A session nobody is attached to is closed :data:`LINGER` seconds after its
last page left (the session id is a random UUID, and the token is
needed too). An id the server does not know (the session was closed, the
server restarted) starts a new session.

Everything is shipped in the package: the page works offline.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hmac
import json
import logging
import math
import secrets
import socket
import string
import threading
import webbrowser
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

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
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
WILDCARDS = ("0.0.0.0", "::", "")
MIN_TOKEN_BITS = 128  # 16 random bytes
URLSAFE = frozenset(string.ascii_letters + string.digits + "-_")
LINGER = 60.0  # seconds a session nobody is attached to waits for its page to come back (a reload)


# --------------------------------------------------------------------------- hosts, origins and tokens


def host_name(text: str) -> str:
    """A host as the allow-list compares it: lower case, no port, no trailing dot, IPv6 in brackets."""
    text = text.strip().lower()
    if text.startswith("["):
        return text[: text.find("]") + 1] if "]" in text else text
    if text.count(":") > 1:  # a bare IPv6 address
        return f"[{text}]"
    return text.rsplit(":", 1)[0].rstrip(".") if ":" in text else text.rstrip(".")


def allowed_hosts(host: str = "127.0.0.1", extra: Iterable[str] = ()) -> frozenset[str]:
    """The names the server answers to: the loopback names, the address it listens on and ``extra``.

    Listening on a wildcard address (0.0.0.0, ::), it also answers to this machine's host name, its
    fully qualified name and their addresses: the names other machines reach it by.
    """
    names = set(LOOPBACK_HOSTS) | set(extra)
    if host in WILDCARDS:
        machine = socket.gethostname()
        names |= {machine, socket.getfqdn()}
        try:
            names |= {str(info[4][0]) for info in socket.getaddrinfo(machine, None)}
        except OSError:
            pass
    else:
        names.add(host)
    return frozenset(host_name(n) for n in names if n)


def token_bits(token: str) -> float:
    """A conservative estimate of the entropy of a token, in bits.

    Its length times log2 of the alphabet its characters' classes span (16 for hex digits; 64 for
    base64url: both letter cases and nothing but letters, digits, ``-`` and ``_``; else 10 digits, 26
    lower- and 26 upper-case letters, 2 for ``-`` and ``_``, 30 other punctuation); a token
    that repeats a few characters (fewer distinct ones than half its length or half that alphabet)
    counts only its distinct characters. ``secrets.token_urlsafe(16)`` (22 characters) and
    ``secrets.token_hex(16)`` (32) both reach 128 bits.
    """
    if not token:
        return 0.0
    if all(c in "0123456789abcdef" for c in token) or all(c in "0123456789ABCDEF" for c in token):
        alphabet = 16
    elif (all(c in URLSAFE for c in token) and any(c in string.ascii_lowercase for c in token)
          and any(c in string.ascii_uppercase for c in token)):
        alphabet = 64  # base64url, as secrets.token_urlsafe writes it (which may happen to hold no digit)
    else:
        classes = [(string.digits, 10), (string.ascii_lowercase, 26), (string.ascii_uppercase, 26), ("-_", 2)]
        alphabet = sum(size for chars, size in classes if any(c in chars for c in token))
        if any(c in string.punctuation and c not in "-_" for c in token):
            alphabet += 30
    distinct = len(set(token))
    length = len(token) if distinct >= min(len(token), alphabet) / 2 else distinct
    return length * math.log2(max(alphabet, 2))


def check_token(token: str, what: str = "--token") -> str:
    """``token`` if it is printable ASCII without spaces and holds at least 16 random bytes' worth
    (:func:`token_bits`); else ``ValueError`` naming ``what``."""
    if not token or not all(33 <= ord(c) <= 126 for c in token):
        raise ValueError(f"{what}: the token must be printable ASCII without spaces (got {len(token)} characters)")
    bits = token_bits(token)
    if bits < MIN_TOKEN_BITS:
        raise ValueError(f"{what}: a token of {len(token)} character{'s' * (len(token) != 1)} holds about "
                         f"{bits:.0f} bits; it needs at "
                         f"least {MIN_TOKEN_BITS} (16 random bytes), e.g. 22 random URL-safe characters: "
                         "python -c 'import secrets; print(secrets.token_urlsafe(16))' (or leave it out: a random "
                         "one is made)")
    return token


def script_string(text: str) -> str:
    """``text`` as a JSON string safe inside an HTML ``<script>`` element (no ``<``, ``>``, ``&`` or line
    separators left to end it)."""
    out = json.dumps(text)
    for c, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                       ("\u2029", "\\u2029")):
        out = out.replace(c, escaped)
    return out


class _Guard:
    """Answers 403 to every HTTP or WebSocket request whose ``Host`` (or ``Origin``) the explorer does not allow,
    before any route sees it (an ASGI middleware)."""

    def __init__(self, app: Any, explorer: Explorer):
        self.app, self.explorer = app, explorer

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            why = self.explorer.refusal(scope.get("headers", []))
            if why is not None:
                if scope["type"] == "http":
                    await PlainTextResponse(why, status_code=403)(scope, receive, send)
                else:
                    await send({"type": "websocket.close", "code": 1008})  # before accept: the handshake gets 403
                return
        await self.app(scope, receive, send)


class _Link:
    """One WebSocket's way out: messages queue in order; frames are coalesced (a slow page gets the newest).

    :meth:`deliver` runs in the event loop; :meth:`send` may be called from any thread (a session's worker).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.outbox: collections.deque[dict[str, Any]] = collections.deque()
        self.latest: dict[str, Any] = {}
        self.wake = asyncio.Event()

    def deliver(self, message: dict[str, Any], frame: bool) -> None:
        if frame:
            self.latest["frame"] = message  # an unsent older frame is dropped: the page shows the newest
        else:
            self.outbox.append(message)
        self.wake.set()

    def send(self, message: dict[str, Any], frame: bool = False) -> None:
        try:
            self.loop.call_soon_threadsafe(self.deliver, message, frame)
        except RuntimeError:  # the loop is closed: the page has gone
            pass

    async def pump(self, ws: WebSocket) -> None:
        """Send what is queued, then the newest frame, each time there is something new."""
        try:
            while True:
                await self.wake.wait()
                self.wake.clear()
                while self.outbox:
                    await ws.send_text(json.dumps(self.outbox.popleft()))
                frame = self.latest.pop("frame", None)
                if frame is not None:
                    await ws.send_text(json.dumps(frame))
        except (WebSocketDisconnect, RuntimeError, asyncio.CancelledError):
            pass


class Explorer:
    """The app's state: its token and its live sessions.

    Args:
        token: the secret every request must carry (default: a fresh random one); at least 16
            random bytes' worth (:func:`check_token`).
        out_root: where saved runs go.
        device: where the networks train.
        fps, metrics_every: passed to each :class:`Session`.
        hosts: the ``Host`` names it answers to (default: :func:`allowed_hosts` of 127.0.0.1).
        port: the port it listens on, which an ``Origin`` must name (None: any).
        linger: seconds a session nobody is attached to is kept (training goes on) for its page to attach
            again after a reload; then it is closed.
    """

    def __init__(self, token: str | None = None, *, out_root: str | Path = "runs/explore", device: str = "cpu",
                 fps: float = 25.0, metrics_every: float = 0.5, hosts: Iterable[str] | None = None,
                 port: int | None = None, linger: float = LINGER):
        if not linger >= 0:
            raise ValueError(f"linger {linger}: seconds must be >= 0")
        self.token = check_token(token) if token is not None else secrets.token_urlsafe(24)
        self.out_root, self.device, self.fps, self.metrics_every = Path(out_root), device, fps, metrics_every
        self.linger = linger
        self.hosts = frozenset(host_name(h) for h in hosts) if hosts is not None else allowed_hosts()
        self.port = port
        self.sessions: dict[str, Session] = {}
        self.app = _Guard(Starlette(
            routes=[Route("/", self.page), Route("/static/{name}", self.static), Route("/api/export", self.export),
                    WebSocketRoute("/ws", self.websocket)],
            lifespan=self._lifespan,
        ), self)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette):
        yield
        await run_in_threadpool(self.close)  # the server stops: every worker ends after its current step

    # -- checks

    def authorised(self, query: Any) -> bool:
        given = query.get("token", "")
        return hmac.compare_digest(given.encode(), self.token.encode())

    def allowed_origin(self, origin: str) -> bool:
        """An ``Origin`` of one of the allowed hosts, on the server's port."""
        try:
            parts = urlsplit(origin)
            port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
        except ValueError:
            return False
        return (parts.scheme in ("http", "https") and parts.hostname is not None
                and host_name(f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname) in self.hosts
                and (self.port is None or port == self.port))

    def refusal(self, headers: Iterable[tuple[bytes, bytes]]) -> str | None:
        """Why a request with these headers is refused (None: it may go on): a ``Host`` not allowed (DNS
        rebinding), or an ``Origin`` (another site's page in the browser) not of an allowed host and port."""
        hosts, origins = [], []
        for key, value in headers:
            name = key.decode("latin-1").lower()
            if name == "host":
                hosts.append(value.decode("latin-1"))
            elif name == "origin":
                origins.append(value.decode("latin-1"))
        if not hosts or any(host_name(h) not in self.hosts for h in hosts):
            shown = ", ".join(sorted(self.hosts))
            return (f"403: Host {hosts[0] if hosts else '(none)'!r} is not one this server answers to ({shown}); "
                    "open the URL `gankit explore` printed")
        if any(not self.allowed_origin(o) for o in origins):
            return f"403: requests from the page of {origins[0]!r} are not taken; open the URL `gankit explore` printed"
        return None

    # -- HTTP

    async def page(self, request: Request) -> Response:
        if not self.authorised(request.query_params):
            return PlainTextResponse(REFUSED, status_code=403)
        html = (STATIC / "index.html").read_text()
        html = html.replace("{{token_url}}", quote(self.token, safe="")).replace("{{token_json}}",
                                                                                 script_string(self.token))
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
        """One page's connection: ``/ws?token=...`` starts a session; ``&session=ID`` attaches to that live session
        again (a reloaded page), or starts a new one when it has ended."""
        if not self.authorised(ws.query_params):
            await ws.close(code=1008)  # before accept: the handshake is answered 403
            return
        await ws.accept()
        link = _Link(asyncio.get_running_loop())
        session, viewer = self._open(ws.query_params.get("session", ""), link)
        sender = asyncio.create_task(link.pump(ws))
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                try:
                    session.submit(parse(text if text is not None else message.get("bytes") or b""))
                except ProtocolError as e:
                    link.deliver({"type": "error", "message": str(e)}, False)
        except WebSocketDisconnect:
            pass
        finally:
            sender.cancel()
            self._leave(session, viewer)

    def _open(self, requested: str, link: _Link) -> tuple[Session, int]:
        """The live session ``requested`` with ``link`` attached (its hello comes from the session's worker), or a
        new one that ``link`` is the first viewer of; returns it and the viewer's key."""
        session = self.sessions.get(requested) if requested else None
        if session is not None:
            return session, session.attach(link.send)
        session = Session(link.send, out_root=self.out_root, device=self.device, fps=self.fps,
                          metrics_every=self.metrics_every)
        self.sessions[session.id] = session
        link.deliver(session.hello(), False)
        session.start()
        return session, 0

    def _leave(self, session: Session, viewer: int) -> None:
        """A page has gone: once nobody is attached, the session is closed ``linger`` seconds later unless a page
        attaches again (a reload) meanwhile."""
        if session.detach(viewer):
            since = session.unattended_since
            asyncio.get_running_loop().call_later(self.linger, self._expire, session, since)

    def _expire(self, session: Session, since: float | None) -> None:
        """Close ``session`` if nobody attached to it since ``since`` (its worker is joined off the event loop)."""
        if session.unattended_since != since or self.sessions.get(session.id) is not session:
            return
        del self.sessions[session.id]
        asyncio.get_running_loop().run_in_executor(None, session.close)

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
                out_root: str | Path = "runs/explore", device: str = "cpu", fps: float = 25.0,
                linger: float = LINGER):
    """The uvicorn server of an :class:`Explorer`, listening already; returns ``(server, socket, url, explorer)``.

    ``port=0`` takes a free port. ``server.run(sockets=[socket])`` serves until ``server.should_exit``.
    """
    import uvicorn

    explorer = Explorer(token, out_root=out_root, device=device, fps=fps, hosts=allowed_hosts(host), linger=linger)
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
    explorer.port = port  # an Origin must name it
    url = f"http://{url_host(host)}:{port}/?token={quote(explorer.token, safe='')}"
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


__all__ = ["Explorer", "allowed_hosts", "check_token", "make_server", "serve", "token_bits"]
