"""`kathansync init`: scaffold a repository with a config, an example manifest and a CI workflow.

All or nothing: every target is checked before anything is written, so a refused init leaves
the directory exactly as it was.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from kathansync import __version__
from kathansync.errors import ConfigError
from kathansync.schema import schema_json

CONFIG = Path("kathansync.yaml")
EXAMPLE = Path("assistants/example.yaml")
# The example's `# yaml-language-server: $schema=` comment points here (relative to the example).
SCHEMA = Path(".kathansync/manifest.schema.json")
WORKFLOW = Path(".github/workflows/kathansync.yml")

VERSION_PLACEHOLDER = "@KATHANSYNC_VERSION@"


def scaffold_files() -> dict[Path, str]:
    """What `init` writes: relative path -> content."""
    return {
        CONFIG: _template("kathansync.yaml"),
        EXAMPLE: _template("example.yaml"),
        # Draft 7 declared: the YAML language server warns on a 2020-12 `$schema`.
        SCHEMA: schema_json(draft="7"),
        WORKFLOW: _template("workflow.yml").replace(VERSION_PLACEHOLDER, __version__),
    }


def init_project(directory: Path) -> list[Path]:
    """Write the scaffold into `directory`; return the files written, in a stable order.

    Raises ConfigError, writing nothing, when any target already exists.
    """
    files = {directory / relative: content for relative, content in scaffold_files().items()}
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
    try:
        for path, content in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            # "x": never clobber a file that appeared since the check above.
            with path.open("x", encoding="utf-8", newline="\n") as out:
                out.write(content)
    except OSError as error:
        raise ConfigError(f"init cannot write {error.filename}: {error.strerror}") from None
    return list(files)


def _template(name: str) -> str:
    return resources.files("kathansync").joinpath("templates", name).read_text(encoding="utf-8")
