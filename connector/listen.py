"""Serving an ASGI app standalone on a socket bound before the server starts (the sandboxes).

Binding first is what makes `--port 0` usable: the operating system picks a free port when the
socket is bound, so the address is known, and announced, before a request can arrive. A port
picked free beforehand and handed to the server is a race instead: any process on the machine
may take it in between. uvicorn serves sockets it is given (`Server.run(sockets=...)`,
www.uvicorn.org/settings/#socket-binding: "--fd" and the programmatic equivalent).
"""

from __future__ import annotations

import socket
import sys
from typing import Any, TextIO

#: What `announce` writes; tests and scripts read the URL back from it (`announced_url`).
ANNOUNCEMENT = "{name} listening on {url}"


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host:port` (port 0: one the system picks). Raises OSError
    when the address cannot be taken (in use, not this machine's)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # As uvicorn binds its own sockets: a restarted server takes its port back at once
        # instead of waiting out the previous one's TIME_WAIT connections.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(socket.SOMAXCONN)
    except OSError:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket) -> str:
    """`http://host:port` of a bound socket, the port the one it got."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def announce(name: str, sock: socket.socket, stream: TextIO | None = None) -> str:
    """Write one line saying where `name` listens (stderr by default, flushed); its URL."""
    url = url_of(sock)
    out = stream if stream is not None else sys.stderr
    out.write(ANNOUNCEMENT.format(name=name, url=url) + "\n")  # one write: one whole line
    out.flush()
    return url


def announced_url(text: str, name: str) -> str | None:
    """The URL `announce` wrote for `name` in `text` (a process's output), once its line is
    whole (a reader may see the output while it is being written)."""
    prefix = ANNOUNCEMENT.format(name=name, url="")
    for line in text.splitlines(keepends=True):
        if line.startswith(prefix) and line.endswith("\n"):
            return line[len(prefix) :].strip()
    return None


def serve_app(app: Any, host: str, port: int, *, name: str, log_level: str = "warning") -> None:
    """Bind `host:port`, announce it, and serve `app` with uvicorn until interrupted."""
    import uvicorn

    sock = bind(host, port)
    announce(name, sock)
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
