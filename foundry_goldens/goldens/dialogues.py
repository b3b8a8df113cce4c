"""Golden conversation fixtures: `goldens/dialogues/<name>.yaml`, validated by pydantic.

A bad file is reported with the file and the field at fault (unknown key, empty turn,
duplicate name), so a user can fix it without reading a traceback.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from foundry_goldens.yamltext import UnsafeYamlError, load_yaml

# Matched whole (fullmatch): `$` would let a trailing newline through into a file name.
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]*")
# Goldens arrive in pull requests from strangers: a dialogue is a few kilobytes of scripted
# turns, so anything past this is refused before it is parsed.
MAX_DIALOGUE_BYTES = 1024 * 1024


class DialogueError(ValueError):
    """A dialogue file is missing, unreadable or invalid; the message names file and field."""


def read_limited(path: Path, limit: int, what: str) -> bytes:
    """The file's bytes; a file over `limit` is a ValueError naming it and the limit, raised
    after reading at most `limit + 1` bytes (a huge file or a device is never read whole)."""
    with path.open("rb") as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        raise ValueError(
            f"{path}: larger than the {_size(limit)} a {what} may have; refused unread"
        )
    return data


def _size(count: int) -> str:
    return f"{count // (1024 * 1024)} MiB" if count % (1024 * 1024) == 0 else f"{count} bytes"


class ToolCallExpectation(BaseModel):
    """A tool call a turn must make: `arguments` must equal the call's (as latticeflow-core's
    FunctionCallCoverage compares them), `arguments_include` only has to be a subset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="The tool (function) name.")
    arguments: dict[str, Any] | None = Field(
        default=None, description="The call's arguments, all of them, exactly."
    )
    arguments_include: dict[str, Any] | None = Field(
        default=None, description="Arguments the call must have (others may come along)."
    )


class ErrorExpectation(BaseModel):
    """The turn must fail with this Foundry error (the snippet raises `FoundryError`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str | None = Field(default=None, description="FoundryError.code, e.g. server_error")
    message_contains: str | None = Field(
        default=None, description="A substring of the error's message."
    )


ExpectedCall = str | ToolCallExpectation


def _check_patterns(values: list[str]) -> list[str]:
    for value in values:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"{value!r} is not a valid regular expression: {exc}") from None
    return values


class TurnExpectations(BaseModel):
    """What must hold for one turn: checked while recording, and on replay unless known to hold.

    Tool checks use latticeflow-core's agent scorers (goldens/expectations.py), so they mean
    what they mean in AI GO!.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    tools: list[str] = Field(default_factory=list, description="Tools that must be called.")
    calls: list[ExpectedCall] = Field(
        default_factory=list, description="Calls that must be made, in any order."
    )
    calls_in_order: list[ExpectedCall] = Field(
        default_factory=list,
        description="Calls that must be made in this order (other calls may come between); "
        "an order change of these tools is a behaviour change.",
    )
    tools_not_called: list[str] = Field(
        default_factory=list, description="Tools that must not be called."
    )
    reply_contains: list[str] = Field(
        default_factory=list, description="Substrings the reply must contain."
    )
    reply_not_contains: list[str] = Field(
        default_factory=list, description="Substrings the reply must not contain."
    )
    reply_matches: list[str] = Field(
        default_factory=list, description="Regular expressions the reply must match."
    )
    reply_not_matches: list[str] = Field(
        default_factory=list, description="Regular expressions the reply must not match."
    )
    tool_output_contains: dict[str, list[str]] = Field(
        default_factory=dict, description="tool -> regular expressions its output must match."
    )
    tool_output_not_contains: dict[str, list[str]] = Field(
        default_factory=dict, description="tool -> regular expressions no output of it matches."
    )
    refusal: bool | None = Field(default=None, description="The reply is (not) a refusal.")
    max_prompt_tokens: int | None = Field(
        default=None, ge=0, description="At most this many prompt tokens."
    )
    max_completion_tokens: int | None = Field(
        default=None, ge=0, description="At most this many completion tokens."
    )
    min_completion_tokens: int | None = Field(
        default=None, ge=0, description="At least this many completion tokens."
    )
    error: ErrorExpectation | None = Field(
        default=None, description="The turn fails with this error instead of replying."
    )

    @field_validator("reply_matches", "reply_not_matches")
    @classmethod
    def _valid_patterns(cls, value: list[str]) -> list[str]:
        return _check_patterns(value)

    @field_validator("tool_output_contains", "tool_output_not_contains")
    @classmethod
    def _valid_output_patterns(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for patterns in value.values():
            _check_patterns(patterns)
        return value

    @model_validator(mode="after")
    def _error_stands_alone(self) -> TurnExpectations:
        if self.error is not None:
            others = sorted(
                key for key in self.model_fields_set if key != "error" and getattr(self, key)
            )
            if others:
                raise ValueError(
                    f"a turn expected to fail has no reply or tool calls to check; "
                    f"remove {', '.join(others)} or the error"
                )
        return self

    @property
    def ordered_tools(self) -> list[str]:
        """Tools whose relative order is part of the turn's behaviour."""
        return [c if isinstance(c, str) else c.name for c in self.calls_in_order]


class Turn(BaseModel):
    """One scripted turn: what the user says, and what must hold for the agent's answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user: str = Field(description="What the user says in this turn (not empty).")
    expect: TurnExpectations = Field(
        default_factory=TurnExpectations,
        description="Optional checks of this turn; state behaviour and facts, not wording.",
    )

    @field_validator("user")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the user text is empty; write what the user says in this turn")
        return value


class Dialogue(BaseModel):
    """A golden dialogue, goldens/dialogues/<name>.yaml: scripted user turns recorded against
    the agent and replayed offline (`foundry-goldens schema` prints this file's JSON Schema)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        description="The file's stem, unique: lowercase letters, digits, '-' and '_'."
    )
    description: str = Field(default="", description="What the dialogue is about.")
    agent: str | None = Field(
        default=None, description="Agent to address; default AZURE_FOUNDRY_AGENT_NAME."
    )
    request_mode: Literal["echo", "rebuild", "aigo"] = Field(
        default="echo",
        description="How AI GO! builds each turn's request: `echo` repeats earlier replies as "
        "model_output_to_message made them (with conversation_id); `rebuild` rebuilds the chat "
        "from the trace with latticeflow-core's converters (text only); `aigo` is AI GO!'s "
        "multi_turn_solver: rebuilt from the trace after its system message (`system` "
        "required). A snippet whose run_inference takes `sample` gets the dialogue as one in "
        "every mode, as AI GO! passes its dataset row. Every mode is one conversation per "
        "dialogue.",
    )
    system: str | None = Field(
        default=None, description="A system message leading every request, as AI GO! sends it."
    )
    turns: list[Turn] = Field(min_length=1, description="The user turns, in order (one or more).")

    @field_validator("system")
    @classmethod
    def _system_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("the system message is empty; write it or leave `system` out")
        return value

    @model_validator(mode="after")
    def _aigo_opens_with_a_system_message(self) -> Dialogue:
        if self.request_mode == "aigo" and self.system is None:
            raise ValueError(
                "request_mode aigo builds requests as AI GO!'s multi_turn_solver, which opens "
                "with a system message: set `system:` (or use request_mode rebuild)"
            )
        return self

    @field_validator("agent")
    @classmethod
    def _agent_without_whitespace(cls, value: str | None) -> str | None:
        if value is not None and (not value or any(c.isspace() for c in value)):
            raise ValueError(
                f"{value!r} is not an agent name; write it without spaces or line breaks"
            )
        return value

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not NAME_PATTERN.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a valid dialogue name; "
                "use lowercase letters, digits, '-' and '_'"
            )
        return value


def _field_path(loc: tuple[int | str, ...]) -> str:
    """`('turns', 2, 'user')` -> `turns[2].user`, the way a YAML reader thinks of it."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def _unknown_key(loc: tuple[int | str, ...]) -> str:
    """The message for an unknown key at `loc`: the keys allowed there, the nearest first when
    it looks like a typo, and where every key is described (the wheel has no docs/)."""
    model: type[BaseModel] = Dialogue
    for part in loc[:-1]:  # walk to the model that refused the key
        field = model.model_fields.get(str(part))
        inner = field.annotation if field is not None else None
        candidates = [inner, *get_args(inner)]
        candidates += [arg for candidate in candidates for arg in get_args(candidate)]
        for candidate in candidates:
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                model = candidate
                break
    allowed = list(model.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return (
        f"unknown key; {hint}allowed here: {', '.join(allowed)}; every key is described in "
        'the README\'s "Dialogue files" and by `foundry-goldens schema`'
    )


def _describe(error: ValidationError, path: Path) -> str:
    lines = [f"{path}: invalid dialogue"]
    for detail in error.errors():
        loc = tuple(detail["loc"])
        where = _field_path(loc)
        message = detail["msg"]
        if detail["type"] == "extra_forbidden":
            message = _unknown_key(loc)
        elif detail["type"] == "missing":
            message = "required field is missing"
        if len(loc) > 1 and loc[0] == "turns" and isinstance(loc[1], int):
            message += f" (turn {loc[1] + 1})"  # people count turns from 1
        lines.append(f"  - {where}: {message}")
    return "\n".join(lines)


def load_dialogue(path: Path) -> Dialogue:
    try:
        raw = load_yaml(read_limited(path, MAX_DIALOGUE_BYTES, "dialogue file").decode("utf-8"))
    except FileNotFoundError:
        raise DialogueError(f"{path}: no such dialogue file") from None
    except IsADirectoryError:
        raise DialogueError(
            f"{path}: is a directory, not a dialogue file; rename or remove it"
        ) from None
    except UnicodeDecodeError as exc:
        raise DialogueError(
            f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8"
        ) from None
    except OSError as exc:
        raise DialogueError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    except UnsafeYamlError as exc:
        raise DialogueError(f"{path}: refused: {exc}") from None
    except yaml.YAMLError as exc:
        raise DialogueError(f"{path}: not valid YAML: {exc}") from None
    except ValueError as exc:  # over the size limit
        raise DialogueError(str(exc)) from None
    if not isinstance(raw, dict):
        raise DialogueError(f"{path}: expected a mapping with name, description and turns")
    try:
        dialogue = Dialogue.model_validate(raw)
    except ValidationError as exc:
        raise DialogueError(_describe(exc, path)) from None
    if dialogue.name != path.stem:
        raise DialogueError(
            f"{path}: name: {dialogue.name!r} does not match the file name; "
            f"rename the file to {dialogue.name}.yaml or set name: {path.stem}"
        )
    return dialogue


def load_dialogues(directory: Path, only: Iterable[str] = ()) -> list[Dialogue]:
    """All dialogues in `directory`, sorted by name; `only` restricts to the named ones.

    A missing or empty directory is an error: recording or replaying nothing is never meant.
    """
    if not directory.is_dir():
        raise DialogueError(
            f"{directory}: no such dialogue directory; pass --dialogues with the directory "
            "that holds the <name>.yaml files (default goldens/dialogues)"
        )
    paths = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))
    if not paths:
        raise DialogueError(f"{directory}: no dialogues (*.yaml) in this directory")
    dialogues: list[Dialogue] = []
    seen: dict[str, Path] = {}
    for path in paths:
        dialogue = load_dialogue(path)
        if dialogue.name in seen:
            raise DialogueError(
                f"{path}: name: duplicate dialogue name {dialogue.name!r}, "
                f"also used by {seen[dialogue.name]}"
            )
        seen[dialogue.name] = path
        dialogues.append(dialogue)
    wanted = list(only)
    unknown = sorted(set(wanted) - set(seen))
    if unknown:
        raise DialogueError(
            f"{directory}: no dialogue named {', '.join(unknown)}; "
            f"known: {', '.join(sorted(seen)) or '(none)'}"
        )
    if wanted:
        dialogues = [d for d in dialogues if d.name in wanted]
    return sorted(dialogues, key=lambda d: d.name)
