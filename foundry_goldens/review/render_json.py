"""The report as JSON (`--format json`): the pydantic model dumped in field order, so the output
is stable for the same inputs. The schema is `json_schema()`; docs/golden-review.md describes it."""

from __future__ import annotations

import json
from typing import Any

from foundry_goldens.review.report import GoldenDiffReport


def render_json(report: GoldenDiffReport) -> str:
    return report.model_dump_json(indent=2) + "\n"


def json_schema() -> dict[str, Any]:
    return GoldenDiffReport.model_json_schema()


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2) + "\n"
