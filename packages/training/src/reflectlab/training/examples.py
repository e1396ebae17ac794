"""Training examples: chats whose last message is the assistant's target, or prompt/completion pairs.

Both forms are normalised to one :class:`TargetedChat` - the context messages and the assistant reply to learn -
which is exactly what ``Model.score(completions, contexts, placement="assistant")`` reads back, so a study can
measure what a trainer taught with the same prompt rendering.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reflectlab.core.errors import UserError

Message = Mapping[str, str]
Chat = Sequence[Message]
#: A chat (``[{"role": ..., "content": ...}, ...]``, the last message the assistant's target), or a mapping with
#: ``prompt`` (a string, taken as the user's message, or a list of messages) and ``completion`` (the assistant's
#: reply: a string, or a list holding one assistant message).
Example = Chat | Mapping[str, Any]

_ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class TargetedChat:
    """Context messages and the assistant reply to learn after them."""

    context: tuple[tuple[str, str], ...]
    target: str

    @property
    def messages(self) -> list[dict[str, str]]:
        """The context as a list of ``{"role", "content"}`` messages."""
        return [{"role": role, "content": content} for role, content in self.context]

    def to_json(self) -> dict[str, Any]:
        return {"context": [list(m) for m in self.context], "target": self.target}


def _message(value: Any, where: str) -> tuple[str, str]:
    if not isinstance(value, Mapping):
        raise UserError(f"{where}: a message must be a mapping with 'role' and 'content', got {type(value).__name__}")
    role, content = value.get("role"), value.get("content")
    if role not in _ROLES:
        raise UserError(f"{where}: message role must be one of {', '.join(_ROLES)}, got {role!r}")
    if not isinstance(content, str):
        raise UserError(f"{where}: message content must be a string, got {type(content).__name__}")
    return role, content


def _messages(value: Any, where: str) -> list[tuple[str, str]]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise UserError(f"{where}: expected a list of messages, got {type(value).__name__}")
    return [_message(m, f"{where}, message {i}") for i, m in enumerate(value)]


def _from_pair(example: Mapping[str, Any], where: str) -> TargetedChat:
    prompt, completion = example["prompt"], example["completion"]
    context = [("user", prompt)] if isinstance(prompt, str) else _messages(prompt, f"{where} prompt")
    if isinstance(completion, str):
        target = completion
    else:
        reply = _messages(completion, f"{where} completion")
        if len(reply) != 1 or reply[0][0] != "assistant":
            raise UserError(f"{where}: a completion must be a string or one assistant message")
        target = reply[0][1]
    if not context:
        raise UserError(f"{where}: the prompt is empty; give the target at least one message of context")
    return TargetedChat(tuple(context), target)


def _from_chat(chat: Any, where: str) -> TargetedChat:
    messages = _messages(chat, where)
    if len(messages) < 2 or messages[-1][0] != "assistant":
        raise UserError(f"{where}: a chat needs context and must end with the assistant message to learn")
    return TargetedChat(tuple(messages[:-1]), messages[-1][1])


def normalise(example: Example, index: int = 0) -> TargetedChat:
    """One example as a :class:`TargetedChat`; a malformed example raises :class:`UserError` naming its index."""
    where = f"example {index}"
    if isinstance(example, Mapping):
        if "prompt" in example and "completion" in example:
            return _from_pair(example, where)
        if "messages" in example:
            return _from_chat(example["messages"], where)
        raise UserError(f"{where}: a mapping needs 'prompt' and 'completion' (or 'messages'); got {sorted(example)}")
    return _from_chat(example, where)


def normalise_all(examples: Sequence[Example]) -> list[TargetedChat]:
    """All examples normalised; an empty set is an error."""
    rows = [normalise(e, i) for i, e in enumerate(examples)]
    if not rows:
        raise UserError("no training examples")
    return rows
