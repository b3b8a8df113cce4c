"""The errors Foundry answers with, as exceptions the server renders with the call's request id.

Bodies as in tests/reference/errors.json and tests/reference/errors-v1.json (see
`payloads.error_body`); where no public body exists, the comment at the builder says the shape
is assumed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from foundry_goldens.emulator import outcomes, payloads
from foundry_goldens.emulator.engine import JsonObject
from foundry_goldens.emulator.ids import CONVERSATION_ID


class ApiError(Exception):
    """A request Foundry would refuse; the server renders it with the call's request id
    (`payload(request_id)`), as `payloads.error_body` describes."""

    def __init__(
        self,
        status: int,
        code: str | None,
        message: str,
        *,
        param: str | None = None,
        type: str | None = "invalid_request_error",
        details: Sequence[JsonObject] = (),
        extra: JsonObject | None = None,
        short: bool = False,
        tag_request_id: bool = False,
        body: JsonObject | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.type = type
        self.details = tuple(details)
        self.extra = extra
        self.short = short
        self.tag_request_id = tag_request_id
        self.body = body  # a body outside Foundry's error envelope, sent as it is

    def payload(self, request_id: str) -> JsonObject:
        if self.body is not None:
            return self.body
        message = self.message
        if self.tag_request_id:
            message += f" [Request ID: {request_id}]"
        return payloads.error_body(
            self.code,
            message,
            request_id,
            param=self.param,
            type=self.type,
            details=self.details,
            extra=self.extra,
            short=self.short,
        )


def bad_request(message: str, param: str | None = None) -> ApiError:
    # Foundry's code for a request body it cannot accept (tests/reference/errors.json).
    return ApiError(400, "invalid_payload", message, param=param, tag_request_id=True)


def not_found(message: str, param: str | None = None) -> ApiError:
    # Assumed: no public recording holds a Foundry 404 body; the envelope is invalid_payload's.
    return ApiError(404, "not_found", message, param=param, tag_request_id=True)


def refused_parameter(message: str, param: str) -> ApiError:
    """One parameter Foundry refuses, as it answers `tools` beside an agent
    (tests/reference/errors-v1.json): `invalid_payload`, the message, `param` naming the
    parameter, empty `details`, no request id in the message."""
    return ApiError(400, "invalid_payload", message, param=param)


# Model parameters an agent fixes itself; Foundry refuses them beside an agent.
AGENT_FIXED_PARAMETERS = ("temperature", "top_p", "tools", "response_format")
NOT_ALLOWED_WITH_AGENT = "Not allowed when agent is specified."


def rejected_parameters(body: Mapping[str, Any]) -> ApiError | None:
    """The deprecated `agent` key, or model parameters sent with an agent, as Foundry
    rejects them: one parameter in the error itself (tests/reference/errors-v1.json,
    `tools`), several as one `details` entry each under "Invalid payload"
    (tests/reference/errors.json, `temperature` and `top_p`)."""
    if "agent" in body:
        return ApiError(
            400,
            "invalid_payload",
            "The 'agent' property is deprecated. Use 'agent_reference' instead.",
            param="agent",
            tag_request_id=True,
        )
    offending = [name for name in AGENT_FIXED_PARAMETERS if body.get(name) is not None]
    if len(offending) == 1:
        return refused_parameter(NOT_ALLOWED_WITH_AGENT, offending[0])
    if offending:
        return ApiError(
            400,
            "invalid_payload",
            "Invalid payload",
            details=[
                payloads.validation_detail(name, NOT_ALLOWED_WITH_AGENT) for name in offending
            ],
        )
    return None


# A client function call left unanswered, or an answer to no call. Foundry passes the model
# service's own body through: message, type, param, code and nothing else, so no request id
# in the body (tests/reference/errors-v1.json; the request id is in the headers).


def _model_service_error(message: str) -> ApiError:
    body = {"message": message, "type": "invalid_request_error", "param": "input", "code": None}
    return ApiError(400, None, message, param="input", body={"error": body})


def missing_tool_output(call_id: str) -> ApiError:
    """A request in a conversation with a pending function call that does not answer it."""
    return _model_service_error(f"No tool output found for function call {call_id}.")


def unknown_tool_call(call_id: str) -> ApiError:
    """A `function_call_output` whose `call_id` no pending call has. Assumed for Foundry: the
    message and body are OpenAI's own (tests/reference/errors-v1.json), which Foundry passes
    through for the missing-output case."""
    return _model_service_error(
        f"No tool call found for function call output with call_id {call_id}."
    )


def check_conversation_id(conversation_id: str) -> None:
    """An id the service could not have minted is a 400, not a 404 (tests/reference/errors.json:
    the message is real; code, param and the rest of the body are assumed)."""
    if not CONVERSATION_ID.match(conversation_id):
        raise ApiError(
            400,
            "invalid_payload",
            f"Invalid conversation id '{conversation_id}', Malformed identifier.",
            param="conversation",
        )


def rate_limited(delay: float) -> ApiError:
    # Assumed: no public recording holds a 429 body from the agent service
    # (tests/reference/README.md); the envelope is that of its other errors.
    return ApiError(
        429,
        "rate_limit_exceeded",
        f"Rate limit is exceeded. Try again in {math.ceil(delay)} seconds.",
        type="rate_limit_error",
        tag_request_id=True,
    )


def server_error(message: str) -> ApiError:
    # Assumed, as the 429: the envelope of Foundry's other errors, with the request id.
    return ApiError(500, "server_error", message, type="server_error", tag_request_id=True)


# The resource's gateway checks the bearer token before the agent service sees the request
# (tests/reference/errors.json): its own body, not Foundry's `error` envelope, and no request id
# in it. Assumed for the project's /openai/v1 routes: the public bodies come from the same
# resource's other routes (its models endpoint, Azure OpenAI's deployments).
UNAUTHORIZED_MESSAGE = (
    "Unauthorized. Access token is missing, invalid, audience is incorrect "
    "(https://cognitiveservices.azure.com/ or https://ai.azure.com/), or have expired."
)


def unauthorized() -> ApiError:
    """No bearer token, or one the resource cannot accept. The token never appears in it."""
    return ApiError(
        401, None, UNAUTHORIZED_MESSAGE, body={"statusCode": 401, "message": UNAUTHORIZED_MESSAGE}
    )


def permission_denied(method: str, principal: str) -> ApiError:
    """Foundry's 401 for a valid token whose principal lacks the role (Azure AI User) that
    grants the agents data actions (tests/reference/errors.json: code and message only)."""
    action = "write" if method in ("POST", "PUT", "PATCH", "DELETE") else "read"
    message = (
        f"The principal `{principal}` lacks the required data action "
        f"`Microsoft.CognitiveServices/accounts/AIServices/agents/{action}` to perform "
        f"`{method} /api/projects/{{projectName}}/openai/*` operation. For "
        "instructions on granting the necessary permissions, see "
        "https://aka.ms/FoundryPermissions."
    )
    return ApiError(401, "PermissionDenied", message, short=True)


def prompt_blocked() -> ApiError:
    """A prompt the content filter rejects (tests/reference/content-filters.md, shape 3)."""
    return ApiError(
        400,
        "content_filter",
        outcomes.BLOCKED_PROMPT_MESSAGE,
        param="prompt",
        type=None,
        extra=outcomes.blocked_prompt_innererror(),
    )
