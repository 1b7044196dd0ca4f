"""Run a command on a pseudo-terminal and replay what it wrote onto a screen, as a terminal would.

`run_on_pty` gives the command a real terminal (so Rich draws its live display with cursor
movements, as a person sees it); `Screen` replays the bytes with the few control sequences Rich
uses for that — carriage return, newline, cursor up, erase line, colours — and refuses any other
sequence, so a test never reads a screen it misunderstood.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# CSI sequences: ESC [ parameters final-byte.
_CSI = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])")


@dataclass
class Screen:
    """A terminal's text: `columns` wide, growing downwards (no scrolling off the top)."""

    columns: int
    lines: list[list[str]] = field(default_factory=lambda: [[]])
    row: int = 0
    column: int = 0

    def feed(self, text: str) -> None:
        position = 0
        while position < len(text):
            char = text[position]
            if char == "\x1b":
                match = _CSI.match(text, position)
                assert match, f"unknown escape sequence {text[position : position + 8]!r}"
                self._control(match.group(1), match.group(2))
                position = match.end()
                continue
            if char == "\r":
                self.column = 0
            elif char == "\n":
                self._down()
            elif char == "\x07":
                pass  # bell
            else:
                assert char.isprintable(), f"unexpected control character {char!r}"
                self._put(char)
            position += 1

    def text(self) -> list[str]:
        """The screen's lines, trailing blanks removed."""
        return ["".join(line).rstrip() for line in self.lines]

    def _down(self) -> None:
        self.row += 1
        while len(self.lines) <= self.row:
            self.lines.append([])

    def _put(self, char: str) -> None:
        if self.column >= self.columns:  # auto-wrap, as xterm does
            self.column = 0
            self._down()
        line = self.lines[self.row]
        line.extend(" " * (self.column + 1 - len(line)))
        line[self.column] = char
        self.column += 1

    def _control(self, parameters: str, final: str) -> None:
        if final == "m" or parameters in ("?25", "?1049", "?2004", "?7"):
            return  # colours and styles; cursor visibility; modes that move no text
        count = int(parameters or "1")
        if final == "A":
            self.row = max(0, self.row - count)
        elif final == "B":
            for _ in range(count):
                self._down()
        elif final == "K" and parameters in ("", "0"):
            del self.lines[self.row][self.column :]
        elif final == "K" and parameters == "2":
            self.lines[self.row] = []
        elif final == "G":
            self.column = count - 1
        else:
            raise AssertionError(f"unhandled control sequence ESC[{parameters}{final}")


def run_on_pty(
    command: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    *,
    rows: int = 40,
    columns: int = 120,
    timeout: float = 120,
) -> tuple[int, str]:
    """Run `command` with stdin, stdout and stderr on a new pseudo-terminal; (exit code, output)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    process = subprocess.Popen(
        list(command),
        cwd=cwd,
        env={**env, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(rows)},
        stdin=follower,
        stdout=follower,
        stderr=follower,
        close_fds=True,
    )
    os.close(follower)
    output = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: every writer of the terminal has closed it
                break
            if not chunk:
                break
            output += chunk
        else:
            process.kill()
            raise AssertionError(f"{command} did not finish in {timeout} s")
        return process.wait(timeout=30), output.decode("utf-8", errors="replace")
    finally:
        os.close(leader)
