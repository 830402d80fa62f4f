"""Review regressions: write-back, conversation tests, init workflows, the action."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import MakeRepo, invoke

from kathansync.emulator import EmulatorServer

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
