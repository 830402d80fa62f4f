"""kathansync.yaml: repository settings and named environments (api_url, manifests, vars,
conversations) and the promotion order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kathansync import yamlio
from kathansync.errors import ConfigError, Problem, display_path
from kathansync.suggest import did_you_mean
from kathansync.validation import describe_errors

CONFIG_NAME = "kathansync.yaml"
DEFAULT_MANIFESTS = "assistants"
DEFAULT_CONVERSATIONS = "conversations"


class _EnvironmentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    api_url: str | None = None
    manifests: str | None = None
    conversations: str | None = None
    vars: dict[str, str] = Field(default_factory=dict)


class _ConfigSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    api_url: str | None = None
    manifests: str = DEFAULT_MANIFESTS
    conversations: str = DEFAULT_CONVERSATIONS
    prune_threshold: float | None = Field(default=None, ge=0, le=1)
    environments: dict[str, _EnvironmentSpec] = Field(default_factory=dict)
    promote: list[str] | None = None


@dataclass(frozen=True)
class Environment:
    """One named environment: where its API is, where its manifests are, its `${...}` vars."""

    name: str
    api_url: str | None = None
    manifests: str | None = None
    vars: Mapping[str, str] = field(default_factory=dict)
    conversations: str | None = None


@dataclass(frozen=True)
class ResolvedSettings:
    """The settings for one run: top-level values with the selected environment laid over."""

    env: str | None
    api_url: str | None  # the selected environment's own api_url (None without one)
    manifests: Path  # absolute when the config file was found, else relative to the cwd
    vars: Mapping[str, str]


@dataclass(frozen=True)
class Config:
    """kathansync.yaml as loaded (all defaults when there is no file)."""

    path: Path | None
    api_url: str | None = None
    manifests: str = DEFAULT_MANIFESTS
    environments: Mapping[str, Environment] = field(default_factory=dict)
    prune_threshold: float | None = None
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
        chosen = self.environments.get(env) if env is not None else None
        folder = chosen.conversations if chosen is not None else None
        return self.root / (folder or self.conversations)

    @property
    def root(self) -> Path:
        """The repository root: the config file's directory (the cwd without one)."""
        return self.path.parent if self.path is not None else Path(".")

    def select(self, env: str | None) -> ResolvedSettings:
        """Settings for `env` (None: the top-level ones). Unknown env: ConfigError naming the
        known ones."""
        if env is None:
            return ResolvedSettings(None, None, self.root / self.manifests, {})
        if env not in self.environments:
            known = ", ".join(sorted(self.environments)) or "none defined"
            where = self.path if self.path is not None else CONFIG_NAME
            raise ConfigError(
                f"unknown environment {env!r} (known in {where}: {known})"
                f"{did_you_mean(env, self.environments)}"
            )
        chosen = self.environments[env]
        return ResolvedSettings(
            env,
            chosen.api_url,
            self.root / (chosen.manifests or self.manifests),
            chosen.vars,
        )


def load_config(root: Path) -> Config:
    """Read `root/kathansync.yaml`; absent -> defaults. Errors: ConfigError, file:line:col."""
    path = root / CONFIG_NAME
    if not path.is_file():
        return Config(path=None)
    shown = display_path(path)
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
        spec = _ConfigSpec.model_validate(data)
    except ValidationError as exc:
        tree = yamlio.parse_positions(text)
        located = sorted(
            (*yamlio.position(tree, loc, at_key=at_key), message)
            for loc, message, at_key in describe_errors(exc, _ConfigSpec)
        )
        raise ConfigError("\n".join(_at(shown, *where) for where in located)) from None
    environments = {
        name: Environment(
            name, env.api_url, env.manifests, MappingProxyType(dict(env.vars)), env.conversations
        )
        for name, env in spec.environments.items()
    }
    if spec.promote is not None:
        _check_promote(spec.promote, environments, shown, text)
    return Config(
        path=path,
        api_url=spec.api_url,
        manifests=spec.manifests,
        environments=MappingProxyType(environments),
        prune_threshold=spec.prune_threshold,
        conversations=spec.conversations,
        promote=tuple(spec.promote) if spec.promote is not None else None,
    )


def _check_promote(
    promote: list[str], environments: Mapping[str, Environment], shown: str, text: str
) -> None:
    """`promote:` names two or more known environments, each once (else ConfigError, file:line)."""
    tree = yamlio.parse_positions(text)
    problems: list[tuple[int, int, str]] = []
    if len(promote) < 2:
        where = yamlio.position(tree, ("promote",))
        problems.append((*where, "promote: expected two or more environments, in order"))
    for index, name in enumerate(promote):
        where = yamlio.position(tree, ("promote", index))
        if name not in environments:
            known = ", ".join(environments) or "none defined"
            hint = did_you_mean(name, environments)
            problems.append(
                (*where, f"promote: unknown environment {name!r} (known: {known}){hint}")
            )
        elif name in promote[:index]:
            problems.append((*where, f"promote: {name!r} is listed twice"))
    if problems:
        raise ConfigError("\n".join(_at(shown, *problem) for problem in problems))


def _at(file: str, line: int, column: int, message: str) -> str:
    """The same `file:line:col: error: message` form as manifest problems."""
    return str(Problem(file, line, column, message))
