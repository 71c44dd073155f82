"""The OpenAI chat-completions wire format: request validation and response bodies.

Only what OncoGPT can honour is accepted: n=1, text content, no tools or logprobs. Unknown
fields are ignored (the official client sends some by default); fields we accept but cannot
act on (presence/frequency penalties, `user`) are validated and ignored; `cite: true` answers
from the knowledge base with checked citations.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from oncogpt.conversation import Conversation, Turn
from oncogpt.safety import DISCLAIMER, SafetyAssessment

#: OpenAI roles -> OncoGPT conversation roles ("developer" is OpenAI's new name for system).
ROLE_MAP = {"user": "patient", "assistant": "doctor", "system": "system", "developer": "system"}
#: Long histories cost quadratic rendering time when trimmed to the context; the web page
#: sends far fewer, so this only bounds what one request can make the server do.
MAX_MESSAGES = 128
MAX_STOP_SEQUENCES = 4


class APIError(Exception):
    """An error answered in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""

    def __init__(
        self,
        status: int,
        message: str,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = (
            status,
            message,
            type,
            param,
            code,
        )

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)


def error_body(
    message: str, type: str = "invalid_request_error", param: str | None = None, code=None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def _encodable(text: str) -> str:
    # JSON can carry lone surrogates ("\ud800"); tokenizers and UTF-8 output cannot.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("the text is not valid Unicode (it holds a lone surrogate)") from None
    return text


Text = Annotated[str, AfterValidator(_encodable)]


class _Lenient(BaseModel):
    # allow_inf_nan=False: JSON parsers accept NaN/Infinity and they would reach the sampler.
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


class TextPart(_Lenient):
    type: Literal["text"]
    text: Text


class ChatMessage(_Lenient):
    role: Literal["system", "developer", "user", "assistant"]
    content: Text | list[TextPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class StreamOptions(_Lenient):
    include_usage: bool = False


class _Generation(_Lenient):
    """The sampling fields chat and text completions share."""

    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=0, le=100_000)
    repetition_penalty: float | None = Field(None, ge=0.01, le=10)
    max_tokens: int | None = Field(None, ge=1, le=1_000_000)
    max_completion_tokens: int | None = Field(None, ge=1, le=1_000_000)
    seed: int | None = Field(None, ge=-(2**63), le=2**64 - 1)  # torch.manual_seed's range
    stop: Text | list[Text] | None = None
    n: int | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    user: Text | None = None

    @field_validator("n")
    @classmethod
    def _one_choice(cls, n: int | None) -> int | None:
        if n not in (None, 1):
            raise ValueError("only n=1 is supported")
        return n

    @field_validator("stop")
    @classmethod
    def _stop_sequences(cls, value: str | list[str] | None) -> str | list[str] | None:
        seqs = [value] if isinstance(value, str) else value or []
        if len(seqs) > MAX_STOP_SEQUENCES or any(not s for s in seqs):
            raise ValueError(f"stop takes up to {MAX_STOP_SEQUENCES} non-empty strings")
        return value

    def stop_sequences(self) -> tuple[str, ...]:
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())

    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatCompletionRequest(_Generation):
    model: Text
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    logprobs: bool | None = None
    tools: list[Any] | None = None
    cite: bool | None = None
    """Answer with citations: accepted, not acted on yet."""

    @field_validator("logprobs")
    @classmethod
    def _no_logprobs(cls, value: bool | None) -> bool | None:
        if value:
            raise ValueError("logprobs are not supported")
        return value

    @field_validator("tools")
    @classmethod
    def _no_tools(cls, value: list[Any] | None) -> list[Any] | None:
        if value:
            raise ValueError("tools are not supported")
        return value


class CompletionRequest(_Generation):
    """/v1/completions: the raw continuation of a prompt text (served with --raw-completions
    only, for front ends such as `oncogpt --backend` that apply the safety layer themselves)."""

    model: Text
    prompt: Text = Field(max_length=1_000_000)
    logprobs: int | None = None
    echo: bool = False

    @field_validator("logprobs")
    @classmethod
    def _no_logprobs(cls, value: int | None) -> int | None:
        if value is not None:
            raise ValueError("logprobs are not supported")
        return value

    @field_validator("echo")
    @classmethod
    def _no_echo(cls, value: bool) -> bool:
        if value:
            raise ValueError("echo is not supported")
        return value


def text_completion_body(
    cid: str, model: str, text: str, finish_reason: str | None, usage_: dict | None = None
) -> dict[str, Any]:
    """A text_completion object (or one streamed chunk of it)."""
    body: dict[str, Any] = {
        "id": cid,
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "text": text, "finish_reason": finish_reason, "logprobs": None}],
    }
    if usage_ is not None:
        body["usage"] = usage_
    return body


def to_conversation(messages: list[ChatMessage]) -> Conversation:
    """OpenAI messages -> Conversation. System messages join into the system prompt, repeated
    roles merge (OpenAI allows two user messages in a row), and leading assistant messages
    (a greeting a client showed) are dropped, since a conversation starts with the patient."""
    system = [m.text() for m in messages if ROLE_MAP[m.role] == "system"]
    turns: list[Turn] = []
    for m in messages:
        role = ROLE_MAP[m.role]
        if role == "system" or (role == "doctor" and not turns):
            continue
        if turns and turns[-1].role == role:
            turns[-1] = Turn(role, f"{turns[-1].text}\n\n{m.text()}")
        else:
            turns.append(Turn(role, m.text()))
    if not turns or turns[-1].role != "patient":
        raise APIError(400, "the last message must be from the user", param="messages")
    return Conversation(turns=tuple(turns), system="\n\n".join(system) if system else None)


def safety_info(assessment: SafetyAssessment) -> dict[str, Any]:
    """The `oncogpt` field: what the page needs for its red-flag banner and notice."""
    return {
        "urgency": assessment.urgency,
        "red_flag": assessment.red_flag,
        "red_flag_reasons": list(assessment.reasons),
        "crisis": assessment.harm is not None,
        "harm": assessment.harm,
        "disclaimer": DISCLAIMER,
    }


def new_completion_id(prefix: str = "chatcmpl") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def completion_body(
    cid: str, model: str, content: str, finish_reason: str, usage_: dict, info: dict
) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
        "usage": usage_,
        "oncogpt": info,
    }


def chunk_body(
    cid: str,
    model: str,
    delta: dict[str, Any] | None,
    finish_reason: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A chat.completion.chunk; delta None makes the usage-only chunk (no choices)."""
    choices = [] if delta is None else [
        {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
    ]  # fmt: skip
    return {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        **extra,
    }
