"""The JSON contracts of the generation agents (``qa_generator`` and ``kb_responder``).

The responder's tool loop is expressed in JSON (``action: search | answer``, plus
``web_search`` when the web search tool is enabled) rather than native tool calls, so it
works on every backend, including a small local model.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_QUERY_ACTIONS = ("search", "web_search")


DIFFICULTIES = ("easy", "medium", "hard")
# What a user wants with a question. A short closed list rather than free text: it keeps the
# generator's reply to one free-text field (the question gets the whole length budget of a
# small local model) and gives the export categories that can be counted.
INTENTS = ("fact", "how_to", "troubleshoot", "compare", "explain", "other")


# The docstring below is sent to the model as the schema's description. ``intent`` and
# ``difficulty`` default to None, so replies cached before they existed still parse; an
# unknown intent becomes "other" and an unknown difficulty None, never a failed question.
class QuestionReply(BaseModel):
    """What the question generator returns: the user's next message, what the user wants
    with it, and how hard it is to answer from the passages."""

    model_config = ConfigDict(extra="ignore")

    question: str = Field(description="The user's next message, in the conversation's language.")
    intent: Literal["fact", "how_to", "troubleshoot", "compare", "explain", "other"] | None = Field(
        default=None, description="What the user wants: a fact, how to do something, to fix a problem, "
                                  "to compare options, an explanation, or other.")
    difficulty: Literal["easy", "medium", "hard"] | None = Field(
        default=None, description="How hard the question is to answer from the passages.")

    @field_validator("intent", mode="before")
    @classmethod
    def _intent(cls, value: object) -> str | None:
        if value is None:
            return None
        text = "_".join(str(value).strip().lower().replace("-", " ").split())
        return text if text in INTENTS else "other"

    @field_validator("difficulty", mode="before")
    @classmethod
    def _difficulty(cls, value: object) -> str | None:
        text = value.strip().lower() if isinstance(value, str) else ""
        return text if text in DIFFICULTIES else None

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("question must not be empty")
        return value


class ResponderReply(BaseModel):
    """One step of the responder's tool loop: search the KB again, or answer."""

    model_config = ConfigDict(extra="ignore")

    action: Literal["search", "answer"] = Field(description="'search' to query the knowledge base, 'answer' to reply.")
    query: str | None = Field(default=None, description="The search query when action is 'search'.")
    answer: str | None = Field(default=None, description="The reply to the user when action is 'answer'.")
    cited_chunk_ids: list[str] = Field(default_factory=list, description="Ids of the snippets the answer relies on.")

    @model_validator(mode="after")
    def _complete(self) -> "ResponderReply":
        if self.action in _QUERY_ACTIONS and not (self.query or "").strip():
            raise ValueError(f"a '{self.action}' action needs a non-empty query")
        if self.action == "answer" and not (self.answer or "").strip():
            raise ValueError("an 'answer' action needs a non-empty answer")
        return self


# A separate class rather than a wider ResponderReply: while web search is off, the schema
# (and with it every request and cache key) stays exactly as it was. The docstring is sent
# to the model as the schema's description.
class WebResponderReply(ResponderReply):
    """One step of the responder's tool loop: search the knowledge base, search the web, or answer."""

    action: Literal["search", "web_search", "answer"] = Field(
        description="'search' to query the knowledge base, 'web_search' to search the web, 'answer' to reply."
    )
    query: str | None = Field(default=None, description="The search query when action is 'search' or 'web_search'.")


def responder_reply_model(web_search: bool) -> type[ResponderReply]:
    """The reply model of a non-final tool round: with the ``web_search`` action only when enabled."""
    return WebResponderReply if web_search else ResponderReply


class FinalAnswerReply(ResponderReply):
    """The responder's last tool round: no searches are left, so the schema allows only an answer.

    Putting it in the schema (not only in validation) lets grammar-constrained and strict
    structured-output backends produce a valid reply the first time.
    """

    action: Literal["answer"] = Field(
        description="Always 'answer': no search rounds are left.",
        json_schema_extra=lambda schema: _as_enum(schema),
    )


def _as_enum(schema: dict) -> None:
    """An enum rather than pydantic's ``const``: every structured-output server and grammar
    converter understands it."""
    schema["enum"] = [schema.pop("const", "answer")]
