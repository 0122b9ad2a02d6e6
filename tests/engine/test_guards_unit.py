"""The reply guards on real text: human questions and answers pass, the bad replies seen in
the quickstart (placeholders, echoed instructions, one-word answers, loops, another
language) fail, each with its own reason."""

from __future__ import annotations

import pytest

from dlgforge_core.config.guards import GuardsConfig, LanguageMinWords
from dlgforge_core.generation import prompts
from dlgforge_core.generation.guards import GuardTally, ReplyGuards, format_tally, merge_tallies
from dlgforge_core.generation.guards_language import language_code
from dlgforge_core.generation.guards_text import grounding_overlap, repeated_ngram_share, word_count
from dlgforge_core.llm.local_grammar import cut_by_grammar, trim_cut_text
from dlgforge_core.llm.local_prompts import answer_prompt, is_completion, question_prompt

Q = prompts.template("qa_generator")
A = prompts.template("kb_responder")

# Real human text (IBM MTRAG-UN, Apache-2.0: a question, the agent's answer and its passage).
PASSAGE = ("One reason why some merchants in the US don't accept Discover is that the fee the store is "
           "charged is higher than the average. Generally a portion of transaction fee for the network "
           "and the issuing bank goes to the rewards program.")
HUMAN_QUESTION = "Discover card is a good option."
HUMAN_ANSWER = ("Not many merchants accept Discover cards in the U.S. One reason is that the transaction "
                "fees charged to stores are higher than average.")
HUMAN_LONG = ("Your statement is imprecise. The law requires charities to furnish disclosure statements to "
              "donors for such quid pro quo donations in excess of $75.00. A quid pro quo contribution is a "
              "payment made partly as a contribution and partly for goods or services provided to the donor "
              "by the charity.")
FRENCH = "Les vélos électriques peuvent parcourir environ cinquante kilomètres avec une batterie pleine."
GERMAN = "Die Rückerstattung dauert fünf Werktage, bis sie auf der ursprünglichen Karte ankommt."


def guards(language: str = "en", **changes) -> ReplyGuards:
    return ReplyGuards(GuardsConfig(**changes), language)


def test_human_text_passes_every_guard() -> None:
    en = guards()
    assert en.check_question(HUMAN_QUESTION, Q, follow_up=True) is None
    assert en.check_question("How much does a day pass cost?", Q, follow_up=False) is None
    assert en.check_answer(HUMAN_ANSWER, A, [PASSAGE], HUMAN_QUESTION) is None
    assert en.check_answer(HUMAN_LONG, A, [PASSAGE]) is None
    assert guards("fr").check_answer(FRENCH, A, ["Electric bikes ride about 50 km on a full battery."]) is None
    assert guards("de").check_question(GERMAN, Q, follow_up=False) is None


@pytest.mark.parametrize("reply", [
    "<the user's message>",
    "You wrote the next message of a USER talking to a support agent.",
    "Ask one natural, self-contained question that the passages can answer.",
    "question",
    '{"question": "How much?"}',
    "What time does the museum close?",  # copied from the few-shot examples of the base-model prompt
])
def test_template_echoes_fail_as_template_echo(reply: str) -> None:
    failure = guards().check_question(reply, Q, follow_up=False)
    assert failure is not None and failure.reason == "template_echo"


@pytest.mark.parametrize("answer", ["<your reply>", "answer", "cited_chunk_ids", "Use only the knowledge base snippets provided; if they do not contain the answer, say so."])
def test_answer_echoes_fail(answer: str) -> None:
    failure = guards().check_answer(answer, A, [PASSAGE])
    assert failure is not None and failure.reason == "template_echo"


def test_answer_repeating_the_question_is_an_echo_but_a_quote_is_not() -> None:
    question = "Do merchants in the US accept Discover cards?"
    assert guards().check_answer(question, A, [PASSAGE], question).detail == "repeats the question"
    assert guards().check_answer(HUMAN_ANSWER, A, [PASSAGE], question) is None


@pytest.mark.parametrize("answer", ["a", "no", "Yes", "36", "not a valid answer"])
def test_one_word_answers_are_too_short(answer: str) -> None:
    assert guards().check_answer(answer, A, [PASSAGE]).reason == "too_short"


def test_terse_follow_up_questions_pass_but_not_as_openers() -> None:
    en = guards()
    assert en.check_question("Probate?", Q, follow_up=True) is None
    assert en.check_question("Probate?", Q, follow_up=False).reason == "too_short"


def test_word_counts_are_cjk_aware_and_minimums_per_language() -> None:
    assert word_count("How long do refunds take?") == 5
    assert word_count("退款需要多长时间") == 4  # eight Han characters, two per word
    assert word_count("返金にはどのくらいかかりますか") == 7.5
    assert word_count("환불은 얼마나 걸리나요") == 3  # Korean writes spaces
    zh = ReplyGuards(GuardsConfig(too_short={"per_language": {"zh": LanguageMinWords(answer=3)}}), "zh")
    assert zh.check_answer("退款需要五个工作日。", A, []) is None
    assert zh.check_answer("是的", A, []).reason == "too_short"


def test_degenerate_text_fails_and_real_text_does_not() -> None:
    loop = "the bike the bike the bike the bike the bike the bike the bike the bike the bike"
    assert guards().check_answer(loop, A, ["the bike"]).reason == "degenerate"
    share, grams = repeated_ngram_share(HUMAN_LONG, 3)
    assert grams > 30 and share < 0.1


def test_wrong_language_is_detected_and_language_names_map() -> None:
    failure = guards("fr").check_answer(HUMAN_ANSWER, A, [PASSAGE])
    assert failure.reason == "wrong_language" and "detected en" in failure.detail
    assert guards("english").check_answer(HUMAN_ANSWER, A, [PASSAGE]) is None
    arabic = "تستغرق عملية استرداد الأموال خمسة أيام عمل حتى تصل إلى البطاقة الأصلية."
    assert guards("msa").check_answer(arabic, A, []) is None
    assert guards("msa").check_answer(HUMAN_ANSWER, A, []).reason == "wrong_language"
    assert language_code("English") == "en" and language_code("pt-BR") == "pt" and language_code("gulf") == "ar"
    assert language_code("klingon", {"klingon": "tlh"}) == "tlh"
    # too few letters to tell: not checked (a number, a name)
    assert guards("fr").check_answer("Le prix est de 5 EUR.", A, []) is None


def test_wrong_language_switch_and_unknown_languages() -> None:
    assert guards("fr", wrong_language={"enabled": False}).check_answer(HUMAN_ANSWER, A, []) is None
    assert guards("tlh").check_answer(HUMAN_ANSWER, A, []) is None  # the detector does not know it


def test_grounding_overlap_of_a_human_answer_and_an_unrelated_one() -> None:
    assert grounding_overlap(HUMAN_ANSWER, [PASSAGE]) > 0.3
    unrelated = "Bananas ripen faster when stored next to apples in a warm kitchen."
    assert grounding_overlap(unrelated, [PASSAGE]) == 0.0
    assert guards().is_ungrounded(unrelated, [PASSAGE])
    assert not guards().is_ungrounded(HUMAN_ANSWER, [PASSAGE])
    dropping = guards(ungrounded={"action": "drop"})
    assert dropping.check_answer(unrelated, A, [PASSAGE]).reason == "ungrounded"
    assert guards().check_answer(unrelated, A, [PASSAGE]) is None  # flagged only, by default


def test_truncation_is_the_finish_reason_length() -> None:
    assert guards().truncated("length") and not guards().truncated("stop") and not guards().truncated(None)
    assert not guards(truncated={"enabled": False}).truncated("length")


def test_grammar_cut_text_counts_as_truncated() -> None:
    schema = {"type": "object", "properties": {"question": {"type": "string"}}}
    assert cut_by_grammar('{"question": "' + "x" * 64 + '"}', schema, 64)
    assert not cut_by_grammar('{"question": "How much is a day pass?"}', schema, 64)
    assert not cut_by_grammar("not json", schema, 64)


def test_text_cut_by_the_cap_is_trimmed_to_its_last_sentence() -> None:
    schema = {"type": "object", "properties": {"answer": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                                               "cited_chunk_ids": {"type": "array", "items": {"type": "string"}}}}
    cut = "A day pass costs 8.00 EUR. It is valid for 24 hours. Extra minutes cost 1 EUR per fift"
    text, truncated = trim_cut_text('{"answer": "%s", "cited_chunk_ids": ["c1"]}' % cut, schema, len(cut))
    assert not truncated
    assert text == '{"answer": "A day pass costs 8.00 EUR. It is valid for 24 hours.", "cited_chunk_ids": ["c1"]}'
    first = "A day pass costs 8.00 EUR and gives unlimited rides for twenty-four hou"
    text, truncated = trim_cut_text('{"answer": "%s"}' % first, schema, len(first))
    assert truncated and first in text
    comma = '{"answer": "No, the service is free. The bike is charged per ride. There is no fee,"}'
    assert trim_cut_text(comma, schema, 200) == ('{"answer": "No, the service is free. The bike is charged per ride."}', False)
    whole = '{"answer": "Short and complete.", "cited_chunk_ids": []}'
    assert trim_cut_text(whole, schema, 64) == (whole, False)


def test_tallies_merge_and_format() -> None:
    tally = GuardTally()
    tally.rejected = {"too_short": 2}
    tally.question_attempts, tally.questions = 5, 3
    merged = merge_tallies([tally.as_dict(), {"rejected": {"too_short": 1, "degenerate": 1}, "flagged": {"ungrounded": 1}}])
    assert merged["rejected"] == {"degenerate": 1, "too_short": 3} and merged["flagged"] == {"ungrounded": 1}
    text = format_tally(merged)
    assert "rejected degenerate=1, too_short=3" in text and "5 attempts for 3 questions" in text


def test_base_model_prompts_are_completion_style_few_shot() -> None:
    passages = [{"chunk_id": "abc", "text": "A day pass costs 5 euros and is valid for 24 hours."}]
    question = question_prompt(language="fr", passages=passages, previous=None)
    assert is_completion(question)
    text = question[0]["content"]
    assert text.rstrip().endswith("Passage: A day pass costs 5 euros and is valid for 24 hours.\nLanguage: French")
    assert text.count('{"question": ') == 4  # worked examples, each answered as the JSON line
    answer = answer_prompt(language="en", question="How much is a day pass?", passages=passages)
    assert answer[0]["content"].rstrip().endswith("Question: How much is a day pass?\nLanguage: English")
    assert "[abc]" in answer[0]["content"]
    chat = prompts.generator_messages(language="en", persona=None, mode="fresh", snippets=passages, previous_turns=[])
    assert not is_completion(chat) and chat[0]["role"] == "system"
