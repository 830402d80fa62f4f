"""LOAD -> DESIRED: discover manifests, read YAML, resolve ${VAR} and !file, merge _defaults,
check ids, and word every problem with its file:line.

Modules in pipeline order: `discover` (which files, handles, the root) -> `yamlio` (bytes to
data, with budgets) -> `interpolate` (${VAR}, !file) -> `defaults` (the _defaults layers) ->
`ids` -> `loader` (validation against `models`, one `LoadResult`). `problems` words errors.
`load_manifests` is `warm`'s: a load the cache serves whole imports no loader (see warm.py).
"""

from kathansync.load.discover import CONFIG_NAME, discover, find_root, handle_of
from kathansync.load.result import LoadResult
from kathansync.load.warm import load_manifests

__all__ = ["CONFIG_NAME", "LoadResult", "discover", "find_root", "handle_of", "load_manifests"]
