"""WRITE-BACK: round-trip edits of manifests: pull, import, and the id after a create.

`yamltree` is the plumbing every writer shares (load, dump in the file's own layout, verify,
replace atomically); `pull`, `importing` and `ids` are the three writers.
"""

from kathansync.writeback.ids import IdReplaced, write_id
from kathansync.writeback.importing import ImportReport, import_assistants
from kathansync.writeback.pull import PullReport, pull_manifest

__all__ = [
    "IdReplaced",
    "ImportReport",
    "PullReport",
    "import_assistants",
    "pull_manifest",
    "write_id",
]
