"""Connection resets: the sandbox drops the connection in the middle of a request.

A client cannot tell whether the server acted on a request whose connection died, so the
sandbox can drop it either **before** the request is processed (nothing happened) or **after**
(the work is done, the answer is lost) — the case that makes a blind retry of a create
dangerous. Either way the response headers go out and the connection closes before the body:

* under uvicorn (standalone), an exception after `http.response.start` makes the server close
  the socket, so the client really reads a truncated response (httpx: `RemoteProtocolError`);
* in process (`httpx.ASGITransport`), the app's exception reaches the client as raised, so the
  exception is itself an `httpx.RemoteProtocolError`: the client sees the same error type as
  over a socket.

Resets are asked for through `/_sandbox/faults` (`{"resets": [{"path", "count", "when",
"method"}]}`) and logged in the request log with status 0 and `"fault": "reset"`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ConnectionDropped(httpx.RemoteProtocolError):
    """The sandbox closed the connection before the response body."""


@dataclass
class Reset:
    """Drop the connection of the next `count` requests whose path contains `path` (and whose
    method is `method`, when given)."""

    path: str = ""
    count: int = 1
    when: Literal["before", "after"] = "after"
    method: str | None = None


class ResetMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sandbox: Any = scope["app"].state.sandbox
        reset = _take(sandbox.resets, scope["method"], scope["path"])
        if reset is None:
            await self.app(scope, receive, send)
            return
        if reset.when == "after":

            async def swallow(message: Message) -> None:
                return None

            await self.app(scope, receive, swallow)
        sandbox.log.append(
            {"method": scope["method"], "path": scope["path"], "status": 0, "fault": "reset"}
        )
        await send(
            {"type": "http.response.start", "status": 200,
             "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")]}
        )  # fmt: skip
        raise ConnectionDropped("the server closed the connection before the response body")


def _take(resets: list[Reset], method: str, path: str) -> Reset | None:
    for reset in resets:
        if reset.count > 0 and reset.path in path and reset.method in (None, method):
            reset.count -= 1
            return reset
    return None
