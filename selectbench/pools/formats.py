"""Raw row formats → chat conversations (lists of {role, content} messages).

Each converter takes one raw row (a dict) and returns a list of
``(id_suffix, messages)`` pairs: one pair with suffix ``None`` for every format
except ``instances``, which yields one pair per instance with suffix ``"k"``
(0-based). A bad field raises `RowError` naming the field as a path such as
``conversations[2].from`` (list indices are 0-based); the loader adds the file
and row number. Content is kept verbatim: nothing is stripped or defaulted.
"""

from __future__ import annotations

from typing import Callable

FORMATS = (
    "alpaca",
    "prompt_completion",
    "question_answer",
    "sharegpt",
    "messages",
    "instances",
    "dolly",
    "wildchat",
    "auto",
)

ROLES = ("system", "user", "assistant")

SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "bard": "assistant",
}

MESSAGES_ROLES = {r: r for r in ROLES}

Conversation = list[dict[str, str]]
Converted = list[tuple[str | None, Conversation]]


class RowError(Exception):
    """One bad field in one row; `field` is None when the row as a whole is bad."""

    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def _type_name(value) -> str:
    """A JSON-flavoured name for the type of `value` (for error messages)."""
    names = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def check_unicode(value: str, field: str) -> str:
    """`value` if it is encodable UTF-8; a lone surrogate (JSON `\\ud800`) is a RowError."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise RowError(field, f"invalid Unicode: lone surrogate {value[e.start]!r} at character {e.start} "
                              "(a JSON \\uXXXX escape of half a surrogate pair)") from None
    return value


def _text(value, field: str) -> str:
    """`value` if it is a string that is non-empty after strip, else RowError."""
    if not isinstance(value, str):
        raise RowError(field, f"expected a non-empty string, got {_type_name(value)}")
    if not value.strip():
        raise RowError(field, "empty string")
    return check_unicode(value, field)


def _required_text(obj: dict, key: str, field: str) -> str:
    """The non-empty string `obj[key]`; `field` is its path for error messages."""
    if key not in obj:
        raise RowError(field, "missing field")
    return _text(obj[key], field)


def _optional_text(obj: dict, key: str, field: str) -> str:
    """The string `obj[key]`, or "" when the key is absent or null."""
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RowError(field, f"expected a string, got {_type_name(value)}")
    return check_unicode(value, field)


def _with_input(instruction: str, input_text: str) -> str:
    """The user turn: instruction, plus a blank line and the input if there is one."""
    return instruction + "\n\n" + input_text if input_text.strip() else instruction


def _exchange(prompt: str, response: str) -> Conversation:
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]


def check_conversation(messages: Conversation, field: str) -> None:
    """A valid conversation: optional system messages first, then the user's turn first,
    a user and an assistant turn, and the assistant's turn last.

    A system message after the conversation started, or an assistant turn before any
    user turn, is an error (chat templates reject or silently reorder them). Consecutive
    turns of the same role are allowed (real multi-turn data has them).
    """
    roles = [m["role"] for m in messages]
    if not roles:
        raise RowError(field, "no messages")
    for needed in ("user", "assistant"):
        if needed not in roles:
            raise RowError(field, f"no {needed} message")
    started = False
    for i, role in enumerate(roles):
        if role == "system":
            if started:
                raise RowError(f"{field}[{i}]", "system message after the conversation started "
                                                "(system messages are allowed only before the first user turn)")
            continue
        if not started and role != "user":
            raise RowError(f"{field}[{i}]", f"the conversation must start with the user's turn "
                                            f"(after any system messages), not the {role}'s")
        started = True
    if roles[-1] != "assistant":
        raise RowError(field, f"last message must be from the assistant, not the {roles[-1]}")


def _turns(row: dict, key: str, role_key: str, content_key: str, role_map: dict) -> Conversation:
    """Convert the list of turns `row[key]` (each {role_key, content_key})."""
    if key not in row:
        raise RowError(key, "missing field")
    turns = row[key]
    if not isinstance(turns, list):
        raise RowError(key, f"expected a list, got {_type_name(turns)}")
    conversation = []
    for i, turn in enumerate(turns):
        where = f"{key}[{i}]"
        if not isinstance(turn, dict):
            raise RowError(where, f"expected an object, got {_type_name(turn)}")
        if role_key not in turn:
            raise RowError(f"{where}.{role_key}", "missing field")
        role = turn[role_key]
        if not isinstance(role, str) or role not in role_map:
            raise RowError(
                f"{where}.{role_key}",
                f"unknown role {role!r}; expected one of {', '.join(role_map)}",
            )
        content = _required_text(turn, content_key, f"{where}.{content_key}")
        conversation.append({"role": role_map[role], "content": content})
    check_conversation(conversation, key)
    return conversation


def alpaca(row: dict) -> Converted:
    """{instruction, input?, output} → user (instruction [+ input]) / assistant."""
    instruction = _required_text(row, "instruction", "instruction")
    input_text = _optional_text(row, "input", "input")
    output = _required_text(row, "output", "output")
    return [(None, _exchange(_with_input(instruction, input_text), output))]


def dolly(row: dict) -> Converted:
    """{instruction, context?, response} (databricks-dolly-15k) → user (instruction [+ context]) / assistant."""
    instruction = _required_text(row, "instruction", "instruction")
    context = _optional_text(row, "context", "context")
    response = _required_text(row, "response", "response")
    return [(None, _exchange(_with_input(instruction, context), response))]


def wildchat(row: dict) -> Converted:
    """{conversation: [{role, content, ...}]} (allenai/WildChat-1M) → all turns (other turn keys ignored)."""
    return [(None, _turns(row, "conversation", "role", "content", {r: r for r in ROLES}))]


def prompt_completion(row: dict) -> Converted:
    """{prompt, completion} → user / assistant."""
    prompt = _required_text(row, "prompt", "prompt")
    return [(None, _exchange(prompt, _required_text(row, "completion", "completion")))]


def question_answer(row: dict) -> Converted:
    """{question, answer} → user / assistant."""
    question = _required_text(row, "question", "question")
    return [(None, _exchange(question, _required_text(row, "answer", "answer")))]


def sharegpt(row: dict) -> Converted:
    """{conversations: [{from, value}]} → all turns, roles mapped by SHAREGPT_ROLES."""
    return [(None, _turns(row, "conversations", "from", "value", SHAREGPT_ROLES))]


def messages(row: dict) -> Converted:
    """{messages: [{role, content}]} with roles system/user/assistant → all turns."""
    return [(None, _turns(row, "messages", "role", "content", MESSAGES_ROLES))]


def instances(row: dict) -> Converted:
    """Self-instruct seed task → one conversation per entry of `instances`."""
    instruction = _required_text(row, "instruction", "instruction")
    if "instances" not in row:
        raise RowError("instances", "missing field")
    items = row["instances"]
    if not isinstance(items, list):
        raise RowError("instances", f"expected a list, got {_type_name(items)}")
    if not items:
        raise RowError("instances", "empty list")
    out = []
    for k, item in enumerate(items):
        where = f"instances[{k}]"
        if not isinstance(item, dict):
            raise RowError(where, f"expected an object, got {_type_name(item)}")
        input_text = _optional_text(item, "input", f"{where}.input")
        output = _required_text(item, "output", f"{where}.output")
        out.append((str(k), _exchange(_with_input(instruction, input_text), output)))
    return out


CONVERTERS: dict[str, Callable[[dict], Converted]] = {
    "alpaca": alpaca,
    "prompt_completion": prompt_completion,
    "question_answer": question_answer,
    "sharegpt": sharegpt,
    "messages": messages,
    "instances": instances,
    "dolly": dolly,
    "wildchat": wildchat,
}


def detect(row: dict) -> str:
    """The format of `row` judged from its keys (the `auto` format)."""
    keys = set(row)
    if "messages" in keys:
        return "messages"
    if "conversations" in keys:
        return "sharegpt"
    if "conversation" in keys:
        return "wildchat"
    if {"instruction", "instances"} <= keys:
        return "instances"
    if {"instruction", "output"} <= keys:
        return "alpaca"
    if {"instruction", "response"} <= keys:
        return "dolly"
    if {"prompt", "completion"} <= keys:
        return "prompt_completion"
    if {"question", "answer"} <= keys:
        return "question_answer"
    raise RowError(None, f"unknown format: keys found {sorted(keys)}")


def convert(fmt: str, row) -> Converted:
    """Convert one raw row in format `fmt` (one of FORMATS)."""
    if not isinstance(row, dict):
        raise RowError(None, f"expected an object, got {_type_name(row)}")
    if fmt == "auto":
        fmt = detect(row)
    return CONVERTERS[fmt](row)
