"""IMPORT: write one new manifest per existing remote assistant, never overwriting a file."""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kathansync.atomic import write_atomic
from kathansync.errors import ApiError, ConfigError, display_path
from kathansync.load import find_root
from kathansync.models import FIELD_ORDER, NULLABLE_FIELDS, AssistantSpec, Manifest, Spec
from kathansync.scaffold import SCHEMA
from kathansync.writeback.credentials import Placeholder, hide_credentials
from kathansync.writeback.defaults import API_DEFAULTS, folder_defaults, omit_defaults
from kathansync.writeback.managed import managed_ids
from kathansync.writeback.yamltree import dump_text, new_node

if TYPE_CHECKING:
    from kathansync.remote.client import KathanClient

SUFFIX = ".yaml"


@dataclass(frozen=True)
class Imported:
    id: str
    handle: str
    file: str
    placeholders: tuple[Placeholder, ...] = ()  # values written as `${VAR}`: set those

    def warnings(self) -> list[str]:
        """One line per placeholder: the variable to set (the value itself is never shown)."""
        return [
            f"{self.file}: {hidden.path} looks like it holds a credential; written as"
            f" ${{{hidden.variable}}}: set {hidden.variable} to the value in Kathan"
            for hidden in self.placeholders
        ]


@dataclass
class ImportReport:
    """Per id: written (handle, file), skipped (already managed: where), or failed (why)."""

    written: list[Imported] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def slug(name: str) -> str:
    """A handle from an assistant's name: `Acme Support (EN)` -> `acme-support-en`."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return text[:60].rstrip("-") or "assistant"


def manifest_fields(remote: Mapping[str, Any]) -> dict[str, Any]:
    """The remote's fields a manifest can hold, in the API's order, without `id`.

    Fields the tool does not know are left out (they would be manifest errors), and so are nulls
    a manifest cannot say (a null sub-field, a null non-nullable field).
    """
    fields: dict[str, Any] = {}
    for key in FIELD_ORDER:
        if key == "id" or key not in remote:
            continue
        value = remote[key]
        spec = AssistantSpec.model_fields[key].annotation
        if isinstance(spec, type) and issubclass(spec, Spec):
            if isinstance(value, Mapping):
                fields[key] = {
                    name: value[name]
                    for name in spec.model_fields
                    if name in value and value[name] is not None
                }
        elif value is not None or key in NULLABLE_FIELDS:
            fields[key] = value
    return fields


def manifest_text(
    remote: Mapping[str, Any], env: str | None = None, *, schema: str | None = None
) -> str:
    """A new manifest for `remote` with every known field the API returned (see `render`)."""
    return render(str(remote["id"]), manifest_fields(remote), env, schema)


def render(
    assistant_id: str, fields: Mapping[str, Any], env: str | None, schema: str | None
) -> str:
    """A new manifest: the editor's schema line, `id` first, then `fields` in their order; long
    or multi-line strings as `|` blocks, boolean-looking strings quoted, `${` escaped.

    With an environment the id is written as `{env: id}`: a plain id means every environment.
    """
    tree = new_node({"id": assistant_id if env is None else {env: assistant_id}, **fields})
    header = f"# yaml-language-server: $schema={schema}\n" if schema else ""
    return header + dump_text(tree)


def import_assistants(
    client: KathanClient,
    ids: Sequence[str] | None,
    directory: Path,
    existing: Sequence[Manifest],
    *,
    env: str | None = None,
    root: Path | None = None,
    omit_api_defaults: bool = False,
) -> ImportReport:
    """Write a manifest under `directory` for each id (None: every remote assistant).

    An id that any manifest in the repository (`root`, default: see `find_root`) already has
    is skipped (the report says where); a file is never overwritten: a taken handle gets a
    `-2`, `-3` ... suffix. Values `_defaults.yaml` already gives are left out (and, with
    `omit_api_defaults`, values equal to the API's defaults for a new assistant); values that
    look like credentials are written as `${VAR}` placeholders.
    """
    root = (root or find_root(directory)).resolve()
    report = ImportReport()
    remotes = _fetch(client, ids, report)
    known = {**managed_ids(root), **{m.id.lower(): m.file for m in existing if m.id}}
    taken = {m.handle for m in existing}
    folder = folder_defaults(directory)
    schema = Path(os.path.relpath(root / SCHEMA, directory.resolve())).as_posix()
    directory.mkdir(parents=True, exist_ok=True)
    for remote in remotes:
        assistant_id = str(remote["id"])
        if assistant_id.lower() in known:
            report.skipped.append(
                f"{assistant_id}: already managed in {known[assistant_id.lower()]}"
            )
            continue
        handle = _free_handle(slug(str(remote.get("name") or "")), directory, taken)
        fields = omit_defaults(
            manifest_fields(remote), folder, API_DEFAULTS if omit_api_defaults else None
        )
        fields, hidden = hide_credentials(fields, handle)
        path = directory / f"{handle}{SUFFIX}"
        _create_file(path, render(assistant_id, fields, env, schema))
        taken.add(handle)
        known[assistant_id.lower()] = display_path(path)
        report.written.append(Imported(assistant_id, handle, display_path(path), tuple(hidden)))
    return report


def _fetch(client: KathanClient, ids: Sequence[str] | None, report: ImportReport) -> list[Any]:
    if ids is None:
        listed = client.list_assistants()
        if listed is None:
            raise ConfigError(
                "this API cannot list assistants (GET /assistants): pass the ids to import"
            )
        return sorted(listed, key=lambda r: (str(r.get("name") or ""), str(r["id"])))
    remotes: list[Any] = []
    for assistant_id, result in client.fetch_assistants(list(ids)).items():
        if isinstance(result, ApiError):
            report.failed.append(f"{assistant_id}: {result}")
        else:
            remotes.append(result)
    return remotes


def _free_handle(base: str, directory: Path, taken: set[str]) -> str:
    """`base`, or `base-2`, `base-3` ...: the first one no manifest and no file uses."""
    candidate, number = base, 1
    while candidate in taken or any(
        (directory / f"{candidate}{suffix}").exists() for suffix in (".yaml", ".yml")
    ):
        number += 1
        candidate = f"{base}-{number}"
    return candidate


def _create_file(path: Path, text: str) -> None:
    """Write a new manifest atomically, refusing to replace a file (even one just created)."""
    try:
        write_atomic(path, text, overwrite=False)
    except FileExistsError:
        raise ConfigError(f"{path} exists: refusing to overwrite it") from None
