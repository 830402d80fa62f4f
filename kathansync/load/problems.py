"""Problem wording: pydantic errors as one-line messages (what was expected, what was found),
values as messages show them, and "did you mean" for a misspelt word. Shared by manifests,
kathansync.yaml and --target."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, get_args, get_origin

if TYPE_CHECKING:  # only what fails validation meets pydantic: a warm load never imports it
    from pydantic import BaseModel, ValidationError

from kathansync.tree import Loc


def closest(word: str, candidates: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The candidate most like `word`, or None when nothing is close enough to be a typo."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=cutoff)
    return matches[0] if matches else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`"; did you mean 'speed'?"` for a close match, else `""`: ready to append to a message."""
    match = closest(word, candidates)
    return f"; did you mean {match!r}?" if match else ""


_EXPECTED = {
    "string_type": "a string",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "int_parsing": "a whole number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "model_type": "a mapping",
    "dict_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def describe_errors(
    exc: ValidationError, model: type[BaseModel], *, extra_keys: Iterable[str] = ()
) -> list[tuple[Loc, str, bool]]:
    """(loc, message, points-at-key) for each error, with what was expected and did-you-mean.

    `extra_keys` are top-level keys handled outside `model` (offered as suggestions too).
    """
    described: list[tuple[Loc, str, bool]] = []
    for error in exc.errors(include_url=False):
        loc: Loc = tuple(error["loc"])
        kind = error["type"]
        dotted = shown_path(loc)
        if kind == "extra_forbidden":
            key = str(loc[-1])
            names = _field_names(model, loc[:-1])
            if not loc[:-1]:
                names = [*names, *extra_keys]
            parent = shown_path(loc[:-1])
            where = f" in {parent}" if parent else ""
            message = f"unknown key {key!r}{where}{did_you_mean(key, names)}"
            described.append((loc, message, True))
        elif kind in _EXPECTED:
            message = f"{dotted}: expected {_EXPECTED[kind]}, got {describe_value(error['input'])}"
            described.append((loc, message, False))
        elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
            bound = str(error["msg"]).removeprefix("Input should be ")
            got = describe_value(error["input"])
            described.append((loc, f"{dotted}: expected a number {bound}, got {got}", False))
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
            described.append((loc, f"{dotted}: {message}", False))
    return described


def _field_names(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys allowed at `loc` (for did-you-mean); a `dict[str, Model]` level is stepped over."""
    from pydantic import BaseModel

    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            if part not in current.model_fields:
                return []
            current = current.model_fields[part].annotation
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return []
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def describe_value(value: Any) -> str:
    """A value as an error message shows it: its YAML type and a short rendering."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"string {shown!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value}"


def mask_value(message: str) -> str:
    # A message about an interpolated value must not carry the value: keep what was expected.
    head, sep, _ = message.partition(", got ")
    return f"{head}, got (sensitive)" if sep else message


def shown_path(loc: Loc) -> str:
    """`voice.speed`, `knowledge_base_ids[0]`: a path as messages show it."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text
