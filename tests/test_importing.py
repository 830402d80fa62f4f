"""Import against the emulator: new manifests that load cleanly and plan as `No changes`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import MakeRepo, invoke

from kathansync.emulator import EmulatorServer
from kathansync.errors import ConfigError
from kathansync.load import load_manifests
from kathansync.models import Manifest
from kathansync.plan import FingerprintKeys, Plan, make_plan
from kathansync.remote.client import KathanClient
from kathansync.remote.credentials import Credentials
from kathansync.writeback import pull_manifest
from kathansync.writeback.importing import import_assistants, manifest_text, slug

SUPPORT = "3f2b8c1e-0000-4000-8000-000000000001"
SALES = "3f2b8c1e-0000-4000-8000-000000000002"
SALES_TOO = "3f2b8c1e-0000-4000-8000-000000000003"
KEYS = FingerprintKeys(salt="test", secret=b"test")


@pytest.fixture
def client(emulator: EmulatorServer) -> Iterator[KathanClient]:
    credentials = Credentials(emulator.api_key, emulator.user_id)
    with KathanClient(emulator.url, credentials, parallelism=2) as kathan:
        yield kathan


# Not conftest's `repo`: no assistants/ folder here, import must create the one it writes to.
@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "kathansync.yaml").write_text("{}\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def remote(emulator: EmulatorServer) -> EmulatorServer:
    emulator.seed(
        SUPPORT,
        name="Acme Support",
        description="yes",  # boolean-looking: must come back as the string
        system_instruction="You are Acme's support assistant.\nBe brief.\n\nNever promise refunds.",
        first_message="Hello! " * 20,  # long: a block scalar
        speech_settings={"interruptions": "off", "emotions": "off"},
        call_actions={"hangup_triggers": ["bye", "no"], "transfer_mode": "warm"},
        knowledge_base_ids=["kb-1", "kb-2"],
    )
    emulator.seed(SALES, name="Sales (EN)", first_message="Costs ${5} today")
    emulator.seed(SALES_TOO, name="Sales EN")
    return emulator


def _load(directory: Path) -> list[Manifest]:
    result = load_manifests(directory, environ={})
    assert result.problems == []
    return result.manifests


def _plan(client: KathanClient, manifests: list[Manifest]) -> Plan:
    ids = [m.id for m in manifests if m.id]
    remotes = {i: r for i, r in client.fetch_assistants(ids).items() if isinstance(r, dict)}
    return make_plan(manifests, remotes, api_url="http://test", keys=KEYS)


def test_import_all_then_plan_change_remote_pull_then_plan_again(
    remote: EmulatorServer, client: KathanClient, repo: Path
) -> None:
    directory = repo / "assistants"

    report = import_assistants(client, None, directory, [])

    assert [(i.handle, i.id) for i in report.written] == [
        ("acme-support", SUPPORT),
        ("sales-en", SALES),
        ("sales-en-2", SALES_TOO),
    ]
    manifests = _load(directory)
    assert not _plan(client, manifests).has_changes

    # A deliberate dashboard edit...
    client.update_assistant(
        SUPPORT,
        {"name": "Acme Help", "voice": {**remote.assistants[SUPPORT]["voice"], "speed": 1.2}},
    )
    assert _plan(client, manifests).has_changes
    # ...taken into git.
    support = next(m for m in manifests if m.id == SUPPORT)
    pulled = pull_manifest(support, client.get_assistant(SUPPORT), root=repo)
    assert sorted(pulled.written) == ["name", "voice.speed"]
    assert not _plan(client, _load(directory)).has_changes


def test_imported_manifest_layout(remote: EmulatorServer, client: KathanClient, repo: Path) -> None:
    text = manifest_text(client.get_assistant(SUPPORT))
    lines = text.splitlines()
    assert lines[0] == f"id: {SUPPORT}"
    top_keys = [line.split(":")[0] for line in lines if line[:1].isalpha()]
    assert top_keys[:4] == ["id", "name", "system_instruction", "voice"]
    assert "system_instruction: |-" in lines
    assert "  Never promise refunds." in lines
    assert "first_message: |-" in lines
    assert "description: 'yes'" in lines or 'description: "yes"' in lines
    assert '  emotions: "off"' in lines
    assert '    - "no"' in lines


def test_import_skips_ids_already_managed_and_never_overwrites(
    remote: EmulatorServer, client: KathanClient, repo: Path
) -> None:
    directory = repo / "assistants"
    directory.mkdir()
    existing = directory / "sales-en.yaml"
    existing.write_text(f"# mine\nid: {SALES}\nname: Sales (EN)\n")
    (directory / "acme-support.yaml").write_text("name: Something else entirely\n")

    report = import_assistants(client, [SUPPORT, SALES], directory, _load(directory))

    assert report.skipped == [f"{SALES}: already managed in assistants/sales-en.yaml"]
    assert [(i.handle, i.file) for i in report.written] == [
        ("acme-support-2", "assistants/acme-support-2.yaml")
    ]
    assert existing.read_text() == f"# mine\nid: {SALES}\nname: Sales (EN)\n"
    assert (directory / "acme-support.yaml").read_text() == "name: Something else entirely\n"
    assert len(_load(directory)) == 3


def test_import_reports_an_unknown_id_and_imports_the_rest(
    remote: EmulatorServer, client: KathanClient, repo: Path
) -> None:
    unknown = "3f2b8c1e-0000-4000-8000-0000000000ff"
    report = import_assistants(client, [unknown, SALES], repo / "assistants", [])
    assert [i.id for i in report.written] == [SALES]
    assert len(report.failed) == 1 and report.failed[0].startswith(unknown)
    assert "404" in report.failed[0]


def test_import_keeps_a_literal_dollar_brace(
    remote: EmulatorServer, client: KathanClient, repo: Path
) -> None:
    import_assistants(client, [SALES], repo / "assistants", [])
    (manifest,) = _load(repo / "assistants")
    assert manifest.desired["first_message"] == "Costs ${5} today"
    assert manifest.sensitive == frozenset()


def test_import_refuses_a_file_that_appears_meanwhile(
    remote: EmulatorServer, client: KathanClient, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kathansync.writeback.importing as importing

    directory = repo / "assistants"
    directory.mkdir()

    def racing(base: str, folder: Path, taken: set[str]) -> str:
        (folder / f"{base}.yaml").write_text("name: written by someone else\n")
        return base

    monkeypatch.setattr(importing, "_free_handle", racing)
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        import_assistants(client, [SALES], directory, [])
    assert (directory / "sales-en.yaml").read_text() == "name: written by someone else\n"
    assert [p.name for p in directory.iterdir()] == ["sales-en.yaml"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Acme Support", "acme-support"),
        ("Sales (EN) / Outbound", "sales-en-outbound"),
        ("Café Crème", "cafe-creme"),
        ("  --  ", "assistant"),
        ("日本語", "assistant"),
        ("_private", "private"),
    ],
)
def test_slug(name: str, expected: str) -> None:
    assert slug(name) == expected


def test_manifest_text_leaves_out_what_a_manifest_cannot_hold() -> None:
    remote: dict[str, Any] = {
        "id": SUPPORT,
        "name": "X",
        "future_field": 1,
        "voice": {"voice_id": "v", "language": None, "pitch": 3},
        "phone_number_id": None,
    }
    assert manifest_text(remote) == (
        f"id: {SUPPORT}\nname: X\nvoice:\n  voice_id: v\nphone_number_id: null\n"
    )


def test_manifest_text_for_an_environment_keys_the_id_by_it() -> None:
    text = manifest_text({"id": SUPPORT, "name": "X"}, env="staging")
    assert text == f"id:\n  staging: {SUPPORT}\nname: X\n"


# --- the commands ------------------------------------------------------------------------------


def test_import_and_pull_commands(
    remote: EmulatorServer, kathan_env: EmulatorServer, repo: Path
) -> None:
    assert invoke("import").exit_code == 1  # neither ids nor --all

    result = invoke("import", "--all")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"assistants/acme-support.yaml: imported {SUPPORT}\n")
    assert "3 imported, 0 already managed, 0 failed." in result.stdout

    again = invoke("import", SUPPORT)
    assert again.exit_code == 0
    assert f"Skipped {SUPPORT}: already managed in assistants/acme-support.yaml" in again.stderr

    assert "No changes." in invoke("plan").stdout
    remote.seed(SUPPORT, **{**remote.assistants[SUPPORT], "name": "Acme Help"})
    pulled = invoke("pull", "--target", "acme-support")
    assert pulled.exit_code == 0, pulled.stderr
    assert pulled.stdout.startswith("assistants/acme-support.yaml: updated name\n")
    assert "name: Acme Help\n" in (repo / "assistants" / "acme-support.yaml").read_text()
    assert "No changes." in invoke("plan").stdout
    assert "Nothing to pull" in invoke("pull").stdout


@pytest.mark.parametrize(
    "text",
    ["line 1\r\nline 2\r\n", "a\rb", "a\x85b", "a\u2028b\n", "para\u2029graph", "bell\x07\nx"],
)
def test_manifest_text_reads_back_strings_no_block_style_can_hold(
    make_repo: MakeRepo, text: str
) -> None:
    # YAML folds \r, \x85, \u2028, \u2029 into line breaks in a `|` block: the plan after an
    # import would never be clean. Such strings are written double-quoted (escaped).
    root = make_repo()
    remote = {"id": SUPPORT, "name": "N", "system_instruction": text}
    (root / "assistants" / "n.yaml").write_text(manifest_text(remote), encoding="utf-8")
    (manifest,) = load_manifests(Path("assistants"), environ={}).manifests
    assert manifest.desired["system_instruction"] == text
