"""AssistantSpec's fields as TypedDicts: validated straight to the plain dict the model gives.

`AssistantSpec.model_validate(data).model_dump(mode="json", exclude_unset=True)` builds a model
instance per part and dumps it again: 35 us a manifest, a sixth of a cold load. The same fields
as `TypedDict`s (total=False: an absent key stays absent; the same strict config, annotations and
validators) give that dict in one pass, 3x faster. Only a manifest that validates takes this
path: any error is validated again through the model, which words every problem as always.

tests/test_load_fastpaths.py checks that both give the same dicts (types and key order).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

from kathansync.models import AssistantSpec, Spec

if TYPE_CHECKING:
    from pydantic import TypeAdapter

# Above this many manifests building the TypedDicts' validator (~10 ms) pays for itself.
FAST_FROM = 200


# What changes a model's validation or dump beyond its fields' annotations.
_DECORATORS = (
    "validators",
    "field_validators",
    "root_validators",
    "model_validators",
    "field_serializers",
    "model_serializers",
    "computed_fields",
)


@cache
def spec_validator() -> TypeAdapter[dict[str, Any]] | None:
    """The TypedDict validator, or None when a Spec model has what a TypedDict would not
    carry over (a model or field validator, another config): then only the model validates."""
    from pydantic import TypeAdapter

    typed = _typed(AssistantSpec)
    return None if typed is None else TypeAdapter(typed)


def _typed(model: type[Spec]) -> Any:
    from pydantic import ConfigDict
    from typing_extensions import TypedDict

    decorators = model.__pydantic_decorators__
    if model.model_config != Spec.model_config or any(
        getattr(decorators, kind) for kind in _DECORATORS
    ):
        return None
    fields: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if field.alias or field.validation_alias or field.serialization_alias or field.exclude:
            return None
        annotation: Any = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, Spec):
            annotation = _typed(annotation)
            if annotation is None:
                return None
        if field.metadata:  # OnOff's BeforeValidator
            annotation = Annotated[annotation, *field.metadata]
        fields[name] = annotation
    make: Any = TypedDict  # called with a computed name and fields, which mypy cannot follow
    typed = make(f"{model.__name__}Dict", fields, total=False)
    typed.__pydantic_config__ = ConfigDict(**model.model_config)
    return typed
