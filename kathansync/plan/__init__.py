"""DIFF and PLAN (pure, no I/O): what would change, as frozen values, and the saved plan.

    select.py   the manifests named by --target
    diff.py     leaf diff of a manifest against its remote, the minimal PUT, fingerprints
    change.py   Action, FieldChange, Change, Plan, and make_plan: manifests + remotes -> Plan
    adopt.py    manifests without an id that take over the one remote with their name
    prune.py    deletes for remote assistants no manifest references, under a threshold
    saved.py    the plan file: save, a typed reader that validates, and the stale check

The plan values are re-exported here: `from kathansync.plan import Plan, Change, Action`.
"""

from kathansync.plan.change import (
    FORMAT_VERSION,
    SENSITIVE,
    Action,
    Change,
    FieldChange,
    FingerprintKeys,
    Plan,
    PlansAhead,
    make_plan,
    plan_assistant,
    plan_delete,
)

__all__ = [
    "FORMAT_VERSION",
    "SENSITIVE",
    "Action",
    "Change",
    "FieldChange",
    "FingerprintKeys",
    "Plan",
    "PlansAhead",
    "make_plan",
    "plan_assistant",
    "plan_delete",
]
