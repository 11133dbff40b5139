"""The real chat in a real browser: Playwright drives Debian's Chromium against the app on a free port."""

from __future__ import annotations

import re
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qa import chat as app
from qa.feedback import FeedbackLog

CHROMIUM = "/usr/bin/chromium"
# Playwright's own browser download cannot work here: launch the distribution's Chromium (`make browser`)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).parent / "artifacts"
DOCS = Path(__file__).resolve().parents[1] / "docs"
REPLY_TIMEOUT = 20_000  # ms; a reply takes well under a second once the model is loaded

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and shutil.which("chromium") is None,
    reason="Chromium is not installed: run `make browser` (apt-get install chromium)",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def feedback_log(tmp_path_factory: pytest.TempPathFactory) -> FeedbackLog:
    return FeedbackLog(tmp_path_factory.mktemp("feedback") / "feedback.jsonl")


@pytest.fixture(scope="module")
def server(real_assistant, feedback_log: FeedbackLog) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The real app (real model, real index) served from a background thread."""
    demo = app.build_demo(real_assistant, feedback=feedback_log)
    demo.queue()
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
                **app.launch_options())
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=ARGS)
        yield browser
        browser.close()


class Chat:
    """One browser tab on the app, with the few actions a patient takes."""

    def __init__(self, page: Any, url: str) -> None:
        self.page = page
        self.dialogs: list[str] = []
        page.set_default_timeout(10_000)
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.goto(url)
        page.wait_for_selector("#qa-chat")
        self.box = page.locator("#qa-input textarea")

    @property
    def replies(self) -> Any:
        return self.page.locator('#qa-chat [data-testid="bot"]')

    @property
    def questions(self) -> Any:
        return self.page.locator('#qa-chat [data-testid="user"]')

    def ask(self, question: str) -> Any:
        """Type the question, press Enter, wait for its reply and return it."""
        before = self.replies.count()
        self.box.fill(question)
        self.box.press("Enter")
        self.page.wait_for_function(
            f"document.querySelectorAll('#qa-chat [data-testid=\"bot\"]').length > {before}",
            timeout=REPLY_TIMEOUT)
        return self.replies.nth(before)

    def new_chat(self) -> None:
        self.page.get_by_role("button", name=re.compile("New chat")).click()
        self.page.wait_for_function("document.querySelectorAll('#qa-chat [data-testid=\"bot\"]').length == 0")


def test_conversation_on_a_desktop(browser, server: str, real_assistant, feedback_log: FeedbackLog) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    chat = Chat(page, server)
    header = page.locator("#qa-header").inner_text()
    assert "not medical advice" in header and "1-800-227-2345" in header
    assert "American Cancer Society's pages on treating acute lymphocytic leukemia (ALL) in adults" in header
    assert "Feedback is being saved" in page.locator("#qa-feedback-note").inner_text()

    # the best-matching sentence is highlighted, and the citation names the page and its revision date
    question = "What are the side effects of Gleevec?"
    reply = chat.ask(question)
    expected = real_assistant.ask(question).passages[0]
    marked = reply.locator("mark").first.inner_text()
    assert marked.strip() == re.sub(r"^[-\s]+", "", expected.highlight).strip()
    cite = reply.locator(".qa-cite").first.inner_text()
    assert cite.startswith("[1] Targeted Therapy Drugs for Acute Lymphocytic Leukemia (ALL)")
    assert re.search(r"American Cancer Society · Last revised [A-Z][a-z]+ \d{1,2}, \d{4}", cite)
    assert reply.locator("details.qa-more summary").inner_text().startswith("More passages")

    # a follow-up leans on the previous question of the same chat...
    chat.ask("What is blinatumomab?")
    follow = chat.ask("what about its side effects?")
    assert "Blinatumomab" in follow.locator(".qa-cite").first.inner_text()
    assert "most common side effects are fever" in follow.locator("blockquote").first.inner_text()
    page.evaluate("window.scrollTo(0, 0)")  # the screenshot: the header, then the follow-up and its reply
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat-desktop.png"))

    # ...and a new chat forgets it
    chat.new_chat()
    fresh = chat.ask("what about its side effects?")
    assert "Blinatumomab" not in fresh.locator(".qa-cite").first.inner_text()

    # a thumbs-down opens the optional reason box; both are stored because feedback logging is on
    page.locator("#qa-chat").get_by_role("button", name="Dislike").last.click()  # under the only reply
    reason = page.get_by_label("What was wrong or missing? (optional)")
    reason.wait_for(state="visible")
    reason.fill("I meant blinatumomab")
    reason.press("Enter")
    reason.wait_for(state="hidden")
    records = feedback_log.read()
    assert [(r["kind"], r["question"] if r["kind"] == "vote" else r["text"]) for r in records[-2:]] == [
        ("vote", "what about its side effects?"), ("reason", "I meant blinatumomab")]
    assert chat.dialogs == []
    page.close()


def test_not_found_urgent_and_html_in_a_question(browser, server: str) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    chat = Chat(page, server)

    declined = chat.ask("how do I fix my car's brakes?")
    text = declined.inner_text()
    assert "I couldn't find that in these pages" in text
    assert "Stem Cell Transplant for Acute Lymphocytic Leukemia (ALL)" in text  # the topics the pages cover
    assert "American Cancer Society helpline at 1-800-227-2345" in text and "care team" in text
    assert declined.locator("blockquote").count() == 0  # no passage that merely shares a word

    urgent = chat.ask("my husband has a fever of 39 and chills, he's on chemo")
    notice = urgent.locator(".qa-urgent")
    assert notice.get_attribute("role") == "alert"
    assert "contact your cancer care team right away" in notice.inner_text()
    first = urgent.locator(".qa-answer > *").first
    assert first.get_attribute("class") == "qa-urgent"  # the notice comes before any passage
    assert notice.evaluate("e => getComputedStyle(e).borderTopWidth") == "3px"

    typed = "<img src=x onerror=alert(1)> what is a spinal tap?"
    reply = chat.ask(typed)
    assert chat.questions.last.inner_text().strip() == typed  # shown as the text typed
    assert page.locator("#qa-chat img").count() == 0  # never turned into an element
    assert reply.locator("blockquote").count() > 0  # and still answered
    page.wait_for_timeout(300)  # give a broken image's onerror time to fire, if it existed
    assert chat.dialogs == []
    page.close()


def test_phone_width_and_keyboard_only(browser, server: str) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                  is_mobile=True, has_touch=True)
    page = context.new_page()
    chat = Chat(page, server)

    # keyboard alone: an example question is a button reachable and pressed with the keyboard
    example = page.get_by_role("button", name=re.compile("How long does maintenance chemo last"))
    example.focus()
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelectorAll('#qa-chat [data-testid=\"bot\"]').length == 1",
                           timeout=REPLY_TIMEOUT)
    reply = chat.ask("and is there a reason it lasts so long?")
    assert reply.locator("mark").count() >= 1
    # nothing wider than the phone: no sideways scrolling
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    quoted = reply.locator("blockquote p, blockquote li").first
    size = quoted.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 16  # readable without zooming
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat-phone.png"))
    assert chat.dialogs == []
    context.close()


class LinkingAssistant:
    """A fake whose passage has a known link (the shipped corpus has no page addresses yet)."""

    url = "https://www.cancer.org/cancer/types/acute-lymphocytic-leukemia.html"

    def ask(self, message: str, history: list[str] | None = None):  # type: ignore[no-untyped-def]
        from qa.answer import render_passages
        from qa.types import Answer, Passage

        p = Passage(text="Some words. The best sentence.", page="P", section="S", score=1.0,
                    revised="June 24, 2024", url=self.url, highlight="The best sentence.",
                    citation=f"P › S · American Cancer Society · Last revised June 24, 2024 · {self.url}")
        return Answer(question=message, query=message, answerable=True, passages=(p,),
                      html=render_passages((p,), 3))


def test_links_open_in_a_new_tab(browser) -> None:
    demo = app.build_demo(LinkingAssistant())
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
                **app.launch_options())
    try:
        page = browser.new_page()
        reply = Chat(page, f"http://127.0.0.1:{port}/").ask("anything")
        link = reply.locator(".qa-cite a")
        assert link.get_attribute("href") == LinkingAssistant.url
        assert link.get_attribute("target") == "_blank"
        assert "noopener" in (link.get_attribute("rel") or "")
        page.close()
    finally:
        demo.close()
