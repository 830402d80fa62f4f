"""LOAD -> DESIRED: discover manifests, read YAML, resolve ${VAR} and !file, merge _defaults,
check ids, and word every problem with its file:line.

Modules in pipeline order: `discover` (which files, handles, the root) -> `yamlio` (bytes to
data, with budgets) -> `interpolate` (${VAR}, !file) -> `defaults` (the _defaults layers) ->
`ids` -> `loader` (validation against `models`, one `LoadResult`). `problems` words errors.
"""

from kathansync.load.discover import CONFIG_NAME, discover, find_root, handle_of
from kathansync.load.loader import LoadResult, load_manifests

__all__ = ["CONFIG_NAME", "LoadResult", "discover", "find_root", "handle_of", "load_manifests"]
