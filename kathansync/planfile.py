"""SAVE / LOAD a plan file: the plan's JSON plus what it was based on, never a secret value.

A saved plan records, per assistant, digests of the remote and desired leaves it was computed
from (see diff.fingerprints), the tool version and the API URL. `apply PLANFILE` recomputes the
plan from fresh inputs, and applies an assistant only when both digests still match: the PUT body
is then identical to the one the reviewer saw, without the file ever holding it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kathansync import __version__
from kathansync.atomic import write_atomic
from kathansync.errors import PlanFileError
from kathansync.plan import FORMAT_VERSION, FingerprintKeys, Plan

KIND = "kathansync-plan"


def new_keys(api_key: str, salt: str | None = None) -> FingerprintKeys:
    """Fingerprint keys for a plan: a fresh random salt, and a secret derived from the API key."""
    secret = hmac.new(api_key.encode(), b"kathansync plan fingerprints", hashlib.sha256).digest()
    return FingerprintKeys(salt=salt or secrets.token_hex(16), secret=secret)


def plan_file_data(plan: Plan, keys: FingerprintKeys) -> dict[str, Any]:
    data = plan.to_dict()
    data["kind"] = KIND
    data["kathansync_version"] = __version__
    data["salt"] = keys.salt
    for entry, change in zip(data["changes"], plan.changes, strict=True):
        # Real values are in the payload only because `to_dict` masked the sensitive ones; the
        # apply recomputes the payload anyway, so the file does not need it.
        entry.pop("payload", None)
        entry["remote_fingerprints"] = dict(change.remote_fingerprints)
        entry["desired_fingerprints"] = dict(change.desired_fingerprints)
    return data


def save_plan(plan: Plan, keys: FingerprintKeys, path: Path) -> None:
    """Write the plan atomically: a reader never sees half a file."""
    text = json.dumps(plan_file_data(plan, keys), indent=2, ensure_ascii=False) + "\n"
    write_atomic(path, text)


@dataclass(frozen=True)
class SavedPlan:
    """What a plan was based on: its salt, and per assistant its action and fingerprints."""

    data: Mapping[str, Any]

    @property
    def salt(self) -> str:
        return str(self.data["salt"])

    @property
    def entries(self) -> list[Mapping[str, Any]]:
        return list(self.data["changes"])


def as_saved_plan(plan: Plan, keys: FingerprintKeys) -> SavedPlan:
    """A plan just shown and confirmed, held as if saved, to be re-checked like a plan file."""
    return SavedPlan(plan_file_data(plan, keys))


def load_plan(path: Path, *, api_url: str, environment: str | None) -> SavedPlan:
    """Read a plan file and refuse it whole when it cannot be applied here."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanFileError(f"{path}: no such plan file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PlanFileError(f"{path}: not a readable kathansync plan ({error})") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise PlanFileError(f"{path}: not a kathansync plan file (made by `plan --out FILE`)")
    if data.get("format_version") != FORMAT_VERSION:
        raise PlanFileError(
            f"{path}: plan format {data.get('format_version')!r} is not supported by kathansync "
            f"{__version__} (it reads format {FORMAT_VERSION}); run plan again with this version"
        )
    if not _compatible(str(data.get("kathansync_version", ""))):
        raise PlanFileError(
            f"{path}: the plan was made by kathansync {data.get('kathansync_version')}, "
            f"this is {__version__}; run plan again with this version"
        )
    if _normal_url(str(data.get("api_url", ""))) != _normal_url(api_url):
        raise PlanFileError(
            f"{path}: the plan was made against {data.get('api_url')}, not {api_url}; "
            "refusing to apply it here"
        )
    if data.get("environment") != environment:
        raise PlanFileError(
            f"{path}: the plan was made for environment {data.get('environment')!r}, "
            f"not {environment!r}"
        )
    if not isinstance(data.get("changes"), list) or not isinstance(data.get("salt"), str):
        raise PlanFileError(f"{path}: the plan file is incomplete or was edited")
    return SavedPlan(data)


def _compatible(version: str) -> bool:
    """Same major.minor: fingerprints and plan semantics only change with a minor release."""
    return version.split(".")[:2] == __version__.split(".")[:2]


def _normal_url(url: str) -> str:
    return url.rstrip("/")
