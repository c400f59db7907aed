"""The ``llm.chat`` action's input and output: messages, the request, usage, the answer.

:class:`ChatInput` checks a request (messages, a prompt template or a named prompt, an
``output_schema`` given as a pydantic model class or a JSON schema); :class:`ChatOutput`
is the answer with its tool calls, its :class:`Usage` and its cost.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from flowat_kernel.ai.structured import schema_of
from flowat_kernel.vault.handles import SecretHandle

__all__ = ["ChatInput", "ChatOutput", "Message", "Usage"]


class Message(BaseModel):
    """One chat message; extra fields (``name``, ``tool_calls``, ...) are passed on."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"] = Field(
        description="who speaks: system/developer instructions, the user, the model, a tool"
    )
    content: str | list[dict[str, Any]] | None = Field(
        default=None,
        description="the text, or content parts (text, image_url) for multimodal models",
    )
    tool_call_id: str | None = Field(
        default=None, description="for role 'tool': the id of the tool call answered"
    )


class ChatInput(BaseModel):
    """Input of ``llm.chat``."""

    base_url: str = Field(
        default="https://api.openai.com/v1",
        description="the API's base URL; /chat/completions is appended",
        pattern=r"^https?://",
    )
    api_key: SecretHandle | None = Field(
        default=None,
        description='flowat.secret("NAME") holding the API key; omit for servers without auth',
    )
    model: str = Field(min_length=1, description="model name, e.g. gpt-4o-mini")
    prompt: str | None = Field(
        default=None,
        description="a prompt template ({{ expression }} placeholders, FlowAt's expression "
        "language) rendered with `variables` and sent as the last user message",
    )
    prompt_name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="the name of a prompt template of the workflow (a `%%flowat prompt "
        "NAME` cell or prompts/NAME.md), captured into the version at publish; instead "
        "of `prompt`",
    )
    variables: dict[str, Any] = Field(default_factory=dict, description="values for `prompt`")
    messages: list[Message] = Field(
        default_factory=list,
        validate_default=True,
        description="the conversation so far, oldest first: {role, content} (or give prompt)",
    )
    temperature: float | None = Field(
        default=None, ge=0, le=2, description="sampling temperature; the server's default if unset"
    )
    max_tokens: int | None = Field(
        default=None, gt=0, description="most tokens to generate; the server's default if unset"
    )
    response_format: Literal["text", "json"] = Field(
        default="text",
        description="'json' asks for a JSON object (JSON mode) and parses it into `json`; "
        "the messages must mention JSON, as the OpenAI API requires",
    )
    tools: list[dict[str, Any]] | None = Field(
        default=None,
        description="tool definitions passed as they are ({type: function, function: {...}})",
    )
    tool_choice: str | dict[str, Any] | None = Field(
        default=None, description="'auto', 'none', 'required' or a specific tool; passed on"
    )
    timeout: float = Field(default=60.0, gt=0, description="seconds to wait for the answer")
    output_schema: dict[str, Any] | None = Field(
        default=None,
        description="a pydantic model class or JSON schema the answer must match; the "
        "parsed answer is `json`, and an invalid answer is sent back to be corrected",
    )
    output_retries: int = Field(
        default=2, ge=0, le=10, description="re-asks when the answer does not match output_schema"
    )
    price_in_per_million: float | None = Field(
        default=None, ge=0, description="USD per million prompt tokens, overriding the table"
    )
    price_out_per_million: float | None = Field(
        default=None, ge=0, description="USD per million completion tokens, overriding the table"
    )

    @field_validator("output_schema", mode="before")
    @classmethod
    def _schema(cls, value: Any) -> Any:
        return None if value is None else schema_of(value)

    @field_validator("messages")
    @classmethod
    def _something_to_say(cls, messages: list[Message], info: ValidationInfo) -> list[Message]:
        prompt, named = info.data.get("prompt"), info.data.get("prompt_name")
        if prompt is not None and named is not None:
            raise ValueError("give prompt (a template) or prompt_name (a named one), not both")
        if not messages and prompt is None and named is None:
            raise ValueError("give messages, a prompt or a prompt_name")
        return messages


class Usage(BaseModel):
    """Token counts as the server reports them."""

    prompt_tokens: int = Field(default=0, description="tokens in the request")
    completion_tokens: int = Field(default=0, description="tokens generated")
    total_tokens: int = Field(default=0, description="both together")


class ChatOutput(BaseModel):
    """Output of ``llm.chat``; serialised with the key ``json`` (attribute ``json_``)."""

    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)

    content: str = Field(description="the answer's text ('' when the model only calls tools)")
    json_: Any = Field(
        default=None,
        alias="json",
        description="the content parsed as JSON when response_format is 'json', else null",
    )
    tool_calls: list[dict[str, Any]] = Field(
        default_factory=list,
        description="tool calls the model asks for: {id, type, function: {name, arguments}}",
    )
    model: str = Field(description="the model that answered, as the server names it")
    finish_reason: str | None = Field(
        default=None, description="stop, length, tool_calls, content_filter, ..."
    )
    usage: Usage = Field(default_factory=Usage, description="token counts")
    cost_usd: float = Field(
        default=0.0, description="what the call cost from the price table; 0 when unknown"
    )
