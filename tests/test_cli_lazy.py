"""Start-up: the CLI imports a command's module only when it runs, and each command only the
heavy modules it needs; the command list of `--help` (a static table) is the commands' own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from conftest import invoke

from kathansync.cli import COMMANDS, KathansyncGroup, cli

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("pydantic", "ruamel.yaml", "httpx", "deepdiff", "fastapi", "uvicorn")

# Runs the CLI in-process, then prints (on the last line of stderr) which of the modules
# named in argv[1] (JSON) were imported, and which kathansync modules.
PROBE = """\
import json, sys
from kathansync.cli import main
names, args = json.loads(sys.argv[1]), sys.argv[2:]
try:
    main(args)
except SystemExit:
    pass
loaded = sorted(n for n in names if n in sys.modules)
ours = sorted(n for n in sys.modules if n.startswith("kathansync"))
print(json.dumps({"heavy": loaded, "ours": ours}), file=sys.stderr)
"""


def imported(args: list[str], cwd: Path, names: tuple[str, ...] = HEAVY) -> dict[str, list[str]]:
    """Which of `names` (and which kathansync modules) `kathansync ARGS` imports, in a fresh
    process; the manifest cache on, as a user has it."""
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "KATHANSYNC_NO_CACHE")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(names), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found: dict[str, list[str]] = json.loads(done.stderr.splitlines()[-1])
    return found


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    """The repository's three example manifests, as the bench validates them."""
    shutil.copytree(ROOT / "assistants", tmp_path / "assistants")
    (tmp_path / "kathansync.yaml").write_text("manifests: assistants\n", encoding="utf-8")
    return tmp_path


# --- the static table is the commands' own ---------------------------------------------------


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_table_names_each_command_with_its_own_summary(name: str) -> None:
    command = cli.get_command(click.Context(cli), name)
    assert command is not None and command.name == name
    assert command.help is not None and command.short_help is None and not command.hidden
    assert COMMANDS[name][2] == command.help.split("\n\n")[0]


@pytest.mark.parametrize("width", [40, 60, 80, 120])
def test_help_lists_the_commands_as_click_would_from_the_commands(width: int) -> None:
    lazy = KathansyncGroup(name="kathansync")
    eager = click.Group(name="kathansync")
    for name in COMMANDS:
        command = cli.get_command(click.Context(cli), name)
        assert command is not None
        eager.add_command(command, name)
    shown = []
    for group in (lazy, eager):
        formatter = click.HelpFormatter(width=width)
        group.format_commands(click.Context(group), formatter)
        shown.append(formatter.getvalue())
    assert "validate  Check manifests" in shown[0]
    assert shown[0] == shown[1]
    assert not lazy.commands  # listed without importing a command


def test_every_command_is_listed_and_runs() -> None:
    assert cli.list_commands(click.Context(cli)) == sorted(COMMANDS)
    assert "Check manifests without touching the network." in invoke("validate", "--help").stdout
    assert invoke("schema").exit_code == 0


def test_every_command_defined_is_in_the_table() -> None:
    """A command added to kathansync/commands/ but not to COMMANDS would be unreachable."""
    import importlib
    import pkgutil

    import kathansync.commands

    defined = {}
    for info in pkgutil.iter_modules(kathansync.commands.__path__):
        module = importlib.import_module(f"kathansync.commands.{info.name}")
        for attribute, value in vars(module).items():
            callback = getattr(value, "callback", None)
            if isinstance(value, click.Command) and callback.__module__ == module.__name__:
                defined[value.name] = (info.name, attribute)
    assert defined == {name: (module, attr) for name, (module, attr, _) in COMMANDS.items()}


@pytest.mark.parametrize("incomplete", ["", "p", "-", "--v", "x"])
def test_completion_of_a_command_name_is_clicks_own(incomplete: str) -> None:
    from click.shell_completion import ShellComplete

    lazy = KathansyncGroup(name="kathansync", params=cli.params)
    eager = click.Group(name="kathansync", params=cli.params)
    for name in COMMANDS:
        command = cli.get_command(click.Context(cli), name)
        assert command is not None
        eager.add_command(command, name)
    shown = []
    for group in (lazy, eager):
        completer = ShellComplete(group, {}, "kathansync", "_KATHANSYNC_COMPLETE")
        items = completer.get_completions([], incomplete)
        shown.append([(item.value, item.help, item.type) for item in items])
    assert shown[0] == shown[1]
    assert not lazy.commands  # completed without importing a command


def test_a_misspelt_command_gets_a_suggestion_from_every_command() -> None:
    fresh = KathansyncGroup(name="kathansync")  # nothing imported yet
    result = click.testing.CliRunner().invoke(fresh, ["valdate"])
    assert result.exit_code == 1
    assert "No such command 'valdate'. Did you mean 'validate'?" in result.stderr


def test_an_unexpected_exception_is_not_swallowed() -> None:
    broken = KathansyncGroup(name="kathansync")

    @broken.command()
    def boom() -> None:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        broken.main(["boom"], standalone_mode=False)


# --- what each command imports ---------------------------------------------------------------


def test_help_imports_click_and_no_command(tmp_path: Path) -> None:
    found = imported(["--help"], tmp_path)
    assert found["heavy"] == []
    assert found["ours"] == ["kathansync", "kathansync.cli", "kathansync.commands"]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_commands_help_imports_nothing_heavy(name: str, tmp_path: Path) -> None:
    found = imported([name, "--help"], tmp_path)
    assert found["heavy"] == []
    assert not any(n.startswith(("kathansync.run", "kathansync.load")) for n in found["ours"])


def test_validate_imports_no_network_plan_or_ruamel(examples: Path) -> None:
    names = (
        *HEAVY,
        "kathansync.run",
        "kathansync.plan",
        "kathansync.apply",
        "kathansync.remote.client",
    )
    found = imported(["validate"], examples, names)
    assert set(found["heavy"]) <= {"pydantic"}  # a cold run validates (with the models)


def test_validate_answered_by_the_cache_imports_neither_pydantic_nor_ruamel(
    examples: Path,
) -> None:
    names = (*HEAVY, "kathansync.models", "kathansync.run", "kathansync.plan")
    imported(["validate"], examples, names)  # cold: fills the cache
    assert (examples / ".kathansync" / "cache").is_dir()
    found = imported(["validate"], examples, names)
    assert found["heavy"] == []
    # It did load the manifests, through the warm lane: the full loader was never needed.
    assert "kathansync.load.warm" in found["ours"]
    assert "kathansync.load.loader" not in found["ours"]


def test_settings_import_no_pydantic(tmp_path: Path) -> None:
    """kathansync.yaml is read by hand (settings_spec): every command pays for settings."""
    code = "import sys, kathansync.settings; print(sorted(set(sys.argv[1:]) & set(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code, *HEAVY, "kathansync.models"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "[]"
