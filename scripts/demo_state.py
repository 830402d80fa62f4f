"""Write an emulator state file in which the example manifests' assistants have drifted a little.

    python scripts/demo_state.py [MANIFEST_DIR] [STATE_FILE]  (default: assistants .demo/state.json)

Each manifest's values are laid over the seed's defaults, then DRIFT is applied, so `kathansync
plan` has a few visible changes to show and one field the manifests do not manage stays put.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from kathansync.atomic import write_atomic
from kathansync.emulator.store import merge_seed, new_assistant

# handle -> what the "remote" says instead of the manifest. after-hours has none: a no-op.
DRIFT: dict[str, dict[str, Any]] = {
    "support": {
        "voice": {"speed": 1.0},  # someone tuned it in the dashboard
        "call_actions": {"transfer_mode": "cold"},
        # A field the manifest does not manage: plan ignores it, apply keeps it.
        "phone_number_id": "pn-acme-support-main",
    },
    "sales": {
        "recording": {"enabled": False},
        "call_actions": {"hangup_triggers": ["not interested"]},
    },
}
# An older line of the support prompt, so the plan shows a line diff of system_instruction.
OLD_PROMPT_LINE = ("Never promise refunds;", "Refunds are possible within 30 days;")


def remote_assistant(manifest: dict[str, Any], handle: str) -> dict[str, Any]:
    """The drifted remote object for one manifest (the seed's defaults under everything)."""
    fields = {key: value for key, value in manifest.items() if key != "id"}
    assistant = merge_seed(merge_seed(new_assistant(manifest["id"]), fields), DRIFT.get(handle, {}))
    if handle == "support":
        old, new = OLD_PROMPT_LINE
        assistant["system_instruction"] = assistant["system_instruction"].replace(old, new)
    return assistant


def main(argv: list[str]) -> int:
    manifest_dir = Path(argv[0] if argv else "assistants")
    state_file = Path(argv[1] if len(argv) > 1 else ".demo/state.json")
    yaml = YAML(typ="safe")
    assistants: dict[str, Any] = {}
    for path in sorted(manifest_dir.glob("*.yaml")):
        manifest = yaml.load(path.read_text(encoding="utf-8"))
        assistants[manifest["id"]] = remote_assistant(manifest, path.stem)
    state_file.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(state_file, json.dumps({"assistants": assistants}, indent=2) + "\n")
    print(f"seeded {len(assistants)} assistant(s) into {state_file}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
