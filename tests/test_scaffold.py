"""`kathansync init`: a valid scaffold, a workflow that does what CI needs, nothing clobbered."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator, Draft202012Validator
from ruamel.yaml import YAML

from kathansync import __version__
from kathansync.errors import ConfigError
from kathansync.models import ManifestSpec
from kathansync.scaffold import init_project
from kathansync.schema import manifest_schema, schema_json

EXPECTED = [
    Path("kathansync.yaml"),
    Path("assistants/example.yaml"),
    Path(".kathansync/manifest.schema.json"),
    Path(".github/workflows/kathansync.yml"),
]


def _load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def _tree(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    written = init_project(tmp_path)
    assert written == [tmp_path / relative for relative in EXPECTED]
    return tmp_path


def test_writes_exactly_the_scaffold(project: Path) -> None:
    assert sorted(_tree(project)) == sorted(str(p) for p in EXPECTED)


def test_creates_a_missing_directory(tmp_path: Path) -> None:
    target = tmp_path / "new" / "repo"
    init_project(target)
    assert (target / "assistants" / "example.yaml").is_file()


def test_example_is_a_valid_manifest(project: Path) -> None:
    document = _load(project / "assistants" / "example.yaml")
    ManifestSpec.model_validate(document)
    for validator in (Draft202012Validator, Draft7Validator):
        assert list(validator(manifest_schema()).iter_errors(document)) == []


def test_example_points_editors_at_the_written_schema(project: Path) -> None:
    example = project / "assistants" / "example.yaml"
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
    assert set(config["environments"]) == {"staging", "production"}
    for environment in config["environments"].values():
        assert environment["api_url"].startswith("https://")


def _workflow(project: Path) -> dict[str, Any]:
    workflow = _load(project / ".github" / "workflows" / "kathansync.yml")
    assert isinstance(workflow, dict)
    return workflow


def _runs(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def test_workflow_triggers_and_jobs(project: Path) -> None:
    workflow = _workflow(project)
    # YAML 1.2 (ruamel, GitHub) reads the `on` key as a string, not as a boolean.
    triggers = workflow["on"]
    assert "pull_request" in triggers
    assert triggers["push"]["branches"] == ["main"]
    assert workflow["jobs"]["plan"]["if"] == "github.event_name == 'pull_request'"
    assert workflow["jobs"]["apply"]["if"] == "github.event_name == 'push'"


def test_workflow_plans_pull_requests(project: Path) -> None:
    plan_job = _workflow(project)["jobs"]["plan"]
    runs = _runs(plan_job)
    assert "kathansync validate" in runs
    plan_run = next(run for run in runs if run.startswith("kathansync plan"))
    assert "--format markdown" in plan_run
    assert "--out kathansync.plan" in plan_run
    assert "--no-color" in plan_run
    assert plan_job["permissions"]["pull-requests"] == "write"
    # Validate before planning: a broken manifest fails fast, without touching the API.
    assert runs.index("kathansync validate") < runs.index(plan_run)


def test_workflow_posts_a_single_updated_comment_and_keeps_the_plan(project: Path) -> None:
    steps = _workflow(project)["jobs"]["plan"]["steps"]
    script_step = next(s for s in steps if s.get("uses", "").startswith("actions/github-script"))
    script = script_step["with"]["script"]
    assert "kathansync-plan -->" in script
    assert "updateComment" in script and "createComment" in script
    # kathansync writes the marker and keeps the size: the script neither adds one nor cuts.
    assert "${marker}" not in script and "marker +" not in script
    assert ".slice(" not in script and ".substring(" not in script
    assert "throw new Error" in script  # an oversized body fails loudly instead


def test_workflow_comment_script_finds_the_marker_the_renderer_writes(project: Path) -> None:
    from kathansync.render import render_plan

    steps = _workflow(project)["jobs"]["plan"]["steps"]
    script = next(s for s in steps if s.get("uses", "").startswith("actions/github-script"))
    marker = re.search(r"const marker = '([^']+)';", script["with"]["script"])
    assert marker is not None
    plan = {
        "format_version": "1",
        "environment": None,
        "api_url": "https://api.example",
        "changes": [],
        "summary": {"create": 0, "update": 0, "delete": 0, "no_op": 0},
    }
    assert render_plan(plan, "markdown").startswith(marker.group(1))
    artifact = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert "kathansync.plan" in artifact["with"]["path"]


def test_workflow_applies_on_push_one_at_a_time(project: Path) -> None:
    apply_job = _workflow(project)["jobs"]["apply"]
    assert apply_job["concurrency"] == {"group": "kathansync-apply", "cancel-in-progress": False}
    assert "kathansync apply --auto-approve --no-color" in _runs(apply_job)


def test_workflow_takes_credentials_from_secrets_and_pins_the_version(project: Path) -> None:
    workflow = _workflow(project)
    assert workflow["env"]["KATHAN_API_KEY"] == "${{ secrets.KATHAN_API_KEY }}"
    assert workflow["env"]["KATHAN_USER_ID"] == "${{ secrets.KATHAN_USER_ID }}"
    text = (project / ".github" / "workflows" / "kathansync.yml").read_text(encoding="utf-8")
    assert f'pip install "kathansync=={__version__}"' in text
    assert "@KATHANSYNC_VERSION@" not in text
    # First-party actions only: a third-party action would see the repository token.
    uses = [
        step["uses"] for job in workflow["jobs"].values() for step in job["steps"] if "uses" in step
    ]
    assert uses and all(u.startswith("actions/") for u in uses)


@pytest.mark.parametrize("existing", EXPECTED, ids=str)
def test_refuses_to_overwrite_and_writes_nothing(tmp_path: Path, existing: Path) -> None:
    (tmp_path / existing).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / existing).write_text("mine\n", encoding="utf-8")
    before = _tree(tmp_path)

    with pytest.raises(ConfigError, match="overwrite") as raised:
        init_project(tmp_path)

    assert str(tmp_path / existing) in str(raised.value)
    assert _tree(tmp_path) == before


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
    assert [m.handle for m in result.manifests] == ["example"]
