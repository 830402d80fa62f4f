"""CLI end to end in CI: markdown plans, the step summary, GitHub annotations and their stream."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import MakeRepo, invoke

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


def break_manifest(repo: Path) -> None:
    """An unknown key on line 8: an error with a known location."""
    (repo / "assistants" / "support.yaml").write_text(SUPPORT_YAML + "voice_sped: 1\n")


# --- markdown and GitHub Actions -------------------------------------------------------------


def test_markdown_plan_has_summary_line_and_details(repo: Path, remote: EmulatorServer) -> None:
    result = invoke("plan", "--format", "markdown")
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert "1 to update" in first
    assert "<details>" in result.stdout and "</details>" in result.stdout
    assert "```diff" in result.stdout and "+Be kind." in result.stdout
    assert "voice.speed" in result.stdout


def test_in_actions_plan_appends_markdown_to_step_summary(
    repo: Path, remote: EmulatorServer
) -> None:
    summary = repo / "summary.md"
    summary.write_text("## Earlier step\n")  # the runner's file is shared by a job's steps
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    result = invoke("plan", env=env)
    assert result.exit_code == 0, result.output
    assert "Plan: 0 to create, 1 to update" in result.stdout  # stdout keeps the asked format
    text = summary.read_text()
    assert text.startswith("## Earlier step\n")
    assert "<details>" in text and "1 to update" in text


def test_in_actions_apply_adds_plan_and_outcomes_to_step_summary(
    repo: Path, remote: EmulatorServer
) -> None:
    summary = repo / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    result = invoke("apply", "--auto-approve", env=env)
    assert result.exit_code == 0, result.output
    text = summary.read_text()
    assert "<details>" in text and "1 to update" in text  # what was planned
    assert "1 applied" in text  # and what became of it


def test_in_actions_invalid_manifest_prints_error_annotations(
    repo: Path, remote: EmulatorServer
) -> None:
    break_manifest(repo)
    env = {"GITHUB_ACTIONS": "true"}
    result = invoke("plan", env=env)
    assert result.exit_code == 1
    annotations = [line for line in result.output.splitlines() if line.startswith("::error ")]
    assert annotations, result.output
    assert annotations[0].startswith("::error file=assistants/support.yaml,line=8,col=1::")
    assert remote.stats()["total"] == 0


def test_outside_actions_invalid_manifest_prints_no_workflow_commands(
    repo: Path, remote: EmulatorServer
) -> None:
    """Workflow commands are for GitHub's runner: a terminal or another CI gets plain errors.

    (Once broken: the CLI's manifest loading annotated unconditionally.)
    """
    break_manifest(repo)
    result = invoke("plan")
    assert result.exit_code == 1
    assert "support.yaml:8:1" in result.output
    assert "::error" not in result.output, result.output

    result = invoke("plan", "--format", "github")  # asked for: annotations even outside Actions
    assert result.exit_code == 1
    assert "::error file=assistants/support.yaml,line=8,col=1::" in result.output


def test_validate_format_github_prints_annotations_on_stdout(repo: Path) -> None:
    break_manifest(repo)
    result = invoke("validate", "--format", "github")
    assert result.exit_code == 1
    assert "::error file=assistants/support.yaml,line=8,col=1::" in result.stdout
    assert "did you mean" in result.stdout

    # Outside Actions and without --format github: no workflow commands.
    assert "::error" not in invoke("validate").output


# --- which stream the annotations go to ------------------------------------------------------


def test_format_github_annotations_go_to_stdout_for_plan_and_validate(
    repo: Path, remote: EmulatorServer
) -> None:
    break_manifest(repo)
    for command in ("plan", "validate"):
        result = invoke(command, "--format", "github")
        assert result.exit_code == 1
        assert "::error file=assistants/support.yaml,line=8,col=1::" in result.stdout, command
        assert "::error" not in result.stderr, command


def test_in_actions_other_formats_keep_annotations_off_stdout(
    repo: Path, remote: EmulatorServer
) -> None:
    # stdout may be redirected into the pull-request comment: only the plan goes there.
    (repo / "assistants" / "support.yaml").write_text(
        SUPPORT_YAML + "speech_settings:\n  style: posh\n"
    )
    result = invoke("plan", "--format", "markdown", env={"GITHUB_ACTIONS": "true"})
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("<!-- kathansync-plan -->")
    assert "::warning file=assistants/support.yaml" in result.stderr
