"""`foundry-goldens config` prints the configuration through the redaction: replay-env values
of secret-looking names never, secret-shaped values and the settings' secrets as markers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def config(cwd: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "FOUNDRY_"))}
    return subprocess.run(
        [sys.executable, "-m", "foundry_goldens", "config"],
        cwd=cwd,
        env={**env, **environ},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_config_masks_replay_env_secrets(tmp_path: Path) -> None:
    client_secret = "Qk8Q~canary.CLIENTsecret_0a1b2c3d4e5f6g7h8"
    token = "ghp_" + "C4n4ryGitHubT0ken0123456789abcdefghi"
    (tmp_path / "pyproject.toml").write_text(
        "[tool.foundry-goldens]\n"
        'replay-env = { FOUNDRY_MCP_APPROVAL = "approve", MY_API_KEY = "abc", '
        f'FOUNDRY_NOTE = "{token}", FOUNDRY_DB = "Server=x;Password=C4naryPw9;", '
        f'FOUNDRY_SP = "{client_secret}" }}\n',
        encoding="utf-8",
    )
    result = config(tmp_path, AZURE_CLIENT_SECRET=client_secret)
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("replay-env"))
    assert "'FOUNDRY_MCP_APPROVAL': 'approve'" in line
    assert "'MY_API_KEY': '<MY_API_KEY>'" in line  # short, but its name says secret
    assert "'FOUNDRY_NOTE': '<GITHUB_TOKEN>'" in line
    assert "'FOUNDRY_DB': 'Server=x;Password=<PASSWORD>;'" in line
    assert "'FOUNDRY_SP': '<AZURE_CLIENT_SECRET>'" in line
    for secret in ("abc'", token, "C4naryPw9", client_secret):
        assert secret not in result.stdout


def test_config_masks_a_secret_from_the_env_file(tmp_path: Path) -> None:
    secret = "C4nary-env-file-secret-0123"
    (tmp_path / "pyproject.toml").write_text(
        '[tool.foundry-goldens]\nenv-file = ".env"\n'
        f'replay-env = {{ FOUNDRY_ECHO = "{secret}" }}\n',
        encoding="utf-8",
    )
    (tmp_path / ".env").write_text(f"SERVICE_TOKEN={secret}\n", encoding="utf-8")
    result = config(tmp_path)
    assert result.returncode == 0, result.stderr
    assert secret not in result.stdout
    assert "'FOUNDRY_ECHO': '<SERVICE_TOKEN>'" in result.stdout
