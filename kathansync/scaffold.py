"""`kathansync init`: scaffold a repository: config, example, CI and drift workflows, .gitignore.

All or nothing: every target is checked before anything is written, so a refused init leaves
the directory exactly as it was.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from kathansync.errors import ConfigError
from kathansync.schema import schema_json
from kathansync.state import LOCAL_FILES

CONFIG = Path("kathansync.yaml")
# `_`-prefixed: the loader skips it, so following the quickstart never creates an assistant.
EXAMPLE = Path("assistants/_example.yaml")
# The example's `# yaml-language-server: $schema=` comment points here (relative to the example).
STATE_DIR = ".kathansync"
SCHEMA = Path(STATE_DIR, "manifest.schema.json")
WORKFLOW = Path(".github/workflows/kathansync.yml")
DRIFT_WORKFLOW = Path(".github/workflows/kathansync-drift.yml")
GITIGNORE = Path(".gitignore")

# The action this repository is (action.yml at its root). Nobody publishes it under a fixed
# name yet: `init --action OWNER/kathansync@v1` names your copy or fork, else this placeholder
# stays in the workflows, with a note, and `init` says so.
ACTION_PLACEHOLDER = "YOUR-ORG/kathansync@v1"
# The environments of the template kathansync.yaml, in promotion order (the order they are
# written in; kathansync.yaml has no `promote:` list yet): apply to the first, test there, and
# only then go on to the next.
ENVIRONMENTS = ("staging", "production")
# Local state (backups, lock, cache) stays out of git; the editor schema is shared.
# The same names as `.kathansync/.gitignore` (state.py), which the first apply writes: anything
# else in .kathansync/, the editor schema first, can be committed.
IGNORED = "# kathansync: local state (backups, lock, cache); the editor schema is shared.\n"
IGNORED += "".join(f"{STATE_DIR}/{name}\n" for name in LOCAL_FILES)


def scaffold_files(action: str = ACTION_PLACEHOLDER) -> dict[Path, str]:
    """What `init` writes (new files only): relative path -> content."""
    return {
        CONFIG: _template("kathansync.yaml"),
        EXAMPLE: _template("_example.yaml"),
        # Draft 7 declared: the YAML language server warns on a 2020-12 `$schema`.
        SCHEMA: schema_json(draft="7"),
        WORKFLOW: workflow(ENVIRONMENTS, action),
        DRIFT_WORKFLOW: _fill(_template("drift.yml"), ENVIRONMENTS, action),
    }


def workflow(environments: tuple[str, ...], action: str = ACTION_PLACEHOLDER) -> str:
    """The pull-request and apply workflow: one apply job per environment, each after the last."""
    jobs, needs = [], "validate"
    for index, env in enumerate(environments):
        job = f"apply-{env}"
        title = f"Apply to {env}" + (
            f", only once {environments[index - 1]} passed" if index else ""
        )
        jobs.append(
            _template("apply-job.yml")
            .replace("@TITLE@", title)
            .replace("@JOB@", job)
            .replace("@NEEDS@", needs)
            .replace("@ENVIRONMENT@", env)
        )
        needs = job
    text = _template("workflow.yml").replace("@APPLY_JOBS@\n", "".join(jobs))
    return _fill(text, environments, action)


def _fill(text: str, environments: tuple[str, ...], action: str) -> str:
    note = (
        "Replace YOUR-ORG with the owner of the kathansync repository you use (or your fork)."
        if action == ACTION_PLACEHOLDER
        else "Upgrade deliberately, like any dependency: move the ref after reading the changes."
    )
    return (
        text.replace("@ACTION_NOTE@", note)
        .replace("@ACTION@", action)
        .replace("@ENVIRONMENT_LIST@", json.dumps(list(environments)))
        .replace("@ENVIRONMENT_NAMES@", ", ".join(environments))
    )


def init_project(directory: Path, action: str = ACTION_PLACEHOLDER) -> list[Path]:
    """Write the scaffold into `directory`; return the files written, in a stable order.

    Raises ConfigError, writing nothing, when any target already exists (.gitignore excepted:
    it gains the local-state lines when it lacks them).
    """
    files = {directory / path: content for path, content in scaffold_files(action).items()}
    existing = [path for path in files if path.exists() or path.is_symlink()]
    if existing:
        names = ", ".join(str(path) for path in existing)
        raise ConfigError(f"init refuses to overwrite existing files (nothing written): {names}")
    blocking = sorted(
        {parent for path in files for parent in path.parents if parent.exists()}
        - {parent for path in files for parent in path.parents if parent.is_dir()}
    )
    if blocking:
        raise ConfigError(f"init needs {blocking[0]} to be a directory, but it is a file")
    gitignore = directory / GITIGNORE
    if gitignore.is_symlink() or (gitignore.exists() and not gitignore.is_file()):
        # Appending through a link would write wherever it points, outside the repository too.
        raise ConfigError(f"init needs {gitignore} to be a plain file (nothing written)")
    try:
        for path, content in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            # "x": never clobber a file that appeared since the check above.
            with path.open("x", encoding="utf-8", newline="\n") as out:
                out.write(content)
        ignored = _ignore_local_state(gitignore)
    except OSError as error:
        raise ConfigError(f"init cannot write {error.filename}: {error.strerror}") from None
    return [*files, *([directory / GITIGNORE] if ignored else [])]


def _ignore_local_state(gitignore: Path) -> bool:
    """Add the local-state lines to .gitignore unless it already ignores .kathansync/."""
    # Only read to see what it already ignores: lines are appended, its own bytes kept whatever
    # its encoding (a Latin-1 `café/` must not crash init after the other files are written).
    text = gitignore.read_text(encoding="utf-8", errors="replace") if gitignore.is_file() else ""
    lines = {line.strip() for line in text.splitlines()}
    whole = any(line.rstrip("/*") in {STATE_DIR, f"/{STATE_DIR}"} for line in lines)
    if whole or set(IGNORED.splitlines()[1:]) <= lines:
        return False
    separator = "\n" if text and not text.endswith("\n") else ""
    with gitignore.open("a", encoding="utf-8", newline="\n") as out:
        out.write(separator + ("\n" if text else "") + IGNORED)
    return True


def _template(name: str) -> str:
    return resources.files("kathansync").joinpath("templates", name).read_text(encoding="utf-8")
