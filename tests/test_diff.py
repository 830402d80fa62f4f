"""DIFF: which managed leaves differ, and the minimal PUT body built from them."""

from __future__ import annotations

from typing import Any

import pytest

from kathansync.plan.diff import build_payload, diff_leaves, fingerprints, overlay

REMOTE: dict[str, Any] = {
    "id": "33df85c1-dce4-4569-bac0-a9c4c70d0486",
    "name": "Support",
    "description": "Inbound line",
    "voice": {
        "voice_id": "v-1",
        "tts_provider": "cartesia",
        "tts_model": "sonic-3",
        "language": "en",
        "speed": 1,
    },
    "knowledge_base_ids": ["kb-a", "kb-b"],
    "call_actions": {
        "enabled": True,
        "transfer_mode": "cold",
        "hangup_triggers": ["bye", "goodbye"],
        "future_field": "kept",
    },
    "speech_settings": {"interruptions": "on"},
    "unknown_top_level": {"x": 1},
}


@pytest.mark.parametrize(
    ("desired", "changed"),
    [
        pytest.param({"name": "Support"}, [], id="equal string"),
        pytest.param({"voice": {"speed": 1.0}}, [], id="1 equals 1.0"),
        pytest.param({"voice": {"speed": 1.0000000001}}, [], id="float epsilon"),
        pytest.param({"voice": {"speed": 1.05}}, [("voice.speed", 1, 1.05)], id="float change"),
        pytest.param({"knowledge_base_ids": ["kb-b", "kb-a"]}, [], id="kb ids are a set"),
        pytest.param(
            {"knowledge_base_ids": ["kb-a", "kb-b", "kb-a"]}, [], id="repeats do not count"
        ),
        pytest.param(
            {"call_actions": {"hangup_triggers": ["goodbye", "bye"]}},
            [("call_actions.hangup_triggers", ["bye", "goodbye"], ["goodbye", "bye"])],
            id="other lists keep order",
        ),
        pytest.param(
            {"call_actions": {"hangup_triggers": ["bye", "goodbye", "later"]}},
            [("call_actions.hangup_triggers", ["bye", "goodbye"], ["bye", "goodbye", "later"])],
            id="list item added reports the whole leaf",
        ),
        pytest.param(
            {"description": None}, [("description", "Inbound line", None)], id="null clears"
        ),
        pytest.param({"first_message": None}, [], id="null equals absent remote"),
        pytest.param(
            {"knowledge_base_ids": None},
            [("knowledge_base_ids", ["kb-a", "kb-b"], None)],
            id="null clears a list",
        ),
        pytest.param({"first_message": "Hi"}, [("first_message", None, "Hi")], id="remote missing"),
        pytest.param(
            {"call_actions": {"enabled": 1}},
            [("call_actions.enabled", True, 1)],
            id="true is not 1",
        ),
        pytest.param(
            {"recording": {"enabled": True}},
            [("recording.enabled", None, True)],
            id="remote object missing",
        ),
        pytest.param({"voice": {}}, [], id="empty object manages nothing"),
        pytest.param(
            {"speech_settings": {"interruptions": "off"}, "name": "Support 2"},
            [("speech_settings.interruptions", "on", "off"), ("name", "Support", "Support 2")],
            id="manifest order",
        ),
    ],
)
def test_diff_leaves(desired: dict[str, Any], changed: list[tuple[str, Any, Any]]) -> None:
    assert [(d.dotted, d.before, d.after) for d in diff_leaves(desired, REMOTE)] == changed


def test_null_list_equals_the_empty_list_the_server_stores() -> None:
    assert diff_leaves({"knowledge_base_ids": None}, {"knowledge_base_ids": []}) == []
    assert diff_leaves({"knowledge_base_ids": []}, {"knowledge_base_ids": None}) == []


def test_unknown_remote_fields_are_ignored() -> None:
    assert diff_leaves({"voice": {"speed": 1}}, REMOTE) == []


@pytest.mark.parametrize(
    ("desired", "payload"),
    [
        pytest.param({"name": "Support"}, {}, id="no change, no body"),
        pytest.param({"name": "New"}, {"name": "New"}, id="scalar sent alone"),
        pytest.param(
            {"voice": {"speed": 1.05}},
            {
                "voice": {
                    "voice_id": "v-1",
                    "tts_provider": "cartesia",
                    "tts_model": "sonic-3",
                    "language": "en",
                    "speed": 1.05,
                }
            },
            id="partial nested manifest sends the whole object",
        ),
        pytest.param(
            {"call_actions": {"transfer_mode": "warm"}, "description": "Inbound line"},
            {
                "call_actions": {
                    "enabled": True,
                    "transfer_mode": "warm",
                    "hangup_triggers": ["bye", "goodbye"],
                    "future_field": "kept",
                }
            },
            id="unchanged keys stay out, unknown sub-fields are kept",
        ),
        pytest.param(
            {"recording": {"enabled": True}},
            {"recording": {"enabled": True}},
            id="object missing remotely",
        ),
        pytest.param({"description": None}, {"description": None}, id="explicit null is sent"),
    ],
)
def test_build_payload(desired: dict[str, Any], payload: dict[str, Any]) -> None:
    assert build_payload(desired, REMOTE, diff_leaves(desired, REMOTE)) == payload


def test_payload_keys_follow_api_order() -> None:
    desired = {"knowledge_base_ids": ["x"], "voice": {"speed": 2.0}, "name": "N"}
    payload = build_payload(desired, REMOTE, diff_leaves(desired, REMOTE))
    assert list(payload) == ["name", "voice", "knowledge_base_ids"]


def test_overlay_merges_nested_and_replaces_lists() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert overlay(base, {"a": {"c": [3]}}) == {"a": {"b": 1, "c": [3]}, "d": 1}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}, "overlay must not mutate its input"


def test_fingerprints_change_with_value_and_hide_secrets() -> None:
    paths = [("voice", "speed"), ("call_actions", "webhook_url")]
    tree = {"voice": {"speed": 1}, "call_actions": {"webhook_url": "https://h/secret-token"}}
    sensitive = frozenset({"call_actions.webhook_url"})
    one = fingerprints(tree, paths, salt="s", secret_key=b"k1", sensitive=sensitive)
    same = fingerprints(
        {"voice": {"speed": 1.0}, "call_actions": {"webhook_url": "https://h/secret-token"}},
        paths,
        salt="s",
        secret_key=b"k1",
        sensitive=sensitive,
    )
    assert one == same, "1 and 1.0 are the same value"
    other_key = fingerprints(tree, paths, salt="s", secret_key=b"k2", sensitive=sensitive)
    assert other_key["voice.speed"] == one["voice.speed"]
    assert other_key["call_actions.webhook_url"] != one["call_actions.webhook_url"]
    moved = fingerprints(
        {"voice": {"speed": 1.1}, "call_actions": {"webhook_url": "https://h/secret-token"}},
        paths,
        salt="s",
        secret_key=b"k1",
        sensitive=sensitive,
    )
    assert moved["voice.speed"] != one["voice.speed"]
    assert "secret-token" not in repr(one)


@pytest.mark.parametrize(
    ("desired", "remote", "differs"),
    [
        pytest.param(2**53 + 1, 2**53, True, id="integers past 2**53 stay exact"),
        pytest.param(1, 1.0, False, id="1 == 1.0"),
        pytest.param(2**60, float(2**60), True, id="a float past 2**53 is not an int"),
        pytest.param(5000, 5000.0000000001, False, id="float noise"),
    ],
)
def test_numbers_compare_exactly_as_integers(desired: Any, remote: Any, differs: bool) -> None:
    path = {"call_actions": {"webhook_timeout_ms": desired}}
    changes = diff_leaves(path, {"call_actions": {"webhook_timeout_ms": remote}})
    assert bool(changes) is differs
