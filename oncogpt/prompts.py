"""The one place that turns a conversation into token ids and a loss mask.

Training, chat, the server and evaluation all call `render_conversation`. A template is data
(a Jinja chat template in `oncogpt/templates/*.json`, or the model's own), and every template
goes through the same code: the text is cut at each doctor turn's boundaries by rendering the
conversation up to that turn, each piece is tokenized on its own, and the ids are concatenated.
So the generation prompt is, token for token, the training rendering cut before the answer.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from oncogpt.conversation import Conversation, Turn
from oncogpt.errors import OncoGPTError

TEMPLATE_DIR = Path(__file__).parent / "templates"
CHAT_ROLES = {"patient": "user", "doctor": "assistant"}
ELLIPSIS = " [...] "
#: A question is never trimmed below this many tokens; past that the example is dropped.
MIN_QUESTION_TOKENS = 8


class RenderError(OncoGPTError, ValueError):
    """A conversation cannot be rendered with a template; the message says why."""


@dataclasses.dataclass(frozen=True)
class Template:
    name: str
    default_system: str | None
    chat_template: str | None
    """Jinja source; None means the model's own `tokenizer.chat_template`."""
    stop: tuple[str, ...] = ()
    description: str = ""


#: The file in an adapter folder that records the template it was trained with.
ADAPTER_TEMPLATE = "oncogpt-template.json"


@cache
def load_template(name: str) -> Template:
    """A template by name (`oncogpt`, `model`) or by path to a JSON file."""
    path = Path(name) if name.endswith(".json") else TEMPLATE_DIR / f"{name}.json"
    if not path.is_file():
        known = sorted(p.stem for p in TEMPLATE_DIR.glob("*.json"))
        raise RenderError(f"unknown template {name!r}; known: {known} or a path to a .json file")
    return _read_template(path)


def _read_template(path: Path) -> Template:
    try:
        data = json.loads(path.read_text())
        data["stop"] = tuple(data.get("stop", ()))
        return Template(**data)
    except (ValueError, TypeError) as exc:
        raise RenderError(f"{path}: not a template file: {exc}") from None


def save_template(template: Template, folder: Path) -> None:
    """Record `template` in full in an adapter folder, so inference renders prompts exactly as
    training did (a custom template file may be gone or changed by then)."""
    data = {**dataclasses.asdict(template), "stop": list(template.stop)}
    (folder / ADAPTER_TEMPLATE).write_text(json.dumps(data, indent=2) + "\n")


def choose_template(name: str, tokenizer: Any, adapter: Path | None = None) -> Template:
    """`auto` is the template `adapter` was trained with when it records one (a LoRA adapter
    trained on one prompt format answers badly in another, e.g. an `oncogpt`-template adapter
    on a Llama-2-chat base that ships its own template); else the model's own chat template
    when it has one; else the OncoGPT one."""
    recorded = Path(adapter) / ADAPTER_TEMPLATE if adapter is not None else None
    if name == "auto" and recorded is not None and recorded.is_file():
        template = _read_template(recorded)
    else:
        if name == "auto":
            name = "model" if getattr(tokenizer, "chat_template", None) else "oncogpt"
        template = load_template(name)
    if template.chat_template is None and not getattr(tokenizer, "chat_template", None):
        raise RenderError("template 'model' needs a tokenizer with a chat template; use 'oncogpt'")
    return template


@dataclasses.dataclass
class Rendered:
    ids: list[int]
    mask: list[int]
    """1 where the token is trained on (the doctor's turns and their end tokens)."""

    def __len__(self) -> int:
        return len(self.ids)


def _messages(conv: Conversation, template: Template) -> list[dict[str, str]]:
    system = conv.system if conv.system is not None else template.default_system
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [{"role": CHAT_ROLES[t.role], "content": t.text} for t in conv.turns]


def _apply(tokenizer: Any, template: Template, messages: list[dict], generation: bool) -> str:
    return tokenizer.apply_chat_template(
        messages,
        chat_template=template.chat_template,
        add_generation_prompt=generation,
        tokenize=False,
    )


def _pieces(
    tokenizer: Any, template: Template, messages: list[dict], for_generation: bool
) -> list[tuple[str, bool]]:
    """The rendered text cut into (piece, is_answer) at every doctor turn's boundaries."""
    pieces: list[tuple[str, bool]] = []
    done = ""
    cuts = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    if for_generation:
        cuts.append(len(messages))
    for i in cuts:
        prompt = _apply(tokenizer, template, messages[:i], generation=True)
        if not prompt.startswith(done):
            raise RenderError(f"template {template.name!r} is not incremental at message {i}")
        pieces.append((prompt[len(done) :], False))
        if i == len(messages):
            break
        full = _apply(tokenizer, template, messages[: i + 1], generation=False)
        if not full.startswith(prompt):
            raise RenderError(f"template {template.name!r} rewrites the prompt at message {i}")
        pieces.append((full[len(prompt) :], True))
        done = full
    return pieces


@cache
def _adds_bos(tokenizer: Any) -> bool:
    bos = tokenizer.bos_token_id
    return bos is not None and tokenizer("a").input_ids[:1] == [bos]


def render_conversation(
    conv: Conversation,
    tokenizer: Any,
    template: Template,
    train_on_inputs: bool = False,
    for_generation: bool | None = None,
) -> Rendered:
    """Token ids and loss mask; for a conversation ending with the patient, the prompt."""
    if for_generation is None:
        for_generation = conv.ends_with_patient
    if for_generation and not conv.ends_with_patient:
        raise RenderError("a generation prompt needs a conversation that ends with the patient")
    messages = _messages(conv, template)
    if not for_generation and conv.ends_with_patient:
        messages = messages[:-1]  # a trailing question without an answer trains nothing
    ids: list[int] = []
    mask: list[int] = []
    eos = tokenizer.eos_token_id
    for text, is_answer in _pieces(tokenizer, template, messages, for_generation):
        piece = tokenizer(text, add_special_tokens=False).input_ids
        if is_answer and eos not in piece:
            piece = [*piece, eos]
        # Tokens after the end token are the template's separator: not the doctor's words.
        answer_len = piece.index(eos) + 1 if is_answer else 0
        ids += piece
        mask += [1 if (train_on_inputs or k < answer_len) else 0 for k in range(len(piece))]
    if _adds_bos(tokenizer) and ids[:1] != [tokenizer.bos_token_id]:
        ids.insert(0, tokenizer.bos_token_id)
        mask.insert(0, 1 if train_on_inputs else 0)
    return Rendered(ids=ids, mask=mask)


def render_prompt(conv: Conversation, tokenizer: Any, template: Template) -> list[int]:
    """The ids to generate the next doctor turn from."""
    return render_conversation(conv, tokenizer, template, for_generation=True).ids


@dataclasses.dataclass
class Fit:
    status: str
    """`fit`, `trimmed` or `dropped`."""
    rendered: Rendered | None
    conversation: Conversation
    reason: str = ""


def _trim_middle(text: str, tokenizer: Any, n_remove: int) -> str | None:
    """The text with about `n_remove` tokens cut from its middle, or None if too short."""
    ids = tokenizer(text, add_special_tokens=False).input_ids
    marker = len(tokenizer(ELLIPSIS, add_special_tokens=False).input_ids)
    keep = len(ids) - n_remove - marker
    if keep < MIN_QUESTION_TOKENS:
        return None
    head = (keep + 1) // 2
    tail = keep - head
    return (
        tokenizer.decode(ids[:head]).rstrip()
        + ELLIPSIS
        + tokenizer.decode(ids[len(ids) - tail :]).lstrip()
    )


def _trim_question(conv: Conversation, index: int, text: str) -> Conversation:
    turns = list(conv.turns)
    turns[index] = Turn("patient", text)
    return conv.replace(turns=tuple(turns))


def fit_conversation(
    conv: Conversation,
    tokenizer: Any,
    template: Template,
    max_tokens: int,
    train_on_inputs: bool = False,
) -> Fit:
    """Make a conversation fit `max_tokens` without ever cutting an answer or its end token.

    Oldest exchanges go first, then the middle of the last question; an example whose answer
    alone cannot fit is dropped (status `dropped`, reason `answer_too_long`).
    """

    def render(c: Conversation) -> Rendered:
        return render_conversation(c, tokenizer, template, train_on_inputs)

    rendered = render(conv)
    if len(rendered) <= max_tokens:
        return Fit("fit", rendered, conv)
    current = conv
    while len(rendered) > max_tokens and len(current.turns) > 2:
        current = current.replace(turns=current.turns[2:])
        rendered = render(current)
    q_index = len(current.turns) - (1 if current.ends_with_patient else 2)
    for _ in range(4):  # decode/encode round trips can shift a token or two
        if len(rendered) <= max_tokens:
            return Fit("trimmed", rendered, current)
        text = _trim_middle(current.turns[q_index].text, tokenizer, len(rendered) - max_tokens)
        if text is None:
            break
        current = _trim_question(current, q_index, text)
        rendered = render(current)
    if len(rendered) <= max_tokens:
        return Fit("trimmed", rendered, current)
    return Fit("dropped", None, conv, reason="answer_too_long")


def fit_prompt(conv: Conversation, tokenizer: Any, template: Template, max_tokens: int) -> Fit:
    """Fit a generation prompt (conversation ending with the patient) into `max_tokens`."""
    if not conv.ends_with_patient:
        raise RenderError("a generation prompt needs a conversation that ends with the patient")
    fit = fit_conversation(conv, tokenizer, template, max_tokens)
    if fit.status == "dropped":
        fit.reason = "question_too_long"
    return fit


def fit_report(
    conversations: Iterable[Conversation], tokenizer: Any, template: Template, cutoff_len: int
) -> Counter[str]:
    """How many examples fit `cutoff_len` as they are, were trimmed, or were dropped (and why)."""
    counts: Counter[str] = Counter()
    for conv in conversations:
        fit = fit_conversation(conv, tokenizer, template, cutoff_len)
        counts[fit.status] += 1
        if fit.reason:
            counts[f"dropped:{fit.reason}"] += 1
    return counts
