"""How a turn of a conversation becomes a KB search query.

The last user turn of a real conversation is often not standalone ("what about the
fees?"): the subject is in the turns before it. ``conversation_query`` joins the last
``turns`` user turns (the question included), oldest first, so that both the embedding and
the full-text terms see the subject; ``turns: 1`` searches with the question alone.
Assistant turns are left out: they are long, and they add the words of what was already
retrieved rather than of what is asked now.
"""

from __future__ import annotations

from collections.abc import Iterable


def conversation_query(question: str, earlier_user_turns: Iterable[str], turns: int) -> str:
    """``question`` preceded by up to ``turns - 1`` of the earlier user turns (oldest first)."""
    question = question.strip()
    if turns <= 1:
        return question
    earlier = [t.strip() for t in earlier_user_turns if t and t.strip()]
    context = earlier[-(turns - 1):] if earlier else []
    return " ".join([*context, question])
