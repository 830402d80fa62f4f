"""The pydantic-free check (load/conform.py) gives what the model gives or leaves it to the model;
its table (load/spec_shape.py) is the models'; a cold load of plainly right manifests imports
neither pydantic nor the models."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from kathansync.load import load_manifests
from kathansync.load.apischema import API_SCHEMA_NAME
from kathansync.load.conform import conform
from kathansync.load.spec_shape import SHAPE
from kathansync.models import UNSET, AssistantSpec, ManifestSpec, OnOff, Spec, shape_of

ROOT = Path(__file__).resolve().parent.parent
MakeRepo = Callable[..., Path]


def by_the_model(data: Any) -> Any:
    """What the loader took before conform: the model's dump, or ValidationError."""
    try:
        return AssistantSpec.model_validate(data).model_dump(mode="json", exclude_unset=True)
    except ValidationError:
        return ValidationError


def _in_order(shape: dict[str, Any]) -> list[Any]:
    """`shape` with its key order at every level (dict equality ignores order)."""
    return [(k, _in_order(v) if isinstance(v, dict) else v) for k, v in shape.items()]


def test_the_shape_is_the_models() -> None:
    # In order too, at every level: the check builds its dicts in the shape's order, so a
    # nested model's fields reordered without `make spec-shape` would dump in another order.
    assert _in_order(shape_of(AssistantSpec)) == _in_order(SHAPE), "run `make spec-shape`"


def test_the_shape_keeps_the_models_field_order() -> None:
    # The check builds its dicts in the shape's order: the model dumps in its fields' order.
    assert list(SHAPE) == list(AssistantSpec.model_fields)
    call_actions: Any = AssistantSpec.model_fields["call_actions"].annotation
    assert list(SHAPE["call_actions"]) == list(call_actions.model_fields)


class _Bounded(Spec):
    count: int = Field(default=None, ge=0)


class _Aliased(Spec):
    name: str = Field(default=None, alias="Name")


class _Mapped(Spec):
    labels: dict[str, str] = UNSET


class _Lax(Spec):
    model_config = ConfigDict(extra="ignore", strict=True, allow_inf_nan=False)
    name: str = UNSET


class _Checked(Spec):
    name: str = UNSET

    @field_validator("name")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class _Defaulted(Spec):
    enabled: bool = True


class _Nested(Spec):
    inner: _Bounded = UNSET


class _OnOffOnly(Spec):
    mode: OnOff = UNSET


class _Inner(Spec):
    name: str = UNSET


class _NestedChecked(Spec):  # a validator on a nested model's field, not inside that model
    inner: Annotated[_Inner, AfterValidator(lambda value: _Inner(name="changed"))] = UNSET


class _ExcludedIf(Spec):  # dumped without the field when it says so
    name: str = Field(default=None, exclude_if=lambda value: value == "")


class _PostInit(Spec):
    name: str = UNSET

    def model_post_init(self, context: Any) -> None:
        object.__setattr__(self, "name", "changed")


class _Init(Spec):  # model_validate calls a model's own __init__
    name: str = UNSET

    def __init__(self, **data: Any) -> None:
        super().__init__(**{**data, "name": "changed"})


class _Dumped(Spec):
    name: str = UNSET

    def model_dump(self, **options: Any) -> dict[str, Any]:
        return {"name": "changed"}


_RULES = [ManifestSpec, _Bounded, _Aliased, _Mapped, _Lax, _Checked, _Defaulted, _Nested]
_RULES += [_NestedChecked, _ExcludedIf, _PostInit, _Init, _Dumped]


@pytest.mark.parametrize("model", _RULES)
def test_a_rule_the_shape_cannot_carry_stops_its_making(model: type[Spec]) -> None:
    # Else the check would take what the model refuses: a model change must teach it first.
    with pytest.raises(TypeError):
        shape_of(model)


def test_a_config_the_check_does_not_know_stops_its_making_even_on_spec(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Spec's own config is not a safe reference: stripping whitespace there (the models and Spec
    # alike) would leave the shape as it is, and the check would keep "  Bot " where the model
    # gives "Bot". The check is written for one config: any other stops `make spec-shape`.
    stripping = ConfigDict(**Spec.model_config, str_strip_whitespace=True)

    class Stripped(BaseModel):
        model_config = stripping
        name: str = UNSET

    assert Stripped.model_validate({"name": " Bot "}).name == "Bot"
    monkeypatch.setattr(Spec, "model_config", stripping)
    with pytest.raises(TypeError):
        shape_of(Stripped)  # type: ignore[arg-type]


def test_on_off_is_carried_as_its_own_kind() -> None:
    assert shape_of(_OnOffOnly) == {"mode": "on/off"}


def test_a_plain_model_is_no_base_model_of_another_family() -> None:
    class Response(BaseModel):  # the response family: lax, other config
        name: str | None = None

    with pytest.raises(TypeError):
        shape_of(Response)  # type: ignore[arg-type]


# --- The check against the model, on random mappings ------------------------------------------


class _Text(str):
    """A str subclass (ruamel's ScalarString is one): left to the model."""


class _Float(float):  # ruamel's ScalarFloat
    pass


class _Int(int):  # ruamel's ScalarInt
    pass


class _Map(dict[str, Any]):  # ruamel's CommentedMap
    pass


class _Seq(list[Any]):  # ruamel's CommentedSeq
    pass


_SAMPLES: list[Any] = [
    None, True, False, 0, 1, -3, 2**53, 2**53 + 1, -(2**53) - 1, 2**63 - 1, 2**63, 2**70,
    0.0, -0.0, 1.5, -2.25, 1e308, float("inf"), float("-inf"), float("nan"),
    "", "on", "off", "text", "1.5", " padded ", _Text("sub"), b"bytes",
    [], ["a"], ["a", "b"], [1], ["a", None], [_Text("a")], ("a",), {},
    {"a": 1}, {"speed": 1}, {"enabled": True},
    _Float(1.5), _Int(3), _Map(speed=1.5), _Map(), _Seq(["a"]),
]  # fmt: skip


def _typed(value: Any) -> Any:
    """`value` with the exact type of every part (repr shows a subclass as its base), in order."""
    if isinstance(value, dict):
        return (type(value), [(key, _typed(item)) for key, item in value.items()])
    if isinstance(value, list):
        return (type(value), [_typed(item) for item in value])
    return (type(value), repr(value))


def _random_spec(rng: random.Random, shape: dict[str, Any]) -> dict[str, Any]:
    """A mapping for `shape`: its fields in any order, some of a wrong type, an unknown key."""
    data: dict[str, Any] = {}
    for name in rng.sample(list(shape), rng.randint(0, len(shape))):
        if isinstance(shape[name], dict) and rng.random() < 0.9:
            data[name] = _random_spec(rng, shape[name])
        else:
            data[name] = rng.choice(_SAMPLES)
    if rng.random() < 0.05:
        data[rng.choice(["unknown", 1, None])] = 1
    return data


def test_the_check_gives_what_the_model_gives_or_leaves_it_to_the_model() -> None:
    rng = random.Random(16)
    taken = left = 0
    for _ in range(20_000):
        data = _random_spec(rng, SHAPE)
        got = conform(data)
        if got is None:
            left += 1
            continue
        taken += 1
        assert _typed(got) == _typed(by_the_model(data)), data  # types and key order too
    assert taken > 1_000 and left > 1_000  # both outcomes were met


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"voice": {"speed": 1}}, {"voice": {"speed": 1.0}}),  # an int for a float: a float
        ({"speech_settings": {"emotions": False}}, {"speech_settings": {"emotions": "off"}}),
        ({"speech_settings": {"emotions": True}}, {"speech_settings": {"emotions": "on"}}),
        ({"name": None, "knowledge_base_ids": None}, {"name": None, "knowledge_base_ids": None}),
        ({"icon": "x", "name": "n"}, {"name": "n", "icon": "x"}),  # the model's order
        ({}, {}),
    ],
)
def test_the_check_takes_what_is_plainly_right(data: Any, expected: Any) -> None:
    assert _typed(conform(data)) == _typed(expected) == _typed(by_the_model(data))


@pytest.mark.parametrize(
    "data",
    [
        {"name": 42},
        {"icon": None},  # not nullable
        {"voice": {"speed": float("nan")}},
        {"voice": {"speed": True}},
        {"voice": {"pitch": 1}},
        {"voice": None},
        {"llm": "gpt"},
        {"knowledge_base_ids": ["a", 1]},
        {"knowledge_base_ids": ("a",)},
        {"long_term_memory": {"search_limit": 2**70}},  # the model takes it; the check asks it
        {"name": _Text("sub")},
        {"unknown": 1},
    ],
)
def test_the_check_leaves_everything_else_to_the_model(data: Any) -> None:
    assert conform(data) is None


def test_what_the_check_takes_is_a_copy(tmp_path: Path) -> None:
    data = {"knowledge_base_ids": ["a"], "voice": {"voice_id": "v"}}
    got = conform(data)
    assert got == data
    assert got is not None and got["knowledge_base_ids"] is not data["knowledge_base_ids"]
    assert got["voice"] is not data["voice"]


def test_the_repository_examples_are_taken_by_the_check() -> None:
    # Every example conforms: a cold `validate` of them never needs the model.
    result = load_manifests(ROOT / "assistants", environ={})
    assert len(result.manifests) == 3 and not result.errors
    for manifest in result.manifests:
        assert conform(manifest.desired) == manifest.desired
        assert _typed(conform(manifest.desired)) == _typed(by_the_model(manifest.desired))


# --- What a cold load imports ------------------------------------------------------------------

_IMPORTS = (
    "import sys\nfrom pathlib import Path\nfrom kathansync.load import load_manifests\n"
    "r = load_manifests(Path('assistants'), environ={})\n"
    "print(len(r.manifests), len(r.errors), file=sys.stderr)\n"
    "heavy = ('pydantic', 'kathansync.models')\n"
    "print(sorted(name for name in heavy if name in sys.modules))\n"
)


def _cold_imports(root: Path) -> tuple[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", _IMPORTS], cwd=root, capture_output=True, text=True, check=True
    )
    return done.stdout.strip(), done.stderr.strip()


def test_a_cold_load_of_plainly_right_manifests_imports_no_pydantic(make_repo: MakeRepo) -> None:
    # Defaults, and a field only the saved API schema types (read against the shape too).
    schema = {"format_version": "1", "schema": {"properties": {"max_turns": {"type": "integer"}}}}
    files = {
        "assistants/_defaults.yaml": "llm:\n  model: m\n",
        "assistants/extra.yaml": "name: Extra\nmax_turns: 3\n",
        API_SCHEMA_NAME: json.dumps(schema),
    }
    root = make_repo(config="", files=files)
    shutil.copytree(ROOT / "assistants", root / "assistants", dirs_exist_ok=True)
    assert _cold_imports(root) == ("[]", "4 0")


def test_a_manifest_the_check_leaves_is_worded_by_the_model(make_repo: MakeRepo) -> None:
    root = make_repo(config="", files={"assistants/a.yaml": "name: Bot\nvoice:\n  speed: fast\n"})
    assert _cold_imports(root) == ("['kathansync.models', 'pydantic']", "0 1")
    (problem,) = load_manifests(root / "assistants", environ={}).errors
    assert str(problem).startswith("assistants/a.yaml:3:10: error: voice.speed")
