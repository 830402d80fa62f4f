"""kathansync.emulator imports nothing from the rest of kathansync: it is a second reading of the
API documents, so it cannot agree with the tool by construction (issue 10)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

EMULATOR = Path(__file__).resolve().parent.parent / "kathansync" / "emulator"


def foreign_imports(source: str) -> list[str]:
    """Modules of kathansync outside kathansync.emulator that `source` imports, lazily or not."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue  # relative imports stay inside the package
        found += [
            name
            for name in names
            if name.split(".")[0] == "kathansync" and not name.startswith("kathansync.emulator")
        ]
    return found


def test_the_checker_finds_a_foreign_import_even_inside_a_function() -> None:
    source = "def f():\n    from kathansync.diff import overlay\n    import kathansync.models\n"

    assert foreign_imports(source) == ["kathansync.diff.overlay", "kathansync.models"]
    assert foreign_imports("from kathansync.emulator.store import Store\nimport httpx\n") == []


def test_no_emulator_module_imports_the_rest_of_kathansync() -> None:
    modules = sorted(EMULATOR.rglob("*.py"))
    assert len(modules) >= 10

    offenders = {
        path.name: found
        for path in modules
        if (found := foreign_imports(path.read_text(encoding="utf-8")))
    }

    assert offenders == {}


# Runs the emulator through every route in a fresh interpreter, then lists the kathansync modules
# loaded: catches imports the source does not spell out (importlib, __import__).
EXERCISE = """
import importlib, json, pkgutil, sys
import httpx
import kathansync.emulator as package
for module in pkgutil.walk_packages(package.__path__, "kathansync.emulator."):
    if not module.name.endswith("__main__"):
        importlib.import_module(module.name)
with package.EmulatorServer(rate_limit=100, extra_fields=["x:boolean"]) as emulator:
    client = httpx.Client(base_url=emulator.url, headers=emulator.headers, follow_redirects=True)
    created = client.post("/assistants/", json={"name": "A", "system_instruction": "Hi."}).json()
    client.put(f"/assistants/{created['id']}", json={"voice": {"speed": 1.1}, "x": True})
    client.put(f"/assistants/{created['id']}", json={"nmae": 1})
    client.get("/assistants", params={"limit": 1})
    client.get("/protected")
    client.get("/openapi.json")
    client.post("/chat", json={"assistant_id": created["id"], "input": "Hi"})
    emulator.seed(created["id"], voice={"speed": 1.2})
loaded = [name for name in sys.modules if name.startswith("kathansync.")]
print(json.dumps(sorted(n for n in loaded if not n.startswith("kathansync.emulator"))))
"""


def test_running_the_emulator_loads_nothing_else_of_kathansync() -> None:
    result = subprocess.run(
        [sys.executable, "-c", EXERCISE], capture_output=True, text=True, check=True, timeout=60
    )

    assert json.loads(result.stdout) == []
