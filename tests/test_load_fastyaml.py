"""The fast parse path reads exactly what the reference (ruamel) path reads, or steps aside."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from kathansync.load import fastyaml, yamlio

ROOT = Path(__file__).resolve().parent.parent


def reference(text: str) -> Any:
    """ruamel's reading, or the SourceError it raises (never the fast path: parse_fast tries
    fastyaml first, and a comparison of the fast path with itself would prove nothing)."""
    try:
        return yamlio.parse_reference(text)
    except yamlio.SourceError as exc:
        return exc


def agrees(text: str) -> bool:
    fast = fastyaml.parse(text)
    if fast is None:
        return True  # stepped aside: ruamel reads it
    expected = reference(text)
    return not isinstance(expected, Exception) and _same(fast, expected)


def _same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (1 and 1.0 and True are not the same)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        pairs = zip(a.items(), b.items(), strict=False)
        return len(a) == len(b) and all(_same(k, j) and _same(v, w) for (k, v), (j, w) in pairs)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b) or (a != a and b != b)  # NaN equals NaN here (keys included)


@pytest.mark.parametrize(
    "text",
    [
        "interruptions: on\nemotions: off\nflag: yes\n",
        "a: true\nb: True\nc: TRUE\nd: false\n",
        "a: 1\nb: 1.0\nc: .5\nd: 1e3\ne: -2\nf: +3\ng: 0x1F\nh: 0o17\n",
        "a: ~\nb: null\nc: Null\nd:\n",
        "big: 9007199254740993\n",
        "a: .inf\nb: -.Inf\nc: .nan\n",
        "a: 'quoted'\nb: \"double \\u00e9 \\t\"\nc: plain text, with comma\n",
        "text: |\n  line one\n  line two\n\nfolded: >-\n  a\n  b\nkeep: |+\n  x\n\n",
        "list:\n  - one\n  - 2\n  - {a: [1, 2]}\n",
        "prompt: !file prompts/support.md\nvoice: {voice_id: !file 'ids/voice.txt'}\n",
        "first_message: Hello! How can I help?\n",
        '"\\x21file": x\nb: Hi!\n',  # a key that reads `!file`, with no tag in the text
        "name: x # a comment\n# another\n",
        "--- \nname: x\n...\n",
        "id: a0e99841-438c-4a64-b679-ae501e7d6091\n",
        "empty_map: {}\nempty_list: []\n",
        "a: 12:30\nb: 1.2.3\nc: 1e\n",
        'transfer_number: "+15550100"\nspeed: 1.05\n',
    ],
)
def test_fast_path_reads_what_ruamel_reads(text: str) -> None:
    assert fastyaml.parse(text) is not None, "expected the fast path to take this text"
    assert agrees(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: 1_000\n",  # ruamel: 1000, ryaml: "1_000"
        "a: 017\n",  # ruamel: 17
        "a: 2024-01-01\n",  # ruamel: a timestamp (we keep the text)
        "a: 0x_1F\n",  # underscores in a hex integer
        "a: 1_000.5\n",  # and in a float
        "base: &b {x: 1}\nother: *b\n",  # aliases: ryaml would expand a bomb
        "<<: {a: 1}\nb: 2\n",  # merge keys: ryaml keeps `<<` as a key
        "a: !!str 1\n",  # tags other than !file
        "a: !file\n",  # !file with no path
        '"!file": x\n',  # a key spelled !file
        "a: 1\na: 2\n",  # duplicate keys: ruamel words it with both lines
        "a: 1\n---\nb: 2\n",  # two documents
        "a:\tb\n",  # tab
        "a: b\x07\n",  # control character
        "%YAML 1.1\n---\na: on\n",  # directive
        "? [1, 2]\n: 3\n",  # complex key
        "a: [[[[[[[[]]]]]]]]\n" + "b: " + "[" * 200 + "]" * 200 + "\n",  # nesting
        "",  # empty document
    ],
)
def test_fast_path_steps_aside_where_readings_differ(text: str) -> None:
    assert fastyaml.parse(text) is None


def test_file_refs_carry_the_position_ruamel_gives() -> None:
    text = "a: !file p\nb:\n  - !file  'q r'\n  - x\nc: {d: !file z}\n"
    assert fastyaml.parse(text) == reference(text)
    assert fastyaml.parse(text)["c"]["d"] == yamlio.FileRef("z", 5, 8)


def test_repository_yaml_files_agree() -> None:
    files = [*ROOT.glob("assistants/**/*.y*ml"), *ROOT.glob("kathansync/templates/*.y*ml")]
    assert files
    for path in files:
        assert agrees(path.read_text(encoding="utf-8")), path


def test_a_generated_corpus_of_1000_manifests_agrees() -> None:
    rng = random.Random(20261129)
    taken = 0
    for n in range(1000):
        text = _manifest(rng, n)
        assert agrees(text), text
        taken += fastyaml.parse(text) is not None
    assert taken > 900  # the fast path is the common path, not the exception


_WORDS = ["support", "Hello!", "on", "off", "yes", "null", "1.5", "x: y", "#tag", "a-b", "Ünïcode"]


def _scalar(rng: random.Random) -> str:
    kind = rng.randrange(9)
    word = rng.choice(_WORDS)
    return [
        word if word not in ("x: y", "#tag") else f'"{word}"',
        f"'{word}'",
        f'"{word}\\n"',
        str(rng.randint(-(2**60), 2**60)),
        repr(rng.uniform(-10, 10)),
        rng.choice(["true", "false", "True", "~", "null", ""]),
        f"!file prompts/{word.replace(' ', '_').replace(':', '')}.md",
        f"[{rng.randint(0, 9)}, {word!r}]",
        "{a: 1, b: [x, y]}",
    ][kind]


def _manifest(rng: random.Random, n: int) -> str:
    lines = [f"# manifest {n}", f"name: Assistant {n}"]
    for key in rng.sample(["first_message", "description", "icon", "guardrails"], 3):
        lines.append(f"{key}: {_scalar(rng)}")
    lines.append("system_instruction: |" + rng.choice(["", "-", "+"]))
    lines.extend(f"  {rng.choice(_WORDS)} line {i}" for i in range(rng.randint(1, 4)))
    lines.append("voice:")
    for key in rng.sample(["voice_id", "speed", "language", "tts_model"], 3):
        lines.append(f"  {key}: {_scalar(rng)}")
    lines.append("call_actions:\n  hangup_triggers:")
    lines.extend(f"    - {_scalar(rng)}" for _ in range(rng.randint(0, 3)))
    return "\n".join(lines) + "\n"


_PIECES = [
    *"ab: -[]{},'\"\n#|>~01.e\\+=@`%?&*\t",
    "  ",
    "true",
    "null",
    "!file x",
    "é",
    "x: 1\n",
    "- ",
    "on",
    "0x",
    "0o",
    "inf",
    "nan",
    "<<",
    "|-",
    ">+",
]


def test_random_texts_read_alike_or_step_aside() -> None:
    """A differential fuzz: 20,000 random texts from YAML's punctuation (about 1 s)."""
    rng = random.Random(7)
    taken = 0
    for _ in range(20_000):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 25)))
        assert agrees(text), repr(text)
        taken += fastyaml.parse(text) is not None
    assert taken > 1_000  # the comparison did run on texts the fast path took


def _sizes(data: Any) -> tuple[int, int]:
    """(nodes, characters of keys and strings) as the loader's budgets count them."""
    if isinstance(data, dict):
        inner = [_sizes(k) for k in data] + [_sizes(v) for v in data.values()]
        return len(data) + sum(n for n, _ in inner), sum(c for _, c in inner)
    if isinstance(data, list):
        inner = [_sizes(v) for v in data]
        return len(data) + sum(n for n, _ in inner), sum(c for _, c in inner)
    return 0, len(data) if isinstance(data, str) else 0


_ESCAPES = ['"\\U0001F600\\x41\\t"', "'it''s'", '"a\\\n  b"', "|+\n  x\n\n\n", ">-\n  a\n\n  b\n"]


def test_without_aliases_data_is_never_larger_than_its_text() -> None:
    # What lets _read_alike skip counting for short texts: every node and every character of
    # the data stands on characters of its own in the text (the fast path refuses aliases).
    from ryaml._ryaml import loads

    rng = random.Random(11)
    pieces = [*_PIECES, *_ESCAPES, "[a, b, ]", "{a, b}", "- - - x\n", "a:\n- \n- \n"]
    checked = 0
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 25)))
        if "*" in text:
            continue
        try:
            data = loads(text)
        except Exception:
            continue
        nodes, characters = _sizes(data)
        assert nodes <= len(text) and characters <= len(text), repr(text)
        checked += isinstance(data, (dict, list))
    assert checked > 500


def test_the_uncounted_walk_agrees_with_the_counted_one() -> None:
    rng = random.Random(12)
    for n in range(1000):
        data = yamlio.parse_reference(_manifest(rng, n))
        if isinstance(data, dict):
            plain = fastyaml._read_alike(data, counted=False)
            assert plain == fastyaml._read_alike(data, counted=True)
    deep: Any = "x"
    for _ in range(yamlio.MAX_DEPTH + 2):
        deep = [deep]
    assert not fastyaml._read_alike(deep, counted=False)
