"""The patient's chat: a Gradio 6 app over qa.Assistant (`qa serve`, `python app.py`). Nothing is loaded at
import time: gradio is imported when the app is built, the assistant when it is served."""

from __future__ import annotations

import os
from typing import Any

from qa import Config
from qa.feedback import QUESTIONS_FILENAME, Asked, FeedbackLog, Reason, Vote
from qa.types import Answer

HEADER = """
# {title}

Ask in your own words. Every answer is **quoted word for word** from {by} on **{topic}**, with the page,
the section and the date it was last revised.

**This is not medical advice**, and it only covers what these pages say. For your own situation, ask your
care team{helpline}.

If you have a fever, bleeding that won't stop, trouble breathing or another urgent symptom, contact your
care team now, or call 911 if it is severe.
"""


def header(collection: Any) -> str:
    """The page's heading and notes, in the words of corpus/sources.json (publisher, topic, helplines)."""
    from qa.answer import escape_html

    lines = [f"the {escape_html(name)} at **{escape_html(number)}**" for name, number in collection.helplines]
    helpline = f", or call {' or '.join(lines)}" if lines else ""
    return HEADER.format(title=escape_html(collection.title), by=escape_html(collection.by),
                         topic=escape_html(collection.topic), helpline=helpline)
FEEDBACK_ON = (
    "**Feedback is being saved on this server.** When you rate a reply with the thumbs up or down under "
    "it, your question, the earlier questions of this chat and any note you add are stored to improve the "
    "answers."
)
QUESTIONS_ON = (
    "**Questions are being saved on this server.** Each question you ask, with the earlier questions of this "
    "chat, is stored so the maintainers can improve the answers."
)
CSS = """
#qa-header { font-size: 1.05rem; line-height: 1.55; }
#qa-header h1 { font-size: 1.7rem; margin-bottom: .4em; }
#qa-chat .message-content, #qa-chat .prose { font-size: 17px; line-height: 1.6; }
#qa-chat mark { background: #ffe066; color: #111; padding: 0 .15em; border-radius: 3px; font-weight: 600; }
#qa-chat blockquote { margin: .4em 0 .2em; padding: .1em 0 .1em .9em; border-left: 4px solid #8aa4c8; }
#qa-chat blockquote p { margin: .35em 0; }
#qa-chat blockquote ul { margin: .3em 0 .3em 1.2em; }
#qa-chat .qa-passage { margin-bottom: 1.1em; }
#qa-chat .qa-cite { font-size: 15px; margin: .2em 0 0; opacity: .9; }
#qa-chat .qa-num { font-weight: 700; }
#qa-chat .qa-intro { margin: 0 0 .4em; font-weight: 600; }
#qa-chat .qa-disclaimer { font-size: 15px; opacity: .85; }
#qa-chat .qa-urgent { border: 3px solid #b42318; background: #fef3f2; color: #7a1a12; border-radius: 8px;
  padding: .6em .9em; margin: 0 0 .9em; }
#qa-chat details.qa-more > summary { cursor: pointer; font-weight: 600; padding: .4em 0; }
#qa-chat a { text-decoration: underline; }
#qa-feedback-note { font-size: 15px; }
*:focus-visible { outline: 3px solid #1d4ed8 !important; outline-offset: 2px; }
@media (max-width: 640px) {
  #qa-header, #qa-feedback-note { font-size: 15px; line-height: 1.45; }
  #qa-header h1 { font-size: 1.3rem; }
  #qa-chat { height: 68vh !important; }
  #qa-chat .message-content, #qa-chat .prose { font-size: 16px; }
  #qa-chat blockquote { padding-left: .6em; }
}
"""
# Gradio scopes CSS to the app's content; the page margins around it need a plain style tag
HEAD = """<style>
@media (min-width: 1000px) { .gradio-container .app { max-width: 980px !important; margin: 0 auto; } }
@media (max-width: 640px) {
  .gradio-container .app { padding-left: 8px !important; padding-right: 8px !important; }
}
</style>"""
# after a reply, show the question and the top of the reply (where an urgent notice is), not the reply's end
SCROLL_TO_REPLY = """() => {
  const asked = document.querySelectorAll('#qa-chat [data-testid="user"]');
  if (asked.length) asked[asked.length - 1].scrollIntoView({block: "start", behavior: "instant"});
}"""


def show_user(message: str) -> str:
    """The patient's message as the chat shows it: exactly the text typed, never markup (HTML stays text)."""
    from qa.answer import escape_html

    return "<br>".join(escape_html(line.strip()) for line in message.strip().splitlines() if line.strip())


def launch_options() -> dict[str, Any]:
    """Styling for demo.launch() (Gradio 6 takes css and theme there, not in Blocks)."""
    import gradio as gr

    # system fonts: no request to a font service (privacy, and the app works offline)
    fonts = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"]
    mono = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]
    theme = gr.themes.Default(text_size=gr.themes.sizes.text_lg, font=fonts, font_mono=mono)
    return {"css": CSS, "head": HEAD, "theme": theme}


def build_demo(assistant: Any, feedback: FeedbackLog | None = None) -> Any:
    """The chat around any object with ask(message, history) -> Answer (tests pass a fake).

    Feedback is stored only when a log is given, or when assistant.cfg.serving.feedback is on (QA_FEEDBACK=1).
    """
    import gradio as gr

    from qa import QAError
    from qa.answer import PLAIN

    cfg = getattr(assistant, "cfg", None)
    if feedback is None and cfg is not None and cfg.serving.feedback:
        feedback = FeedbackLog.in_dir(cfg.paths.data_dir)
    collection = getattr(assistant, "collection", None) or PLAIN

    questions = (FeedbackLog(cfg.paths.data_dir / QUESTIONS_FILENAME)
                 if cfg is not None and cfg.serving.log_questions else None)

    def answer(message: str, history: list[str]) -> Answer:
        try:
            ans = assistant.ask(message, history=history)
        except QAError as e:
            raise gr.Error(str(e)) from None
        if questions is not None:  # opt-in only (QA_LOG_QUESTIONS=1): questions are personal data
            questions.append(Asked(question=message[:4000], history=tuple(history), answerable=ans.answerable,
                                   shown=tuple(p.chunk_id for p in ans.passages), reason=ans.reason))
        return ans

    def take(message: str, chat: list[dict[str, Any]]) -> tuple[Any, Any, str]:
        """Show the question at once and clear the box; the answer follows in reply()."""
        if not (message or "").strip():
            return gr.skip(), gr.skip(), ""
        return "", [*chat, {"role": "user", "content": show_user(message)}], message

    def take_example(chat: list[dict[str, Any]], evt: gr.SelectData) -> tuple[list[dict[str, Any]], str]:
        value = evt.value
        message = str(value.get("text", "")) if isinstance(value, dict) else str(value)
        return [*chat, {"role": "user", "content": show_user(message)}], message

    def reply(pending: str, chat: list[dict[str, Any]], turns: list[dict[str, Any]]) -> tuple[Any, Any, str]:
        """Answer the pending question with the earlier questions of this chat as context."""
        if not pending.strip():
            return gr.skip(), gr.skip(), ""
        ans = answer(pending, [t["question"] for t in turns])
        shown = [p.chunk_id for p in ans.passages]
        turn = {"question": pending, "answerable": ans.answerable, "shown": shown}
        return [*chat, {"role": "assistant", "content": ans.html}], [*turns, turn], ""

    def new_chat() -> tuple[list[Any], list[Any], str, str, Any]:
        return [], [], "", "", gr.update(visible=False)

    def vote(chat: list[dict[str, Any]], turns: list[dict[str, Any]], evt: gr.LikeData) -> tuple[str, Any]:
        """Record a thumbs up/down on one reply; a thumbs-down opens the optional reason box."""
        index = evt.index if isinstance(evt.index, int) else evt.index[0]
        n = sum(1 for m in chat[:index] if isinstance(m, dict) and m.get("role") == "assistant")
        if evt.liked not in (True, False) or n >= len(turns):
            return "", gr.update(visible=False)
        if feedback is None:
            gr.Info("Thank you. Feedback saving is turned off on this server, so nothing was stored.")
            return "", gr.update(visible=False)
        turn = turns[n]
        record = Vote(question=turn["question"], up=bool(evt.liked),
                      history=tuple(t["question"] for t in turns[:n]), answerable=bool(turn["answerable"]),
                      shown=tuple(turn["shown"]))
        feedback.append(record)
        if evt.liked:
            gr.Info("Thank you for your feedback.")
            return "", gr.update(visible=False)
        return record.id, gr.update(visible=True)

    def give_reason(vote_id: str, text: str) -> tuple[str, str, Any]:
        if feedback is not None and vote_id and text.strip():
            feedback.append(Reason(vote=vote_id, text=text.strip()[:2000]))
            gr.Info("Thank you. Your note was saved.")
        return "", "", gr.update(visible=False)

    # Gradio finds its event-data parameters by type hint; under `from __future__ import annotations` the hint
    # is the string "gr.SelectData", which it cannot resolve (gradio is imported here, not at module level)
    take_example.__annotations__["evt"] = gr.SelectData
    vote.__annotations__["evt"] = gr.LikeData

    def ask(question: str, history: list[str] | None = None) -> dict[str, Any]:
        """Structured answer: answerable, notice, reason and passages with citations and highlights."""
        return answer(question, list(history or [])).to_dict()

    def chat_api(message: str, history: list[str] | None = None) -> str:
        """The reply the chat shows (HTML: quotes, highlights and numbered citations, or the declined reply)."""
        return answer(message, list(history or [])).html

    with gr.Blocks(title=collection.title, analytics_enabled=False) as demo:
        gr.Markdown(header(collection), elem_id="qa-header")
        if feedback is not None:
            gr.Markdown(FEEDBACK_ON, elem_id="qa-feedback-note")
        if questions is not None:
            gr.Markdown(QUESTIONS_ON, elem_id="qa-questions-note")
        turns = gr.State([])  # this chat's questions as typed, with what each reply showed
        pending = gr.State("")
        vote_id = gr.State("")
        chatbot = gr.Chatbot(
            label="Conversation", show_label=False, elem_id="qa-chat", height="62vh", min_height=320,
            examples=[{"text": q} for q in collection.examples] or None,
            placeholder="**Try one of these questions, or type your own below.**",
            feedback_options=("Like", "Dislike"), latex_delimiters=[], buttons=[],
            sanitize_html=True, render_markdown=True, allow_tags=False, autoscroll=False, layout="panel",
        )
        with gr.Row(equal_height=True):
            example = f", e.g. {collection.examples[0]}" if collection.examples else ""
            textbox = gr.Textbox(placeholder=f"Type your question{example}",
                                 label="Your question", show_label=False, max_length=4000, lines=1,
                                 max_lines=6, submit_btn="Ask", scale=5, elem_id="qa-input")
        with gr.Row(visible=False, elem_id="qa-reason") as reason_row:
            reason = gr.Textbox(label="What was wrong or missing? (optional)", max_length=2000, scale=5,
                                placeholder="e.g. It didn't answer how long it lasts")
            reason_btn = gr.Button("Send note", scale=1, min_width=120)
        clear = gr.Button("New chat (forget this conversation)", variant="secondary", size="md")

        textbox.submit(take, [textbox, chatbot], [textbox, chatbot, pending], queue=False,
                       api_visibility="private").then(
            reply, [pending, chatbot, turns], [chatbot, turns, pending], api_visibility="private",
        ).then(None, None, None, js=SCROLL_TO_REPLY, api_visibility="private")
        chatbot.example_select(take_example, [chatbot], [chatbot, pending], queue=False,
                               api_visibility="private").then(
            reply, [pending, chatbot, turns], [chatbot, turns, pending], api_visibility="private",
        ).then(None, None, None, js=SCROLL_TO_REPLY, api_visibility="private")
        chatbot.like(vote, [chatbot, turns], [vote_id, reason_row], api_visibility="private")
        for trigger in (reason.submit, reason_btn.click):
            trigger(give_reason, [vote_id, reason], [vote_id, reason, reason_row], api_visibility="private")
        clear.click(new_chat, None, [chatbot, turns, pending, vote_id, reason_row], queue=False,
                    api_visibility="private")
        chatbot.clear(new_chat, None, [chatbot, turns, pending, vote_id, reason_row], queue=False,
                      api_visibility="private")
        gr.api(ask, api_name="ask")
        gr.api(chat_api, api_name="chat")
    return demo


def main(cfg: Config | None = None) -> int:
    """Load the assistant (building the index if needed) and serve on cfg.serving.host:cfg.serving.port."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported
    # Gradio's queue keeps its last GRADIO_ANALYTICS_MAX_EVENTS requests (10,000 by default) and rebuilds a pandas
    # summary of all of them after every answer, for its monitoring page: each answer got slower and the server
    # bigger until 10,000 questions had been asked (qa bench, 16 clients: 61 -> 48 answers/s, +14 MB per 400).
    os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "200")
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "200")
    from qa import Assistant

    cfg = cfg or Config.from_env()
    assistant = Assistant.load(cfg)
    feedback = f"; feedback saved to {cfg.paths.data_dir}" if cfg.serving.feedback else ""
    feedback += f"; questions logged to {cfg.paths.data_dir / QUESTIONS_FILENAME}" if cfg.serving.log_questions else ""
    print(f"index {assistant.status}; learned models {assistant.encoder_status}; "
          f"serving on http://{cfg.serving.host}:{cfg.serving.port}{feedback}", flush=True)
    demo = build_demo(assistant)
    demo.queue(default_concurrency_limit=cfg.serving.concurrency)
    demo.launch(server_name=cfg.serving.host, server_port=cfg.serving.port, share=False, show_error=False,
                footer_links=["api"], pwa=False, mcp_server=False, state_session_capacity=cfg.serving.sessions,
                **launch_options())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
