"""The repository as a GitHub Action: action.yml's wiring, and its step script run for real."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import MakeRepo
from ruamel.yaml import YAML

from kathansync.emulator import EmulatorServer

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "action.sh"
SUPPORT = "33df85c1-dce4-4569-bac0-a9c4c70d0486"


def _action() -> dict[str, Any]:
    loaded: dict[str, Any] = YAML(typ="safe").load((ROOT / "action.yml").read_text())
    return loaded


def _step(action: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(s for s in action["runs"]["steps"] if s.get("id") == step_id)


# --- action.yml ---------------------------------------------------------------------------------


def test_action_is_composite_with_the_documented_inputs() -> None:
    action = _action()
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) >= {
        "command",
        "environment",
        "directory",
        "working-directory",
        "comment",
        "args",
    }
    assert action["inputs"]["command"]["default"] == "plan"


def test_action_installs_kathansync_from_its_own_checkout() -> None:
    steps = _action()["runs"]["steps"]
    scripts = "\n".join(s.get("run", "") for s in steps)
    assert 'pip" install --quiet "${{ github.action_path }}"\n' in scripts
    # Never from the package index: kathansync is not published there.
    assert not re.search(r"install[^\n]* kathansync\b", scripts)


def test_action_run_step_gets_every_input_and_runs_the_script() -> None:
    action = _action()
    run = _step(action, "run")
    assert run["run"] == 'bash "${{ github.action_path }}/scripts/action.sh"'
    assert run["working-directory"] == "${{ inputs.working-directory }}"
    wired = {value for value in run["env"].values() if value.startswith("${{ inputs.")}
    assert wired == {
        "${{ inputs.command }}",
        "${{ inputs.environment }}",
        "${{ inputs.directory }}",
        "${{ inputs.args }}",
    }
    for name in run["env"]:
        if name.startswith("KS_"):
            assert name in SCRIPT.read_text(), f"{name} is set but the script never reads it"


def test_action_outputs_are_what_the_script_writes() -> None:
    written = set(re.findall(r"\boutput (\w+) ", SCRIPT.read_text()))
    outputs = _action()["outputs"]
    assert {"has_changes", "plan_file", "summary"} <= set(outputs)
    for name, spec in outputs.items():
        assert spec["value"] == f"${{{{ steps.run.outputs.{name} }}}}"
        assert name in written, f"output {name} is declared but never written"


def test_action_comments_only_on_a_pull_request_plan_when_asked() -> None:
    comment = next(s for s in _action()["runs"]["steps"] if "github-script" in s.get("uses", ""))
    condition = " ".join(comment["if"].split())
    assert "inputs.command == 'plan'" in condition
    assert "inputs.comment == 'true'" in condition
    assert "github.event_name == 'pull_request'" in condition
    assert comment["env"]["PLAN_MARKDOWN"] == "${{ steps.run.outputs.plan_markdown }}"


# --- scripts/action.sh against the emulator -----------------------------------------------------


@pytest.fixture
def repo(make_repo: MakeRepo, kathan_env: EmulatorServer) -> Path:
    kathan_env.seed(SUPPORT, name="Support", voice={"speed": 1})
    return make_repo(
        files={"assistants/support.yaml": f"id: {SUPPORT}\nname: Support\nvoice:\n  speed: 1.1\n"}
    )


def _run_action(repo: Path, command: str, args: str = "") -> tuple[int, dict[str, str], str]:
    outputs = repo / f"outputs-{command}"
    outputs.write_text("")
    env = {
        **os.environ,
        # The venv's kathansync, as the action's install step puts it on PATH.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_OUTPUT": str(outputs),
        "KS_COMMAND": command,
        "KS_ARGS": args,
        "KS_OUT_DIR": str(repo / "out"),
    }
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "KATHANSYNC_ENV"):
        env.pop(name, None)
    done = subprocess.run(
        ["bash", str(SCRIPT)], cwd=repo, env=env, capture_output=True, text=True, timeout=120
    )
    assert "Traceback" not in done.stderr
    values = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    return done.returncode, values, done.stdout


@pytest.mark.e2e
def test_action_script_plans_applies_and_plans_again(repo: Path) -> None:
    code, out, _ = _run_action(repo, "validate")
    assert (code, out["summary"]) == (0, "1 manifest(s) valid.")

    code, out, stdout = _run_action(repo, "plan")
    assert code == 0
    assert out["has_changes"] == "true"
    assert out["summary"] == "0 to create, 1 to update, 0 to delete, 0 unchanged."
    assert Path(out["plan_file"]).is_file()
    # In the log between ::stop-commands:: and its token (no workflow command from a prompt).
    shown = "".join(stdout.splitlines(keepends=True)[1:-1])
    assert Path(out["plan_markdown"]).read_text() == shown
    assert shown.startswith("<!-- kathansync-plan -->")

    code, out, _ = _run_action(repo, "apply", args=out["plan_file"])
    assert code == 0
    assert out["has_changes"] == "true"
    assert out["summary"].startswith("Apply: 1 applied, ")

    code, out, _ = _run_action(repo, "plan")
    assert (code, out["has_changes"]) == (0, "false")
    assert out["summary"] == "No changes. 1 assistant matches its manifest."


@pytest.mark.e2e
def test_action_script_fails_with_kathansyncs_code_and_no_plan_outputs(repo: Path) -> None:
    code, out, _ = _run_action(repo, "plan", args="--target nosuch")
    assert code == 1
    assert out == {"exit_code": "1"}


def test_action_script_refuses_an_unknown_command(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    env = {**os.environ, "GITHUB_OUTPUT": str(outputs), "KS_COMMAND": "destroy"}
    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True)
    assert done.returncode == 1
    assert "::error::" in done.stdout and "'destroy'" in done.stdout


# --- Dockerfile and release (docker cannot run here: checked as text) ---------------------------


def _instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_dockerfile_builds_the_package_from_the_repository_and_runs_unprivileged() -> None:
    steps = _instructions()
    bases = [args for op, args in steps if op == "FROM"]
    assert bases and all(re.match(r"python:3\.1[1-9]-slim\b", base) for base in bases)
    final = steps[max(i for i, (op, _) in enumerate(steps) if op == "FROM") :]
    assert ("ENTRYPOINT", '["kathansync"]') in final
    users = [args for op, args in final if op == "USER"]
    assert users and users[-1] not in {"root", "0"}
    # Installed from the wheel built in the first stage, never from the package index.
    installs = [args for op, args in final if op == "RUN" and "pip install" in args]
    assert installs and all("/tmp/dist/*.whl" in args for args in installs)
    for op, args in steps:
        if op == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: no such file"


def test_release_publishes_by_trusted_publishing_after_make_dist() -> None:
    release = YAML(typ="safe").load((ROOT / ".github/workflows/release.yml").read_text())
    build_steps = release["jobs"]["dist"]["steps"]
    assert {"run": "make dist"} in build_steps
    pypi = release["jobs"]["pypi"]
    assert pypi["permissions"] == {"id-token": "write"}
    assert any(s.get("uses", "").startswith("pypa/gh-action-pypi-publish@") for s in pypi["steps"])
    assert "password" not in str(pypi)  # trusted publishing: no token stored anywhere


def test_packaging_metadata_uses_an_spdx_license() -> None:
    import tomllib

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "Apache-2.0"
    assert "setuptools>=77" in pyproject["build-system"]["requires"]
    assert {"build>=1.2", "twine>=6.1"} <= set(pyproject["project"]["optional-dependencies"]["dev"])
    assert "make dist" in (ROOT / ".ci" / "run").read_text()


# --- Against GitHub's published schemas (SchemaStore, vendored by check-jsonschema) ---------------


def _github_schema(name: str) -> dict[str, Any]:
    from importlib import resources

    from jsonschema import Draft7Validator

    text = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath(name).read_text()
    schema: dict[str, Any] = json.loads(text)
    Draft7Validator.check_schema(schema)
    return schema


def _schema_errors(schema: dict[str, Any], path: Path) -> list[str]:
    from jsonschema import Draft7Validator

    document = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    return [error.message for error in Draft7Validator(schema).iter_errors(document)]


def test_action_yml_matches_githubs_schema() -> None:
    assert _schema_errors(_github_schema("github-actions.json"), ROOT / "action.yml") == []


def test_workflows_match_githubs_schema(tmp_path: Path) -> None:
    from kathansync.scaffold import init_project

    schema = _github_schema("github-workflows.json")
    generated = [p for p in init_project(tmp_path) if p.parent.name == "workflows"]
    for path in [*sorted((ROOT / ".github" / "workflows").glob("*.yml")), *generated]:
        assert _schema_errors(schema, path) == [], path
