"""Review regressions: write-back, conversation tests, init workflows, the action."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import MakeRepo, invoke

from kathansync.emulator import EmulatorServer
from kathansync.errors import ConfigError
from kathansync.remote.redact import Redactor
from kathansync.scaffold import init_project

SUPPORT = "33df85c1-dce4-4569-bac0-a9c4c70d0486"
PIN = "pin-4417-zq"

SECRET_MANIFEST = f"""\
id: {SUPPORT}
name: Support
first_message: "Hi, Acme here. Your code is ${{SUPPORT_PIN}}."
"""

FAILING_SUITE = """\
assistant: support
cases:
  - name: says goodbye
    turns:
      - user: "hello"
        expect: {contains: ["goodbye"]}
"""


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_transcripts_mask_values_interpolated_into_manifests(
    make_repo: MakeRepo,
    kathan_env: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    fmt: str,
) -> None:
    """The assistant repeats its first_message, which holds a ${VAR} of the manifest: the
    transcript of the failing run must not print that value (DESIGN: interpolated values are
    sensitive in every output), in any format nor in the JUnit file."""
    make_repo(
        files={
            "assistants/support.yaml": SECRET_MANIFEST,
            "conversations/support.yaml": FAILING_SUITE,
        }
    )
    monkeypatch.setenv("SUPPORT_PIN", PIN)
    kathan_env.seed(SUPPORT, name="Support", first_message=f"Hi, Acme here. Your code is {PIN}.")
    junit = tmp_path / "report.xml"
    result = invoke("test", "--format", fmt, "--junit", str(junit))
    assert result.exit_code == 1, result.output
    assert "(sensitive)" in result.output  # the transcript is shown, masked
    assert PIN not in result.output
    assert PIN not in junit.read_text(encoding="utf-8")


SHIP_SUITE = """\
assistant: shipments
cases:
  - name: where is my ${ITEM}
    turns:
      - user: "Where does my ${ITEM} go?"
        expect: {contains: ["refund"]}
"""


def test_masking_a_short_suite_value_leaves_other_words_and_names_whole(
    make_repo: MakeRepo, kathan_env: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ${VAR} of a suite is masked where it stands as a word; plain text replacement also
    rewrote every word, file name and handle that merely contains it (`shipping`,
    `conversations/shipments.yaml`), as issue 12 says the API key masking must not."""
    make_repo(
        files={
            "assistants/shipments.yaml": f"id: {SUPPORT}\nname: Shipments\n",
            "conversations/shipments.yaml": SHIP_SUITE,
        }
    )
    monkeypatch.setenv("ITEM", "ship")
    kathan_env.seed(
        SUPPORT, name="Shipments", system_instruction="Every ship has free shipping worldwide."
    )
    result = invoke("test")
    assert result.exit_code == 1, result.output
    assert "conversations/shipments.yaml (shipments)" in result.output
    assert "Every (sensitive) has free shipping worldwide." in result.output
    assert "where is my (sensitive)" in result.output


@pytest.mark.parametrize("pattern", ["a{99999999999}", "x{1,4294967296}", "(" * 2000 + ")" * 2000])
def test_a_regex_python_cannot_compile_is_an_error_with_its_line(
    make_repo: MakeRepo, pattern: str
) -> None:
    """`re.compile` raises OverflowError (a huge repetition count) or RecursionError (deep
    nesting), not re.error, for some patterns: validate crashed with a traceback, on a pull
    request's suite included."""
    suite = (
        "assistant: support\ncases:\n  - name: x\n    turns:\n      - user: hi\n"
        f"        expect: {{matches: '{pattern}'}}\n"
    )
    make_repo(
        files={
            "assistants/support.yaml": f"id: {SUPPORT}\nname: Support\n",
            "conversations/support.yaml": suite,
        }
    )
    result = invoke("validate")
    assert result.exit_code == 1
    assert "conversations/support.yaml:6:" in result.output
    assert "matches: not a valid regular expression" in result.output


def test_a_suite_that_expands_a_large_variable_many_times_is_refused(
    make_repo: MakeRepo,
) -> None:
    """validate reads the suites on every pull request, forks included: a 400 kB `vars` value
    used 4,000 times in one suite string built 1.6 GB before saying "valid" (issue 12: bound
    what a file may expand to). The manifests' budget (MAX_EXPANDED) holds for suites too."""
    big = "x" * 400_000
    config = f'environments:\n  staging:\n    vars:\n      BIG: "{big}"\n'
    suite = (
        f'assistant: support\ncases:\n  - name: x\n    turns:\n      - user: "{"${BIG}" * 4000}"\n'
    )
    make_repo(
        config=config,
        files={
            "assistants/support.yaml": f"id: {SUPPORT}\nname: Support\n",
            "conversations/support.yaml": suite,
        },
    )
    started = time.monotonic()
    result = invoke("validate", "--env", "staging")
    assert result.exit_code == 1  # was 0: "1 manifest(s) valid." after building 1.6 GB
    assert "conversations/support.yaml:5:" in result.output
    assert "expands to more than" in result.output
    assert time.monotonic() - started < 5


# --- the action's step script -------------------------------------------------------------------

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "action.sh"
PASSING_SUITE = """\
assistant: support
cases:
  - name: greets
    turns:
      - user: "hello"
        expect: {not_empty: true}
"""


def _action(repo: Path, **inputs: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_OUTPUT": str(repo / "outputs"),
        "KS_OUT_DIR": str(repo / "out"),
        **inputs,
    }
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "KATHANSYNC_ENV"):
        env.pop(name, None)
    return subprocess.run(
        ["bash", str(SCRIPT)], cwd=repo, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.e2e
def test_action_test_command_never_reads_the_manifests_directory_as_suites(
    make_repo: MakeRepo, kathan_env: EmulatorServer
) -> None:
    """The action's `directory` input is the manifests directory (action.yml), but `test --dir`
    is the suites' directory: passed through, the manifests were read as broken suites. The
    action must say that `directory` does not apply to `test`, before any request."""
    repo = make_repo(
        files={
            "assistants/support.yaml": f"id: {SUPPORT}\nname: Support\n",
            "conversations/support.yaml": PASSING_SUITE,
        }
    )
    kathan_env.seed(SUPPORT, name="Support", first_message="Hi.")
    done = _action(repo, KS_COMMAND="test", KS_DIRECTORY="assistants")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "::error::" in done.stdout and "directory" in done.stdout
    assert "unknown key" not in done.stdout + done.stderr  # not the manifest read as a suite
    assert kathan_env.stats()["methods"] == {}
    # Without the input, the suites under conversations/ run against the manifests' ids.
    done = _action(repo, KS_COMMAND="test")
    assert done.returncode == 0, done.stdout + done.stderr


# --- init -------------------------------------------------------------------------------------


def test_init_appends_to_a_gitignore_that_is_not_utf8(tmp_path: Path) -> None:
    """A .gitignore in Latin-1 (`café/`) crashed init with a UnicodeDecodeError traceback after
    every other file was written; its bytes must be kept and the local-state lines added."""
    (tmp_path / ".gitignore").write_bytes(b"caf\xe9/\n")
    written = init_project(tmp_path)
    assert tmp_path / ".gitignore" in written
    data = (tmp_path / ".gitignore").read_bytes()
    assert data.startswith(b"caf\xe9/\n") and b".kathansync/" in data


def test_init_with_a_gitignore_directory_writes_nothing(tmp_path: Path) -> None:
    """All or nothing (scaffold.py): a .gitignore that is a directory was found only after the
    other files were written, leaving a half-made scaffold behind the error."""
    (tmp_path / ".gitignore").mkdir()
    with pytest.raises(ConfigError, match=r"\.gitignore"):
        init_project(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".gitignore"]


# --- masking ----------------------------------------------------------------------------------


def test_scrubbing_a_short_message_of_a_long_secret_takes_no_time() -> None:
    """redact's cut-off-echo check sliced the secret once per possible length, whatever the
    text's length: a 400 kB ${VAR} value cost 2.3 s per message scrubbed (a suite problem, each
    string of a test report, each server error)."""
    redact = Redactor(["x" * 400_000])  # built once per run
    started = time.monotonic()
    for _ in range(10):
        assert redact("unknown assistant 'a'") == "unknown assistant 'a'"
    assert time.monotonic() - started < 0.5


@pytest.mark.e2e
def test_action_plan_log_cannot_carry_workflow_commands(
    make_repo: MakeRepo, kathan_env: EmulatorServer
) -> None:
    """The runner reads a log line starting with `::` (after leading blanks) as a workflow
    command. The markdown plan the action prints shows a prompt's unchanged lines as ` line`
    diff context, so a prompt (from the pull request, or from the dashboard) holding
    `::warning::…` ran it. The plan is printed between ::stop-commands:: and its end token."""
    prompt = "Be kind.\n::warning::injected\n"
    repo = make_repo(
        files={
            "assistants/support.yaml": (
                f"id: {SUPPORT}\nname: Support\nsystem_instruction: |\n"
                "  Be kind.\n  ::warning::injected\n  Be brief now.\n"
            )
        }
    )
    kathan_env.seed(SUPPORT, name="Support", system_instruction=prompt + "Be brief.\n")
    done = _action(repo, KS_COMMAND="plan")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    commands = [i for i, line in enumerate(lines) if line.lstrip().startswith("::")]
    first, last = lines[commands[0]], lines[commands[-1]]
    assert first.startswith("::stop-commands::")
    token = first.removeprefix("::stop-commands::")
    assert len(token) >= 16 and last == f"::{token}::"
    assert " ::warning::injected" in lines[commands[0] : commands[-1]]
    assert token not in (repo / "outputs").read_text()  # the comment is the file, unwrapped
