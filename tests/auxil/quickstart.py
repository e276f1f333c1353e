"""The README's quickstart as data, and a tiny shell that runs its commands for real.

The quickstart sits between `<!-- quickstart:start -->` and `<!-- quickstart:end -->`; its fenced
`sh` blocks are what a newcomer types. `Shell` understands the three kinds of line they hold:
`export NAME=VALUE ...` (each NAME must be a real setting), `gateway ...` (run with the real CLI;
`serve`, `mock-core` and `telegram poll` in the background) and the tunnel (`cloudflared`, replaced
by localhost), plus `curl URL` (a GET). Anything else fails the test, so the README cannot grow a
command the test does not run.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
import subprocess
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gateway.config import Settings

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
GATEWAY = str(ROOT / ".venv" / "bin" / "gateway")
START, END = "<!-- quickstart:start -->", "<!-- quickstart:end -->"
LONG_RUNNING = (("serve",), ("mock-core",), ("telegram", "poll"))
_OWN_PREFIXES = ("GATEWAY_", "TELEGRAM_", "GENAUG_", "TWILIO_", "WHATSAPP_", "APPROVAL_")
_VAR = re.compile(r"\$(\w+)|\$\{(\w+)\}")
_PLACEHOLDER = re.compile(r"\.\.\.|<[^>]*>")


def quickstart_blocks(readme: Path = README) -> list[list[str]]:
    """The command lines of each fenced `sh` block of the quickstart (continuations joined,
    blank lines and whole-line comments dropped)."""
    text = readme.read_text()
    assert text.count(START) == 1 and text.count(END) == 1, f"mark the quickstart with {START}"
    section = text.split(START, 1)[1].split(END, 1)[0]
    blocks = re.findall(r"^[ \t]*```sh\n(.*?)^[ \t]*```[ \t]*$", section, re.M | re.S)
    commands = []
    for block in blocks:
        joined = re.sub(r"\\\n\s*", " ", block)
        lines = [line.strip() for line in joined.splitlines()]
        commands.append([line for line in lines if line and not line.startswith("#")])
    return commands


def setting_names() -> set[str]:
    """Every environment variable `Settings` reads."""
    names: set[str] = set()
    for info in Settings.model_fields.values():
        alias = info.validation_alias
        choices = getattr(alias, "choices", [alias])
        names.update(str(choice) for choice in choices if isinstance(choice, str))
    return {name for name in names if name.isupper()}


def clean_env() -> dict[str, str]:
    """The caller's environment without any gateway setting (a newcomer's shell)."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_OWN_PREFIXES) and name not in ("DATABASE_URL", "PORT")
    }


@dataclass
class Background:
    argv: list[str]
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait for the exit code, in a thread: the fakes share the test's loop."""
        return await asyncio.to_thread(self._stop, timeout)

    def _stop(self, timeout: float) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise AssertionError(f"{self.argv} ignored SIGTERM:\n{self.output()}") from None
        return self.proc.returncode


@dataclass
class Shell:
    """Runs quickstart lines in `cwd` with `env`. `values` stands in for placeholder values
    (`123456789:AAE...`, `https://<name>...`) by variable name; `extra_args` appends test-only
    options to a gateway command (say `--port` for `mock-core`)."""

    cwd: Path
    env: dict[str, str]
    values: Mapping[str, str]
    extra_args: Mapping[tuple[str, ...], list[str]] = field(default_factory=dict)
    background: list[Background] = field(default_factory=list)
    tunnel_target: str | None = None
    on_start: dict[tuple[str, ...], Callable[[Background], object]] = field(default_factory=dict)

    def expand(self, word: str) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(2)
            assert name in self.env, f"${name} is used before the quickstart sets it"
            return self.env[name]

        return _VAR.sub(value, word)

    def words(self, line: str) -> list[str]:
        return [self.expand(word) for word in shlex.split(line, comments=True)]

    async def run_block(self, block: list[str]) -> list[str]:
        """Run every line; returns the stdout of the gateway commands that ran to completion."""
        outputs = []
        for line in block:
            output = await self.run_line(line)
            if output is not None:
                outputs.append(output)
        return outputs

    async def run_line(self, line: str) -> str | None:
        words = shlex.split(line, comments=True)
        head = words[0]
        if head == "export":
            self.export(words[1:])
            return None
        if head == "cloudflared":  # the tunnel: the test reaches the gateway on localhost
            self.tunnel_target = words[words.index("--url") + 1]
            return None
        if head == "curl":
            return await self.curl(self.words(line)[1:])
        assert head == "gateway", f"the quickstart runs {head!r}, which this test cannot run"
        argv = self.words(line)[1:]
        for prefix in LONG_RUNNING:
            if tuple(argv[: len(prefix)]) == prefix:
                await self.start(argv + list(self.extra_args.get(prefix, [])), prefix)
                return None
        return await self.run(argv)

    def export(self, assignments: list[str]) -> None:
        known = setting_names()
        for assignment in assignments:
            name, equals, value = assignment.partition("=")
            assert equals, f"export {assignment!r} sets nothing"
            assert name in known, f"the quickstart exports {name}, which is not a setting"
            if _PLACEHOLDER.search(value):
                assert name in self.values, f"no test value for the placeholder in {assignment!r}"
                value = self.values[name]
            self.env[name] = self.expand(value)

    async def run(self, argv: list[str]) -> str:
        result = await asyncio.to_thread(
            subprocess.run,
            [GATEWAY, *argv],
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, (argv, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr
        return result.stdout

    async def start(self, argv: list[str], kind: tuple[str, ...]) -> Background:
        log = self.cwd / f"{'-'.join(kind)}-{len(self.background)}.log"
        proc = await asyncio.to_thread(self._spawn, argv, log)
        started = Background(argv, proc, log)
        self.background.append(started)
        ready = self.on_start.get(kind)
        if ready is not None:
            outcome = ready(started)
            if asyncio.iscoroutine(outcome):
                await outcome
        return started

    def _spawn(self, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            return subprocess.Popen(
                [GATEWAY, *argv],
                cwd=self.cwd,
                env=dict(self.env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def curl(self, args: list[str]) -> str:
        urls = [arg for arg in args if not arg.startswith("-")]
        assert len(urls) == 1, f"curl {args}: one URL expected"

        def get() -> str:
            with urllib.request.urlopen(urls[0], timeout=10) as response:
                return str(response.read().decode())

        return await asyncio.to_thread(get)

    def stop_all(self) -> None:
        for started in self.background:
            if started.proc.poll() is None:
                started.proc.kill()
                started.proc.wait(5)


async def wait_until(
    check: Callable[[], bool], what: str, proc: Background | None = None, timeout: float = 20.0
) -> None:
    """Poll `check` until true; fails with the process's output if it exits or time runs out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if proc is not None and proc.proc.poll() is not None:
            raise AssertionError(f"{proc.argv} exited ({proc.proc.returncode}):\n{proc.output()}")
        if loop.time() > deadline:
            detail = proc.output() if proc is not None else ""
            raise AssertionError(f"timed out waiting for {what}\n{detail}")
        await asyncio.sleep(0.05)


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    return check
