"""Every `kathansync ...` command in README.md and docs/*.md code blocks runs as documented.

Each document's commands run in order, in a shell, in a fresh copy of this repository's example
manifests, against the emulator seeded as `make demo` seeds it: no traceback, and an exit code
from the table below. A command changed in the CLI but not in the docs (or the other way round)
fails here, so the two cannot drift apart.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kathansync.emulator import EmulatorServer

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# docs/restore.md restores the backup its example names: before that document runs, an apply
# takes a real backup, whose id stands in for the example's in every command.
BACKUP_EXAMPLE = "12a3a8"
# What a command refused for want of a terminal must still have shown (the plan it asks about).
MUST_SAY = {f"kathansync restore {BACKUP_EXAMPLE} --delete-created": "Plan: "}
# Exit codes each command may end with, by subcommand; the default is 0.
ALLOWED: dict[str, set[int]] = {
    # A second `init` in the same folder refuses to overwrite (docs/editors.md shows init again).
    "init": {0, 1},
    # `test` fails (1) when a conversation case fails: the example suites may be strict.
    "test": {0, 1},
}
# Exact commands (comments removed) that end otherwise, and why.
EXCEPTIONS: dict[str, set[int]] = {
    # The quickstart's last step: without a terminal to say 'yes' on, apply refuses (1) when
    # there is something to apply; after the demo's apply in the same README, there is not (0).
    "kathansync apply": {0, 1},
    # As apply: the restore plan is shown, then no terminal to say 'yes' on (1).
    f"kathansync restore {BACKUP_EXAMPLE} --delete-created": {1},
}

_COMMAND = re.compile(r"^(?:\$ )?((?:\w+=\S+ )*kathansync(?: |$).*)$")
# A synopsis or a placeholder, not a runnable command: [OPTIONAL], (A | B), ..., <URL>, ID.
_NOT_RUNNABLE = re.compile(r"[\[\](){}]|<\w|\.\.\.|…|\b[A-Z][A-Z_]{1,}\b(?!=)")


@dataclass(frozen=True)
class Command:
    where: str  # file:line
    text: str  # the shell line, comment removed

    @property
    def subcommand(self) -> str:
        words = self.text.split()
        index = next(i for i, w in enumerate(words) if w == "kathansync")
        return words[index + 1] if index + 1 < len(words) else ""


def commands_in(document: Path) -> list[Command]:
    """The runnable `kathansync` lines of a document's fenced code blocks, in order."""
    found, fenced = [], False
    for number, line in enumerate(document.read_text(encoding="utf-8").splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        match = _COMMAND.match(line.strip()) if fenced else None
        if not match:
            continue
        text = re.sub(r"\s+#.*$", "", match.group(1)).strip()
        if _NOT_RUNNABLE.search(text.replace("_KATHANSYNC_COMPLETE", "")):
            continue
        subcommand = Command("", text).subcommand
        if subcommand not in {"", ">"} and not re.fullmatch(r"[a-z][a-z-]*", subcommand):
            continue  # prose in a text block ("kathansync benchmark, 50 ms ...")
        found.append(Command(f"{document.relative_to(ROOT)}:{number}", text))
    return found


def test_the_extraction_finds_the_quickstart() -> None:
    texts = [c.text for c in commands_in(ROOT / "README.md")]
    assert "kathansync init" in texts and "kathansync import --all" in texts
    # Synopses are not commands.
    assert not any("[--dir DIR]" in text for text in texts)
    editors = [c.text for c in commands_in(ROOT / "docs" / "editors.md")]
    assert "_KATHANSYNC_COMPLETE=bash_source kathansync > ~/.kathansync-complete.bash" in editors


def _seed(emulator: EmulatorServer, manifests: Path) -> None:
    """The remote state `make demo` starts from (scripts/demo_state.py): a little drift."""
    spec = importlib.util.spec_from_file_location("demo_state", ROOT / "scripts" / "demo_state.py")
    assert spec and spec.loader
    demo_state = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo_state)
    state = manifests.parent / "state.json"
    demo_state.main([str(manifests), str(state)])
    for assistant_id, fields in json.loads(state.read_text())["assistants"].items():
        emulator.seed(assistant_id, **{k: v for k, v in fields.items() if k != "id"})
    state.unlink()


@pytest.fixture
def workspace(tmp_path: Path, emulator: EmulatorServer) -> Iterator[tuple[Path, dict[str, str]]]:
    """A copy of the example repository, a HOME of its own, and the environment to run in."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("assistants", "prompts", "conversations", "kathansync.yaml"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, repo / name)
        elif source.is_file():
            shutil.copy(source, repo / name)
    _seed(emulator, repo / "assistants")
    home = tmp_path / "home"
    (home / ".config" / "fish" / "completions").mkdir(parents=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GITHUB_", "KATHAN")) and key != "NO_COLOR"
    }
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        HOME=str(home),
        KATHAN_API_URL=emulator.url,
        KATHAN_API_KEY=emulator.api_key,
        KATHAN_USER_ID=emulator.user_id,
        NO_COLOR="1",
    )
    yield repo, env


def _run(
    command: Command, repo: Path, env: dict[str, str], backup: str | None = None
) -> subprocess.CompletedProcess[str]:
    # The emulator serves until stopped: check that the documented options parse, no more.
    text = command.text + (" --help" if command.subcommand == "emulator" else "")
    if backup:
        text = text.replace(BACKUP_EXAMPLE, backup)
    return _shell(text, repo, env)


def _shell(text: str, repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", text],
        cwd=repo,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.e2e
@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_documented_commands_run(document: Path, workspace: tuple[Path, dict[str, str]]) -> None:
    repo, env = workspace
    problems: list[str] = []
    commands = commands_in(document)
    backup = _real_backup(repo, env) if any(BACKUP_EXAMPLE in c.text for c in commands) else None
    for command in commands:
        done = _run(command, repo, env, backup)
        output = done.stdout + done.stderr
        if MUST_SAY.get(command.text, "") not in output:
            problems.append(
                f"{command.where}: `{command.text}` did not say "
                f"{MUST_SAY[command.text]!r}:\n{_tail(output)}"
            )
        allowed = EXCEPTIONS.get(command.text, ALLOWED.get(command.subcommand, {0}))
        if "Traceback" in output or done.returncode not in allowed:
            problems.append(
                f"{command.where}: `{command.text}` exited {done.returncode} "
                f"(allowed {sorted(allowed)}):\n{_tail(output)}"
            )
    assert not problems, "\n\n".join(problems)


def _real_backup(repo: Path, env: dict[str, str]) -> str:
    """The short id of a backup taken by a real apply of the seeded drift."""
    applied = _shell("kathansync apply --auto-approve", repo, env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    listed = _shell("kathansync history --format json", repo, env)
    backups = json.loads(listed.stdout)["backups"]
    assert len(backups) == 1, listed.stdout
    return str(backups[0]["id"])


def _tail(output: str, lines: int = 12) -> str:
    return "\n".join("    " + line for line in output.splitlines()[-lines:])
