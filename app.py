"""The patient's chat: a Gradio 6 app over qa.Assistant. Nothing is loaded at import time."""

from __future__ import annotations

import os
from typing import Any

from qa import Config

TITLE = "Questions about treating ALL in adults"
HEADER = """
Answers are **quoted word for word** from the American Cancer Society's pages on treating
acute lymphocytic leukemia (ALL) in adults, each with its source. This is **not medical advice**, and it does
not cover children's ALL or other cancers. For your own situation, ask your cancer care team, or call the
American Cancer Society helpline at **{helpline}**.
"""
EXAMPLES = [
    "What are the side effects of Gleevec?",
    "How long does maintenance chemo last?",
    "What is cytokine release syndrome with CAR T-cell therapy?",
    "Can surgery cure ALL?",
    "Why is a spinal tap done?",
]


def _text(content: Any) -> str:
    """The text of one chat message, whatever shape Gradio gives it in."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or content.get("content") or "")
    if isinstance(content, (list, tuple)):
        return " ".join(_text(c) for c in content)
    return ""


def user_turns(history: list[Any] | None) -> list[str]:
    """Earlier user messages of this chat, oldest first (the Assistant's follow-up context)."""
    turns = []
    for message in history or []:
        if isinstance(message, dict) and message.get("role") == "user":
            turns.append(_text(message.get("content")))
    return [t for t in turns if t.strip()]


def build_demo(assistant: Any):  # type: ignore[no-untyped-def]
    """The chat around any object with ask(message, history) -> Answer (tests pass a fake)."""
    import gradio as gr

    from qa import QAError

    def respond(message: str, history: list[Any]) -> str:
        try:
            return assistant.ask(message, history=user_turns(history)).markdown
        except QAError as e:
            raise gr.Error(str(e)) from None

    def ask(question: str, history: list[str] | None = None) -> dict[str, Any]:
        """Structured answer: answerable, notice and passages with citations."""
        try:
            return assistant.ask(question, history=list(history or [])).to_dict()
        except QAError as e:
            raise gr.Error(str(e)) from None

    helpline = getattr(assistant, "helpline", None) or "1-800-227-2345"
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(f"# {TITLE}\n{HEADER.format(helpline=helpline)}")
        gr.ChatInterface(
            respond,
            examples=EXAMPLES,
            run_examples_on_click=True,
            cache_examples=False,
            analytics_enabled=False,
            api_name="chat",
            chatbot=gr.Chatbot(height=560, sanitize_html=True, render_markdown=True, label="Answers"),
            textbox=gr.Textbox(placeholder="Type your question, e.g. What are the side effects of chemo?",
                               label="Your question", max_length=100_000),
        )
        gr.api(ask, api_name="ask")
    return demo


def main(cfg: Config | None = None) -> int:
    """Load the assistant (building the index if needed) and serve on cfg.host:cfg.port."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported
    from qa import Assistant

    cfg = cfg or Config.from_env()
    assistant = Assistant.load(cfg)
    print(f"index {assistant.status}; serving on http://{cfg.host}:{cfg.port}", flush=True)
    demo = build_demo(assistant)
    demo.queue(default_concurrency_limit=4)
    demo.launch(server_name=cfg.host, server_port=cfg.port, share=False, show_error=False,
                footer_links=["api"], pwa=False, mcp_server=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
