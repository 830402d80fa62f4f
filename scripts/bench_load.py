"""Time loading + validating N generated ~40-line manifests (issue 4 target: 1000 in < 1.5 s).

Usage: python scripts/bench_load.py [N]   (run as a fresh process so imports are counted)
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from pathlib import Path

START = time.perf_counter()

TEMPLATE = """\
# Generated manifest {i} for the loading benchmark.
id: {id}
name: Bench assistant {i}
description: Generated to measure how fast kathansync loads manifests
first_message: Hello, this is assistant {i}. How can I help?
system_instruction: |
  You are assistant number {i}.
  Be brief: callers are listening, not reading.
  Answer questions about billing, plans and account access.
  Never promise refunds; offer to transfer to a human instead.
assistant_speaks_first: true
voice:
  voice_id: a0e99841-438c-4a64-b679-ae501e7d6091
  tts_provider: cartesia
  tts_model: sonic-3
  language: en
  speed: 1.05
llm:
  llm_provider: google
  model: gemini-1.5-flash
speech_settings:
  style: professional
  responsiveness: balanced
  interruptions: "on"
long_term_memory:
  enabled: true
  search_limit: 5
recording:
  enabled: true
  stereo: false
call_actions:
  enabled: true
  allow_transfer: true
  transfer_mode: warm
  transfer_triggers:
    - speak to a human
    - talk to an agent
  transfer_number: "+15550100"
knowledge_base_ids:
  - kb-billing
  - kb-accounts
"""


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp, "assistants")
        directory.mkdir()
        for i in range(count):
            text = TEMPLATE.format(i=i, id=uuid.uuid4())
            (directory / f"assistant-{i:04d}.yaml").write_text(text, encoding="utf-8")
        written = time.perf_counter()
        from kathansync.load import load_manifests

        imported = time.perf_counter()
        result = load_manifests(directory)
        done = time.perf_counter()
    assert not result.problems, result.problems[:3]
    assert len(result.manifests) == count
    imports = imported - written
    print(
        f"{count} manifests: imports {imports:.3f} s + load {done - imported:.3f} s"
        f" = {imports + (done - imported):.3f} s"
        f" (writing the files, {written - START:.3f} s, not counted)"
    )


if __name__ == "__main__":
    main()
