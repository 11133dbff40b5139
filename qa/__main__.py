"""`python -m qa`."""

from qa.cli import main

raise SystemExit(main())
