"""A manifest checked against the plain shape of AssistantSpec (spec_shape.py), without pydantic.

`conform(data)` gives what `AssistantSpec.model_validate(data).model_dump(mode="json",
exclude_unset=True)` gives (the same values, types and key order) or None. None is not an
error: the model then decides and words every problem. So the check only has to be sound, never
complete: it takes exact plain types (what the YAML parser gives), and leaves anything else,
from a str subclass to an int too large for a float, to the model.

Why: importing pydantic and building the models costs 80 to 100 ms, more than half of a cold
`validate` of a few files. The check costs about 6 us a manifest (the model: 14 us).
tests/test_load_conform.py holds it to the model on random mappings.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from kathansync.load.spec_shape import SHAPE

# Anything the check leaves to the model.
_UNSURE: Any = object()

# An int taken as a float exactly (the model gives float(value)); past it, the model decides.
_EXACT_INT = 2**53
# Ints the check takes as ints: the model's 64-bit range, bigger ones are left to it.
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1

Check = Callable[[Any], Any]


def conform(data: dict[str, Any]) -> dict[str, Any] | None:
    """`data` as the model dumps it, or None when the model must decide (see module doc)."""
    checked = _ASSISTANT(data)
    return None if checked is _UNSURE else checked


def _string(value: Any) -> Any:
    return value if type(value) is str else _UNSURE


def _boolean(value: Any) -> Any:
    return value if type(value) is bool else _UNSURE


def _integer(value: Any) -> Any:
    return value if type(value) is int and _INT_MIN <= value <= _INT_MAX else _UNSURE


def _number(value: Any) -> Any:
    if type(value) is float:
        return value if math.isfinite(value) else _UNSURE
    if type(value) is int and -_EXACT_INT <= value <= _EXACT_INT:
        return float(value)
    return _UNSURE


def _strings(value: Any) -> Any:
    if type(value) is list and all(type(item) is str for item in value):
        return list(value)
    return _UNSURE


def _on_off(value: Any) -> Any:
    """models.OnOff: a YAML 1.1 boolean is read as the API's word."""
    if type(value) is bool:
        return "on" if value else "off"
    return _string(value)


_KINDS: dict[str, Check] = {
    "str": _string,
    "bool": _boolean,
    "int": _integer,
    "float": _number,
    "list": _strings,
    "on/off": _on_off,
}


# Kinds whose value is taken as it is when of exactly this type: most fields, without a call.
_PLAIN: dict[str, type] = {"str": str, "bool": bool}


def _nullable(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


def _mapping(shape: dict[str, Any]) -> Check:
    """The check of one model: its fields in the model's order, no other key."""
    fields: list[tuple[str, type | None, Check]] = []
    for name, kind in shape.items():
        if isinstance(kind, dict):
            fields.append((name, None, _mapping(kind)))
        elif kind.endswith("?"):
            fields.append((name, None, _nullable(_KINDS[kind[:-1]])))
        else:
            fields.append((name, _PLAIN.get(kind), _KINDS[kind]))

    def check(value: Any) -> Any:
        if type(value) is not dict:
            return _UNSURE
        checked = {}
        for name, plain, check_field in fields:
            if name in value:
                field = value[name]
                if type(field) is not plain:
                    field = check_field(field)
                    if field is _UNSURE:
                        return _UNSURE
                checked[name] = field
        return checked if len(checked) == len(value) else _UNSURE  # else: an unknown key

    return check


_ASSISTANT = _mapping(SHAPE)
