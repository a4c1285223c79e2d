"""The paper's prompt templates (Table 3, Appendix C.1) as data, rendered per model.

A base model gets plain text. A chat (instruction-tuned) model gets its own chat template
(``tokenizer.apply_chat_template``, generation prompt included): Table 3 writes the IFT format as
``<user>\\n...\\n<assistant>\\n``; the model's own template is the faithful rendering of that
dialogue format for models other than the paper's Tulu/LLaMA ones. Note that SmolLM2's
template inserts a default system prompt ("You are a helpful AI assistant named SmolLM...")
when none is given; it is kept, since that is how the model was tuned and is served.

PARAREL rendering (see :func:`pararel_prompt`): the final period and ``[Y]`` are cut with the
whitespace before them; ``casing="lower"`` (default) lower-cases the pattern's first letter after
base prompts 1 and 2's lead-in ("Everyone knows that the capital of..."), ``casing="pattern"``
keeps it ("Everyone knows that The capital of..."). Chat prompts and base prompt 0 always keep
the pattern's own letter.

Example:
    >>> from interp.prompts import SENTENCE_PROMPTS
    >>> SENTENCE_PROMPTS["base"][1].format(text="I ate the cheese.")
    'Consider the following sentence: I ate the cheese.'
"""

from __future__ import annotations

from dataclasses import dataclass

from interp.capture import Span
from interp.models import Model


@dataclass(frozen=True)
class ChatPrompt:
    """A chat prompt: the user's message and the start of the assistant's reply."""

    user: str
    assistant: str = ""


#: Table 3, MRPC / TAPACO (sentence representations). ``{text}`` is the sentence.
SENTENCE_PROMPTS: dict[str, tuple] = {
    "chat": (
        ChatPrompt("Summarize the main message of the following sentence.\n{text}"),
        ChatPrompt("What does this sentence mean?\n{text}"),
        ChatPrompt("{text}"),
    ),
    "base": (
        "{text}",
        "Consider the following sentence: {text}",
        "Summarize the main message of the following sentence.\n{text}",
    ),
}

#: Table 3, PARAREL (factual queries). ``{text}`` is the query, e.g. "The capital of France is".
PARAREL_PROMPTS: dict[str, tuple] = {
    "chat": (
        ChatPrompt("Complete the sentence with as few words as possible.", "{text}"),
        ChatPrompt("Provide concise info to complete sentence.", "{text}"),
        ChatPrompt("Please finish the sentence.", "{text}"),
    ),
    "base": (
        "{text}",
        "Everyone knows that {text}",
        "It is widely known that {text}",
    ),
}

#: Appendix C.1, the three MMLU instructions; ``{subject}`` is e.g. "high school mathematics".
MMLU_INSTRUCTIONS: tuple[str, ...] = (
    "The following are multiple choice questions (with answers) about {subject}.",
    "The following are multiple choice questions with their respective answer. "
    "The questions are about {subject}.",
    "Answer to the best of your abilities the following multiple choice questions about "
    "{subject}.",
)

N_PROMPTS = 3

#: How a PARAREL pattern's first letter is rendered after base prompts 1 and 2's lead-in:
#: "lower" lower-cases it (unless the pattern starts with the subject), "pattern" keeps it.
CASINGS: tuple[str, ...] = ("lower", "pattern")


def kind(model: Model) -> str:
    """``"chat"`` for an instruction-tuned model, ``"base"`` otherwise."""
    return "chat" if model.is_chat else "base"


def _render(model: Model, template: object, text: str) -> tuple[str, int]:
    """Render ``template`` around ``text``; return (prompt, character offset of ``text``)."""
    if isinstance(template, ChatPrompt):
        if "{text}" in template.user:
            before, after = template.user.split("{text}")
            prefix = model.chat_prefix(before + "\x00" + after)
            start = prefix.index("\x00")
            return prefix.replace("\x00", text) + template.assistant, start
        prefix = model.chat_prefix(template.user)
        before = template.assistant.split("{text}")[0]
        return prefix + template.assistant.format(text=text), len(prefix) + len(before)
    assert isinstance(template, str)
    before = template.split("{text}")[0]
    return template.format(text=text), len(before)


def sentence_prompt(model: Model, index: int, sentence: str) -> str:
    """Table 3's prompt ``index`` (0-2) for a sentence of MRPC or TAPACO.

    Example:
        >>> sentence_prompt(model, 1, "I ate the cheese.")  # base model  # doctest: +SKIP
        'Consider the following sentence: I ate the cheese.'
    """
    return _render(model, SENTENCE_PROMPTS[kind(model)][index], sentence)[0]


def lower_first(query: str, pattern: str) -> str:
    """Lower-case the query's first letter when it comes from the pattern (not the subject),
    so that "Everyone knows that The capital of..." reads "...that the capital of..."."""
    if pattern.lstrip().startswith("[X]") or not query:
        return query
    return query[0].lower() + query[1:]


def check_casing(casing: str) -> str:
    """``casing`` if it is one of :data:`CASINGS`, else ``ValueError`` naming it."""
    if casing not in CASINGS:
        raise ValueError(f"casing must be one of {CASINGS}, got {casing!r}")
    return casing


def pararel_prompt(model: Model, index: int, pattern: str, subject: str, *,
                   casing: str = "lower") -> tuple[str, Span]:
    """Table 3's PARAREL prompt ``index`` (0-2) for ``pattern`` filled with ``subject``.

    The object slot ``[Y]`` must end the pattern (after an optional final period); it is
    removed with the whitespace before it, so the prompt ends in the word before the object and
    the model's next token is the object. ``casing`` (:data:`CASINGS`) says how the pattern's
    first letter is rendered after base prompts 1 and 2's lead-in. Returns the prompt and the
    character span of the subject in it (for the last-subject-token position).

    Example:
        >>> pararel_prompt(model, 1, "The capital of [X] is [Y].", "France")  # base  # doctest: +SKIP
        ('Everyone knows that the capital of France is', Span(start=35, end=41))
        >>> pararel_prompt(model, 1, "The capital of [X] is [Y].", "France",
        ...                casing="pattern")[0]  # base  # doctest: +SKIP
        'Everyone knows that The capital of France is'
    """
    check_casing(casing)
    body = pattern.strip()
    body = body[:-1].rstrip() if body.endswith(".") else body
    if not body.endswith("[Y]") or body.count("[X]") != 1:
        raise ValueError(f"pattern {pattern!r}: need one [X] and [Y] at the end")
    body = body[: -len("[Y]")].rstrip()
    template = PARAREL_PROMPTS[kind(model)][index]
    if casing == "lower" and index > 0 and not isinstance(template, ChatPrompt):
        body = lower_first(body, pattern)
    subj_at = body.index("[X]")
    query = body.replace("[X]", subject)
    prompt, offset = _render(model, template, query)
    return prompt, Span(offset + subj_at, offset + subj_at + len(subject))


def mmlu_prompt(model: Model, instruction: int, subject: str, question: str,
                choices: tuple[str, ...]) -> str:
    """An MMLU zero-shot prompt ending in ``"Answer:"`` (lm-evaluation-harness format).

    Base model::

        {instruction}\\n\\n{question}\\nA. {a}\\nB. {b}\\nC. {c}\\nD. {d}\\nAnswer:

    Chat model: the same text up to the choices is the user's message, and the assistant's
    reply starts with ``Answer:``. The answer is read from the log-probabilities of the
    letters " A", " B", " C", " D" at the next position.

    Example:
        >>> print(mmlu_prompt(model, 0, "astronomy", "What is the Sun?",
        ...                   ("A star", "A planet", "A moon", "A comet")))  # doctest: +SKIP
        The following are multiple choice questions (with answers) about astronomy.
        <BLANKLINE>
        What is the Sun?
        A. A star
        B. A planet
        C. A moon
        D. A comet
        Answer:
    """
    head = MMLU_INSTRUCTIONS[instruction].format(subject=subject)
    body = f"{head}\n\n{question.strip()}\n" + "".join(
        f"{letter}. {choice}\n" for letter, choice in zip("ABCD", choices))
    if model.is_chat:
        return model.chat_prefix(body.rstrip("\n")) + "Answer:"
    return body + "Answer:"
