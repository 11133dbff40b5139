"""Start the chat: `python app.py` does what `qa serve` does. The app itself is qa/chat.py, inside the package,
so an installed wheel serves it too."""

from qa.chat import main

if __name__ == "__main__":
    raise SystemExit(main())
