"""Property: `apply` converges. Random manifest + random remote -> managed leaves reach the desired
value, unmanaged leaves stay as they were, and the next `plan --detailed-exitcode` exits 0.

kathansync is driven only through its CLI entry point (`kathansync.cli.main`), with real YAML
files, against the real emulator, whose PUT is strict: an object sent replaces the stored one and
the sub-fields it omits fall back to the seed's defaults. Field names and types follow
kathansync/models.py and ../shared/seed/update-assistant.txt; only values the API accepts are
generated. `KATHANSYNC_HYPOTHESIS_PROFILE=long` runs many more examples.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import walk_tree

from kathansync.cli import main
from kathansync.emulator import EmulatorServer

# Picked per test (not registered globally), so other hypothesis tests keep their own settings.
_BOTH = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
PROFILES = {
    # database=None: nothing written into the working tree; a failure prints its reproducer.
    "default": settings(_BOTH, max_examples=30, database=None, print_blob=True),
    "long": settings(_BOTH, max_examples=1000),
}
PROFILE = PROFILES[os.environ.get("KATHANSYNC_HYPOTHESIS_PROFILE", "default")]

# Integers over the whole int64 range: the diff compares them exactly (see the minimal examples
# in test_integers_that_differ_by_one_converge).
EXACT_INT_LIMIT = 2**63 - 1

# Text: unicode, quotes, backslashes, newlines, tabs, "\r", "$" and YAML indicators. Left out:
# characters YAML does not allow in a file (other C0/C1 controls, surrogates, U+FFFE/F), line
# separators and format characters (a YAML reader may take them as breaks or refuse them), and
# "${" (a `${VAR}` reference, not text).
TEXT = st.text(
    alphabet=st.characters(
        codec="utf-8",
        exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"),
        include_characters="\n\r\t\"'\\:#-{}[]&*!|>%@`,?~$ ",
    ),
    max_size=20,
).filter(lambda text: "${" not in text) | st.sampled_from(
    ["", " ", "null", "true", "on", "0x1F", "1.0", "- a", "a: b", "\n", "é\n 'x'", "x\n\n"]
)
INTS = st.integers(min_value=-EXACT_INT_LIMIT, max_value=EXACT_INT_LIMIT)
# Floats on a decimal grid, so that no comparison tolerance is ever in play; ints too (1 vs 1.0).
FLOATS = st.integers(-500, 500).map(lambda n: n / 100) | st.integers(-3, 3)
# Short lists, often of distinct words, so that a reordered remote is a real difference.
TEXT_LIST = st.lists(TEXT, max_size=3) | st.lists(
    st.sampled_from(["yes", "sure", "ja", "oui"]), min_size=2, max_size=4, unique=True
)

LEAF_STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "str": TEXT,
    "str?": st.none() | TEXT,
    "bool": st.booleans(),
    "bool?": st.none() | st.booleans(),
    "int": INTS,
    "float": FLOATS,
    "list": TEXT_LIST,
    "list?": st.none() | TEXT_LIST,
}

Path_ = tuple[str, ...]
Tree = dict[str, Any]
Case = tuple[Tree, Tree]  # (desired, remote fields seeded over defaults)
# The API's fields, "name:kind" per object ("" is the top level); "?": null is a value too.
# name and system_instruction are nullable in the request, but the API answers 422 to null.
SPEC = {
    "": "name:str description:str? system_instruction:str first_message:str? "
    "knowledge_base_ids:list? phone_number_id:str? assistant_speaks_first:bool?",
    "voice": "voice_id:str tts_provider:str tts_model:str language:str speed:float",
    "llm": "llm_provider:str model:str",
    "transcriber": "stt_provider:str stt_model:str language:str",
    "speech_settings": "style:str responsiveness:str interruptions:str emotions:str",
    "long_term_memory": "enabled:bool search_limit:int search_threshold:float system_prompt:str",
    "short_term_memory": "enabled:bool search_limit:int",
    "call_summary": "prompt:str",
    "recording": "enabled:bool stereo:bool mp3_enabled:bool",
    "call_actions": "enabled:bool allow_hangup:bool allow_transfer:bool hangup_triggers:list "
    "transfer_triggers:list transfer_number:str transfer_mode:str confirm_required:bool "
    "auto_hangup_silence_seconds:int confirm_yes:list confirm_no:list webhook_url:str "
    "webhook_timeout_ms:int",
}
LEAVES: dict[Path_, str] = {
    (*([obj] if obj else []), name): kind
    for obj, fields in SPEC.items()
    for name, kind in (field.split(":") for field in fields.split())
}
OBJECTS = sorted(obj for obj in SPEC if obj)


# --- what "equal" means for the API -----------------------------------------------------------


def same(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0 (the API may answer either), True is not 1, ints compared exactly."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b  # Python compares int and float exactly: 2**53 + 1 != float(2**53)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def converged(path: Path_, desired: Any, remote: Any) -> bool:
    """Whether the remote holds the desired value of one managed leaf."""
    if path == ("knowledge_base_ids",):  # a set; null is stored as []
        return set(desired or []) == set(remote or [])
    return same(desired, remote)


def value_at(tree: Any, path: Path_) -> Any:
    for key in path:
        tree = tree.get(key) if isinstance(tree, Mapping) else None
    return tree


def leaves(tree: Mapping[str, Any], prefix: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    """(path, value) down to non-mapping values; lists are leaves, as in a manifest."""
    for key, value in tree.items():
        if isinstance(value, Mapping):
            yield from leaves(value, (*prefix, key))
        else:
            yield (*prefix, key), value


def put_in(tree: dict[str, Any], path: Path_, value: Any) -> None:
    for key in path[:-1]:
        tree = tree.setdefault(key, {})
    tree[path[-1]] = value


# --- generating a case ------------------------------------------------------------------------


def variant(kind: str, value: Any) -> st.SearchStrategy[Any]:
    """A remote value close to the desired one: the cases a sloppy comparison gets wrong."""
    if kind == "float" and value is not None:
        return st.sampled_from([float(value), int(value) if value == int(value) else value])
    if kind == "int":
        return st.sampled_from([value, max(-EXACT_INT_LIMIT, value - 1)])
    if kind.startswith("list") and value:
        return st.sampled_from([value[::-1], [*value, value[0]]])  # reordered, a repeat
    if kind.startswith("str") and isinstance(value, str):
        return st.sampled_from([value, value + "\n", value.strip(), value.upper()])
    return st.just(value)


HOW = ["default", "fresh", "same", "near", "near"]  # where the remote leaf comes from


def remote_values(path: Path_, kind: str) -> st.SearchStrategy[Any]:
    """What the API may hold: null where a PUT can set it, never for knowledge_base_ids."""
    return TEXT_LIST if path == ("knowledge_base_ids",) else LEAF_STRATEGIES[kind]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """(desired, remote_fields): the manifest's managed tree and the fields seeded remotely."""
    desired: dict[str, Any] = {}
    remote: dict[str, Any] = {}
    # Half the cases differ in one or two leaves only: with many differences, objects are sent
    # whole anyway, which hides a leaf compared wrongly.
    few = draw(st.booleans())
    hot = draw(st.sets(st.sampled_from(sorted(LEAVES)), min_size=1, max_size=2))
    for path, kind in LEAVES.items():
        managed = draw(st.booleans())
        value = draw(LEAF_STRATEGIES[kind]) if managed else None
        if managed:
            put_in(desired, path, value)
        calm = few and path not in hot
        how = "same" if calm and managed else draw(st.sampled_from(HOW))
        if how == "default":
            continue  # the seed's default stays
        if how == "fresh" or not managed:
            put_in(remote, path, draw(remote_values(path, kind)))
        elif value is None:  # managed null: the remote holds null too ([] for a list)
            put_in(remote, path, [] if path == ("knowledge_base_ids",) else None)
        else:
            put_in(remote, path, value if how == "same" else draw(variant(kind, value)))
    if draw(st.booleans()):  # an object spelled out with nothing in it manages nothing
        desired.setdefault(draw(st.sampled_from(OBJECTS)), {})
    return desired, remote


# --- writing YAML that means exactly the value ------------------------------------------------


def yaml_scalar(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON escapes are YAML double-quoted ones
    return json.dumps(value)  # null, true/false, ints, floats (repr on a grid: plain decimals)


def yaml_block(tree: Mapping[str, Any], indent: str = "") -> Iterator[str]:
    for key, value in tree.items():
        if isinstance(value, Mapping) and value:
            yield f"{indent}{key}:"
            yield from yaml_block(value, indent + "  ")
        elif isinstance(value, list) and value:
            yield f"{indent}{key}:"
            yield from (f"{indent}  - {yaml_scalar(item)}" for item in value)
        elif isinstance(value, Mapping | list):
            yield f"{indent}{key}: {json.dumps(value)}"
        else:
            yield f"{indent}{key}: {yaml_scalar(value)}"


def manifest_text(document: dict[str, Any], style: str) -> str:
    """The document as YAML that means exactly it (checked with a YAML 1.2 reader).

    block: every string double-quoted with JSON escapes (a subset of YAML's); json: one line of
    JSON (a YAML subset); ruamel: ruamel's own choices, plain scalars and `|` blocks included.
    """
    if style == "json":
        text = json.dumps(document, ensure_ascii=False) + "\n"
    elif style == "block":
        # An empty document has no block lines: `{}`, or the file would be empty (null).
        lines = list(yaml_block(document)) or ["{}"]
        text = "# generated by test_property_convergence\n" + "\n".join(lines) + "\n"
    else:
        out, tree = io.StringIO(), copy.deepcopy(document)
        walk_tree(tree)  # multi-line strings as `|` blocks, as people write long prompts
        YAML().dump(tree, out)
        text = out.getvalue()
    loaded = YAML(typ="safe", pure=True).load(text)
    if style == "ruamel" and not same(loaded, document):
        reject()  # ruamel cannot write this value that way: not kathansync's business
    assert same(loaded, document), f"the test wrote YAML that means something else:\n{text}"
    return text


# --- running the CLI --------------------------------------------------------------------------


def run_cli(emulator: EmulatorServer, workdir: Path, *args: str) -> tuple[int, str]:
    """Run `kathansync ARGS` in `workdir` through the entry point: (exit code, stdout+stderr)."""
    env = {
        "KATHAN_API_URL": emulator.url,
        "KATHAN_API_KEY": emulator.api_key,
        "KATHAN_USER_ID": emulator.user_id,
    }
    out = io.StringIO()
    with (
        mock.patch.dict(os.environ, env),
        contextlib.chdir(workdir),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(out),
    ):
        for name in ("KATHANSYNC_ENV", "NO_COLOR", "GITHUB_ACTIONS"):
            os.environ.pop(name, None)
        try:
            main([*args, "--no-color"])
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 1
    return code, out.getvalue()


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    # One emulator for every example (a function-scoped fixture would be shared anyway).
    with EmulatorServer() as emulator:
        yield emulator


def write_repository(
    folder: Path, ids: list[str], cases: list[Case], style: str, defaults: Tree | None
) -> str:
    """One manifest per case, and `_defaults.yaml` when given; returns them all, for messages."""
    folder.mkdir()
    files = {
        f"bot{number}.yaml": {"id": assistant_id, **desired}
        for number, (assistant_id, (desired, _)) in enumerate(zip(ids, cases, strict=True))
    }
    if defaults is not None:
        files["_defaults.yaml"] = defaults
    shown = ""
    for name, document in files.items():
        text = manifest_text(document, style)
        (folder / name).write_text(text, encoding="utf-8")
        shown += f"--- {name}\n{text}"
    return shown


def apply_and_replan(
    emulator: EmulatorServer, cases: list[Case], style: str, defaults: Tree | None
) -> tuple[list[tuple[Tree, Tree]], int]:
    """Seed, write one manifest per case (and `_defaults.yaml`), apply (exit 0), plan (exit 0).

    Returns (before, after) per case and the number of PUTs apply sent. An assistant no manifest
    names is seeded too, and must come out exactly as it went in."""
    emulator.store.clear()
    bystander = emulator.seed(str(uuid.uuid4()), name="no manifest", voice={"speed": 2})
    ids = [str(uuid.uuid4()) for _ in cases]
    befores = [
        emulator.seed(assistant_id, **remote)
        for assistant_id, (_, remote) in zip(ids, cases, strict=True)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        texts = write_repository(workdir / "assistants", ids, cases, style, defaults)
        puts_before = emulator.stats()["methods"].get("PUT", 0)
        code, output = run_cli(emulator, workdir, "apply", "--auto-approve")
        assert code == 0, f"apply exited {code}:\n{output}\nmanifests:\n{texts}"
        sent = int(emulator.stats()["methods"].get("PUT", 0) - puts_before)
        code, output = run_cli(emulator, workdir, "plan", "--detailed-exitcode")
        assert code == 0, f"plan after apply exited {code}:\n{output}\nmanifests:\n{texts}"
    assert emulator.assistants[bystander["id"]] == bystander
    afters = [emulator.assistants[assistant_id] for assistant_id in ids]
    return list(zip(befores, afters, strict=True)), sent


def check_convergence(desired: Tree, before: Tree, after: Tree) -> bool:
    """Assert the property for one assistant; return whether a change was needed at all."""
    managed = dict(leaves(desired))
    for path, value in managed.items():
        assert converged(path, value, value_at(after, path)), (path, value, value_at(after, path))
    for path, value in leaves(before):
        if path not in managed:
            assert same(value_at(after, path), value), f"unmanaged {path} changed"
    assert {path for path, _ in leaves(after)} == {path for path, _ in leaves(before)}
    return any(not converged(p, v, value_at(before, p)) for p, v in managed.items())


def merge(defaults: Mapping[str, Any], manifest: Mapping[str, Any]) -> dict[str, Any]:
    """What docs/manifests.md says is managed: mappings merge, the manifest wins, lists replace."""
    merged = copy.deepcopy(dict(defaults))
    for key, value in manifest.items():
        below = merged.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            merged[key] = merge(below, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def check_all(
    cases: list[Case], results: list[tuple[Tree, Tree]], sent: int, defaults: Tree | None
) -> None:
    needed = [
        check_convergence(merge(defaults or {}, desired), before, after)
        for (desired, _), (before, after) in zip(cases, results, strict=True)
    ]
    assert sent == sum(needed), f"{sent} PUT(s) for {sum(needed)} assistant(s) that differed"


# --- the property -----------------------------------------------------------------------------


@PROFILE
@given(
    cases=st.lists(cases(), min_size=1, max_size=3),
    style=st.sampled_from(["block", "json", "ruamel"]),
    defaults=st.none() | cases().map(lambda case: case[0]),  # a `_defaults.yaml` under them all
)
def test_apply_converges_and_touches_nothing_else(
    server: EmulatorServer, cases: list[Case], style: str, defaults: Tree | None
) -> None:
    results, sent = apply_and_replan(server, cases, style, defaults)
    check_all(cases, results, sent, defaults)


# --- minimal examples of what the property found ----------------------------------------------


# Found by the property: integers compared through floats (math.isclose, rel_tol=1e-9) planned
# no change from 10**9 up when they differed by 1 (issue 12 saw it at 2**53).
@pytest.mark.parametrize("remote", [1_000_000_000, 2**53], ids=["10**9", "2**53"])
def test_integers_that_differ_by_one_converge(server: EmulatorServer, remote: int) -> None:
    case = (
        {"call_actions": {"webhook_timeout_ms": remote + 1}},
        {"call_actions": {"webhook_timeout_ms": remote}},
    )
    results, sent = apply_and_replan(server, [case], "block", None)
    check_all([case], results, sent, None)
