"""Write kathansync/load/spec_shape.py from the models: `make spec-shape` after changing them.

tests/test_load_conform.py fails while the file and the models disagree.
"""

from __future__ import annotations

import pprint
from pathlib import Path

from kathansync.models import AssistantSpec, shape_of

TARGET = Path(__file__).resolve().parent.parent / "kathansync" / "load" / "spec_shape.py"

HEADER = '''"""AssistantSpec's fields as plain data (see `shape_of` in kathansync/models.py).

Written by `make spec-shape` from the models, not by hand: load/conform.py reads it so that a
cold `validate` checks manifests without importing pydantic.
"""

from typing import Any

SHAPE: dict[str, Any] = '''


def main() -> None:
    table = pprint.pformat(shape_of(AssistantSpec), sort_dicts=False, width=96)
    TARGET.write_text(HEADER + table + "\n", encoding="utf-8")
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
