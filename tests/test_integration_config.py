"""integration/model.yaml and app.yaml, validated as `lf add model/app` validates them.

latticeflow-go-sdk's own loaders (`!include`, `$VARIABLE` substitution) and pydantic types, with
no warning allowed: a deprecated key (e.g. the adapter `latticeflow$identity_chat_completion`)
or an unknown field fails here before it fails in AI GO!.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from types import ModuleType

import pytest
from latticeflow.go.cli.ai_apps import get_sdk_ai_app_from_file
from latticeflow.go.cli.models import get_sdk_model_from_file
from latticeflow.go.dtypes import SDKCustomInferenceModelConfig

ROOT = Path(__file__).resolve().parent.parent
INTEGRATION = ROOT / "integration"
MODEL_YAML = INTEGRATION / "model.yaml"

# model.yaml reads these from the environment (`$NAME`), as `lf add model` does from .env.
YAML_VARIABLES = (
    "AZURE_AI_PROJECT_ENDPOINT",
    "AZURE_FOUNDRY_AGENT_NAME",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
)


@pytest.fixture
def yaml_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in YAML_VARIABLES:
        monkeypatch.setenv(name, f"placeholder-{name.lower()}")


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_model_yaml_validates_without_warnings(
    yaml_environment: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    model = get_sdk_model_from_file(MODEL_YAML)

    assert warnings_of(caplog) == []
    assert isinstance(model.config, SDKCustomInferenceModelConfig)
    assert model.config.adapter.key == "latticeflow$identity"
    # `!include` inlined the snippet itself (the loader drops the final newline).
    snippet_text = (INTEGRATION / "run_inference.py").read_text(encoding="utf-8")
    assert model.config.run_inference_snippet.rstrip() == snippet_text.rstrip()
    assert model.config.environment["AZURE_FOUNDRY_AGENT_NAME"] == (
        "placeholder-azure_foundry_agent_name"
    )


def test_app_yaml_validates_without_warnings(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    app = get_sdk_ai_app_from_file(INTEGRATION / "app.yaml")

    assert warnings_of(caplog) == []
    assert app.key == "azure-foundry-app"


def environment_keys(snippet: ModuleType) -> list[str]:
    return [
        value
        for name, value in vars(snippet).items()
        if name.endswith("_KEY") and isinstance(value, str) and re.fullmatch(r"[A-Z_]+", value)
    ]


def test_every_environment_key_is_documented(snippet: ModuleType) -> None:
    """Each key the snippet reads is in model.yaml (set or commented), README and contracts."""
    keys = environment_keys(snippet)
    assert "FOUNDRY_CONTENT_FILTER" in keys  # the scan found the settings
    model_yaml = MODEL_YAML.read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    contracts = (ROOT / "docs" / "contracts.md").read_text(encoding="utf-8")
    # The harness-only credential object cannot be written in YAML.
    for key in (k for k in keys if k != "AZURE_TOKEN_CREDENTIAL"):
        assert re.search(rf"^\s*#?\s*{key}:", model_yaml, re.MULTILINE), f"{key}: model.yaml"
    for key in keys:
        assert f"`{key}`" in readme, f"{key}: README.md environment table"
        assert f"`{key}`" in contracts, f"{key}: docs/contracts.md"
