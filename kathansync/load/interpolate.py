"""Read one YAML file and resolve what it refers to: `${VAR}`, `$${` and `!file PATH`."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kathansync.load import fastyaml, yamlio
from kathansync.load.cache import digest
from kathansync.load.problems import describe_value
from kathansync.load.source import ShownFiles, Source
from kathansync.tree import Loc

# What one file may expand to through ${VAR} and !file (characters of strings, aliases counted
# each time): far above any real manifest, far below what would exhaust memory.
MAX_EXPANDED = 2 * 1024 * 1024
MAX_PATH = 1024  # characters of a !file path; PATH_MAX is 4096 and real ones are short

_INTERPOLATION = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SURROGATE = re.compile("[\ud800-\udfff]")


def substitute(
    text: str, value_of: Callable[[str], str | None], problem: Callable[[str], object]
) -> str:
    """`text` with each `${NAME}` replaced by `value_of(NAME)` and `$${` by a literal `${`.

    The one reading of the `${VAR}` syntax, for manifests and conversation suites alike: a
    malformed or unset reference is said through `problem` and replaced by "".
    """

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name = match.group(1)
        if name is None:
            problem("unclosed ${ (write $${ for a literal ${)")
            return ""
        if not _VAR_NAME.fullmatch(name):
            problem(f"invalid variable name {name!r} in ${{...}}")
            return ""
        value = value_of(name)
        if value is None:
            problem(
                f"variable ${{{name}}} is not set (set it in the environment"
                " or in kathansync.yaml vars)"
            )
            return ""
        if not value.isascii() and _SURROGATE.search(value):
            # Bytes that are not UTF-8, as os.environ hands them over: no body can carry them.
            problem(f"variable ${{{name}}} is not UTF-8 text: set it to text")
            return ""
        return value

    return _INTERPOLATION.sub(replace, text)


class Refused(Exception):
    """A path that may not be read: the message says why (see `Resolver.locate`)."""


class Resolver:
    """Reads files for one run: `variables` (kathansync.yaml vars) win over `environ` for
    `${NAME}`, and `!file` targets may not leave `root`."""

    def __init__(
        self, variables: Mapping[str, str], environ: Mapping[str, str] | None, root: Path
    ) -> None:
        self.variables = variables
        self.environ = os.environ if environ is None else environ
        self.root = root
        self.left = MAX_EXPANDED  # reset for each file
        self.included: dict[Path, str | yamlio.SourceError] = {}  # !file targets, read once
        self.folders: dict[str, str] = {}  # folder -> resolved, for `resolved`
        self.shown = ShownFiles()

    def confine(self, path: Path) -> Path | str:
        """The resolved `path` when it may be read, else why not (see `locate`)."""
        target, refused = self.locate(path)
        return refused if refused else Path(target)

    def locate(self, path: Path, *, links: bool = True) -> tuple[str, str]:
        """(the resolved `path`, "") when it may be read, else ("", why not); strings, for the
        warm (cached) load, where building 10,000 Paths was a third of the time. `links=False`:
        a symlink as the last part is not looked at (the caller opens without following it).

        Everything read must be inside the repository root, and never under `.git/`: in CI it
        holds the token actions/checkout leaves, and a fork's pull request must not print it.
        """
        text = str(path)
        if "\0" in text:
            return "", "contains a NUL byte"
        if len(text) > MAX_PATH + len(str(self.root)):
            return "", f"is longer than {MAX_PATH} characters"
        try:
            inside = self.resolved(path, links=links)
        except (OSError, RuntimeError, ValueError) as exc:  # RuntimeError: a symlink loop
            why = getattr(exc, "strerror", None) or "a symlink loop"
            return "", f"cannot be resolved ({why})"
        # Strings, not PurePath.relative_to: both paths are resolved (absolute, normalised).
        root = str(self.root)
        if inside != root and not inside.startswith(root.rstrip(os.sep) + os.sep):
            return "", f"leaves the repository root {self.root}"
        # Any case: `.GIT/config` is the same file on a case-insensitive filesystem.
        if ".git" in inside.lower() and any(
            part.lower() == ".git" for part in inside[len(root) :].split(os.sep)
        ):
            return "", "is inside .git/, which is never read (it may hold credentials)"
        return inside, ""

    def resolved(self, path: Path, *, links: bool = True) -> str:
        """`str(path.resolve())`, with each folder resolved once a run: at 10,000 manifests the
        realpath walk (one lstat per part, per file) was a tenth of the load. `links=False`:
        the folder resolved, the name as it is (see `read_file`)."""
        if path.name in ("", ".", ".."):
            return str(path.resolve())
        head, name = os.path.split(str(path))  # strings: hashing a Path costs a parse
        folder = self.folders.get(head)
        if folder is None:
            folder = self.folders[head] = str(Path(head).resolve())
        target = os.path.join(folder, name)
        return str(Path(target).resolve()) if links and os.path.islink(target) else target

    def read_file(self, path: Path) -> str:
        """The text of `path` when it may be read (see `locate`), else SourceError or Refused.

        First without a syscall of its own: the name opened in its folder's resolved path,
        never through a symlink (O_NOFOLLOW), which is all a plain file needs. Anything else (a
        symlink, a problem) goes the careful way, which resolves links and words the problem.
        """
        if yamlio.NOFOLLOW:
            target, refused = self.locate(path, links=False)
            if not refused:
                try:
                    return yamlio.read_text(target, follow=False)
                except yamlio.SourceError:
                    pass
        target, refused = self.locate(path)
        if refused:
            raise Refused(refused)
        return yamlio.read_text(target)

    def read(self, path: Path, *, is_defaults: bool) -> Source:
        """Parse `path` into a Source: data resolved, or None with the problems recorded."""
        source = Source(path, self.shown(path))
        self.left = MAX_EXPANDED
        try:
            source.text = self.read_file(path)
            data = yamlio.parse_fast(source.text)
        except Refused as refused:
            source.problem((), f"refusing to read this file: its path {refused}", where=(0, 0))
            return source
        except yamlio.SourceError as exc:
            source.problem((), exc.message, where=(exc.line, exc.column))
            return source
        if yamlio.yaml11_directive(source.text):
            source.problem(
                (),
                "%YAML 1.1 directive ignored: kathansync reads YAML 1.2"
                " (on/off/yes/no are strings; write booleans as true/false)",
                severity="warning",
                where=(1, 1),
            )
        if data is None:
            if is_defaults:
                source.data = {}
            else:
                source.problem(
                    (), "file is empty: expected a mapping of assistant fields", where=(1, 1)
                )
            return source
        if not isinstance(data, dict):
            source.problem(
                (),
                f"expected a mapping of assistant fields, got {describe_value(data)}",
                where=(1, 1),
            )
            return source
        source.plain = _is_plain(source.text, data)
        source.data = data if source.plain else self.resolve(source, data, ())
        return source

    def resolve(self, source: Source, node: Any, loc: Loc) -> Any:
        """A fresh copy of `node` with ${VAR}, $${ and !file resolved (problems recorded)."""
        if isinstance(node, dict):
            resolved: dict[str, Any] = {}
            for key, value in node.items():
                if not isinstance(key, str):
                    source.problem(loc, f"expected a text key, got {describe_value(key)}")
                    continue
                resolved[key] = self.resolve(source, value, (*loc, key))
            return resolved
        if isinstance(node, list):
            return [self.resolve(source, item, (*loc, i)) for i, item in enumerate(node)]
        if isinstance(node, str):
            return self.spend(source, self.interpolate(source, node, loc) if "$" in node else node)
        if isinstance(node, yamlio.FileRef):
            return self.spend(source, self.read_included(source, node))
        return node

    def spend(self, source: Source, text: str) -> str:
        """Count `text` against the file's expansion budget; past it, one problem and ""."""
        if self.left < 0:
            return ""
        self.left -= len(text)
        if self.left < 0:
            source.problem(
                (),
                f"expands to more than {MAX_EXPANDED} characters through ${{VAR}}, !file"
                " and aliases: refusing it",
                where=(1, 1),
            )
            return ""
        return text

    def interpolate(self, source: Source, text: str, loc: Loc) -> str:
        used_variable = False

        def value_of(name: str) -> str | None:
            nonlocal used_variable
            used_variable = True
            return self.variables.get(name, self.environ.get(name))

        if self.left < 0:
            return ""
        result = substitute(text, value_of, lambda message: source.problem(loc, message))
        if used_variable:
            source.sensitive.add(loc)
        return result

    def read_included(self, source: Source, ref: yamlio.FileRef) -> str:
        where = (ref.line, ref.column)
        shown = ref.path if len(ref.path) <= 80 else ref.path[:77] + "..."
        if self.left < 0:
            return ""
        target = self.confine(source.path.parent / ref.path)
        if isinstance(target, str):
            source.problem((), f"!file {shown!r} {target}", where=where)
            return ""
        if target not in self.included:
            try:
                self.included[target] = yamlio.read_text(target)
            except yamlio.SourceError as exc:
                self.included[target] = exc
        text = self.included[target]
        if isinstance(text, str):
            # What the cache checks again: the path as written (confined again), these bytes.
            source.included[str(source.path.parent / ref.path)] = digest(text.encode())
            return text
        if not target.exists():
            source.problem((), f"!file {shown!r}: no such file", where=where)
        else:
            at = f" (line {text.line}, column {text.column})" if text.line else ""
            source.problem((), f"!file {shown!r}: {text.message}{at}", where=where)
        return ""


def _is_plain(text: str, data: Any) -> bool:
    """True when `resolve` would change nothing: no `${`, no alias to count through, no `!file`.
    The fast path's data is known to hold text keys and no alias; ruamel's is looked through
    (a `%TAG` directive can spell the `!file` tag without the word)."""
    if "$" in text:
        return False
    if fastyaml.took(data):
        return "!file" not in text
    return "*" not in text and _plain_tree(data)


def _plain_tree(data: Any) -> bool:
    """True when `data` holds nothing `resolve` would change: every mapping key a string, no
    `!file` (FileRef) anywhere. Cheaper than `resolve`, which copies every container."""
    stack = [data]
    while stack:
        node = stack.pop()
        values = node.values() if isinstance(node, dict) else node
        if isinstance(node, dict) and not all(isinstance(key, str) for key in node):
            return False
        for value in values:
            if isinstance(value, (dict, list)):
                stack.append(value)
            elif isinstance(value, yamlio.FileRef):
                return False
    return True
