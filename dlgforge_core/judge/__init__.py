"""The ``qa_judge`` agent: reply contract, prompts, online judge and offline pass.

Submodules are imported lazily by callers (``from dlgforge_core.judge.judge import Judge``);
this package file re-exports the main names for convenience.
"""

from dlgforge_core.judge.judge import Judge, best_and_worst, settings_hash
from dlgforge_core.judge.replies import JudgeReply, judge_reply_model, make_validator

__all__ = [
    "Judge",
    "JudgeReply",
    "best_and_worst",
    "judge_reply_model",
    "make_validator",
    "settings_hash",
]
