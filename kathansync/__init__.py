"""kathansync: Kathan voice assistants as code (YAML manifests -> plan -> minimal PUTs)."""

__version__ = "0.1.0"
