"""`kathansync test` and `apply --test` end to end, against the emulator on a free port."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from conftest import MakeRepo, invoke

from kathansync.emulator import EmulatorServer

SUPPORT = "33df85c1-dce4-4569-bac0-a9c4c70d0486"
PROMPT = "You are Acme support.\nNever promise refunds; offer a human instead.\n"
OLD_PROMPT = "You are Acme support.\nRefunds are possible within 30 days.\n"

MANIFEST = f"""\
id: {SUPPORT}
name: Support
first_message: Hi, Acme here.
system_instruction: |
  You are Acme support.
  Never promise refunds; offer a human instead.
"""

SUITE = """\
assistant: support
cases:
  - name: refunds go to a human
    turns:
      - user: "Can I get a refund?"
        expect:
          contains: ["human"]
          not_contains: ["within 30 days"]
      - user: "Yes please"
        expect: {not_empty: true}
  - name: greets
    repeat: 2
    turns:
      - user: "hello"
        expect: {matches: "^hi, acme"}
"""


@pytest.fixture
def repo(make_repo: MakeRepo) -> Path:
    return make_repo(
        files={"assistants/support.yaml": MANIFEST, "conversations/support.yaml": SUITE}
    )


def seed(emulator: EmulatorServer, prompt: str = PROMPT) -> None:
    emulator.seed(
        SUPPORT, name="Support", first_message="Hi, Acme here.", system_instruction=prompt
    )


def test_passing_suites_exit_0(repo: Path, kathan_env: EmulatorServer) -> None:
    seed(kathan_env)
    result = invoke("test")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "conversations/support.yaml (support)\n"
        "  pass  refunds go to a human  (1/1 runs)\n"
        "  pass  greets  (2/2 runs)\n"
        "2 case(s): 2 passed, 0 failed (3 conversation(s)).\n"
    )
    assert kathan_env.stats()["methods"] == {"POST": 4}


def test_a_failing_case_exits_1_with_the_transcript_marked(
    repo: Path, kathan_env: EmulatorServer
) -> None:
    seed(kathan_env, OLD_PROMPT)
    result = invoke("test", "--target", "support")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[1] == "  FAIL  refunds go to a human  (0/1 runs)"
    assert lines[2] == "        0/1 runs passed, 1 needed"
    assert lines[3].startswith("        run 1 (session ")
    assert lines[4:8] == [
        "          user:      Can I get a refund?",
        "          assistant: Hi, Acme here. Refunds are possible within 30 days.",
        "          ✗ contains: missing 'human'",
        "          ✗ not_contains: found 'within 30 days'",
    ]
    assert lines[-1] == "2 case(s): 1 passed, 1 failed (3 conversation(s))."


def test_json_report_is_versioned_and_complete(repo: Path, kathan_env: EmulatorServer) -> None:
    seed(kathan_env, OLD_PROMPT)
    report = json.loads(invoke("test", "--format", "json").stdout)
    assert report["format_version"] == "1"
    assert report["api_url"] == kathan_env.url
    assert report["summary"] == {
        "cases": 2,
        "passed": 1,
        "failed": 1,
        "errors": 0,
        "conversations": 3,
    }
    failed = report["cases"][0]
    assert isinstance(failed["seconds"], float) and failed["seconds"] >= 0
    assert {k: v for k, v in failed.items() if k not in ("transcript", "seconds")} == {
        "file": "conversations/support.yaml",
        "line": 3,
        "assistant": "support",
        "id": SUPPORT,
        "name": "refunds go to a human",
        "status": "fail",
        "runs": 1,
        "passed_runs": 0,
        "required_runs": 1,
        "pass_rate": 1.0,
    }
    assert failed["transcript"]["turns"][0]["broken"] == [
        "contains: missing 'human'",
        "not_contains: found 'within 30 days'",
    ]
    assert report["cases"][1]["transcript"] is None


def test_junit_counts_suites_cases_and_failures(repo: Path, kathan_env: EmulatorServer) -> None:
    seed(kathan_env, OLD_PROMPT)
    (repo / "conversations" / "more.yaml").write_text(
        "assistant: support\ncases:\n  - name: one\n    turns: [{user: hi}]\n"
    )
    result = invoke("test", "--junit", "out/report.xml")
    assert result.exit_code == 1
    root = ET.parse(repo / "out" / "report.xml").getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "0")
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [
        "conversations/more.yaml",
        "conversations/support.yaml",
    ]
    assert [(s.get("tests"), s.get("failures")) for s in suites] == [("1", "0"), ("2", "1")]
    cases = suites[1].findall("testcase")
    assert [(c.get("name"), c.get("classname"), c.get("line")) for c in cases] == [
        ("refunds go to a human", "support", "3"),
        ("greets", "support", "11"),
    ]
    failure = cases[0].find("failure")
    assert failure is not None and cases[1].find("failure") is None
    assert "not_contains: found 'within 30 days'" in (failure.get("message") or "")
    assert "Can I get a refund?" in (failure.text or "")


def test_a_case_that_cannot_run_is_an_error_with_its_reason(
    repo: Path, kathan_env: EmulatorServer
) -> None:
    result = invoke("test", "--junit", "r.xml")  # nothing seeded: 404
    assert result.exit_code == 1
    assert f"could not run: HTTP 404 from POST /chat: assistant {SUPPORT} not found" in (
        result.stdout
    )
    root = ET.parse(repo / "r.xml").getroot()
    assert (root.get("failures"), root.get("errors")) == ("0", "2")


def test_github_annotations_point_at_the_failing_case(
    repo: Path, kathan_env: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(kathan_env, OLD_PROMPT)
    summary = repo / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = invoke("test", "--format", "github")
    assert result.exit_code == 1
    assert result.stdout.startswith("<!-- kathansync-test -->\n### Conversation tests: failed\n")
    assert "| ❌ | `support` | refunds go to a human | 0/1 |" in result.stdout
    assert "<details><summary>support: refunds go to a human</summary>" in result.stdout
    # One stream, as validate and plan: the annotations follow the markdown on stdout.
    (annotation,) = [line for line in result.stdout.splitlines() if line.startswith("::")]
    assert annotation.startswith(
        "::error file=conversations/support.yaml,line=3,col=1::conversation test"
        " 'refunds go to a human': 0/1 runs passed, 1 needed; run 1: contains: missing"
    )
    assert not [line for line in result.stderr.splitlines() if line.startswith("::")]
    assert result.stdout == summary.read_text() + annotation + "\n"


def test_interpolated_values_are_masked_everywhere(
    repo: Path, kathan_env: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The emulator's answer quotes the prompt, which holds the secret: it must not show either.
    seed(kathan_env, "Your account code is TOPSECRET99 and nobody may know it.")
    monkeypatch.setenv("ACCOUNT_CODE", "TOPSECRET99")
    (repo / "conversations" / "support.yaml").write_text(
        "assistant: support\ncases:\n  - name: secret\n    turns:\n"
        "      - user: 'my code is ${ACCOUNT_CODE}'\n        expect: {contains: [nothing]}\n"
    )
    outputs = [invoke("test", "--format", fmt, "--junit", f"{fmt}.xml") for fmt in ("text", "json")]
    outputs.append(invoke("test", "--format", "github"))
    for result in outputs:
        assert result.exit_code == 1
        assert "TOPSECRET99" not in result.output
        assert "(sensitive)" in result.stdout
    assert "TOPSECRET99" not in (repo / "text.xml").read_text()


def test_suite_errors_stop_before_any_request(repo: Path, kathan_env: EmulatorServer) -> None:
    (repo / "conversations" / "bad.yaml").write_text(
        "assistant: suport\ncases:\n  - name: a\n    turns: [{user: hi, expect: {matches: '('}}]\n"
    )
    result = invoke("test")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: 2 error(s) in conversation suites; nothing was sent:",
        "conversations/bad.yaml:1:12: error: unknown assistant 'suport': no manifest has"
        " it; did you mean 'support'?",
        "conversations/bad.yaml:4:42: error: cases[0].turns[0].expect.matches: not a valid"
        " regular expression: missing ) at position 1",
    ]
    assert kathan_env.stats()["total"] == 0


def test_suite_errors_are_annotated_in_github_actions(
    repo: Path, kathan_env: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    (repo / "conversations" / "bad.yaml").write_text("assistant: suport\ncases: []\n")
    result = invoke("test")
    assert result.exit_code == 1
    assert "::error file=conversations/bad.yaml,line=1,col=12::unknown assistant" in result.stderr


def test_missing_directory_and_unknown_target(repo: Path, kathan_env: EmulatorServer) -> None:
    result = invoke("test", "--dir", "nowhere")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: conversations directory nowhere does not exist (see --dir)\n",
    )
    result = invoke("test", "--target", "suport")
    assert result.exit_code == 1
    assert "--target suport: no manifest has this handle; did you mean 'support'?" in result.stderr
    assert kathan_env.stats()["total"] == 0


# --- apply --test ------------------------------------------------------------------------------


def test_apply_test_runs_the_changed_assistants_suites(
    repo: Path, kathan_env: EmulatorServer
) -> None:
    seed(kathan_env, OLD_PROMPT)
    result = invoke("apply", "--auto-approve", "--test")
    assert result.exit_code == 0, result.output
    assert "applied  support" in result.stdout
    assert result.stdout.endswith("2 case(s): 2 passed, 0 failed (3 conversation(s)).\n")


def test_apply_test_failures_exit_1_after_applying(repo: Path, kathan_env: EmulatorServer) -> None:
    seed(kathan_env, "Something else.")
    (repo / "assistants" / "support.yaml").write_text(
        MANIFEST.replace("Never promise refunds; offer a human instead.", "Refunds: 30 days.")
    )
    result = invoke("apply", "--auto-approve", "--test", "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["summary"]["applied"] == 1  # stdout stays one JSON document
    assert result.stderr.endswith(
        "Error: applied, but conversations failed:\n  support: refunds go to a human\n"
    )
    assert "Refunds: 30 days." in kathan_env.assistants[SUPPORT]["system_instruction"]


def test_apply_test_without_changes_sends_no_conversation(
    repo: Path, kathan_env: EmulatorServer
) -> None:
    seed(kathan_env)
    result = invoke("apply", "--auto-approve", "--test")
    assert result.exit_code == 0
    assert "POST" not in kathan_env.stats()["methods"]


def test_apply_test_checks_suites_before_applying(repo: Path, kathan_env: EmulatorServer) -> None:
    seed(kathan_env, OLD_PROMPT)
    (repo / "conversations" / "bad.yaml").write_text("assistant: support\ncases: 3\n")
    result = invoke("apply", "--auto-approve", "--test")
    assert result.exit_code == 1
    assert "Error: 1 error(s) in conversation suites; nothing was sent:" in result.stderr
    assert kathan_env.stats()["total"] == 0
    assert kathan_env.assistants[SUPPORT]["system_instruction"] == OLD_PROMPT


# --- the demo ----------------------------------------------------------------------------------


def demo_state(state: Path) -> dict[str, Any]:
    """The drifted remote of `make demo`, written by scripts/demo_state.py."""
    import runpy

    root = Path(__file__).resolve().parent.parent
    namespace = runpy.run_path(str(root / "scripts" / "demo_state.py"))
    assert namespace["main"]([str(root / "assistants"), str(state)]) == 0
    loaded: dict[str, Any] = json.loads(state.read_text())
    return loaded


def test_the_demo_suite_fails_before_apply_and_passes_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    root = Path(__file__).resolve().parent.parent
    demo_state(tmp_path / "state.json")
    # The shipped manifests and suites, copied: whatever apply writes stays out of the repository.
    for folder in ("assistants", "conversations"):
        shutil.copytree(root / folder, tmp_path / "repo" / folder)
    monkeypatch.chdir(tmp_path / "repo")
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("KATHANSYNC_ENV", raising=False)
    with EmulatorServer(state_file=tmp_path / "state.json") as emulator:
        monkeypatch.setenv("KATHAN_API_URL", emulator.url)
        monkeypatch.setenv("KATHAN_API_KEY", emulator.api_key)
        monkeypatch.setenv("KATHAN_USER_ID", emulator.user_id)
        before = invoke("test")
        assert before.exit_code == 1
        assert "FAIL  refunds go to a human" in before.stdout
        assert invoke("plan", "--detailed-exitcode").exit_code == 2
        applied = invoke("apply", "--auto-approve", "--format", "json")
        assert applied.exit_code == 0, applied.output
        after = invoke("test")
        assert after.exit_code == 0, after.output
        assert "FAIL" not in after.stdout


def test_a_timeout_is_a_reason_not_a_traceback(repo: Path, kathan_env: EmulatorServer) -> None:
    seed(kathan_env)
    (repo / "conversations" / "support.yaml").write_text(
        "assistant: support\ncases:\n  - name: slow\n    turns: [{user: hi}]\n"
    )
    kathan_env.inject({"delay_ms": 3000, "path": "/chat"})
    result = invoke("test", "--timeout", "0.5", "--max-retries", "0")
    assert result.exit_code == 1
    assert "could not run: no answer from" in result.stdout
    assert "timed out after 0.5 s" in result.stdout


def test_a_runaway_pattern_fails_its_case_and_the_run_ends(
    make_repo: MakeRepo, kathan_env: EmulatorServer
) -> None:
    # A pull request can change a suite: `^(.|\S)*\d$` backtracks for minutes over the
    # emulator's 60-character answer under `re`; the run must end, the case failed and named.
    suite = "assistant: support\ncases:\n  - name: runaway\n    turns:\n"
    suite += "      - user: Can I get a refund?\n        expect: {matches: '^(.|\\S)*\\d$'}\n"
    make_repo(files={"assistants/support.yaml": MANIFEST, "conversations/support.yaml": suite})
    seed(kathan_env)
    result = invoke("test")
    assert result.exit_code == 1, result.output
    assert "  FAIL  runaway  (0/1 runs)" in result.stdout
    assert "ran longer than 1 s against the answer (catastrophic backtracking?)" in result.stdout


def test_no_suite_for_the_target_is_a_note_and_exit_0(
    repo: Path, kathan_env: EmulatorServer
) -> None:
    (repo / "assistants" / "sales.yaml").write_text("id: 3115faf9-c94c-4b85-83de-fee57eb0657f\n")
    result = invoke("test", "--target", "sales")
    assert result.exit_code == 0
    assert result.stderr == "No conversation suites for the selected assistants: nothing to test.\n"
    assert kathan_env.stats()["total"] == 0


def test_markdown_escapes_table_cells(repo: Path, kathan_env: EmulatorServer) -> None:
    seed(kathan_env)
    (repo / "conversations" / "support.yaml").write_text(
        "assistant: support\ncases:\n  - name: 'a | b <x>'\n    turns: [{user: hi}]\n"
    )
    result = invoke("test", "--format", "markdown")
    assert result.exit_code == 0
    assert "| ✅ | `support` | a \\| b &lt;x> | 1/1 |" in result.stdout


def test_validate_checks_suites_too(repo: Path) -> None:
    assert invoke("validate").exit_code == 0
    (repo / "conversations" / "bad.yaml").write_text("assistant: suport\ncases: []\n")
    result = invoke("validate")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "conversations/bad.yaml:1:12: error: unknown assistant 'suport': no manifest has it;"
    )


def test_apply_test_refuses_a_restore_plan_before_any_request(
    repo: Path, kathan_env: EmulatorServer
) -> None:
    seed(kathan_env, OLD_PROMPT)
    assert invoke("apply", "--auto-approve").exit_code == 0
    (backup,) = (repo / ".kathansync" / "backups").glob("*.json")
    backup_id = backup.stem.rsplit("-", 1)[-1]
    assert invoke("restore", backup_id, "--out", "undo.json").exit_code == 0
    sent = kathan_env.stats()["total"]
    result = invoke("apply", "undo.json", "--test")
    assert result.exit_code == 1  # a usage error: exit 1, like every user mistake
    assert "--test is not for a restore plan" in result.stderr
    assert kathan_env.stats()["total"] == sent
    assert kathan_env.assistants[SUPPORT]["system_instruction"] == PROMPT
