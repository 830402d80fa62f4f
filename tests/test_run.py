"""The conductor end to end against the emulator: one apply at a time, creates never repeated,
ids never replaced, an unknown id held back alone, a shared failure said once, order, subfolders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from subprocess import PIPE

import pytest
from conftest import invoke

from kathansync.apply import Outcome, Status
from kathansync.emulator import EmulatorServer
from kathansync.models import Manifest
from kathansync.plan import Action
from kathansync.record import record_ids

A = "33df85c1-dce4-4569-bac0-a9c4c70d0486"
B = "3115faf9-c94c-4b85-83de-fee57eb0657f"
C = "0a4b0b1e-5b7a-4d55-9c53-3f4c1f7e8a90"
UNKNOWN = "9d1f3c55-0000-4000-8000-000000000404"


def write(repo: Path, handle: str, text: str) -> Path:
    path = repo / "assistants" / f"{handle}.yaml"
    path.write_text(text)
    return path


def requests(emulator: EmulatorServer, method: str) -> int:
    count: int = emulator.stats()["methods"].get(method, 0)
    return count


# --- one apply at a time ----------------------------------------------------------------------

HOLD = """\
import sys, time
from pathlib import Path
from kathansync.state import apply_lock
with apply_lock(Path(sys.argv[1]), "kathansync apply held-by-test"):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_second_apply_fails_naming_the_holder_and_a_crash_releases_the_lock(
    repo: Path, kathan_env: EmulatorServer
) -> None:
    kathan_env.seed(A, name="Old")
    write(repo, "support", f"id: {A}\nname: Support\n")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(repo / ".kathansync")], stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        result = invoke("apply", "--auto-approve")
        assert result.exit_code == 1
        assert "another apply is running on this repository" in result.output
        assert f"pid {holder.pid} on " in result.output
        assert "`kathansync apply held-by-test`" in result.output
        assert "Traceback" not in result.output
        assert kathan_env.stats()["total"] == 0  # nothing read, nothing sent
    finally:
        holder.kill()  # SIGKILL: no cleanup runs; the kernel drops the flock
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    result = invoke("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert kathan_env.assistants[A]["name"] == "Support"
    assert (repo / ".kathansync" / ".gitignore").read_text().splitlines()[1:3] == [
        "lock",
        "pending-creates.json",
    ]


# --- a create with no answer is not sent again ------------------------------------------------


def pending(repo: Path) -> list[str]:
    path = repo / ".kathansync" / "pending-creates.json"
    if not path.exists():
        return []
    return [entry["handle"] for entry in json.loads(path.read_text())["creates"]]


def test_an_unanswered_create_is_refused_until_a_list_shows_it_then_adopted(
    repo: Path, kathan_env: EmulatorServer
) -> None:
    manifest = write(repo, "fresh", "name: Fresh\n")
    kathan_env.inject({"drop": True, "method": "POST"})
    first = invoke("apply", "--auto-approve")
    assert first.exit_code == 1 and "may have been created" in first.output
    assert pending(repo) == ["fresh"]

    again = invoke("apply", "--auto-approve")  # the server may still be processing the first
    assert again.exit_code == 1
    assert "fresh: an earlier create" in again.output and "--force-create" in again.output
    assert requests(kathan_env, "POST") == 1
    planned = invoke("plan")
    assert planned.exit_code == 1 and "fresh: an earlier create" in planned.stderr

    created = "00000000-0000-4000-8000-00000000abcd"
    kathan_env.seed(created, name="Fresh")  # it landed after all
    adopted = invoke("apply", "--auto-approve")
    assert adopted.exit_code == 0, adopted.output
    assert requests(kathan_env, "POST") == 1
    assert created in manifest.read_text()
    assert pending(repo) == []


def test_force_create_sends_the_create_again(repo: Path, kathan_env: EmulatorServer) -> None:
    manifest = write(repo, "fresh", "name: Fresh\n")
    kathan_env.inject({"drop": True, "method": "POST"})
    assert invoke("apply", "--auto-approve").exit_code == 1
    result = invoke("apply", "--auto-approve", "--force-create")
    assert result.exit_code == 0, result.output
    assert requests(kathan_env, "POST") == 2
    assert "id:" in manifest.read_text() and pending(repo) == []


# --- the id write-back never replaces an id it did not plan with ------------------------------


def test_an_id_that_appeared_since_the_plan_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "fresh.yaml"
    path.write_text(f"id: {B}  # written by another apply\nname: Fresh\n")
    before = path.read_text()
    manifest = Manifest("fresh", str(path), None, {"name": "Fresh"})
    created = Outcome("fresh", A, Action.CREATE, Status.CREATED)
    said: list[str] = []
    failed = record_ids([manifest], set(), [created], env=None, info=said.append)
    assert path.read_text() == before
    assert said == []
    (message,) = failed
    assert f"now has id {B}" in message and f"Assistant {A} was made by this apply" in message


def test_an_id_is_written_where_the_plan_saw_none(tmp_path: Path) -> None:
    path = tmp_path / "fresh.yaml"
    path.write_text("name: Fresh\n")
    manifest = Manifest("fresh", str(path), None, {"name": "Fresh"})
    created = Outcome("fresh", A, Action.CREATE, Status.CREATED)
    assert record_ids([manifest], set(), [created], env=None, info=lambda _: None) == []
    assert path.read_text() == f"id: {A}\nname: Fresh\n"


UPDATES_ONLY = """\
import sys
from kathansync.apply import Outcome, Status
from kathansync.models import Manifest
from kathansync.plan import Action
from kathansync.record import record_ids
manifests = [Manifest(h, h + ".yaml", "i-" + h, {"name": h}) for h in ("a", "b", "c")]
outcomes = [
    Outcome("a", "i-a", Action.UPDATE, Status.APPLIED),
    Outcome("b", None, Action.CREATE, Status.FAILED),  # no id: nothing to write
    Outcome("c", "i-c", Action.UPDATE, Status.FAILED),  # adopted, but it failed
]
assert record_ids(manifests, {"c"}, outcomes, env=None, info=print) == []
print("kathansync.writeback" in sys.modules)
"""


def test_an_apply_with_no_id_to_write_does_not_load_the_writer() -> None:
    """The YAML round-trip writer costs ~40 ms to import: only an id to write pays for it."""
    done = subprocess.run([sys.executable, "-c", UPDATES_ONLY], capture_output=True, text=True)
    assert (done.returncode, done.stdout, done.stderr) == (0, "False\n", "")


# --- an unknown id holds back its assistant only ----------------------------------------------


def test_an_unknown_id_is_named_and_the_others_are_planned(
    repo: Path, kathan_env: EmulatorServer
) -> None:
    kathan_env.seed(A, name="Old")
    write(repo, "support", f"id: {A}\nname: Support\n")
    write(repo, "gone", f"id: {UNKNOWN}\nname: Gone\n")
    result = invoke("plan")
    assert result.exit_code == 1
    assert "support" in result.stdout and "1 to update" in result.stdout
    assert f"gone: assistant {UNKNOWN} not found" in result.stderr
    assert "remove `id:` from assistants/gone.yaml" in result.stderr
    assert "kathansync import" in result.stderr

    applied = invoke("apply", "--auto-approve", "--format", "json")
    assert applied.exit_code == 1
    outcomes = {o["handle"]: o for o in json.loads(applied.stdout)["outcomes"]}
    assert outcomes["support"]["status"] == "applied"
    assert outcomes["gone"]["status"] == "failed" and outcomes["gone"]["http_status"] == 404
    assert kathan_env.assistants[A]["name"] == "Support"


def test_every_id_unknown_still_reads_as_a_wrong_url(
    repo: Path, kathan_env: EmulatorServer
) -> None:
    write(repo, "one", f"id: {A}\nname: One\n")
    write(repo, "two", f"id: {B}\nname: Two\n")
    result = invoke("plan")
    assert result.exit_code == 1
    assert "is the API URL right?" in result.output


def test_a_failure_every_assistant_shares_is_said_once(
    repo: Path, kathan_env: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for handle, assistant_id in (("a", A), ("b", B), ("c", C)):
        kathan_env.seed(assistant_id, name=handle)
        write(repo, handle, f"id: {assistant_id}\nname: {handle}\n")
    monkeypatch.setenv("KATHAN_API_KEY", "not-the-key")
    result = invoke("plan")
    assert result.exit_code == 1
    assert result.output.count("HTTP 401") == 1, result.output
    assert "all 3 assistants: HTTP 401 from GET /assistants/<id>" in result.output


# --- what apply shows, and in which order -----------------------------------------------------


def test_apply_planfile_shows_the_api_and_the_plan_before_applying(
    repo: Path, kathan_env: EmulatorServer
) -> None:
    kathan_env.seed(A, name="Old")
    write(repo, "support", f"id: {A}\nname: Support\n")
    assert invoke("plan", "--out", "plan.json").exit_code == 0
    result = invoke("apply", "plan.json")
    assert result.exit_code == 0, result.output
    shown = result.stdout
    assert f"Kathan API: {kathan_env.url}" in shown
    assert shown.index("~ support") < shown.index("applied")


def test_apply_lists_outcomes_in_the_plan_order(repo: Path, kathan_env: EmulatorServer) -> None:
    kathan_env.seed(A, name="Old")
    kathan_env.seed("00000000-0000-4000-8000-000000000001", name="Orphan")
    write(repo, "zz-support", f"id: {A}\nname: Support\n")
    result = invoke("apply", "--auto-approve", "--prune", "--format", "json")
    assert result.exit_code == 0, result.output
    statuses = [o["status"] for o in json.loads(result.stdout)["outcomes"]]
    assert statuses == ["applied", "deleted"]  # by handle, deletes last, as the plan lists them


# --- from a subfolder -------------------------------------------------------------------------


def test_plan_from_a_subfolder_uses_the_repository_settings(
    repo: Path, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KATHAN_API_URL", raising=False)
    monkeypatch.setenv("KATHAN_API_KEY", emulator.api_key)
    monkeypatch.setenv("KATHAN_USER_ID", emulator.user_id)
    (repo / "kathansync.yaml").write_text(
        f"environments:\n  local:\n    api_url: {emulator.url}\n    manifests: assistants\n"
    )
    emulator.seed(A, name="Old")
    write(repo, "support", f"id: {A}\nname: Support\n")
    monkeypatch.chdir(repo / "assistants")
    result = invoke("plan", "--env", "local", "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    assert f"Kathan API: {emulator.url}" in result.stdout


def test_two_applies_started_together_create_each_assistant_once(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race of issue 12: two `apply --auto-approve` processes on one repository."""
    for i in range(12):
        write(repo, f"new{i:02}", f"name: New {i}\n")
    with EmulatorServer(latency_ms=150) as emulator:  # slow enough for the two to overlap
        env = {
            **os.environ,
            "KATHAN_API_URL": emulator.url,
            "KATHAN_API_KEY": emulator.api_key,
            "KATHAN_USER_ID": emulator.user_id,
        }
        command = [sys.executable, "-m", "kathansync", "apply", "--auto-approve"]
        both = [
            subprocess.Popen(command, cwd=repo, env=env, stdout=PIPE, stderr=PIPE) for _ in range(2)
        ]
        results = [(p.wait(timeout=60), *(s.decode() for s in p.communicate())) for p in both]
        created = list(emulator.assistants.values())
    assert len(created) == 12, results
    assert sorted(code for code, _, _ in results) in ([0, 0], [0, 1]), results
    for code, _, err in results:
        if code == 1:
            assert "another apply is running on this repository" in err
    ids = {path.read_text().split("\n")[0] for path in (repo / "assistants").glob("*.yaml")}
    assert ids == {f"id: {a['id']}" for a in created}


def test_a_saved_plan_whose_assistant_was_deleted_since_names_the_unknown_id(
    repo: Path, kathan_env: EmulatorServer
) -> None:
    kathan_env.seed(A, name="Old")
    kathan_env.seed(B, name="Old too")
    write(repo, "support", f"id: {A}\nname: Support\n")
    write(repo, "sales", f"id: {B}\nname: Sales\n")
    assert invoke("plan", "--out", "plan.json").exit_code == 0
    del kathan_env.assistants[A]  # deleted in the dashboard while the plan waited for review
    result = invoke("apply", "plan.json", "--format", "json")
    assert result.exit_code == 1
    outcomes = {o["handle"]: o for o in json.loads(result.stdout)["outcomes"]}
    assert outcomes["sales"]["status"] == "applied"
    assert outcomes["support"]["status"] == "failed"
    assert f"assistant {A} not found" in outcomes["support"]["message"]
    assert requests(kathan_env, "PUT") == 1


def test_the_confirm_question_comes_after_the_unknown_id_and_keeps_it_failed(
    repo: Path, kathan_env: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kathansync.commands import sync

    monkeypatch.setattr(sync, "_interactive", lambda: True)
    kathan_env.seed(A, name="Old")
    write(repo, "support", f"id: {A}\nname: Support\n")
    write(repo, "gone", f"id: {UNKNOWN}\nname: Gone\n")
    result = invoke("apply", input="yes\n")
    assert result.exit_code == 1
    said = result.stderr
    assert said.index(f"gone: assistant {UNKNOWN} not found") < said.index("Apply these changes?")
    assert kathan_env.assistants[A]["name"] == "Support"
    assert "1 failed" in result.stdout
