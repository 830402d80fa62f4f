"""RENDER (pure): serialised plans and apply results -> text | json | markdown strings.

Every renderer takes the versioned dict (`Plan.to_dict()`, `apply.result_dict()`), never the
live objects, so the three formats always show the same thing and none can see a secret: the
dict already holds "(sensitive)" in place of every interpolated value. Renderers return
strings; the CLI decides where they go and whether colour is wanted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kathansync.render.markdown import MARKDOWN_LIMIT, outcomes_markdown, plan_markdown
from kathansync.render.text import api_line, outcomes_text, plan_text

__all__ = ["MARKDOWN_LIMIT", "api_line", "render_json", "render_outcomes", "render_plan"]


def render_json(data: Mapping[str, Any]) -> str:
    """The stable JSON form: 2-space indent, keys in the given order, a trailing newline."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def render_plan(
    plan: Mapping[str, Any], fmt: str = "text", *, color: bool = False, header: bool = True
) -> str:
    """A plan dict (`Plan.to_dict()`) as `text`, `json` or `markdown`.

    `header=False`: text without its `Kathan API:` line, which the CLI prints before fetching.
    """
    if fmt == "json":
        return render_json(plan)
    if fmt == "text":
        return plan_text(plan, color, header=header)
    if fmt == "markdown":
        return plan_markdown(plan)
    raise ValueError(f"unknown plan format {fmt!r} (expected text, json or markdown)")


def render_outcomes(result: Mapping[str, Any], fmt: str = "text", *, color: bool = False) -> str:
    """An apply-result dict (`apply.result_dict()`) as `text`, `json` or `markdown`."""
    if fmt == "json":
        return render_json(result)
    if fmt == "text":
        return outcomes_text(result, color)
    if fmt == "markdown":
        return outcomes_markdown(result)
    raise ValueError(f"unknown result format {fmt!r} (expected text, json or markdown)")
