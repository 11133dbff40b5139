"""Abstention (qa/abstain.py): the rules of qa/data/rules.json proved against every corpus we have, named-only
drugs, the missing-figure check, the scope model's fit, and the order of the checks."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from qa.abstain import (
    OUT_OF_SCOPE,
    Abstainer,
    Case,
    NamedOnly,
    Rules,
    ScopeModel,
    figure_window,
    fit_scope_model,
)
from qa.chunking import chunk_corpus
from qa.corpus import load_corpus, parse_text
from qa.questions import load_questions
from qa.retrieval import MATCH_FEATURES, Retrieval
from qa.types import Chunk, Hit

ROOT = Path(__file__).resolve().parents[1]
TEST_CORPUS = Path(__file__).parent / "data" / "corpus"
CORPORA = {
    "tests/data": TEST_CORPUS,
    "seed": ROOT / "corpus",
    **{name: ROOT / "eval" / "corpora" / name / "corpus" for name in ("lymphoma", "childhood_all_mds", "pdq_mixed")},
}
# What each corpus covers, read off its pages by hand: the rules its pages must switch off, and only those.
SWITCHED_OFF = {
    "tests/data": set(),
    "seed": {"condition: acute lymphocytic leukemia", "hair loss", "complementary and alternative medicine"},
    "lymphoma": {"pregnancy", "fertility", "children", "causes", "diagnosis", "staging",
                 "condition: Hodgkin lymphoma", "condition: non-Hodgkin lymphoma"},
    "childhood_all_mds": {"children", "causes", "diagnosis", "condition: acute lymphocytic leukemia",
                          "condition: acute myeloid leukemia", "condition: myelodysplastic syndromes"},
    "pdq_mixed": {"pregnancy", "children", "causes", "diagnosis", "staging", "condition: multiple myeloma",
                  "condition: neuroblastoma", "condition: gestational trophoblastic disease"},
}


def chunks_of(folder: Path) -> list[Chunk]:
    return chunk_corpus(load_corpus(folder), 160, 1)


@pytest.fixture(scope="module")
def rules_by_corpus() -> dict[str, Rules]:
    return {name: Rules.for_corpus(chunks_of(folder)) for name, folder in CORPORA.items()}


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_each_corpus_switches_off_exactly_the_rules_its_pages_cover(rules_by_corpus: dict[str, Rules],
                                                                     name: str) -> None:
    rules = rules_by_corpus[name]
    assert {n for n, _ in rules.switched_off} == SWITCHED_OFF[name]
    assert {r.name for r in rules.enabled}.isdisjoint(SWITCHED_OFF[name])


@pytest.mark.parametrize("rule", Rules.load_all(), ids=lambda r: r.name)
def test_every_rule_declines_its_example_until_a_page_covers_its_topic(rule, tmp_path: Path) -> None:
    """On a corpus that says nothing about the topic the rule holds; add a page that covers it (its example
    sentence, as often as the rule asks for evidence) and the rule is switched off for that corpus."""
    question, covered_by = rule.example
    assert question and covered_by, "every rule documents an example question and a covering sentence"
    corpus = tmp_path / "corpus"
    shutil.copytree(TEST_CORPUS, corpus)
    before = Rules.for_corpus(chunks_of(corpus))
    assert rule.name in {r.name for r in before.enabled}
    assert rule.name in {r.name for r in before.matches(question)}
    (corpus / "covering.md").write_text(
        "# A page that covers it\n\n## Details\n\n" + "\n\n".join([covered_by] * rule.min_evidence) + "\n",
        encoding="utf-8")
    after = Rules.for_corpus(chunks_of(corpus))
    assert rule.name in {n for n, _ in after.switched_off}
    assert rule.name not in {r.name for r in after.matches(question)}


@pytest.mark.parametrize("name", ["seed", "lymphoma", "childhood_all_mds", "pdq_mixed"])
def test_enabled_rules_leave_the_corpus_own_answerable_questions_alone(rules_by_corpus: dict[str, Rules],
                                                                         name: str) -> None:
    """Rules about what a question asks (not the mention rules, which the scope model gates) fire on at most 2%
    of the answerable questions written for each corpus."""
    folder = CORPORA[name]
    files = [ROOT / "eval" / "questions.jsonl", ROOT / "eval" / "val_questions.jsonl"] if name == "seed" else \
        [folder.parent / "patient_questions.jsonl", folder.parent / "medquad_questions.jsonl"]
    answerable = [q for path in files for q in load_questions(path) if q.answerable]
    fired = [(q.question, [r.name for r in rules_by_corpus[name].matches(q.question) if not r.mention])
             for q in answerable]
    fired = [f for f in fired if f[1]]
    assert len(fired) <= 0.02 * len(answerable), fired


@pytest.mark.parametrize(("question", "rule"), [
    ("what's the usual dose of imatinib", "dose"),
    ("i forgot my pill this morning, should I double up", "missed dose"),
    ("how long do I have to live with relapsed leukemia", "survival statistics"),
    ("how many years do people usually live after an MDS diagnosis?", "survival statistics"),
    ("does insurance pay for CAR T", "cost"),
    ("can I crush my dasatinib tablets if they're hard to swallow?", "taking medicines"),
    ("does my thyroid pill interact with nilotinib", "taking medicines"),
    ("when can I go back to work after my transplant?", "work and daily life"),
    ("can I have a glass of wine on the weekends while I'm on chemo?", "alcohol"),
    ("what's the weather like in Boston this week", "off topic"),
    ("what is the treatment for chronic lymphocytic leukemia", "condition: chronic lymphocytic leukemia"),
    ("what's a normal LDH level? mine came back at 320", "test results"),
    ("what hemoglobin number does he have to drop to before they give blood?", "test results"),
    ("Is MD Anderson or Mayo Clinic better for a stem cell transplant?", "getting care"),
    ("which children's hospital is the best for leukemia?", "getting care"),
    ("can she breastfeed during treatment?", "breastfeeding"),
    ("will I be able to drive myself home after the infusion?", "work and daily life"),
    ("can my son go swimming with his central line in?", "exercise"),
])
def test_rules_decline_what_patient_pages_rarely_answer(rules_by_corpus: dict[str, Rules], question: str,
                                                          rule: str) -> None:
    assert rule in [r.name for r in rules_by_corpus["seed"].matches(question)]


@pytest.mark.parametrize("question", [
    "how long do I have to keep taking pills after induction?",  # not a survival question
    "my hands shake so much I drop my coffee cup, is that from the drugs?",
    "I've been soaking the sheets with sweat every night and running a fever",  # "running": not exercise
    "how do they work out which kind she has?",  # "work out": not exercise
    "should we travel to a big cancer center for the transplant?",
    "I was diagnosed last month, what happens during induction?",  # a diagnosis mentioned, not asked about
    "cytokine release syndrome, what causes it?",  # what causes a side effect, not the disease
    "what are all the side effects of ALL treatment?",  # "all" is a word; "ALL" the leukemia
    "which blood count levels are checked before each cycle?",  # asks what the pages say, not to read a result
    "what does a high white blood cell count at diagnosis mean for treatment?",
    "is it better to have the transplant at a big center?",  # not a ranking of hospitals
    "what is vaccine therapy for leukemia?",  # a treatment, not an immunisation
    "what dose it mean to be in remission",  # "does", mistyped
])
def test_rules_leave_answerable_questions_alone(rules_by_corpus: dict[str, Rules], question: str) -> None:
    assert [r.name for r in rules_by_corpus["seed"].matches(question) if not r.mention] == []


def test_acronyms_match_in_capitals_only(rules_by_corpus: dict[str, Rules]) -> None:
    rules = rules_by_corpus["lymphoma"]  # a lymphoma corpus: acute lymphocytic leukemia is another disease
    assert "condition: acute lymphocytic leukemia" in [r.name for r in rules.matches("how is ALL treated?")]
    assert rules.matches("how is it all treated?") == ()


@pytest.fixture(scope="module")
def named_only() -> NamedOnly:
    from qa.embedding import known_words
    from qa.query import QueryExpander

    chunks = chunks_of(ROOT / "corpus")
    words = known_words("all-MiniLM-L6-v2")
    return NamedOnly.from_chunks(chunks, words, QueryExpander.from_chunks(chunks, words).aliases)


def test_named_only_drugs_come_from_the_corpus(named_only: NamedOnly) -> None:
    assert {"methotrexate", "nelarabine", "pegaspargase"} <= named_only.undescribed
    # drugs with their own section or side-effect sentences are described, and so are their brand names
    assert not {"imatinib", "gleevec", "blinatumomab", "blincyto", "inotuzumab", "besponsa", "revumenib",
                "revuforj", "vincristine"} & named_only.undescribed
    assert all(re.fullmatch(r"[a-z][a-z0-9-]+", w) for w in named_only.undescribed)


def test_a_drug_is_described_only_where_its_own_passage_speaks_of_harms() -> None:
    """A long section that names a drug in passing and, pages later, gives another treatment's side effects does
    not describe the first drug; a passage that names it and says what it can cause does."""
    filler = " ".join(f"Step {i} of the plan is explained to the family in detail." for i in range(60))
    text = ("# Treatment\n\n## Treatment options\n\nBlinatumomab is being studied in clinical trials. " + filler +
            " Radiation therapy can cause tiredness and skin changes. Dexrazoxane can cause low blood counts.\n")
    chunks = chunk_corpus(parse_text(text, "page.md"), 160, 1)
    assert len({c.context for c in chunks}) == 1 and len(chunks) > 3
    named = NamedOnly.from_chunks(chunks, frozenset(), {})
    assert "blinatumomab" in named.undescribed
    assert "dexrazoxane" not in named.undescribed


@pytest.mark.parametrize(("question", "expected"), [
    ("what are the side effects of methotrexate?", ["methotrexate"]),
    ("can nelarabine damage my nerves", ["nelarabine"]),
    ("is methotrexate part of induction?", []),  # not asking about harms: the list answers it
    ("Gleevec side effects", []),
    ("what are the side effects of chemo?", []),
])
def test_named_only_check(named_only: NamedOnly, question: str, expected: list[str]) -> None:
    assert named_only.check(question) == expected


def _match(sentence_cos: float) -> tuple[float, ...]:
    values = dict.fromkeys(MATCH_FEATURES, 0.0) | {"chunk_cos": sentence_cos - 0.1, "sentence_cos": sentence_cos,
                                                   "best_sentence_cos": sentence_cos}
    return tuple(values[f] for f in MATCH_FEATURES)


def test_scope_model_threshold_declines_the_chosen_share_of_answerable_questions() -> None:
    """Answerable questions match around 0.6, unanswered ones around 0.35: the fitted model orders them by that,
    and its threshold declines 5% of the answerable ones, as asked."""
    rng = np.random.default_rng(0)
    answered = np.array([_match(c) for c in rng.normal(0.6, 0.08, 400)])
    unanswered = np.array([_match(c) for c in rng.normal(0.35, 0.08, 400)])
    model = fit_scope_model(answered, unanswered, false_rate=0.05)
    p_answered = np.array([model.probability(tuple(r)) for r in answered])
    p_unanswered = np.array([model.probability(tuple(r)) for r in unanswered])
    assert np.mean(p_answered >= model.threshold) == pytest.approx(0.05, abs=0.01)
    assert np.mean(p_unanswered >= model.threshold) > 0.9
    assert model.mention_threshold < model.threshold  # a mention rule needs less doubt than a decline on its own
    again = ScopeModel.from_dict(model.to_dict())
    assert again.probability(_match(0.4)) == pytest.approx(model.probability(_match(0.4)), abs=1e-5)
    assert model.probability(()) is None  # nothing retrieved: nothing to judge
    with pytest.raises(ValueError, match="qa build"):
        ScopeModel.from_dict(dict(model.to_dict(), features=["other"]))


def _case(question: str, text: str, sentence_cos: float, scope: ScopeModel | None = None) -> Case:
    chunk = Chunk(id="d#0", doc_id="d", text=text, start=0, end=len(text), sentences=((0, len(text)),))
    retrieval = Retrieval((Hit(chunk, 1.0, "hybrid", 0),), sentence_cos, None, _match(sentence_cos))
    return Case(question, True, retrieval, scope)


def _abstainer(rules: Rules, scope: ScopeModel | None = None) -> Abstainer:
    return Abstainer(rules, NamedOnly(frozenset({"nelarabine"})), lambda q: ["Kymriah"] if "Kymriah" in q else [],
                     scope, min_score=0.2, unknown_name_score=0.6)


def _separable_scope(seed: int) -> ScopeModel:
    """A scope model fitted on answered matches around 0.6 against unanswered ones around 0.3."""
    rng = np.random.default_rng(seed)
    return fit_scope_model(np.array([_match(c) for c in rng.normal(0.6, 0.05, 200)]),
                           np.array([_match(c) for c in rng.normal(0.3, 0.05, 200)]), false_rate=0.02)


def test_checks_run_in_order_and_the_first_reason_wins(rules_by_corpus: dict[str, Rules]) -> None:
    scope = _separable_scope(1)
    abstain = _abstainer(rules_by_corpus["seed"], scope)
    passage = "Induction usually lasts about a month."
    assert abstain.decide(_case("what is the dose of Kymriah", passage, 0.1, scope))[0] == "rule"
    assert abstain.decide(_case("side effects of nelarabine?", passage, 0.7, scope))[0] == "named only"
    assert abstain.decide(_case("how many weeks is it?", "It is intensive.", 0.7, scope)) == \
        ("missing figure", "The pages don't give that figure.")
    assert abstain.decide(_case("how many weeks is it?", passage, 0.7, scope)) == ("", "")
    assert abstain.decide(_case("what does Kymriah do?", passage, 0.5, scope))[0] == "unknown name"
    assert abstain.decide(_case("what does Kymriah do?", passage, 0.65, scope)) == ("", "")  # strong match
    assert abstain.decide(_case("what is induction?", passage, 0.1, scope)) == ("weak match", "")
    assert abstain.decide(_case("what is induction?", passage, 0.3, scope)) == ("scope model", OUT_OF_SCOPE)
    assert abstain.decide(_case("what is induction?", passage, 0.6, scope)) == ("", "")


def test_the_missing_figure_check_reads_the_best_sentence_and_its_neighbours(rules_by_corpus: dict[str, Rules]) -> None:
    """A figure three sentences away from the sentence that matched is not the figure asked for."""
    text = "Induction is the first phase. It is intensive. Most people stay in hospital. It is given in 4 cycles."
    ends = [text.index(s) + len(s) for s in ("phase.", "intensive.", "hospital.", "cycles.")]
    spans = tuple(zip([0, *[e + 1 for e in ends[:-1]]], ends, strict=True))
    chunk = Chunk(id="d#0", doc_id="d", text=text, start=0, end=len(text), sentences=spans)

    def decide(sentence: int, window: int) -> str:
        hit = Hit(chunk, 1.0, "hybrid", sentence)
        case = Case("how many weeks do people stay in hospital?", True, Retrieval((hit,), 0.7, None, _match(0.7)))
        abstain = Abstainer(rules_by_corpus["seed"], NamedOnly(frozenset()), lambda q: [], None, min_score=0.2,
                            unknown_name_score=0.6, figure_sentences=window)
        return abstain.decide(case)[0]

    assert figure_window(Hit(chunk, 1.0, "hybrid", 2), 1) == "It is intensive. Most people stay in hospital. It is " \
        "given in 4 cycles."
    assert decide(sentence=0, window=1) == "missing figure"  # "first" is no figure; "4 cycles" is three away
    assert decide(sentence=2, window=1) == ""  # next to the matching sentence
    assert decide(sentence=0, window=-1) == ""  # the whole passage, as before
    assert decide(sentence=-1, window=1) == ""  # no best sentence known (BM25 alone): the whole passage


def test_a_mention_rule_needs_the_scope_model_to_agree(rules_by_corpus: dict[str, Rules]) -> None:
    scope = _separable_scope(2)
    abstain = _abstainer(rules_by_corpus["seed"], scope)
    question = "our insurance won't pay; could a clinical trial help?"
    assert abstain.decide(_case(question, "Clinical trials can give access to new drugs.", 0.7, scope)) == ("", "")
    assert abstain.decide(_case(question, "Clinical trials can give access to new drugs.", 0.45, scope)) == \
        ("rule", "The pages don't cover costs or insurance.")
    assert _abstainer(rules_by_corpus["seed"]).decide(_case(question, "Trials.", 0.7))[0] == "rule"  # no model
