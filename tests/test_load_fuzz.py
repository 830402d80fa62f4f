"""Fuzzing the loader: any bytes end in a clean problem or a valid manifest, never a traceback
or a hang. A few seconds in `make test`; `make fuzz` runs many more examples."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import pytest
from conftest import MakeRepo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kathansync.load import load_manifests

EXAMPLES = int(os.environ.get("KATHANSYNC_FUZZ_EXAMPLES", "150"))
PER_EXAMPLE_SECONDS = 5

# Pieces of YAML that reach the interesting paths: anchors, merges, tags, interpolation, flow
# collections, indentation, the fields' own names, and bytes YAML or UTF-8 refuse.
FRAGMENTS = [
    "name", "voice", "speed", "id", "call_actions", "webhook_timeout_ms", "knowledge_base_ids",
    "speech_settings", "interruptions", ": ", ":", "\n", "  ", "    ", "- ", "-", "&a ", "*a",
    "&b ", "*b", "<<: ", "<<: [*a, *a]", "!file ", "!file x.md", "!file ../.git/config",
    "!!binary ", "!!python/object ", "!unknown ", "${", "${HOME}", "$${", "}", "{", "[", "]",
    ", ", "'", '"', "#", "---", "...", "%YAML 1.1\n", "1", "1.0", "-1e400", ".nan", "true",
    "on", "null", "~", "2025-01-01", "\t", "\x00", "\x07", "\r\n", "\ufeff", "é", "\U0001f600",
    "33df85c1-dce4-4569-bac0-a9c4c70d0486", "?", "|", ">", "%", "@", "`",
]  # fmt: skip

yaml_like = st.lists(st.sampled_from(FRAGMENTS), max_size=60).map(lambda parts: "".join(parts))
documents = st.one_of(
    yaml_like.map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.binary(max_size=300),
    st.tuples(yaml_like, st.binary(max_size=20)).map(lambda t: t[0].encode() + t[1]),
)


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Fail instead of hanging: a loop that never ends is a finding too."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"loading took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def repo(make_repo: MakeRepo) -> Path:
    return make_repo(config="", files={"assistants/x.md": "included\n"})


@settings(
    max_examples=EXAMPLES,
    deadline=None,  # the time limit below catches hangs; a loaded CI machine is not a finding
    database=None,  # no .hypothesis/ folder in the working tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(manifest=documents, defaults=st.one_of(st.none(), documents))
def test_any_bytes_end_in_problems_or_a_valid_manifest(
    repo: Path, manifest: bytes, defaults: bytes | None
) -> None:
    (repo / "assistants" / "a.yaml").write_bytes(manifest)
    defaults_file = repo / "assistants" / "_defaults.yaml"
    if defaults is None:
        defaults_file.unlink(missing_ok=True)
    else:
        defaults_file.write_bytes(defaults)

    with time_limit(PER_EXAMPLE_SECONDS):
        result = load_manifests(repo / "assistants", environ={"HOME": "/home/x"})

    for problem in result.problems:
        assert problem.file in ("assistants/a.yaml", "assistants/_defaults.yaml")
        assert problem.line >= 0 and problem.column >= 0
        str(problem).encode("utf-8")  # printable, whatever the input held
    if result.errors:
        assert result.manifests == []
    else:
        [manifest_loaded] = result.manifests
        json.dumps(manifest_loaded.desired, allow_nan=False)  # a body that can be sent


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["type", "anyOf", "oneOf", "enum", "items", "properties", "x", "name"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=30,
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(schema=json_values, field=json_values)
def test_any_saved_api_schema_ends_in_a_problem_or_types_the_field(
    repo: Path, schema: object, field: object
) -> None:
    saved = {"format_version": "1", "schema": {"properties": {"extra": schema}}}
    (repo / "kathan-api-schema.json").write_text(json.dumps(saved), encoding="utf-8")
    (repo / "assistants" / "a.yaml").write_text(
        "name: x\nextra: " + json.dumps(field) + "\n", encoding="utf-8"
    )
    with time_limit(PER_EXAMPLE_SECONDS):
        result = load_manifests(repo / "assistants", environ={})
    for problem in result.problems:
        str(problem).encode("utf-8")
    assert bool(result.errors) != bool(result.manifests)
