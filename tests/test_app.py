"""The chat: rendering replies, the Gradio app around a fake assistant, a real server via gradio_client."""

from __future__ import annotations

import html
import re
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from qa import chat as app
from qa.answer import escape_html, render_not_found, render_passages
from qa.feedback import FeedbackLog
from qa.safety import urgent_notice
from qa.types import Answer, Collection, Passage

URL = "https://www.cancer.org/cancer/types/acute-lymphocytic-leukemia/treating/chemotherapy.html"
COLLECTION = Collection("Questions about treating ALL in adults", "treating ALL in adults",
                        ("American Cancer Society",),
                        (("American Cancer Society helpline", "1-800-227-2345"),),
                        ("How long does maintenance last?", "Why is a spinal tap done?"))


def passage(n: int = 1, text: str | None = None, highlight: str | None = None,
            url: str | None = URL) -> Passage:
    text = text or (f"Passage {n} opens here. Maintenance usually lasts for about 2 years.\n\n"
                    "Drugs used include:\n- Methotrexate (given as pills)\n- 6-MP <weekly>")
    cite = "Typical Treatment › Maintenance · American Cancer Society · Last revised June 24, 2024"
    return Passage(text=text, page="Typical Treatment", section="Maintenance", score=0.9 - n / 100,
                   revised="June 24, 2024", url=url, citation=cite + (f" · {url}" if url else ""),
                   highlight="Maintenance usually lasts for about 2 years." if highlight is None
                   else highlight,
                   chunk_id=f"typical#{n}")


def visible_text(fragment: str) -> str:
    """What a reader sees of an HTML fragment: tags dropped, entities decoded, whitespace folded."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment))).strip()


class FakeAssistant:
    """Answers every question with the same passages; remembers what it was asked and with which history."""

    collection = COLLECTION

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def ask(self, message: str, history: list[str] | None = None, k: int | None = None) -> Answer:
        self.calls.append((message, list(history or [])))
        if "car" in message:
            md = render_not_found(["Typical Treatment"], self.collection)
            return Answer(question=message, query=message, answerable=False, passages=(), html=md)
        ps = tuple(passage(n) for n in range(1, 5))
        return Answer(question=message, query=message, answerable=True, passages=ps,
                      html=render_passages(ps, 3, collection=self.collection))


# ---- rendering (qa/answer.py) --------------------------------------------------------------------


def test_reply_quotes_passages_with_the_best_sentence_marked() -> None:
    md = render_passages((passage(1),), 3)
    assert "<mark>Maintenance usually lasts for about 2 years.</mark>" in md
    assert md.count("<mark>") == 1
    assert "<blockquote>" in md
    assert "\n\n" not in md  # one HTML block: Markdown never reinterprets the corpus text


def test_passage_text_is_never_rewritten() -> None:
    p = passage(1)
    quote = render_passages((p,), 3).split("<blockquote>")[1].split("</blockquote>")[0]
    # the only change is layout: list bullets become <li>, paragraphs <p>
    assert visible_text(quote) == re.sub(r"\s+", " ", p.text.replace("\n- ", " ")).strip()


def test_citations_are_numbered_with_revision_date_and_a_new_tab_link() -> None:
    md = render_passages(tuple(passage(n) for n in range(1, 3)), 3)
    line = "[1]</span> Typical Treatment › Maintenance · American Cancer Society · Last revised June 24, 2024"
    assert line in md
    assert "[2]</span>" in md
    assert f'<a href="{URL}" target="_blank" rel="noopener noreferrer">' in md


def test_only_web_links_become_links() -> None:
    md = render_passages((passage(1, url="javascript:alert(1)"),), 3)
    assert "<a " not in md
    assert "javascript:alert" not in md  # the bad link is dropped from the line, not shown as a link


def test_more_passages_are_folded() -> None:
    md = render_passages(tuple(passage(n) for n in range(1, 6)), 3)
    shown, folded = md.split("<details", 1)
    assert shown.count("qa-passage") == 3
    assert "<summary>More passages (2)</summary>" in folded
    assert "[4]</span>" in folded and "[5]</span>" in folded


def test_corpus_and_markup_characters_are_shown_as_text() -> None:
    p = passage(1, text="A <script>alert(1)</script> **bold** [x](javascript:y) $$x$$ & more.", highlight="")
    md = render_passages((p,), 3)
    assert "<script>" not in md and "**" not in md and "[x]" not in md and "$$" not in md
    assert visible_text(md.split("<blockquote>")[1].split("</blockquote>")[0]) == p.text


def test_highlight_across_list_items_stays_well_formed() -> None:
    p = passage(1, highlight="Drugs used include:\n- Methotrexate (given as pills)")
    md = render_passages((p,), 3)
    assert "<p><mark>Drugs used include:</mark></p><ul><li><mark>Methotrexate (given as pills)</mark></li>" \
        in md
    assert md.count("<mark>") == md.count("</mark>") == 2


def test_urgent_notice_comes_first_and_stands_out() -> None:
    md = render_passages((passage(1),), 3, notice=urgent_notice() + " Your message was long.")
    assert md.index('class="qa-urgent" role="alert"') < md.index("<blockquote>")
    assert '<p class="qa-note">Your message was long.</p>' in md
    not_found = render_not_found(["A page"], COLLECTION, notice=urgent_notice())
    assert not_found.startswith('<div class="qa-answer qa-declined">\n<div class="qa-urgent" role="alert">')


def test_not_found_is_kind_and_points_to_the_topics_the_helpline_and_the_care_team() -> None:
    md = render_not_found(["Surgery for ALL", "Chemotherapy for ALL"], COLLECTION,
                          reason="The pages don't mention <b>zorbex</b>.")
    text = visible_text(md)
    assert "I couldn't find that in these pages. The pages don't mention <b>zorbex</b>." in text
    assert "<ul><li>Surgery for ALL</li><li>Chemotherapy for ALL</li></ul>" in md
    assert "American Cancer Society helpline at 1-800-227-2345" in text and "care team" in text
    assert "<b>" not in md  # the reason can quote the patient: escaped


def test_the_wording_comes_from_the_collection_and_invents_no_helpline() -> None:
    """Another publisher's pages with no helpline in sources.json: no number, no ACS, in any reply."""
    nci = Collection("Questions about the National Cancer Institute's pages", "lymphoma treatment",
                     ("National Cancer Institute",))
    md = visible_text(render_not_found(["Adult Hodgkin Lymphoma Treatment"], nci))
    cited = replace(passage(1, url=None),
                    citation="Hodgkin › Stages · National Cancer Institute · Revision date not given")
    reply = render_passages((cited,), 3, collection=nci)
    for text in (md, reply):
        assert "American Cancer Society" not in text and "1-800" not in text
    assert "the National Cancer Institute's pages on lymphoma treatment" in md
    assert "From the National Cancer Institute&#39;s pages" in reply or "From the National Cancer Institute's" in \
        visible_text(reply)


def test_escape_html_leaves_plain_words_alone() -> None:
    assert escape_html("Imatinib (Gleevec), 2 years") == "Imatinib (Gleevec), 2 years"
    assert escape_html("<img src=x onerror=alert(1)>") == "&#60;img src=x onerror=alert(1)&#62;"


# ---- the app around a fake assistant -------------------------------------------------------------


def handlers(demo: Any) -> dict[str, Any]:
    """The event functions of the demo by name (first one wins)."""
    out: dict[str, Any] = {}
    for block_fn in demo.fns.values():
        name = getattr(block_fn.fn, "__name__", None)
        if name and name not in out:
            out[name] = block_fn.fn
    return out


def like(index: int, liked: bool):  # type: ignore[no-untyped-def]
    import gradio as gr

    return gr.LikeData(None, {"index": index, "value": "", "liked": liked})


def chat_turn(fns: dict[str, Any], message: str, chat: list, turns: list) -> tuple[list, list]:
    box, chat, pending = fns["take"](message, chat)
    assert box == ""
    chat, turns, pending = fns["reply"](pending, chat, turns)
    assert pending == ""
    return chat, turns


def test_demo_has_header_examples_and_named_api_endpoints() -> None:
    demo = app.build_demo(FakeAssistant())
    config = demo.get_config_file()
    text = str(config)
    assert "1-800-227-2345" in text and "not medical advice" in text and "treating ALL in adults" in text
    assert "Feedback is being saved" not in text
    names = {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert names == {"ask", "chat"}
    chatbot = next(c for c in demo.blocks.values() if c.get_config().get("elem_id") == "qa-chat")
    assert [e["text"] for e in chatbot.examples] == list(COLLECTION.examples)
    assert chatbot.sanitize_html and chatbot.latex_delimiters == []


def test_follow_ups_use_earlier_questions_and_a_new_chat_forgets() -> None:
    fake = FakeAssistant()
    fns = handlers(app.build_demo(fake))
    chat, turns = chat_turn(fns, "What is maintenance?", [], [])
    chat, turns = chat_turn(fns, "how long does it last?", chat, turns)
    assert fake.calls == [("What is maintenance?", []), ("how long does it last?", ["What is maintenance?"])]
    assert [m["role"] for m in chat] == ["user", "assistant", "user", "assistant"]
    chat, turns, *_ = fns["new_chat"]()
    chat, turns = chat_turn(fns, "and for T-cell ALL?", chat, turns)
    assert fake.calls[-1] == ("and for T-cell ALL?", [])


def test_the_question_is_shown_as_typed_never_as_html() -> None:
    fns = handlers(app.build_demo(FakeAssistant()))
    _, chat, pending = fns["take"]("<img src=x onerror=alert(1)> is it **safe**?", [])
    assert pending == "<img src=x onerror=alert(1)> is it **safe**?"  # the assistant gets the raw text
    assert "<img" not in chat[-1]["content"] and "**" not in chat[-1]["content"]
    assert visible_text(chat[-1]["content"]) == "<img src=x onerror=alert(1)> is it **safe**?"


def test_empty_message_is_ignored() -> None:
    fake = FakeAssistant()
    fns = handlers(app.build_demo(fake))
    box, chat, pending = fns["take"]("   ", [])
    assert pending == ""
    fns["reply"]("", [], [])
    assert fake.calls == []


def test_feedback_is_stored_only_when_logging_is_on(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path / "feedback.jsonl")
    demo = app.build_demo(FakeAssistant(), feedback=log)
    assert "Feedback is being saved" in str(demo.get_config_file())
    fns = handlers(demo)
    chat, turns = chat_turn(fns, "What is maintenance?", [], [])
    chat, turns = chat_turn(fns, "how long does it last?", chat, turns)
    vote_id, row = fns["vote"](chat, turns, like(3, False))  # the second reply
    assert row["visible"] is True  # the optional reason box opens
    fns["give_reason"](vote_id, "it did not say how long")
    fns["vote"](chat, turns, like(1, True))
    records = log.read()
    assert [(r["kind"], r.get("up")) for r in records] == [("vote", False), ("reason", None), ("vote", True)]
    assert records[0]["question"] == "how long does it last?"
    assert records[0]["history"] == ["What is maintenance?"]
    assert records[0]["shown"] == ["typical#1", "typical#2", "typical#3", "typical#4"]
    assert records[1] == {**records[1], "vote": records[0]["id"], "text": "it did not say how long"}


def test_feedback_off_stores_nothing(tmp_path: Path) -> None:
    fns = handlers(app.build_demo(FakeAssistant()))
    chat, turns = chat_turn(fns, "What is maintenance?", [], [])
    vote_id, row = fns["vote"](chat, turns, like(1, False))
    assert vote_id == "" and row["visible"] is False
    assert not any(tmp_path.iterdir())


def test_feedback_turns_on_from_the_assistant_config(tmp_path: Path) -> None:
    from qa.config import Config

    fake = FakeAssistant()
    fake.cfg = Config.of(feedback=True, data_dir=tmp_path)  # type: ignore[attr-defined]
    fns = handlers(app.build_demo(fake))
    chat, turns = chat_turn(fns, "What is maintenance?", [], [])
    fns["vote"](chat, turns, like(1, False))
    assert len(FeedbackLog.in_dir(tmp_path).read()) == 1


# ---- a real server with the real assistant, called with gradio_client ----------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(real_assistant):  # type: ignore[no-untyped-def]
    demo = app.build_demo(real_assistant)
    demo.queue()
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
                **app.launch_options())
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def test_api_ask_returns_the_structured_cited_answer(served: str) -> None:
    from gradio_client import Client

    client = Client(served, verbose=False)
    result = client.predict("What are the side effects of Gleevec?", [], api_name="/ask")
    assert result["answerable"] is True
    top = result["passages"][0]
    assert "Common side effects include diarrhea" in top["text"]
    assert top["highlight"] and top["highlight"] in top["text"]
    assert "American Cancer Society" in top["citation"] and "Last revised" in top["citation"]
    follow = client.predict("how long does it last?", ["What is maintenance therapy?"], api_name="/ask")
    assert any("2 years" in p["text"] for p in follow["passages"][:3])


def test_api_chat_returns_a_cited_reply(served: str) -> None:
    from gradio_client import Client

    client = Client(served, verbose=False)
    reply = client.predict("Can surgery cure ALL?", api_name="/chat")
    assert "<mark>" in reply and "[1]</span>" in reply and "American Cancer Society" in reply
    declined = client.predict("how do I fix my car's brakes?", api_name="/chat")
    assert "I couldn't find that in these pages" in visible_text(declined)
