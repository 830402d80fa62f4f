"""CLI manners: --version, help, colour, completion, Ctrl-C, the API line, schema and init."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from conftest import MakeRepo, invoke
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

from kathansync import __version__
from kathansync.cli import cli
from kathansync.emulator import EmulatorServer

ROOT = Path(__file__).resolve().parents[1]
SUPPORT = "33df85c1-dce4-4569-bac0-a9c4c70d0486"

SUPPORT_YAML = f"""\
id: {SUPPORT}
name: Support
system_instruction: |
  Be brief.
  Be kind.
voice:
  speed: 1.05
"""


@pytest.fixture
def repo(make_repo: MakeRepo) -> Path:
    """One manifest, the working directory; no CI variables inherited from the real runner."""
    return make_repo(files={"assistants/support.yaml": SUPPORT_YAML})


@pytest.fixture
def remote(kathan_env: EmulatorServer) -> EmulatorServer:
    """Support on the emulator with an older prompt and speed: the plan has changes."""
    kathan_env.seed(SUPPORT, name="Support", system_instruction="Be brief.\n", voice={"speed": 1})
    return kathan_env


# --- everyday CLI manners --------------------------------------------------------------------


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert __version__ in result.stdout and "kathansync" in result.stdout


def test_every_command_has_help_with_an_example() -> None:
    assert invoke("--help").exit_code == 0
    for name in cli.list_commands(click.Context(cli)):
        result = invoke(name, "--help")
        assert result.exit_code == 0, name
        assert "Example" in result.stdout, name


def _plan_on_a_terminal(args: list[str], env: dict[str, str]) -> str:
    """Run `kathansync plan` in a subprocess whose stdout is a pseudo-terminal; its output."""
    leader, follower = pty.openpty()
    try:
        subprocess.run(
            [sys.executable, "-m", "kathansync", "plan", *args],
            stdout=follower,
            stderr=subprocess.PIPE,
            env=env,
            timeout=30,
            check=False,
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal closed, everything is read
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode()
    finally:
        os.close(leader)


def test_no_color_flag_and_variable_on_a_terminal(repo: Path, remote: EmulatorServer) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    assert "\x1b[" in _plan_on_a_terminal([], env)  # the control: a terminal gets colour
    assert "\x1b[" not in _plan_on_a_terminal(["--no-color"], env)
    assert "\x1b[" not in _plan_on_a_terminal([], {**env, "NO_COLOR": "1"})


# --- schema and init -------------------------------------------------------------------------


def test_schema_validates_the_repository_examples() -> None:
    result = invoke("schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    examples = sorted((ROOT / "assistants").glob("*.yaml"))
    assert examples
    for example in examples:
        document = YAML(typ="safe").load(example.read_text(encoding="utf-8"))
        errors = [error.message for error in validator.iter_errors(document)]
        assert errors == [], example.name
    assert not validator.is_valid({"name": "x", "voice": {"sped": 1}})
    assert not validator.is_valid({"name": 3})


def test_init_then_validate_and_refuse_a_second_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "fresh"
    result = invoke("init", str(target))
    assert result.exit_code == 0, result.output
    assert (target / "kathansync.yaml").is_file()
    workflow = YAML(typ="safe").load((target / ".github/workflows/kathansync.yml").read_text())
    steps = json.dumps(workflow)
    assert '"command": "validate"' in steps and '"command": "plan"' in steps
    assert "YOUR-ORG/kathansync@v1" in result.stdout  # the placeholder to edit is named
    assert f"created {target / '.gitignore'}" in result.stdout

    result = invoke("validate", "--dir", str(target / "assistants"))
    assert result.exit_code == 0, result.output
    assert "0 manifest(s) valid" in result.stdout  # the example is not an assistant

    example = target / "assistants" / "_example.yaml"
    before = example.read_text()
    result = invoke("init", str(target))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert example.read_text() == before


def test_validate_help_offers_no_network_options() -> None:
    text = invoke("validate", "--help").stdout
    assert "--api-url" not in text and "--verbose" not in text
    assert "--dir" in text and "--env" in text and "--quiet" in text and "--no-color" in text
    assert "--api-url" in invoke("plan", "--help").stdout


def test_the_api_line_comes_before_any_request(repo: Path, remote: EmulatorServer) -> None:
    # Nothing listens there: the fetch fails, and the user still saw which API was meant.
    result = invoke("plan", "--max-retries", "0", env={"KATHAN_API_URL": "http://127.0.0.1:9"})
    assert result.exit_code == 1
    assert result.stdout == "Kathan API: http://127.0.0.1:9\n"
    ok = invoke("plan")
    assert ok.stdout.startswith(f"Kathan API: {remote.url}\n\n~ support")
    assert ok.stdout.count("Kathan API:") == 1


def _complete(args: list[str], incomplete: str) -> list[str]:
    from click.shell_completion import ShellComplete

    completer = ShellComplete(cli, {}, "kathansync", "_KATHANSYNC_COMPLETE")
    return [item.value for item in completer.get_completions(args, incomplete)]


def test_shell_completion_offers_handles_and_environments(repo: Path) -> None:
    (repo / "assistants" / "sales").mkdir()
    (repo / "assistants" / "sales" / "outbound.yaml").write_text("name: Out\n")
    (repo / "assistants" / "_defaults.yaml").write_text("voice:\n  speed: 1\n")
    (repo / "kathansync.yaml").write_text(
        "environments:\n  staging: {}\n  production: {}\n  prod-eu: {}\n"
    )
    assert _complete(["plan", "--target"], "") == ["sales/outbound", "support"]
    assert _complete(["apply", "--target"], "su") == ["support"]
    assert _complete(["plan", "--env"], "pro") == ["prod-eu", "production"]
    assert _complete(["validate", "--env"], "") == ["prod-eu", "production", "staging"]


def test_shell_completion_stays_silent_on_a_broken_config(repo: Path) -> None:
    (repo / "kathansync.yaml").write_text("environments: [oops\n")
    assert _complete(["plan", "--env"], "") == []
    assert _complete(["plan", "--dir", "nowhere", "--target"], "") == []


def test_ctrl_c_at_the_prompt_ends_the_line_first(
    repo: Path, remote: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kathansync.commands import sync

    def interrupted(*args: object, **kwargs: object) -> str:
        raise click.Abort()  # what click.prompt raises on Ctrl-C

    monkeypatch.setattr(sync, "_interactive", lambda: True)
    monkeypatch.setattr(sync.click, "prompt", interrupted)
    result = invoke("apply")
    assert result.exit_code == 1
    assert result.stderr.endswith("\nAborted.\n")
    assert remote.stats()["methods"].get("PUT", 0) == 0


def test_ctrl_c_during_apply_says_what_was_sent_and_what_was_not(
    repo: Path, kathan_env: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kathansync import apply as apply_module

    ids = {
        "a": "11111111-1111-4111-8111-111111111111",
        "b": "22222222-2222-4222-8222-222222222222",
        "c": "33333333-3333-4333-8333-333333333333",
    }
    (repo / "assistants" / "support.yaml").unlink()
    for handle, assistant_id in ids.items():
        kathan_env.seed(assistant_id, name=handle)
        (repo / "assistants" / f"{handle}.yaml").write_text(
            f"id: {assistant_id}\nname: {handle} renamed\n"
        )
    send = apply_module._apply_one

    def ctrl_c_on_b(change: Any, client: Any) -> Any:
        if change.handle == "b":
            raise KeyboardInterrupt  # the user's Ctrl-C while b's request is on the wire
        return send(change, client)

    monkeypatch.setattr(apply_module, "_apply_one", ctrl_c_on_b)
    result = invoke("apply", "--auto-approve", "--parallelism", "1")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert (
        "Apply interrupted.\n"
        "  done: a (applied)\n"
        "  in flight, may have landed: b\n"
        "  not sent: c\n"
        "Run `kathansync plan` to see where each assistant stands now.\n"
    ) in result.stderr
    assert kathan_env.assistants[ids["a"]]["name"] == "a renamed"
    assert kathan_env.assistants[ids["c"]]["name"] == "c"
