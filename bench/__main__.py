"""`python -m bench [flags]` is `qa bench [flags]`."""

import sys

from qa.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["bench", *sys.argv[1:]]))
