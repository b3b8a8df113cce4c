"""golden_diff against throwaway git repositories whose commits make each kind of golden change.

The fixtures follow docs/contracts.md: a dialogue script, a snapshot of normalized Open Responses
items (function_call / function_call_output / message, aliases numbered across the dialogue) and
a sanitized cassette per dialogue.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from itertools import count
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from foundry_goldens.review import (
    GoldenDiffError,
    GoldenDiffReport,
    diff_goldens,
    json_schema,
    parse_threshold,
    render_json,
    render_markdown,
)
from foundry_goldens.review.compare import FORMATTING_ONLY_NOTE
from foundry_goldens.review.diffs import elide, word_diff

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "golden_diff.py"

# -- building goldens in the contract formats -----------------------------------------------------

ORDER = {"order_id": "ORD-1001", "status": "shipped", "eta": "2025-05-02", "items": 2}
CUSTOMER = {"customer_id": "CUST-7", "orders": ["ORD-1001"]}


def order_lookup_turns() -> list[dict[str, Any]]:
    """A three-turn order lookup: the user gives email and order id in different turns."""
    return [
        {
            "user": "Hi, where is my order?",
            "reply": "I can help with that. What is the email address on your order?",
            "usage": (180, 15),
        },
        {
            "user": "My email is ana@example.com",
            "calls": [("get_customer_orders", {"email": "ana@example.com"}, CUSTOMER)],
            "reply": "Thanks Ana. I found order ORD-1001 on your account. Is that the one?",
            "usage": (240, 22),
            "expect": {"tools": ["get_customer_orders"], "reply_contains": ["ORD-1001"]},
        },
        {
            "user": "Yes, ORD-1001 please",
            "calls": [("get_order", {"order_id": "ORD-1001"}, ORDER)],
            "reply": "Your order ORD-1001 is shipped and should arrive on 2 May.",
            "usage": (320, 18),
        },
    ]


def snapshot_of(name: str, turns: list[dict[str, Any]]) -> dict[str, Any]:
    """The snapshot goldens.snapshots would write: aliases in order of first appearance."""
    item_numbers, call_numbers = count(1), count(1)
    out_turns = []
    for number, turn in enumerate(turns, start=1):
        items: list[dict[str, Any]] = []
        for tool, arguments, output in turn.get("calls", []):
            call_id = f"call-{next(call_numbers)}"
            items.append(
                {
                    "type": "function_call",
                    "id": f"item-{next(item_numbers)}",
                    "call_id": call_id,
                    "name": tool,
                    "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
                    "status": "completed",
                }
            )
            items.append(
                {
                    "type": "function_call_output",
                    "id": f"item-{next(item_numbers)}",
                    "call_id": call_id,
                    "output": output if isinstance(output, str) else json.dumps(output),
                    "status": turn.get("output_status", "completed"),
                }
            )
        items.append(
            {
                "type": "message",
                "id": f"item-{next(item_numbers)}",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": turn["reply"], "annotations": []}],
                "conversation_id": turn.get("conversation", "conversation-1"),
            }
        )
        prompt, completion = turn["usage"]
        out_turns.append(
            {
                "turn": number,
                "user": turn["user"],
                "output": {
                    "items": items,
                    "usage": {"num_prompt_tokens": prompt, "num_completion_tokens": completion},
                },
            }
        )
    return {"dialogue": name, "turns": out_turns}


def dialogue_of(name: str, turns: list[dict[str, Any]], description: str) -> dict[str, Any]:
    script_turns = []
    for turn in turns:
        script_turn: dict[str, Any] = {"user": turn["user"]}
        if "expect" in turn:
            script_turn["expect"] = turn["expect"]
        script_turns.append(script_turn)
    return {"name": name, "description": description, "turns": script_turns}


def cassette_of(turns: list[dict[str, Any]], recorded: str = "1") -> dict[str, Any]:
    endpoint = "https://foundry.invalid/api/projects/recorded/openai/v1"
    interactions = [
        {
            "request": {"method": "POST", "uri": f"{endpoint}/conversations", "body": {}},
            "response": {"status": {"code": 200, "message": "OK"}, "body": {"id": "conv_0001"}},
        }
    ]
    for number, turn in enumerate(turns, start=1):
        interactions.append(
            {
                "request": {
                    "method": "POST",
                    "uri": f"{endpoint}/responses",
                    "body": {"input": turn["user"], "conversation": "conv_0001"},
                },
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "body": {"id": f"resp_{recorded}_{number}", "output_text": turn["reply"]},
                },
            }
        )
    return {"version": 1, "interactions": interactions}


class GoldenRepo:
    """A git repository in tmp_path holding goldens, with helpers to change and commit them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.git("init", "--quiet", "--initial-branch=main")
        self.git("config", "user.name", "Golden Tester")
        self.git("config", "user.email", "golden@example.com")
        self.git("config", "commit.gpgsign", "false")

    def git(self, *args: str) -> str:
        completed = subprocess.run(
            ["git", "-C", str(self.root), *args], capture_output=True, text=True, check=True
        )
        return completed.stdout.strip()

    def write(
        self,
        name: str,
        turns: list[dict[str, Any]],
        description: str = "Order lookup with email and order id given in different turns.",
        recorded: str = "1",
    ) -> None:
        self.write_file(
            f"goldens/dialogues/{name}.yaml",
            yaml.safe_dump(dialogue_of(name, turns, description), sort_keys=False),
        )
        self.write_file(
            f"goldens/snapshots/{name}.json",
            json.dumps(snapshot_of(name, turns), indent=2, ensure_ascii=False) + "\n",
        )
        self.write_file(f"cassettes/{name}.json", json.dumps(cassette_of(turns, recorded)))

    def write_file(self, path: str, text: str) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def remove(self, name: str) -> None:
        self.git(
            "rm",
            "--quiet",
            f"goldens/dialogues/{name}.yaml",
            f"goldens/snapshots/{name}.json",
            f"cassettes/{name}.json",
        )

    def commit(self, message: str) -> str:
        self.git("add", "--all")
        self.git("commit", "--quiet", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> GoldenRepo:
    """main with two dialogues committed; tests change the working tree (or commit) from there."""
    golden_repo = GoldenRepo(tmp_path / "repo")
    golden_repo.write("order_lookup", order_lookup_turns())
    golden_repo.write(
        "greeting",
        [{"user": "Hello!", "reply": "Hello! How can I help you today?", "usage": (120, 9)}],
        description="A greeting only.",
    )
    golden_repo.write_file("README.md", "goldens\n")
    golden_repo.commit("Record goldens")
    return golden_repo


def diff(repo: GoldenRepo, **kwargs: Any) -> tuple[GoldenDiffReport, str, dict[str, Any]]:
    kwargs.setdefault("base", "HEAD")
    report = diff_goldens(repo.root, **kwargs)
    return report, render_markdown(report), json.loads(render_json(report))


def turn_section(markdown: str, dialogue: str, turn: int) -> str:
    """The Markdown of one turn of one dialogue, to check a change lands under the right turn."""
    heading, collapsed = f"### `{dialogue}`", f"<summary><code>{dialogue}</code>"
    # A behaviour change has its own section; wording/usage-only dialogues are collapsed.
    start = markdown.index(heading if heading in markdown else collapsed)
    ends = [markdown.find(m, start + 1) for m in ("\n### ", "</details>")]
    end = min((e for e in ends if e != -1), default=-1)
    section = markdown[start : end if end != -1 else len(markdown)]
    marker = f"**Turn {turn}**"
    turn_start = section.index(marker)
    turn_end = section.find("**Turn ", turn_start + len(marker))
    return section[turn_start : turn_end if turn_end != -1 else len(section)]


def json_changes(data: dict[str, Any], dialogue: str, turn: int) -> list[dict[str, Any]]:
    (entry,) = [d for d in data["dialogues"] if d["name"] == dialogue]
    (turn_entry,) = [t for t in entry["turns"] if t["turn"] == turn]
    return list(turn_entry["changes"])


def kinds(changes: list[dict[str, Any]]) -> list[str]:
    return [c["kind"] for c in changes]


# -- no change ------------------------------------------------------------------------------------


def test_no_change_is_a_single_line(repo: GoldenRepo) -> None:
    _, markdown, data = diff(repo)
    head = repo.git("rev-parse", "--short=7", "HEAD")
    assert markdown == f"No golden changes between `HEAD` ({head}) and the working tree.\n"
    assert data["changed"] is False
    assert data["summary"] == {
        "added": 0,
        "removed": 0,
        "changed": 0,
        "cassette_only": 0,
        "unchanged": 2,
    }


def test_reformatted_files_are_no_change(repo: GoldenRepo) -> None:
    snapshot = repo.root / "goldens/snapshots/order_lookup.json"
    snapshot.write_text(json.dumps(json.loads(snapshot.read_text()), indent=4), encoding="utf-8")
    cassette = repo.root / "cassettes/order_lookup.json"
    cassette.write_text(json.dumps(json.loads(cassette.read_text()), indent=4))
    report, markdown, _ = diff(repo)
    assert not report.changed
    assert markdown.startswith("No golden changes")
    # git shows the snapshot modified; the report says why that is no behaviour change.
    assert "Snapshots of `order_lookup` differ only in formatting" in markdown


# -- each kind of change, in Markdown and JSON, under the right dialogue and turn -----------------


def test_tool_call_added_and_removed(repo: GoldenRepo) -> None:
    turns = order_lookup_turns()
    turns[1]["calls"].append(("get_order", {"order_id": "ORD-1001"}, ORDER))
    turns[2]["calls"] = []
    repo.write("order_lookup", turns)
    _, markdown, data = diff(repo)

    assert '- tool call added: `get_order` #1 with `{"order_id": "ORD-1001"}` → `{' in (
        turn_section(markdown, "order_lookup", 2)
    )
    assert "- tool call removed: `get_order` #1" in turn_section(markdown, "order_lookup", 3)
    added = json_changes(data, "order_lookup", 2)
    assert kinds(added) == ["tool_call_added"]
    assert added[0]["tool"] == "get_order" and added[0]["arguments"] == {"order_id": "ORD-1001"}
    assert added[0]["output"]["status"] == "shipped"
    assert kinds(json_changes(data, "order_lookup", 3)) == ["tool_call_removed"]
    assert data["summary"]["changed"] == 1 and data["summary"]["unchanged"] == 1


def test_arguments_changed_is_a_field_level_diff(repo: GoldenRepo) -> None:
    turns = order_lookup_turns()
    turns[1]["calls"] = [
        ("get_customer_orders", {"email": "ana@example.org", "include_closed": True}, CUSTOMER)
    ]
    repo.write("order_lookup", turns)
    _, markdown, data = diff(repo)

    section = turn_section(markdown, "order_lookup", 2)
    assert "- `get_customer_orders` #1 arguments:" in section
    assert '  - `email`: `"ana@example.com"` → `"ana@example.org"`' in section
    assert "  - `include_closed` added: `true`" in section
    (change,) = json_changes(data, "order_lookup", 2)
    assert change["kind"] == "tool_arguments_changed"
    assert change["fields"] == [
        {"path": "email", "change": "changed", "old": "ana@example.com", "new": "ana@example.org"},
        {"path": "include_closed", "change": "added", "old": None, "new": True},
    ]


def test_calls_are_matched_by_name_and_position_not_by_alias(repo: GoldenRepo) -> None:
    """A call added before get_order shifts every call-N/item-N alias after it; get_order itself
    is unchanged and must not be reported, and only the new call shows."""
    turns = order_lookup_turns()
    turns[1]["calls"].insert(0, ("lookup_customer", {"email": "ana@example.com"}, {"id": 7}))
    repo.write("order_lookup", turns)
    _, markdown, data = diff(repo)

    assert kinds(json_changes(data, "order_lookup", 2)) == ["tool_call_added"]
    assert [d["status"] for d in data["dialogues"]] == ["unchanged", "changed"]
    entry = next(d for d in data["dialogues"] if d["name"] == "order_lookup")
    assert [t["turn"] for t in entry["turns"]] == [2]  # turn 3's shifted aliases are no change
    assert "get_order" not in markdown


def test_two_calls_of_one_tool_are_matched_in_order(repo: GoldenRepo) -> None:
    turns = order_lookup_turns()
    turns[2]["calls"] = [
        ("get_order", {"order_id": "ORD-1001"}, ORDER),
        ("get_order", {"order_id": "ORD-1002"}, {**ORDER, "order_id": "ORD-1002"}),
    ]
    repo.write("order_lookup", turns)
    repo.commit("Two orders")
    turns[2]["calls"][1] = (
        "get_order",
        {"order_id": "ORD-1003"},
        {**ORDER, "order_id": "ORD-1003"},
    )
    repo.write("order_lookup", turns)
    _, markdown, data = diff(repo)

    section = turn_section(markdown, "order_lookup", 3)
    assert "- `get_order` #2 arguments:" in section and "#1" not in section
    changes = json_changes(data, "order_lookup", 3)
    assert kinds(changes) == ["tool_arguments_changed", "tool_output_changed"]
    assert {c["occurrence"] for c in changes} == {2}


def test_tool_order_changed(repo: GoldenRepo) -> None:
    turns = order_lookup_turns()
    turns[2]["calls"].append(("get_shipping", {"order_id": "ORD-1001"}, {"carrier": "DHL"}))
    repo.write("order_lookup", turns)
    repo.commit("Shipping lookup")
    turns[2]["calls"].reverse()
    repo.write("order_lookup", turns)
    _, markdown, data = diff(repo)

    assert "- tool call order: `get_order #1`, `get_shipping #1` → `get_shipping #1`, " in (
        turn_section(markdown, "order_lookup", 3)
    )
    (change,) = json_changes(data, "order_lookup", 3)
    assert change == {
        "category": "other",  # no calls_in_order: parallel calls may come back in any order
        "kind": "tool_order_changed",
        "old": ["get_order #1", "get_shipping #1"],
        "new": ["get_shipping #1", "get_order #1"],
    }


def test_reordered_json_arguments_are_no_change(repo: GoldenRepo) -> None:
    turns = order_lookup_turns()
    turns[1]["calls"] = [("get_customer_orders", '{ "email" :  "ana@example.com" }', CUSTOMER)]
    repo.write("order_lookup", turns)
    report, _, data = diff(repo)
    assert not report.changed
    (entry,) = [d for d in data["dialogues"] if d["name"] == "order_lookup"]
    assert FORMATTING_ONLY_NOTE in entry["notes"]


def test_json_output_changed(repo: GoldenRepo) -> None:
    turns = order_lookup_turns()
    turns[2]["calls"] = [("get_order", {"order_id": "ORD-1001"}, {**ORDER, "status": "delivered"})]
    repo.write("order_lookup", turns)
    _, markdown, data = diff(repo)

    section = turn_section(markdown, "order_lookup", 3)
    assert '- `get_order` #1 output:\n  - `status`: `"shipped"` → `"delivered"`' in section
    (change,) = json_changes(data, "order_lookup", 3)
    assert change["kind"] == "tool_output_changed" and change["format"] == "json"
    assert change["fields"] == [
        {"path": "status", "change": "changed", "old": "shipped", "new": "delivered"}
    ]


def test_long_text_output_change_is_shortened(repo: GoldenRepo) -> None:
    filler = " ".join(f"word{i}" for i in range(300))
    turns = order_lookup_turns()
    turns[2]["calls"] = [
        ("get_order", {"order_id": "ORD-1001"}, f"{filler} status: shipped. {filler}")
    ]
    repo.write("order_lookup", turns)
    repo.commit("Text output")
    turns[2]["calls"] = [
        ("get_order", {"order_id": "ORD-1001"}, f"{filler} status: delivered. {filler}")
    ]
    repo.write("order_lookup", turns)
    _, markdown, data = diff(repo)

    (line,) = [x for x in turn_section(markdown, "order_lookup", 3).splitlines() if "output:" in x]
    assert "~~shipped.~~ **delivered.**" in line
    assert line.count("…") == 2 and len(line) < 300
    (change,) = json_changes(data, "order_lookup", 3)
    assert change["format"] == "text"
    assert [s["op"] for s in change["text_diff"]] == [
        "elided",
        "equal",
        "delete",
        "insert",
        "equal",
        "elided",
    ]


def test_tool_status_changed(repo: GoldenRepo) -> None:
    turns = order_lookup_turns()
    turns[2]["output_status"] = "incomplete"
    repo.write("order_lookup", turns)
    _, markdown, data = diff(repo)
    assert "- `get_order` #1 output status: `completed` → `incomplete`" in turn_section(
        markdown, "order_lookup", 3
    )
    (change,) = json_changes(data, "order_lookup", 3)
    assert change["kind"] == "tool_status_changed" and change["item"] == "output"


def test_reply_changed_is_an_inline_word_diff(repo: GoldenRepo) -> None:
    turns = order_lookup_turns()
    turns[2]["reply"] = "Your order ORD-1001 was delivered on 2 May."
    repo.write("order_lookup", turns)
    _, markdown, data = diff(repo)

    section = turn_section(markdown, "order_lookup", 3)
    assert (
        "- reply:\n  > Your order ORD-1001 ~~is shipped and should arrive~~ **was delivered** "
        "on 2 May." in section
    )
    (change,) = json_changes(data, "order_lookup", 3)
    assert change["kind"] == "reply_changed"
    assert change["new"] == "Your order ORD-1001 was delivered on 2 May."
    assert {"op": "insert", "text": "was delivered"} in change["word_diff"]


def test_usage_beyond_threshold(repo: GoldenRepo) -> None:
    turns = order_lookup_turns()
    turns[1]["usage"] = (300, 23)  # prompt +25%, completion +4.5%
    repo.write("order_lookup", turns)
    _, markdown, data = diff(repo)

    assert "- usage: `num_prompt_tokens` 240 → 300 (+25%)" in turn_section(
        markdown, "order_lookup", 2
    )
    assert "num_completion_tokens" not in markdown
    (change,) = json_changes(data, "order_lookup", 2)
    assert change == {
        "category": "usage",
        "kind": "usage_changed",
        "field": "num_prompt_tokens",
        "old": 240,
        "new": 300,
        "change_percent": 25.0,
    }
    _, markdown, _ = diff(repo, usage_threshold_percent=4)
    assert "- usage: `num_completion_tokens` 22 → 23 (+4.5%)" in markdown


def test_usage_within_threshold_is_no_change_but_noted(repo: GoldenRepo) -> None:
    turns = order_lookup_turns()
    turns[1]["usage"] = (250, 22)  # +4.2%
    repo.write("order_lookup", turns)
    report, markdown, data = diff(repo)

    assert not report.changed
    assert markdown.startswith("No golden changes")
    entry = next(d for d in data["dialogues"] if d["name"] == "order_lookup")
    assert entry["notes"] == ["token usage moved within the ±10% threshold in turn 2"]


def test_turn_count_changed(repo: GoldenRepo) -> None:
    turns = order_lookup_turns()
    turns.append({"user": "Thanks!", "reply": "You're welcome, Ana!", "usage": (350, 8)})
    repo.write("order_lookup", turns)
    _, markdown, data = diff(repo)

    assert "**Turn count: 3 → 4.**" in markdown
    section = turn_section(markdown, "order_lookup", 4)
    assert section.startswith("**Turn 4** (added)")
    assert "- user: Thanks!" in section and "- tools: none" in section
    entry = next(d for d in data["dialogues"] if d["name"] == "order_lookup")
    assert entry["changes"] == [
        {"category": "behaviour", "kind": "turn_count_changed", "old": 3, "new": 4}
    ]
    assert entry["turns"] == [
        {
            "turn": 4,
            "status": "added",
            "summary": {"user": "Thanks!", "tools": [], "reply": "You're welcome, Ana!"},
            "changes": [],
        }
    ]

    repo.write("order_lookup", order_lookup_turns()[:2])
    _, markdown, data = diff(repo)
    assert "**Turn count: 3 → 2.**" in markdown
    assert turn_section(markdown, "order_lookup", 3).startswith("**Turn 3** (removed)")


def test_user_script_changed(repo: GoldenRepo) -> None:
    turns = order_lookup_turns()
    turns[1]["user"] = "My email is ana.lopez@example.com"
    repo.write("order_lookup", turns)
    _, markdown, data = diff(repo)

    # E-mail addresses go in code spans: GitHub would turn them into mailto: links.
    assert "- user: My email is ~~`ana@example.com`~~ **`ana.lopez@example.com`**" in turn_section(
        markdown, "order_lookup", 2
    )
    (change,) = json_changes(data, "order_lookup", 2)
    assert change["kind"] == "user_changed"
    assert change["old"] == "My email is ana@example.com"


def test_snapshot_out_of_step_with_script_is_noted(repo: GoldenRepo) -> None:
    """The script's user turn changed but the snapshot was not re-recorded."""
    script_path = repo.root / "goldens/dialogues/order_lookup.yaml"
    script = yaml.safe_load(script_path.read_text())
    script["turns"][1]["user"] = "My email is ana.lopez@example.com"
    script_path.write_text(yaml.safe_dump(script, sort_keys=False))
    _, markdown, data = diff(repo)

    assert kinds(json_changes(data, "order_lookup", 2)) == ["user_changed"]
    note = (
        "turn 2: the snapshot was recorded for another user message than the script has: "
        "re-record it"
    )
    assert next(d for d in data["dialogues"] if d["name"] == "order_lookup")["notes"] == [note]
    assert f"> Note: {note}" in markdown


def test_items_without_type_keys_are_read_by_shape(repo: GoldenRepo) -> None:
    """latticeflow's models dump without unset fields, so `type` may be missing."""
    snapshot_path = repo.root / "goldens/snapshots/order_lookup.json"
    snapshot = json.loads(snapshot_path.read_text())
    for turn in snapshot["turns"]:
        for item in turn["output"]["items"]:
            del item["type"]
    snapshot["turns"][2]["output"]["items"][2]["content"][0]["text"] = "Shipped."
    snapshot_path.write_text(json.dumps(snapshot, indent=2))
    _, _, data = diff(repo)

    entry = next(d for d in data["dialogues"] if d["name"] == "order_lookup")
    assert [(t["turn"], kinds(t["changes"])) for t in entry["turns"]] == [(3, ["reply_changed"])]


def test_expect_and_settings_changed(repo: GoldenRepo) -> None:
    turns = order_lookup_turns()
    turns[1]["expect"] = {"tools": ["get_customer_orders"], "reply_contains": ["ORD-1001", "Ana"]}
    repo.write("order_lookup", turns, description="Order lookup, email first.")
    _, markdown, data = diff(repo)

    assert '- expect:\n  - `reply_contains[1]` added: `"Ana"`' in turn_section(
        markdown, "order_lookup", 2
    )
    assert "- dialogue settings:\n  - `description`:" in markdown
    assert kinds(json_changes(data, "order_lookup", 2)) == ["expect_changed"]
    entry = next(d for d in data["dialogues"] if d["name"] == "order_lookup")
    assert entry["changes"][0]["kind"] == "script_settings_changed"


def test_conversation_id_change_is_reported(repo: GoldenRepo) -> None:
    """A new conversation in turn 3 means the conversation was lost: it must not go unseen."""
    turns = order_lookup_turns()
    turns[2]["conversation"] = "conversation-2"
    repo.write("order_lookup", turns)
    _, markdown, data = diff(repo)

    section = turn_section(markdown, "order_lookup", 3)
    assert '- message 1:\n  - `conversation_id`: `"conversation-1"` → `"conversation-2"`' in section
    (change,) = json_changes(data, "order_lookup", 3)
    assert change["kind"] == "trace_changed" and change["subject"] == "message 1"


def test_only_cassette_changed_is_noted(repo: GoldenRepo) -> None:
    repo.write("order_lookup", order_lookup_turns(), recorded="2")
    report, markdown, data = diff(repo)

    assert report.changed
    assert "| cassette only | 1 |" in markdown
    assert "### Cassette changed, goldens unchanged" in markdown
    assert "- `order_lookup`: its cassette changed but its snapshot" in markdown
    entry = next(d for d in data["dialogues"] if d["name"] == "order_lookup")
    assert (entry["status"], entry["cassette"], entry["turns"]) == ("cassette_only", "changed", [])


def test_a_yaml_cassette_rewritten_as_json_with_the_same_data_is_no_change(
    repo: GoldenRepo,
) -> None:
    # Base: the cassette as versions before JSON cassettes wrote it; head: the same data as JSON.
    json_path = repo.root / "cassettes/order_lookup.json"
    data = json.loads(json_path.read_text(encoding="utf-8"))
    repo.git("rm", "--quiet", "cassettes/order_lookup.json")
    repo.write_file("cassettes/order_lookup.yaml", yaml.safe_dump(data, sort_keys=False))
    repo.commit("Goldens as an older version wrote them")
    repo.git("rm", "--quiet", "cassettes/order_lookup.yaml")
    repo.write_file("cassettes/order_lookup.json", json.dumps(data, indent=2))

    report, markdown, _ = diff(repo)
    assert not report.changed, markdown
    entry = next(d for d in report.dialogues if d.name == "order_lookup")
    assert (entry.status, entry.cassette) == ("unchanged", "unchanged")

    # A real change made along with the rewrite still shows.
    data["interactions"][0]["response"]["body"]["id"] = "resp_other"
    repo.write_file("cassettes/order_lookup.json", json.dumps(data, indent=2))
    report, markdown, _ = diff(repo)
    assert "- `order_lookup`: its cassette changed but its snapshot" in markdown


def test_new_expectation_digests_alone_are_no_change(repo: GoldenRepo) -> None:
    # Re-recorded after an upgrade of the checks: the same traffic, new digests of what held.
    path = repo.root / "cassettes/order_lookup.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["metadata"] = {"expectations_held": ["blake2b:" + "0" * 32] * 3}
    repo.write_file("cassettes/order_lookup.json", json.dumps(data, indent=2))

    report, markdown, _ = diff(repo)
    assert not report.changed, markdown
    entry = next(d for d in report.dialogues if d.name == "order_lookup")
    assert (entry.status, entry.cassette) == ("unchanged", "unchanged")


def test_cassette_status_of_a_changed_dialogue(repo: GoldenRepo) -> None:
    turns = order_lookup_turns()
    turns.append({"user": "Thanks!", "reply": "You're welcome!", "usage": (350, 8)})
    repo.write("order_lookup", turns)
    _, markdown, _ = diff(repo)
    assert "Cassette: re-recorded (4 → 5 requests)." in markdown

    repo.write("order_lookup", order_lookup_turns())
    snapshot_path = repo.root / "goldens/snapshots/order_lookup.json"
    snapshot = json.loads(snapshot_path.read_text())
    snapshot["turns"][0]["output"]["items"][0]["content"][0]["text"] = "Hi! Your email, please?"
    snapshot_path.write_text(json.dumps(snapshot, indent=2))
    _, markdown, _ = diff(repo)
    assert "Cassette: unchanged." in markdown


def test_dialogues_added_and_removed(repo: GoldenRepo) -> None:
    repo.remove("greeting")
    repo.write(
        "refund",
        [
            {
                "user": "I want a refund for ORD-1001",
                "calls": [("create_refund", {"order_id": "ORD-1001"}, {"refund_id": "RF-1"})],
                "reply": "Refund RF-1 is on its way.",
                "usage": (210, 12),
            }
        ],
        description="Refund request.",
    )
    report, markdown, data = diff(repo)

    assert report.summary.model_dump() == {
        "added": 1,
        "removed": 1,
        "changed": 0,
        "cassette_only": 0,
        "unchanged": 1,
    }
    assert "| added | 1 |" in markdown and "| removed | 1 |" in markdown
    assert "### `refund`: added (1 turn, 2 recorded requests)" in markdown
    assert "- tools: `create_refund`" in turn_section(markdown, "refund", 1)
    assert "- `greeting` (1 turn): its script, snapshot and cassette were deleted" in markdown
    statuses = {d["name"]: d["status"] for d in data["dialogues"]}
    assert statuses == {"greeting": "removed", "order_lookup": "unchanged", "refund": "added"}


def test_markdown_in_replies_is_escaped(repo: GoldenRepo) -> None:
    turns = order_lookup_turns()
    turns[0]["reply"] = "Use *bold* | <b>html</b>\nSecond line"
    repo.write("order_lookup", turns)
    _, markdown, _ = diff(repo)
    section = turn_section(markdown, "order_lookup", 1)
    assert "**Use \\*bold\\* \\| \\<b\\>html\\</b\\>**\n  > **Second line**\n" in section


def test_summary_table_comes_first(repo: GoldenRepo) -> None:
    turns = order_lookup_turns()
    turns[2]["reply"] = "Delivered."
    repo.write("order_lookup", turns)
    _, markdown, _ = diff(repo)
    lines = markdown.splitlines()
    assert lines[0].startswith("## Golden diff: `HEAD` (") and lines[0].endswith(
        "→ the working tree"
    )
    assert lines[2:9] == [
        "| Dialogues | Count |",
        "| --- | ---: |",
        "| added | 0 |",
        "| removed | 0 |",
        "| changed | 1 |",
        "| cassette only | 0 |",
        "| unchanged | 1 |",
    ]


# -- revisions ------------------------------------------------------------------------------------


def test_between_two_commits_and_default_merge_base(repo: GoldenRepo) -> None:
    base = repo.git("rev-parse", "HEAD")
    repo.git("checkout", "--quiet", "-b", "feature")
    turns = order_lookup_turns()
    turns[2]["reply"] = "It was delivered."
    repo.write("order_lookup", turns)
    head = repo.commit("Change reply")
    repo.git("checkout", "--quiet", "main")
    repo.write("greeting", [{"user": "Hello!", "reply": "Hi there!", "usage": (120, 9)}])
    repo.commit("Change greeting on main")
    repo.git("checkout", "--quiet", "feature")

    report = diff_goldens(repo.root, base="main", head="feature")
    assert {d.name for d in report.dialogues if d.status == "changed"} == {
        "greeting",
        "order_lookup",
    }
    # Default base: the merge base with main, so main's own later change does not show.
    report = diff_goldens(repo.root)
    assert report.base.commit == base and report.head.commit is None
    assert report.base.label == "the merge base of main and HEAD"
    assert [d.name for d in report.dialogues if d.status == "changed"] == ["order_lookup"]
    report = diff_goldens(repo.root, head="feature")
    assert report.head.commit == head


def test_working_tree_includes_uncommitted_new_dialogue(repo: GoldenRepo) -> None:
    repo.write("refund", [{"user": "Refund?", "reply": "Sure.", "usage": (1, 1)}])
    report, _, _ = diff(repo)
    assert report.summary.added == 1


# -- errors ---------------------------------------------------------------------------------------


def test_bad_ref_names_the_ref(repo: GoldenRepo) -> None:
    with pytest.raises(
        GoldenDiffError, match=r"bad git revision 'no-such-branch': it names no commit"
    ):
        diff_goldens(repo.root, base="no-such-branch")
    with pytest.raises(GoldenDiffError, match=r"bad git revision '--output=x'"):
        diff_goldens(repo.root, head="--output=x")


def test_unparsable_snapshot_names_ref_and_path(repo: GoldenRepo) -> None:
    repo.write_file(
        "goldens/snapshots/order_lookup.json", '{"dialogue": "order_lookup", "turns": ['
    )
    repo.commit("Broken snapshot")
    repo.git("tag", "broken")
    with pytest.raises(GoldenDiffError) as error:
        diff_goldens(repo.root, base="HEAD~1", head="broken")
    assert str(error.value).startswith(
        "unparsable snapshot goldens/snapshots/order_lookup.json at broken: "
    )


def test_snapshot_in_the_wrong_shape_names_the_problem(repo: GoldenRepo) -> None:
    repo.write_file("goldens/snapshots/greeting.json", '{"dialogue": "greeting", "turns": [{}]}')
    with pytest.raises(GoldenDiffError) as error:
        diff_goldens(repo.root, base="HEAD")
    message = str(error.value)
    assert "goldens/snapshots/greeting.json at the working tree" in message
    assert "turns.0.turn: Field required" in message


def test_missing_file_names_ref_and_path(repo: GoldenRepo) -> None:
    (repo.root / "goldens/snapshots/greeting.json").unlink()
    with pytest.raises(GoldenDiffError) as error:
        diff_goldens(repo.root, base="HEAD")
    assert str(error.value).startswith(
        "goldens/snapshots/greeting.json is missing at the working tree, but "
        "goldens/dialogues/greeting.yaml, cassettes/greeting.json exist there"
    )
    repo.commit("Lose a snapshot")
    with pytest.raises(GoldenDiffError, match=r"greeting\.json is missing at HEAD,"):
        diff_goldens(repo.root, base="HEAD~1", head="HEAD")


def test_a_script_not_recorded_yet_is_listed_not_an_error(repo: GoldenRepo) -> None:
    """Scripts are often committed before their first recording; that base must still diff."""
    repo.write_file("goldens/dialogues/refund.yaml", "name: refund\nturns:\n  - user: Refund?\n")
    repo.commit("Script a refund dialogue")
    _, markdown, data = diff(repo, base="HEAD")
    assert markdown == (
        f"No golden changes between `HEAD` ({repo.git('rev-parse', '--short=7', 'HEAD')}) and "
        "the working tree. Not recorded yet (a script without snapshot and cassette): `refund`.\n"
    )
    assert data["head"]["unrecorded"] == ["refund"] and not data["changed"]

    repo.write("refund", [{"user": "Refund?", "reply": "Sure.", "usage": (90, 3)}])
    report, markdown, _ = diff(repo, base="HEAD")
    assert report.summary.added == 1 and report.base.unrecorded == ["refund"]
    assert "### `refund`: added (1 turn, 2 recorded requests)" in markdown

    repo.write_file("goldens/dialogues/broken.yaml", "turns: [")
    with pytest.raises(
        GoldenDiffError, match=r"unparsable dialogue goldens/dialogues/broken\.yaml"
    ):
        diff(repo, base="HEAD")


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(GoldenDiffError, match="is not inside a git repository"):
        diff_goldens(tmp_path)


def test_no_main_branch_for_the_default_base(repo: GoldenRepo) -> None:
    repo.git("branch", "--move", "main", "trunk")
    with pytest.raises(GoldenDiffError, match=r"no default branch to compare .*pass --base REF"):
        diff_goldens(repo.root)


# -- the JSON schema ------------------------------------------------------------------------------


def test_json_report_follows_its_schema(repo: GoldenRepo) -> None:
    turns = order_lookup_turns()
    turns[1]["calls"] = [("get_customer_orders", {"email": "x@example.com"}, "not json")]
    turns[2]["reply"] = "Delivered."
    turns[2]["usage"] = (500, 50)
    turns.append({"user": "Thanks", "reply": "Bye", "usage": (1, 1)})
    repo.write("order_lookup", turns, recorded="2")
    repo.remove("greeting")
    _, _, data = diff(repo)

    jsonschema.validate(data, json_schema())
    assert data["schema_version"] == 1
    assert list(data) == [
        "schema_version",
        "base",
        "head",
        "usage_threshold_percent",
        "changed",
        "behaviour_changed",
        "summary",
        "dialogues",
    ]
    assert GoldenDiffReport.model_validate(data).model_dump(mode="json") == data


# -- pieces ---------------------------------------------------------------------------------------


def test_word_diff_and_elide() -> None:
    segments = word_diff("a b c d", "a x y d")
    assert [(s.op, s.text) for s in segments] == [
        ("equal", "a "),
        ("delete", "b c"),
        ("insert", "x y"),
        ("equal", " d"),
    ]
    long = " ".join(f"w{i}" for i in range(50))
    elided = elide(word_diff(long + " old", long + " new"), context_words=3)
    assert [(s.op, s.text) for s in elided] == [
        ("elided", "…"),
        ("equal", " w47 w48 w49 "),
        ("delete", "old"),
        ("insert", "new"),
    ]


@pytest.mark.parametrize(("text", "value"), [("10%", 10.0), ("2.5", 2.5), ("0", 0.0)])
def test_parse_threshold(text: str, value: float) -> None:
    assert parse_threshold(text) == value


@pytest.mark.parametrize("text", ["-1%", "ten", "nan"])
def test_parse_threshold_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_threshold(text)


# -- the script, end to end -----------------------------------------------------------------------


def run_script(repo: GoldenRepo, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--repo", str(repo.root), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_script_end_to_end(repo: GoldenRepo) -> None:
    completed = run_script(repo, "--base", "HEAD", "--fail-on-change")
    assert (completed.returncode, completed.stderr) == (0, "")
    assert completed.stdout.startswith("No golden changes between `HEAD`")
    assert len(completed.stdout.splitlines()) == 1

    turns = order_lookup_turns()
    turns[2]["reply"] = "Delivered."
    repo.write("order_lookup", turns)
    completed = run_script(repo, "--base", "HEAD")
    assert completed.returncode == 0
    assert "<summary><code>order_lookup</code>: wording, reply similarity" in completed.stdout
    completed = run_script(repo, "--base", "HEAD", "--fail-on-change", "--format", "json")
    assert completed.returncode == 1
    data = json.loads(completed.stdout)
    assert kinds(json_changes(data, "order_lookup", 3)) == ["reply_changed"]


def test_script_default_base_is_the_merge_base_with_main(repo: GoldenRepo) -> None:
    repo.git("checkout", "--quiet", "-b", "feature")
    repo.write("greeting", [{"user": "Hello!", "reply": "Hi!", "usage": (120, 9)}])
    repo.commit("Shorter greeting")
    completed = run_script(repo, "--usage-threshold", "5%")
    assert completed.returncode == 0
    assert "<summary><code>greeting</code>: wording" in completed.stdout
    assert "the merge base of main and HEAD" in completed.stdout


def shorter_greeting_on_a_feature_branch(repo: GoldenRepo) -> None:
    repo.git("checkout", "--quiet", "-b", "feature")
    repo.write("greeting", [{"user": "Hello!", "reply": "Hi!", "usage": (120, 9)}])
    repo.commit("Shorter greeting")


def run_command(repo: GoldenRepo, *args: str) -> subprocess.CompletedProcess[str]:
    """`foundry-goldens diff` as the installed command runs it (python -m foundry_goldens)."""
    return subprocess.run(
        [sys.executable, "-m", "foundry_goldens", "diff", "--repo", str(repo.root), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_default_base_in_a_repository_whose_default_branch_is_master(repo: GoldenRepo) -> None:
    repo.git("branch", "--move", "main", "master")  # as `git init` makes it on many machines
    shorter_greeting_on_a_feature_branch(repo)
    for completed in (run_command(repo), run_script(repo)):
        assert completed.returncode == 0, completed.stderr
        assert "the merge base of master and HEAD" in completed.stdout
        assert "<summary><code>greeting</code>: wording" in completed.stdout


def test_default_base_is_the_remotes_default_branch(repo: GoldenRepo, tmp_path: Path) -> None:
    repo.git("branch", "--move", "main", "trunk")
    clone = GoldenRepo.__new__(GoldenRepo)
    clone.root = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(repo.root), str(clone.root)], check=True)
    for key, value in (("user.name", "Golden Tester"), ("user.email", "golden@example.com")):
        clone.git("config", key, value)
    assert clone.git("symbolic-ref", "refs/remotes/origin/HEAD") == "refs/remotes/origin/trunk"
    shorter_greeting_on_a_feature_branch(clone)
    # A local `main` that is not the remote's default: origin/HEAD wins over the fallbacks.
    clone.git("branch", "main", "feature")
    completed = run_command(clone)
    assert completed.returncode == 0, completed.stderr
    assert "the merge base of origin/trunk and HEAD" in completed.stdout
    assert "<summary><code>greeting</code>: wording" in completed.stdout


def test_without_a_default_branch_the_error_says_to_pass_base(repo: GoldenRepo) -> None:
    repo.git("branch", "--move", "main", "develop")
    completed = run_command(repo)
    assert completed.returncode == 2 and completed.stdout == ""
    assert completed.stderr.startswith(
        "foundry-goldens diff: error: no default branch to compare with in "
    )
    assert "origin/HEAD is not set and there is no branch main, origin/main, master or " in (
        completed.stderr
    )
    assert "pass --base REF" in completed.stderr
    assert run_command(repo, "--base", "develop").returncode == 0


def test_errors_name_the_command_whichever_way_it_is_run(repo: GoldenRepo) -> None:
    """One name, as argparse's own errors give it: scripts/golden_diff.py is that command."""
    for run in (run_command, run_script):
        bad_ref = run(repo, "--base", "no-such-ref")
        bad_option = run(repo, "--usage-threshold", "lots")
        for completed in (bad_ref, bad_option):
            assert completed.returncode == 2
            assert completed.stderr.splitlines()[-1].startswith("foundry-goldens diff: error: ")
            assert "golden_diff" not in completed.stderr


def test_script_errors_exit_2_without_traceback(repo: GoldenRepo) -> None:
    completed = run_script(repo, "--base", "no-such-ref")
    assert completed.returncode == 2 and completed.stdout == ""
    assert completed.stderr == (
        f"foundry-goldens diff: error: bad git revision 'no-such-ref': it names no commit in "
        f"{repo.root} (check the spelling; in CI, fetch with fetch-depth: 0)\n"
    )
    repo.write_file("goldens/snapshots/greeting.json", "not json")
    completed = run_script(repo, "--base", "HEAD")
    assert completed.returncode == 2
    assert completed.stderr.startswith(
        "foundry-goldens diff: error: unparsable snapshot goldens/snapshots/greeting.json "
        "at the working tree:"
    )
    assert "Traceback" not in completed.stderr
    completed = run_script(repo, "--usage-threshold", "lots")
    assert completed.returncode == 2 and "expected a percentage" in completed.stderr


def test_script_help_runs_from_another_directory(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert completed.returncode == 0 and "--fail-on-change" in completed.stdout


def test_deep_copy_guard() -> None:
    """The shared fixture dictionaries are never mutated by a test."""
    assert copy.deepcopy(ORDER) == {
        "order_id": "ORD-1001",
        "status": "shipped",
        "eta": "2025-05-02",
        "items": 2,
    }


# -- behaviour, wording, usage ----------------------------------------------------------------


def test_behaviour_leads_and_wording_only_dialogues_collapse(repo: GoldenRepo) -> None:
    turns = order_lookup_turns()
    turns[1]["calls"] = []  # get_customer_orders no longer called: behaviour
    repo.write("order_lookup", turns)
    repo.write(
        "greeting", [{"user": "Hello!", "reply": "Hi there, how can I help?", "usage": (120, 9)}]
    )
    _, markdown, data = diff(repo)

    assert data["behaviour_changed"] == ["order_lookup"]
    behaviour = markdown.index("### `order_lookup`: behaviour changed in turn 2")
    collapsed = markdown.index("<summary><code>greeting</code>: wording, reply similarity")
    assert behaviour < collapsed
    section = turn_section(markdown, "order_lookup", 2)
    # The script still expects the call: its expectation is broken too, and shown first.
    assert section.index("**expectation broken**: expect.tools") < section.index(
        "tool call removed"
    )
    changes = json_changes(data, "order_lookup", 2)
    assert {c["kind"]: c["category"] for c in changes}["tool_call_removed"] == "behaviour"
    assert {c["kind"]: c["category"] for c in changes}["expectation_broken"] == "behaviour"
    (greeting,) = [d for d in data["dialogues"] if d["name"] == "greeting"]
    assert greeting["headline"] == "wording" and 0 < greeting["similarity"] < 1
