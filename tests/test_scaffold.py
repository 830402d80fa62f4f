"""`kathansync init`: a valid scaffold, a workflow that does what CI needs, nothing clobbered."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator, Draft202012Validator
from ruamel.yaml import YAML

from kathansync.errors import ConfigError
from kathansync.models import ManifestSpec
from kathansync.scaffold import ACTION_PLACEHOLDER, ENVIRONMENTS, init_project
from kathansync.schema import manifest_schema, schema_json
from kathansync.state import LOCAL_FILES, state_folder

EXPECTED = [
    Path("kathansync.yaml"),
    Path("assistants/_example.yaml"),
    Path(".kathansync/manifest.schema.json"),
    Path(".github/workflows/kathansync.yml"),
    Path(".github/workflows/kathansync-drift.yml"),
]
WRITTEN = [*EXPECTED, Path(".gitignore")]


def _load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def _tree(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    written = init_project(tmp_path)
    assert written == [tmp_path / relative for relative in WRITTEN]
    return tmp_path


def test_writes_exactly_the_scaffold(project: Path) -> None:
    assert sorted(_tree(project)) == sorted(str(p) for p in WRITTEN)


def test_creates_a_missing_directory(tmp_path: Path) -> None:
    target = tmp_path / "new" / "repo"
    init_project(target)
    assert (target / "assistants" / "_example.yaml").is_file()


def test_example_is_a_valid_manifest(project: Path) -> None:
    document = _load(project / "assistants" / "_example.yaml")
    ManifestSpec.model_validate(document)
    for validator in (Draft202012Validator, Draft7Validator):
        assert list(validator(manifest_schema()).iter_errors(document)) == []


def test_example_points_editors_at_the_written_schema(project: Path) -> None:
    example = project / "assistants" / "_example.yaml"
    first_line = example.read_text(encoding="utf-8").splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first_line.startswith(prefix)
    # The language server resolves a relative path against the manifest's directory.
    schema_file = (example.parent / first_line.removeprefix(prefix)).resolve()
    assert schema_file == (project / ".kathansync" / "manifest.schema.json").resolve()
    assert schema_file.read_text(encoding="utf-8") == schema_json(draft="7")
    assert json.loads(schema_file.read_text(encoding="utf-8"))["$schema"].startswith(
        "http://json-schema.org/draft-07/"
    )


def test_config_names_manifests_and_two_environments(project: Path) -> None:
    config = _load(project / "kathansync.yaml")
    assert config["manifests"] == "assistants"
    assert config["api_url"].startswith("https://")
    # In promotion order: the workflow applies to them in this order.
    assert list(config["environments"]) == list(ENVIRONMENTS)
    for environment in config["environments"].values():
        assert environment["api_url"].startswith("https://")


def _workflow(project: Path, name: str = "kathansync.yml") -> dict[str, Any]:
    workflow = _load(project / ".github" / "workflows" / name)
    assert isinstance(workflow, dict)
    return workflow


def _uses_action(step: dict[str, Any]) -> bool:
    return str(step.get("uses", "")).startswith(ACTION_PLACEHOLDER.split("@")[0])


def _action_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [step["with"] for step in job["steps"] if _uses_action(step)]


def test_workflow_triggers_and_jobs(project: Path) -> None:
    workflow = _workflow(project)
    # YAML 1.2 (ruamel, GitHub) reads the `on` key as a string, not as a boolean.
    triggers = workflow["on"]
    assert "pull_request" in triggers
    assert triggers["push"]["branches"] == ["main"]
    assert set(workflow["jobs"]) == {"validate", "plan", "apply-staging", "apply-production"}
    assert workflow["jobs"]["plan"]["if"].startswith("github.event_name == 'pull_request'")
    assert workflow["jobs"]["apply-staging"]["if"] == "github.event_name == 'push'"


def test_workflows_use_the_action_never_a_package_index(project: Path) -> None:
    for name in ("kathansync.yml", "kathansync-drift.yml"):
        text = (project / ".github" / "workflows" / name).read_text(encoding="utf-8")
        assert "pip install" not in text and "kathansync==" not in text
        assert f"uses: {ACTION_PLACEHOLDER}" in text
        assert "Replace YOUR-ORG" in text  # the placeholder is explained where it stands


def test_init_names_the_action_when_told(tmp_path: Path) -> None:
    init_project(tmp_path, action="acme/kathansync@v1")
    text = (tmp_path / ".github" / "workflows" / "kathansync.yml").read_text(encoding="utf-8")
    assert "uses: acme/kathansync@v1" in text and "YOUR-ORG" not in text


def test_workflow_validates_then_plans_each_environment_on_pull_requests(project: Path) -> None:
    workflow = _workflow(project)
    assert _action_steps(workflow["jobs"]["validate"]) == [{"command": "validate"}]
    plan_job = workflow["jobs"]["plan"]
    assert plan_job["needs"] == "validate"
    assert plan_job["strategy"]["matrix"]["environment"] == ["staging", "production"]
    assert _action_steps(plan_job) == [
        {"command": "plan", "environment": "${{ matrix.environment }}", "comment": "true"}
    ]
    assert plan_job["permissions"]["pull-requests"] == "write"
    # Forks get no secrets: their pull requests are validated, not planned.
    assert "head.repo.full_name == github.repository" in plan_job["if"]
    artifact = next(s for s in plan_job["steps"] if "upload-artifact" in s.get("uses", ""))
    assert "steps.plan.outputs.plan_file" in artifact["with"]["path"]


def test_workflow_promotes_staging_then_production(project: Path) -> None:
    jobs = _workflow(project)["jobs"]
    staging, production = jobs["apply-staging"], jobs["apply-production"]
    assert staging["needs"] == "validate" and production["needs"] == "apply-staging"
    for env, job in (("staging", staging), ("production", production)):
        assert job["environment"] == env
        assert job["concurrency"] == {
            "group": f"kathansync-apply-{env}",
            "cancel-in-progress": False,
        }
        # `apply --env E --auto-approve --test`: apply, then the conversation tests there; a
        # failed test stops the promotion.
        assert _action_steps(job) == [{"command": "apply", "environment": env, "args": "--test"}]
        backups = next(s for s in job["steps"] if "upload-artifact" in s.get("uses", ""))
        assert backups["if"] == "always()"
        assert backups["with"]["path"] == ".kathansync/backups/"
        assert backups["with"]["include-hidden-files"] is True  # .kathansync is hidden
        assert backups["with"]["retention-days"] <= 7


def test_workflow_takes_credentials_from_secrets(project: Path) -> None:
    for name in ("kathansync.yml", "kathansync-drift.yml"):
        workflow = _workflow(project, name)
        assert workflow["env"]["KATHAN_API_KEY"] == "${{ secrets.KATHAN_API_KEY }}"
        assert workflow["env"]["KATHAN_USER_ID"] == "${{ secrets.KATHAN_USER_ID }}"
        uses = [
            step["uses"]
            for job in workflow["jobs"].values()
            for step in job["steps"]
            if "uses" in step
        ]
        # First-party actions and kathansync's own: others would see the repository token.
        assert uses and all(u.startswith("actions/") or u == ACTION_PLACEHOLDER for u in uses)


def test_drift_workflow_runs_daily_and_on_demand(project: Path) -> None:
    drift = _workflow(project, "kathansync-drift.yml")
    assert set(drift["on"]) == {"schedule", "workflow_dispatch"}
    assert len(drift["on"]["schedule"]) == 1
    job = drift["jobs"]["drift"]
    assert job["strategy"]["matrix"]["environment"] == ["staging", "production"]
    assert job["permissions"] == {"contents": "read", "issues": "write"}
    assert _action_steps(job) == [
        {"command": "plan", "environment": "${{ matrix.environment }}", "comment": "false"}
    ]


def test_drift_workflow_keeps_one_issue_and_closes_it_when_clean(project: Path) -> None:
    job = _workflow(project, "kathansync-drift.yml")["jobs"]["drift"]
    step = next(s for s in job["steps"] if "github-script" in s.get("uses", ""))
    assert step["env"]["HAS_CHANGES"] == "${{ steps.plan.outputs.has_changes }}"
    assert step["env"]["PLAN_MARKDOWN"] == "${{ steps.plan.outputs.plan_markdown }}"
    script = step["with"]["script"]
    # Found again by label and marker, then updated or closed: never a second issue.
    assert "state: 'open', labels: label" in script
    assert "i.body.includes(marker)" in script
    assert "issues.update({ owner, repo, issue_number: issue.number, body })" in script
    assert "state: 'closed'" in script
    assert script.count("issues.create(") == 1
    # Only the plan goes in: no environment variable or secret is read besides these three.
    assert set(re.findall(r"process\.env\.(\w+)", script)) == {
        "ENVIRONMENT",
        "HAS_CHANGES",
        "PLAN_MARKDOWN",
    }


def test_gitignore_gains_local_state_once(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("node_modules/", encoding="utf-8")
    written = init_project(tmp_path)
    assert tmp_path / ".gitignore" in written
    lines = (tmp_path / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "node_modules/"
    # The names state.py's own .kathansync/.gitignore lists, so both say the same.
    assert {f".kathansync/{name}" for name in LOCAL_FILES} <= set(lines)
    assert init_project(tmp_path / "again") == [tmp_path / "again" / p for p in WRITTEN]


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_gitignore_keeps_local_state_out_and_the_schema_in(project: Path) -> None:
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    state = project / ".kathansync"
    state_folder(state)  # as the first apply does: its own .gitignore too
    for folder in ("backups", "cache"):
        (state / folder).mkdir()
    for name in ("lock", "pending-creates.json", "backups/b.json", "cache/c.json"):
        (state / name).write_text("{}", encoding="utf-8")
    listed = subprocess.run(
        ["git", "-C", str(project), "ls-files", "--others", "--exclude-standard"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    # Committable: the editor schema (and the folder's own .gitignore); nothing else.
    assert {n for n in listed if n.startswith(".kathansync/")} == {
        ".kathansync/.gitignore",
        ".kathansync/manifest.schema.json",
    }


def test_gitignore_already_ignoring_local_state_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text(".kathansync/\n", encoding="utf-8")
    assert tmp_path / ".gitignore" not in init_project(tmp_path)
    assert (tmp_path / ".gitignore").read_text(encoding="utf-8") == ".kathansync/\n"


@pytest.mark.parametrize("existing", EXPECTED, ids=str)
def test_refuses_to_overwrite_and_writes_nothing(tmp_path: Path, existing: Path) -> None:
    (tmp_path / existing).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / existing).write_text("mine\n", encoding="utf-8")
    before = _tree(tmp_path)

    with pytest.raises(ConfigError, match="overwrite") as raised:
        init_project(tmp_path)

    assert str(tmp_path / existing) in str(raised.value)
    assert _tree(tmp_path) == before


def test_refuses_a_gitignore_that_is_a_link_and_writes_nothing(tmp_path: Path) -> None:
    # Appending through it would write wherever it points (here: a file outside, not there yet).
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / ".gitignore").symlink_to(tmp_path / "outside")
    with pytest.raises(ConfigError, match=r"\.gitignore to be a plain file \(nothing written\)"):
        init_project(tmp_path / "repo")
    assert not (tmp_path / "outside").exists()
    assert sorted(p.name for p in (tmp_path / "repo").iterdir()) == [".gitignore"]


def test_refuses_when_a_directory_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "assistants").write_text("not a directory\n", encoding="utf-8")
    before = _tree(tmp_path)

    with pytest.raises(ConfigError, match=r"assistants.* to be a directory"):
        init_project(tmp_path)

    assert _tree(tmp_path) == before


def test_scaffold_is_deterministic(tmp_path: Path) -> None:
    init_project(tmp_path / "a")
    init_project(tmp_path / "b")
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")


def test_scaffold_loads_with_the_real_config_and_manifest_loaders(project: Path) -> None:
    # The templates are static text: this catches drift from the config and manifest formats.
    config_module = pytest.importorskip("kathansync.settings")
    manifest_module = pytest.importorskip("kathansync.load")

    config = config_module.load_config(project)
    assert set(config.environments) == {"staging", "production"}
    result = manifest_module.load_manifests(project / "assistants", strict=True)
    assert result.problems == []
    # The example is skipped: a plan right after init creates nothing.
    assert result.manifests == []
