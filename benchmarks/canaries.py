"""Canaries: fake, format-valid secrets planted on every path text takes through the harness,
then looked for in every file written and every line printed or logged.

Paths: the dialogue's user text (request), a response header, a tool's output and the reply
(response body), an error body, an SDK log line (azure.identity's logger), and an old golden
that `--check` compares against. Runs, all over real HTTP on loopback with the emulator:

- `scripts/record.py --emulator` (a subprocess) on dialogues whose user text holds the canaries,
  then `--check` against a golden holding them;
- the recorder in a child process with a canary agent (data for the emulator's rule engine) that
  echoes them in a tool output, its reply, a header, a log line and an error body; record mode,
  `--check` mode, then the offline replay of what was written;
- `scripts/golden_diff.py`, Markdown and JSON, over the repository that holds all of it.

The settings (environment, as `.env` would give them) hold the service principal, a service
password and a live endpoint; some canaries are those known values in the encodings a redaction
must see through (base64, lower-case percent-encoding, `\\u`-escaped in a JSON tool output,
JSON-escaped twice, `+` as `\\u002B`), the others unknown values that only rules can catch
(detect-secrets' and gitleaks' formats, Basic credentials, passwords in connection strings).
What is looked for comes out in any of those encodings too (see `encodings`).

    python benchmarks/canaries.py          # prints a table: formats x paths, planted and found

Exit 0 when both found figures are 0.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml

from tests.paths import PROJECT_ROOT

RECORD = PROJECT_ROOT / "scripts" / "record.py"
GOLDEN_DIFF = PROJECT_ROOT / "scripts" / "golden_diff.py"
TIMEOUT = 120
CANARY_AGENT = "canary-agent"

RESOURCE = "contoso-canary-res"
PROJECT = "contoso-canary-proj"
HOST = f"{RESOURCE}.services.ai.azure.com"
CLIENT_SECRET = "Qk8Q~canary.CLIENTsecret_0a1b2c3d4e5f6g7h8"
CLIENT_ID = "c1e17c1d-ca11-4bad-8eef-0ca11ab1ec0d"
TENANT_ID = "7e11a17e-7e57-4a1d-9c0d-5ca1ab1ec0de"
PEM_BODY = ("MIIEowIBAAKCAQEAcanaryPEMbodyLine1xq9ZkV2", "c2FuYXJ5LXByaXZhdGUta2V5LWxpbmUtMg4Tq7Wm")
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJjYW5hcnkiOiJqd3QtcGF5bG9hZCJ9.Y2FuYXJ5LWp3dC1zaWduYXR1cmU"
# A known setting with the characters encodings change: + / = " \\
SERVICE_PASSWORD = 'C4nary+Svc/Pa"ss\\word=9'
BASIC_PASSWORD = "C4naryBasicHdrPw0"
BASIC_CREDENTIALS = base64.b64encode(f"canary-user:{BASIC_PASSWORD}".encode()).decode()
KNOWN_IN_BASE64 = base64.b64encode(f"note {CLIENT_SECRET} end".encode()).decode()
# Today's OpenAI project key: 74 + T3BlbkFJ + 74 characters, with _ and - (detect-secrets' rule
# stops 20 characters after T3BlbkFJ); an Anthropic key: 93 characters and AA.
OPENAI_PROJECT_KEY = (
    "sk-proj-"
    + "C4n4ry_OpenAI-proj" * 4
    + "Zz"
    + "T3BlbkFJ"
    + "c4n4ry-Tail_0123" * 4
    + "0123456789"
)
ANTHROPIC_KEY = "sk-ant-api03-" + "C4n4ry-Anthropic_key" * 4 + "0123456789abc" + "AA"


def lower_hex(text: str) -> str:
    """Percent-encoded with lower-case hex: `%2b`."""
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), quote(text, safe=""))


def u_escaped(text: str) -> str:
    """Every character as a JSON `\\uXXXX` escape."""
    return "".join(f"\\u{ord(c):04x}" for c in text)


@dataclass(frozen=True)
class Canary:
    name: str
    planted: str  # the text put on each path
    needles: tuple[str, ...]  # what must never come out (in any encoding)


CANARIES = (
    Canary("GitHub token", g := "ghp_" + "C4n4ryGitHubT0ken0123456789abcdefghi", (g,)),
    Canary(
        "Azure storage AccountKey",
        "DefaultEndpointsProtocol=https;AccountName=canaryacct;AccountKey="
        + (k := "Q2FuYXJ5U3RvcmFnZUtleQ" * 3 + "canaryStorageKey0123")
        + "==;EndpointSuffix=core.windows.net",
        (k,),
    ),
    Canary("AWS access key id", a := "AKIA" + "C4NARYAWSKEY0123", (a,)),
    Canary("Stripe key", s := "sk_live_" + "C4n4ryStripeKey012345678", (s,)),
    Canary("Slack token", t := "xoxb-" + "1234567890-9876543210-c4n4ryslacktoken", (t,)),
    Canary(
        "OpenAI key", o := "sk-proj-" + "C4n4ryOpenAIkey01234T3BlbkFJC4n4ryOpenAIkey56789", (o,)
    ),
    Canary(
        "PEM private key",
        "-----BEGIN RSA PRIVATE KEY-----\n"
        + "\n".join(PEM_BODY)
        + "\n-----END RSA PRIVATE KEY-----",
        PEM_BODY,
    ),
    Canary(
        "basic-auth URL",
        "https://canary-user:" + (p := "C4naryBasicPassw0rd") + "@files.example.org/export",
        (p,),
    ),
    Canary("password field", '{"password": "' + (w := "C4naryPasswordField!") + '"}', (w,)),
    Canary("apiKey field", '{"apiKey": "' + (i := "C4naryApiKeyField-0123") + '"}', (i,)),
    Canary(
        "subscription resource id",
        "/subscriptions/"
        + (u := "5b5c41b5-c4a7-4b1d-9e0f-5c4a77c4a7a7")
        + "/resourceGroups/rg-c4nary/providers/Microsoft.CognitiveServices/accounts/c4nary-acct",
        (u, "rg-c4nary"),
    ),
    Canary("project name", f"the project {PROJECT} is ours", (PROJECT,)),
    Canary("resource name", f"the resource {RESOURCE} is ours", (RESOURCE,)),
    Canary("resource host", f"https://{HOST}:443/api/projects/{PROJECT}/openai", (HOST,)),
    Canary("client secret", CLIENT_SECRET, (CLIENT_SECRET,)),
    Canary("client id", CLIENT_ID, (CLIENT_ID,)),
    Canary("tenant id", TENANT_ID, (TENANT_ID,)),
    Canary("JWT", JWT, tuple(JWT.split(".")[1:])),
    # -- encodings the redaction sees through, formats beyond detect-secrets' rules ----------
    Canary(
        "Basic auth header",
        f"Authorization: Basic {BASIC_CREDENTIALS}",
        (BASIC_CREDENTIALS, BASIC_PASSWORD),
    ),
    Canary("known secret, base64", f"session={KNOWN_IN_BASE64}", (KNOWN_IN_BASE64, CLIENT_SECRET)),
    Canary(
        "known secret, %-encoded lower case",
        f"https://canary.example/cb?state={lower_hex(SERVICE_PASSWORD)}",
        (lower_hex(SERVICE_PASSWORD), SERVICE_PASSWORD),
    ),
    Canary(
        "known secret, \\u-escaped in JSON",
        '{"token": "' + u_escaped(CLIENT_SECRET) + '"}',
        (u_escaped(CLIENT_SECRET), CLIENT_SECRET),
    ),
    Canary(
        "known secret, JSON-escaped twice",
        d := json.dumps(json.dumps(SERVICE_PASSWORD))[1:-1],
        (d, SERVICE_PASSWORD),
    ),
    Canary(
        "known secret, + as \\u002B",
        v := SERVICE_PASSWORD.replace("+", "\\u002B"),
        (v, SERVICE_PASSWORD),
    ),
    Canary(
        "OpenAI project key", OPENAI_PROJECT_KEY, (OPENAI_PROJECT_KEY, OPENAI_PROJECT_KEY[-40:])
    ),
    Canary("Anthropic key", ANTHROPIC_KEY, (ANTHROPIC_KEY, ANTHROPIC_KEY[-40:])),
    Canary(
        "password= in free text",
        f"the database password={(f := 'C4naryFreeTextPw9')} was rotated",
        (f,),
    ),
    Canary(
        "ADO.NET connection string",
        "Server=tcp:c4nary-sql.database.windows.net,1433;Initial Catalog=orders;"
        + f"User ID=canary;Password={(c := 'C4nary$QLpw!2')};Encrypt=True;",
        (c,),
    ),
)
ALL_PLANTED = "\n".join(c.planted for c in CANARIES)

SETTINGS = {
    "AZURE_AI_PROJECT_ENDPOINT": f"https://{HOST}/api/projects/{PROJECT}",
    "AZURE_CLIENT_SECRET": CLIENT_SECRET,
    "AZURE_CLIENT_ID": CLIENT_ID,
    "AZURE_TENANT_ID": TENANT_ID,
    "CANARY_SERVICE_PASSWORD": SERVICE_PASSWORD,
}
# Where each canary is planted; each (canary, path) pair counts once.
PATHS = (
    "request: user text, via scripts/record.py",
    "request: user text, via the recorder",
    "response header",
    "tool output",
    "reply",
    "error body",
    "log line",
    "old golden compared by --check",
)


def encodings(needle: str) -> set[str]:
    """The needle as it is, URL-encoded (either case), JSON-escaped (once, twice, three times;
    `\\u`-escaped: all of it, or its `+`), Markdown-escaped, and its base64 (at each alignment)."""
    escaped = json.dumps(needle)[1:-1]
    twice = json.dumps(escaped)[1:-1]
    markdown = re.sub(r"([\\`*_~\[\]<>|#])", r"\\\1", needle)
    forms = {
        needle,
        quote(needle, safe=""),
        lower_hex(needle),
        quote_plus(needle),
        escaped,
        twice,
        json.dumps(twice)[1:-1],
        u_escaped(needle),
        escaped.replace("+", "\\u002B"),
        markdown,
    }
    return {form for form in forms if form} | base64_signatures(needle)


def base64_signatures(needle: str) -> set[str]:
    """The base64 characters the needle's bytes alone decide, at each of the three alignments
    it can have in a longer blob (standard and URL-safe alphabets); none for a short needle."""
    data = needle.encode()
    found = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode()
        first = -(-8 * offset // 6)  # the first character made of the needle's bits only
        last = (8 * (offset + len(data))) // 6  # one past the last such character
        part = encoded[first:last]
        if len(part) >= 12:
            found |= {part, part.replace("+", "-").replace("/", "_")}
    return found


# -- the canary agent (data for the emulator's rule engine) --------------------------------


def canary_agents() -> dict[str, Any]:
    from foundry_goldens.emulator import AGENTS
    from foundry_goldens.emulator.engine import (
        AgentSpec,
        Call,
        Intent,
        SlotSpec,
        ToolResult,
        ToolSpec,
    )
    from foundry_goldens.emulator.errors import ApiError

    def echo(arguments: Mapping[str, str]) -> ToolResult:
        # As azure-identity can: log a failed sign-in with the request's details.
        logging.getLogger("azure.identity._internal.msal_client").warning(
            "token request failed: %s", ALL_PLANTED
        )
        return ToolResult(
            output={"said": arguments["text"], "found": {c.name: c.planted for c in CANARIES}}
        )

    def fail(arguments: Mapping[str, str]) -> ToolResult:
        raise ApiError(400, "invalid_request", f"Request rejected; it carried: {ALL_PLANTED}")

    schema = {"type": "object", "properties": {"text": {"type": "string"}}}
    agent = AgentSpec(
        name=CANARY_AGENT,
        version="1",
        model="gpt-4.1-mini",
        instructions="Echo the canaries.",
        server_label="canary-tools",
        server_url="https://canary-tools.example/mcp",
        tools=(
            ToolSpec(
                "echo", "Echo.", schema, echo, lambda a, r, s: f"The tool said: {ALL_PLANTED}"
            ),
            ToolSpec("fail", "Fail.", schema, fail, lambda a, r, s: "unreachable"),
        ),
        slots=(SlotSpec("text", (r"(?s)(.+)",), "Say something."),),
        intents=(
            Intent(
                "fail", (r"(?i)\bfail\b",), needs=("text",), calls=(Call("fail", {"text": "text"}),)
            ),
            Intent("echo", (r"(?s).",), needs=("text",), calls=(Call("echo", {"text": "text"}),)),
        ),
        help_text="",
        fallback="",
    )
    return {**AGENTS, CANARY_AGENT: agent}


# -- the runs ------------------------------------------------------------------------------


def write_dialogues(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    dialogues: dict[str, dict[str, Any]] = {
        # scripts/record.py: the default agent, canaries in the user text
        "user_text": {"turns": [{"user": f"Hi, here is {c.planted}"} for c in CANARIES]},
        "plain": {"turns": [{"user": "Hi there!"}]},
        # the recorder with the canary agent
        "canary_echo": {"agent": CANARY_AGENT, "turns": [{"user": "Show me what you have."}]},
        "canary_error": {"agent": CANARY_AGENT, "turns": [{"user": "Please fail."}]},
        "canary_user_text": {
            "agent": CANARY_AGENT,
            "turns": [{"user": f"Remember {c.planted}"} for c in CANARIES],
        },
    }
    for name, content in dialogues.items():
        text = yaml.safe_dump({"name": name, **content}, allow_unicode=True, sort_keys=False)
        (directory / f"{name}.yaml").write_text(text, encoding="utf-8")


def child(root: Path) -> int:
    """The recorder with the canary agent, printing and logging as scripts/record.py does."""
    from rich.console import Console

    from foundry_goldens.goldens.dialogues import load_dialogues
    from foundry_goldens.recording.progress import RichProgress, print_outcomes
    from foundry_goldens.recording.recorder import RecordOptions, record_dialogues
    from foundry_goldens.recording.targets import EmulatorTarget
    from foundry_goldens.redaction.logs import redacting_logs
    from foundry_goldens.redaction.redactor import Redactor
    from foundry_goldens.replay.replayer import ReplayError, replay_dialogue

    settings = dict(os.environ)
    redact = Redactor.from_settings(settings)
    console = Console(width=400, no_color=True)
    header = "; ".join(json.dumps(c.planted)[1:-1] for c in CANARIES)
    target = EmulatorTarget(
        settings=settings,
        emulator_options={
            "agents": canary_agents(),
            "response_headers": {"Location": header, "x-ms-error-message": header},
        },
    )
    names = ["canary_echo", "canary_error", "canary_user_text"]
    dialogues = load_dialogues(root / "goldens" / "dialogues", names)
    with redacting_logs(redact):
        for check in (False, True):
            options = RecordOptions(
                cassette_dir=root / "cassettes", snapshot_dir=root / "goldens" / "snapshots",
                concurrency=3, check=check,
            )  # fmt: skip
            with RichProgress(console) as progress:
                outcomes = record_dialogues(dialogues, target, options, progress)
            print_outcomes(console, outcomes, check=check, redact=redact)
        for dialogue in dialogues:
            cassette = root / "cassettes" / f"{dialogue.name}.json"
            if not cassette.is_file():
                continue
            try:
                result = replay_dialogue(dialogue, cassette)
                print(json.dumps(result.snapshot(), ensure_ascii=False))
            except ReplayError as error:
                print(f"replay failed: {error}")
    return 0


def run(command: list[str], env: Mapping[str, str], outputs: dict[str, str], label: str) -> None:
    done = subprocess.run(
        command, env=dict(env), capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    outputs[f"{label} (stdout)"] = done.stdout
    outputs[f"{label} (stderr)"] = done.stderr


def plant_old_golden(snapshot: Path) -> None:
    """A golden recorded before redaction: its reply holds every canary."""
    text = snapshot.read_text(encoding="utf-8")
    reply = '"text": "'
    snapshot.write_text(text.replace(reply, reply + json.dumps(ALL_PLANTED)[1:-1], 1), "utf-8")


Leak = tuple[str, str]  # (canary's name, the file or output it was found in)


def measure(root: Path) -> tuple[int, list[Leak], list[Leak]]:
    """Run everything in the repository `root`; (planted, leaks in files, leaks in output)."""
    dialogues = root / "goldens" / "dialogues"
    write_dialogues(dialogues)
    git = ["git", "-C", str(root), "-c", "user.name=canary", "-c", "user.email=c@example.org"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    (root / "README.md").write_text("canaries\n", encoding="utf-8")
    subprocess.run([*git, "add", "README.md"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "base"], check=True)

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "FOUNDRY_"))},
        **SETTINGS,
        "COLUMNS": "400",
        "NO_COLOR": "1",
        "TERM": "dumb",
        "PYTHONUNBUFFERED": "1",
    }
    dirs = [
        "--dialogues", str(dialogues),
        "--cassettes", str(root / "cassettes"),
        "--snapshots", str(root / "goldens" / "snapshots"),
    ]  # fmt: skip
    record = [sys.executable, str(RECORD), "--emulator", *dirs]
    outputs: dict[str, str] = {}
    run([*record, "--only", "user_text", "--only", "plain"], env, outputs, "record.py")
    inputs = {dialogues / f for f in os.listdir(dialogues)}
    old_golden = root / "goldens" / "snapshots" / "plain.json"
    if old_golden.is_file():
        plant_old_golden(old_golden)
        inputs.add(old_golden)
    run([*record, "--check", "--only", "plain"], env, outputs, "record.py --check")
    run([sys.executable, __file__, "--child", str(root)], env, outputs, "recorder, canary agent")
    diff = [sys.executable, str(GOLDEN_DIFF), "--repo", str(root), "--base", "HEAD"]
    run(diff, env, outputs, "golden_diff.py")
    run([*diff, "--format", "json"], env, outputs, "golden_diff.py --format json")

    written = [
        path
        for path in root.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(root).parts and path not in inputs
    ]
    in_files = [
        (canary.name, str(path.relative_to(root)))
        for path in written
        for canary in CANARIES
        if _holds(path.read_text(encoding="utf-8", errors="replace"), canary)
    ]
    in_output = [
        (canary.name, label)
        for label, text in outputs.items()
        for canary in CANARIES
        if _holds(text, canary)
    ]
    _check_paths_taken(root, outputs)
    return len(CANARIES) * len(PATHS), in_files, in_output


def _check_paths_taken(root: Path, outputs: Mapping[str, str]) -> None:
    """Zero found means something only if every path was taken: each leaves a mark."""
    echo = root / "cassettes" / "canary_echo.json"
    child = "recorder, canary agent"
    marks = {  # none depends on the redaction working
        "a cassette with the tool output, reply and header": echo.is_file()
        and all(m in echo.read_text("utf-8") for m in ('"name": "echo"', '"location":')),
        "its snapshot": (root / "goldens" / "snapshots" / "canary_echo.json").is_file(),
        "request (record.py)": f"{len(CANARIES)}/{len(CANARIES)}" in outputs["record.py (stdout)"],
        "old golden (--check)": re.search(
            r"\[(behaviour|wording|usage|other)\]", outputs["record.py --check (stdout)"]
        )
        is not None,
        "request (recorder)": f"{len(CANARIES)}/{len(CANARIES)}" in outputs[f"{child} (stdout)"],
        "error body": "HTTP 400" in outputs[f"{child} (stdout)"],
        "log line": "token request failed" in outputs[f"{child} (stderr)"],
        "replay": '"dialogue": "canary_echo"' in outputs[f"{child} (stdout)"],
        "golden diff": "canary_echo" in outputs["golden_diff.py (stdout)"]
        and "canary_echo" in outputs["golden_diff.py --format json (stdout)"],
    }
    missed = [path for path, taken in marks.items() if not taken]
    if missed:
        raise SystemExit(f"canaries: these paths were not taken: {', '.join(missed)}")


def _holds(text: str, canary: Canary) -> bool:
    return any(form in text for needle in canary.needles for form in encodings(needle))


def table(in_files: list[Leak], in_output: list[Leak]) -> list[str]:
    """One row per format: planted on each path (1 per path), found in files, found in output
    (a leak is counted per format, in each file or output it reached); then the totals."""
    width = max(len(c.name) for c in CANARIES)
    heads = [f"P{n}" for n in range(1, len(PATHS) + 1)]
    lines = [f"{'format':<{width}}  {' '.join(heads)}  planted  in files  in output"]
    for canary in CANARIES:
        files = sum(1 for name, _ in in_files if name == canary.name)
        output = sum(1 for name, _ in in_output if name == canary.name)
        cells = " ".join(f"{1:>{len(h)}}" for h in heads)
        lines.append(f"{canary.name:<{width}}  {cells}  {len(PATHS):>7}  {files:>8}  {output:>9}")
    totals = " ".join(f"{len(CANARIES):>{len(h)}}" for h in heads)
    lines.append(
        f"{'total':<{width}}  {totals}  {len(CANARIES) * len(PATHS):>7}  "
        f"{len(in_files):>8}  {len(in_output):>9}"
    )
    lines += [f"  P{n}: {path}" for n, path in enumerate(PATHS, start=1)]
    return lines


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        return child(Path(sys.argv[2]))
    with tempfile.TemporaryDirectory(prefix="canaries-") as scratch:
        planted, in_files, in_output = measure(Path(scratch))
    print("\n".join(table(in_files, in_output)))
    print(f"canaries planted: {planted} ({len(CANARIES)} formats x {len(PATHS)} paths)")
    print(f"found in files:   {len(in_files)}")
    print(f"found in output:  {len(in_output)}")
    for name, where in in_files + in_output:
        print(f"  - {name} in {where}")
    return 0 if not in_files and not in_output else 1


if __name__ == "__main__":
    sys.exit(main())
