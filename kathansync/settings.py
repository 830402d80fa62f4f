"""SETTINGS: kathansync.yaml found upward from the cwd, the selected environment, the run's URL,
the promotion order of environments.

Three types, from the file to one run: `Config` is kathansync.yaml as written, `Environment`
is one environment with its paths resolved from the file's own folder, and `Settings` is
everything one run needs (URL, manifests, vars, repository root, the environment variables).
`Network` is apart on purpose: it comes from command-line flags and only shapes the client.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from kathansync.errors import ConfigError, Problem, display_path
from kathansync.load import yamlio
from kathansync.load.discover import CONFIG_NAME
from kathansync.load.positions import position
from kathansync.load.problems import did_you_mean
from kathansync.load.source import shown_file
from kathansync.settings_spec import (
    DEFAULT_BACKUP_DIR,
    DEFAULT_BACKUP_KEEP,
    DEFAULT_CONVERSATIONS,
    DEFAULT_MANIFESTS,
    STATE_DIR,
    ConfigSpec,
    SpecError,
    read_spec,
)

if TYPE_CHECKING:
    from kathansync.load import LoadResult


@dataclass(frozen=True)
class Environment:
    """One environment: its own api_url (None: none of its own), its manifests and
    conversation-suite folders, vars.

    The folders are resolved from the folder of kathansync.yaml; without the file they are
    relative to the current directory. `name` is None for the top-level settings (no --env).
    """

    name: str | None
    api_url: str | None
    manifests: Path
    vars: Mapping[str, str] = field(default_factory=dict)
    rate_limit: int | None = None
    conversations: Path = Path(DEFAULT_CONVERSATIONS)


@dataclass(frozen=True)
class Config:
    """kathansync.yaml as loaded (all defaults when there is no file)."""

    path: Path | None
    api_url: str | None = None
    manifests: str = DEFAULT_MANIFESTS
    environments: Mapping[str, Environment] = field(default_factory=dict)
    prune_threshold: float | None = None
    rate_limit: int | None = None
    backup_dir: str = DEFAULT_BACKUP_DIR  # `backups: dir:`, relative to the repository root
    backup_keep: int = DEFAULT_BACKUP_KEEP
    conversations: str = DEFAULT_CONVERSATIONS
    promote: tuple[str, ...] | None = None  # as written; see `promotion`

    @property
    def promotion(self) -> tuple[str, ...]:
        """Environments a change goes through, in order: `promote:`, else as listed (with two
        or more environments; none otherwise)."""
        if self.promote is not None:
            return self.promote
        return tuple(self.environments) if len(self.environments) > 1 else ()

    def conversations_dir(self, env: str | None) -> Path:
        """The conversation suites of `env` (None: the top-level ones)."""
        return self.select(env).conversations

    @property
    def folder(self) -> Path:
        """Where the file's relative paths start: its own folder (the cwd without a file)."""
        return self.path.parent if self.path is not None else Path(".")

    def select(self, env: str | None) -> Environment:
        """The settings of `env` laid over the top-level ones (None: the top-level ones).

        Unknown env: ConfigError naming the known ones."""
        if env is None:
            return Environment(
                None,
                None,
                self.folder / self.manifests,
                {},
                self.rate_limit,
                self.folder / self.conversations,
            )
        if env not in self.environments:
            known = ", ".join(sorted(self.environments)) or "none defined"
            where = self.path if self.path is not None else CONFIG_NAME
            raise ConfigError(
                f"unknown environment {env!r} (known in {where}: {known})"
                f"{did_you_mean(env, self.environments)}"
            )
        return self.environments[env]


@dataclass(frozen=True)
class Network:
    """How hard to push the API: requests in flight (None: from the rate-limit budget), retries
    after the first try, seconds, requests per minute when the API sends no rate headers."""

    parallelism: int | None = None
    max_retries: int = 4  # 5 tries in all
    timeout: float = 10.0
    rate_limit: int | None = None


@dataclass(frozen=True)
class Settings:
    """Everything one run needs to know before it loads a manifest or sends a request."""

    api_url: str
    manifests: Path
    environment: str | None
    variables: Mapping[str, str]
    config: Config
    root: Path  # the repository root: kathansync.yaml's folder, else the git root, else the cwd
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)  # credentials live here
    rate_limit: int | None = None

    @property
    def repository(self) -> Path | None:
        """The root when a repository was found (kathansync.yaml or .git), else None."""
        found = self.config.path is not None or (self.root / ".git").exists()
        return self.root if found else None

    @property
    def state_dir(self) -> Path:
        """`.kathansync/` at the repository root: local state, never committed."""
        return self.root / STATE_DIR

    @property
    def backups_dir(self) -> Path:
        """Where backups live: `backups: dir:` of kathansync.yaml (default .kathansync/backups),
        from the repository root. The one place that decides it."""
        return self.root / self.config.backup_dir


def resolve_settings(
    *,
    directory: Path | None,
    env: str | None,
    api_url: str | None,
    environ: Mapping[str, str],
    cwd: Path,
) -> Settings:
    """The settings of one run, with kathansync.yaml found upward from `cwd`.

    The API URL, first found: --api-url; the api_url of the selected environment (naming an
    environment is a deliberate choice, stronger than a variable exported in some shell);
    KATHAN_API_URL; kathansync.yaml's top-level api_url; the seed's URL.
    """
    from kathansync.remote.credentials import API_URL_ENV, DEFAULT_API_URL, check_api_url

    path, root = find_config(cwd)
    config = load_config(path.parent) if path is not None else Config(path=None)
    selected = config.select(env)
    url = (
        api_url or selected.api_url or environ.get(API_URL_ENV) or config.api_url or DEFAULT_API_URL
    )
    check_api_url(url)  # before the URL is printed or saved anywhere
    return Settings(
        api_url=url.rstrip("/"),
        manifests=directory or selected.manifests,
        environment=selected.name,
        variables=selected.vars,
        config=config,
        root=root,
        environ=environ,
        rate_limit=selected.rate_limit if selected.rate_limit is not None else config.rate_limit,
    )


def load_result(settings: Settings, *, strict: bool = False) -> LoadResult:
    """Every manifest the settings name, and every problem (a mistake in a manifest is a
    Problem, not a raise): what `validate` needs, without the rest of a run (kathansync.run
    imports plan and apply: 170 ms that validate never uses)."""
    from kathansync.load import load_manifests

    if not settings.manifests.is_dir():
        raise ConfigError(f"manifests directory {settings.manifests} does not exist (see --dir)")
    return load_manifests(
        settings.manifests,
        env=settings.environment,
        variables=settings.variables,
        environ=settings.environ,
        strict=strict,
        root=settings.repository,
        environments=settings.config.environments or None,
        cache_dir=_cache_dir(settings),
    )


def _cache_dir(settings: Settings) -> Path | None:
    # Outside a repository there is no place of ours to keep a cache in.
    return settings.state_dir / "cache" if settings.repository else None


def manifest_cache_file(settings: Settings, *, strict: bool = False) -> Path | None:
    """The cache file `load_result(settings, strict=strict)` reads, None when it reads none;
    whether it is there says whether the load will be warm (it may still miss)."""
    from kathansync.load.cache import cache_file, disabled
    from kathansync.load.cached import run_context

    folder = _cache_dir(settings)
    if folder is None or settings.repository is None or disabled(settings.environ):
        return None
    context = run_context(
        directory=settings.manifests,
        root=settings.repository,
        env=settings.environment,
        strict=strict,
        environments=settings.config.environments or None,
    )
    return cache_file(folder, context)


def find_config(cwd: Path) -> tuple[Path | None, Path]:
    """(kathansync.yaml, repository root), looked for upward from `cwd` as git finds `.git`.

    The search stops at the git repository's root: a kathansync.yaml above the repository is
    not this repository's. Without the file, the root is the git root, else `cwd`.
    """
    start = cwd.resolve()
    for folder in (start, *start.parents):
        # There at all (a folder, a FIFO, a dangling link): load_config says why it cannot be
        # read. Taken for absent, the run went on with the built-in settings.
        if os.path.lexists(folder / CONFIG_NAME):
            return folder / CONFIG_NAME, folder
        if (folder / ".git").exists():
            return None, folder
    return None, start


def load_config(folder: Path) -> Config:
    """Read `folder/kathansync.yaml`; absent -> defaults. Errors: ConfigError, file:line:col."""
    path = folder / CONFIG_NAME
    if not os.path.lexists(path):
        return Config(path=None)
    shown = shown_file(path)  # a symlink by its own name: a dangling one names no other file
    try:
        text = yamlio.read_text(path)
        data = yamlio.parse_fast(text)
    except yamlio.SourceError as exc:
        raise ConfigError(_at(shown, exc.line, exc.column, exc.message)) from None
    if data is None:
        return Config(path=path)
    if not isinstance(data, dict):
        raise ConfigError(_at(shown, 1, 1, "expected a mapping of settings"))
    try:
        spec = read_spec(data)
    except SpecError as exc:
        tree = yamlio.parse_positions(text)
        located = sorted(
            (*position(tree, loc, at_key=at_key), message) for loc, message, at_key in exc.found
        )
        raise ConfigError("\n".join(_at(shown, *where) for where in located)) from None
    return _config(path, spec, text)


def _config(path: Path, spec: ConfigSpec, text: str) -> Config:
    environments = {
        name: Environment(
            name,
            env.api_url,
            path.parent / (env.manifests or spec.manifests),
            MappingProxyType(dict(env.vars)),
            env.rate_limit if env.rate_limit is not None else spec.rate_limit,
            path.parent / (env.conversations or spec.conversations),
        )
        for name, env in spec.environments.items()
    }
    if spec.promote is not None:
        _check_promote(spec.promote, environments, path, text)
    return Config(
        path=path,
        api_url=spec.api_url,
        manifests=spec.manifests,
        environments=MappingProxyType(environments),
        prune_threshold=spec.prune_threshold,
        rate_limit=spec.rate_limit,
        backup_dir=spec.backups.dir,
        backup_keep=spec.backups.keep,
        conversations=spec.conversations,
        promote=tuple(spec.promote) if spec.promote is not None else None,
    )


def _check_promote(
    promote: list[str], environments: Mapping[str, Environment], path: Path, text: str
) -> None:
    """`promote:` names two or more known environments, each once (else ConfigError, file:line)."""
    tree = yamlio.parse_positions(text)
    problems: list[tuple[int, int, str]] = []
    if len(promote) < 2:
        where = position(tree, ("promote",))
        problems.append((*where, "promote: expected two or more environments, in order"))
    for index, name in enumerate(promote):
        where = position(tree, ("promote", index))
        if name not in environments:
            known = ", ".join(environments) or "none defined"
            hint = did_you_mean(name, environments)
            problems.append(
                (*where, f"promote: unknown environment {name!r} (known: {known}){hint}")
            )
        elif name in promote[:index]:
            problems.append((*where, f"promote: {name!r} is listed twice"))
    if problems:
        shown = display_path(path)
        raise ConfigError("\n".join(_at(shown, *problem) for problem in problems))


def _at(file: str, line: int, column: int, message: str) -> str:
    """The same `file:line:col: error: message` form as manifest problems."""
    return str(Problem(file, line, column, message))
