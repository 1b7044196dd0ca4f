"""`connector.listen`: a socket bound before the server starts, its address announced."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from connector.listen import announce, announced_url, bind, serve_app, url_of
from tests.daemon.processes import HANG_SECONDS, sandbox_url

CONNECTOR = Path(sys.executable).parent / "connector"


def test_port_zero_is_resolved_when_bound_and_announced_as_a_whole_line() -> None:
    with bind("127.0.0.1", 0) as sock:
        port = sock.getsockname()[1]
        assert port != 0
        out = io.StringIO()
        url = announce("sandbox demo", sock, out)
    assert url == f"http://127.0.0.1:{port}"
    assert out.getvalue() == f"sandbox demo listening on {url}\n"
    assert announced_url("noise\n" + out.getvalue(), "sandbox demo") == url
    assert announced_url(out.getvalue(), "sandbox other") is None


def test_a_line_still_being_written_is_not_read() -> None:
    whole = "sandbox demo listening on http://127.0.0.1:41234\n"
    assert announced_url(whole[:-1], "sandbox demo") is None
    assert announced_url(whole[:-9], "sandbox demo") is None
    assert announced_url(whole, "sandbox demo") == "http://127.0.0.1:41234"


def test_an_ipv6_address_is_bracketed() -> None:
    class Bound:  # what an AF_INET6 socket's getsockname gives (host, port, flowinfo, scope)
        def getsockname(self) -> tuple[str, int, int, int]:
            return ("::1", 41234, 0, 0)

    assert url_of(Bound()) == "http://[::1]:41234"  # type: ignore[arg-type]


def test_a_taken_port_is_refused_at_bind() -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        with pytest.raises(OSError):
            bind("127.0.0.1", squatter.getsockname()[1])


def test_serve_app_serves_on_the_port_it_announced(capsys: pytest.CaptureFixture[str]) -> None:
    app = Starlette(routes=[Route("/", lambda _request: PlainTextResponse("here"))])
    # serve_app runs uvicorn in this thread until interrupted: run it in one of its own.
    thread = threading.Thread(
        target=serve_app, args=(app, "127.0.0.1", 0), daemon=True, kwargs={"name": "sandbox demo"}
    )
    thread.start()
    deadline = time.monotonic() + HANG_SECONDS  # only against a hang
    url = None
    while url is None:
        assert thread.is_alive() and time.monotonic() < deadline
        url = announced_url(capsys.readouterr().err, "sandbox demo")
        time.sleep(0.02)
    while True:  # announced once bound: connections queue until uvicorn accepts them
        try:
            assert httpx.get(url, timeout=HANG_SECONDS).text == "here"
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline
            time.sleep(0.05)


@pytest.mark.parametrize("name", ["hubspot", "salesforce"])
def test_the_sandbox_command_on_port_zero_says_where_it_listens(tmp_path: Path, name: str) -> None:
    log = tmp_path / "sandbox.log"
    process = subprocess.Popen(
        [str(CONNECTOR), "sandbox", name, "--port", "0"], stderr=log.open("wb")
    )
    try:
        url = sandbox_url(name, log, process)
        assert not url.endswith(":0")
        probe = "/_sandbox/switches" if name == "hubspot" else "/services/data"
        assert httpx.get(url + probe, timeout=HANG_SECONDS).status_code == 200
    finally:
        process.kill()
        process.wait(10)
