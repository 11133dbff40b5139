# The two commands that matter: `make run` (set up, then start the chat) and `make test` (set up, then test).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test index eval bench browser lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and pinned: pip resolves 2.13.0 to the local CPU wheel; unpinned would pull CUDA (GBs)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# Debian's Chromium for the browser tests (Playwright's own browser download cannot work offline).
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

run: setup
	$(PY) app.py

test: setup browser
	$(VENV)/bin/mypy
	$(PY) -m pytest -q

index: setup
	$(VENV)/bin/qa build

CORPORA := $(wildcard eval/corpora/*/corpus)
SHORT := --config tutorial --config hybrid --config never-decline --config default-no-scope-model --config default

eval: setup
	$(VENV)/bin/qa eval --questions eval/questions.jsonl --out eval --notes eval/experiments.md
	# the validation set (other writers, never trained on): the held-out check next to dev
	$(VENV)/bin/qa eval --questions eval/val_questions.jsonl --out eval/val $(SHORT)
	# the holdout set (a further writer): only ever reported, never used to choose anything
	$(VENV)/bin/qa eval --questions eval/holdout_questions.jsonl --out eval/holdout $(SHORT)
	# corpora nobody tuned for: each built (and learned) into its own index beside the others, never index/
	for c in $(CORPORA); do d=$$(dirname $$c); n=$$(basename $$d); \
		$(VENV)/bin/qa eval --corpus $$c --index .eval-index/$$n --questions $$d/patient_questions.jsonl \
			--out $$d/report/patient $(SHORT) || exit 1; \
		$(VENV)/bin/qa eval --corpus $$c --index .eval-index/$$n --questions $$d/medquad_questions.jsonl \
			--out $$d/report/medquad $(SHORT) || exit 1; done
	$(PY) eval/summary.py

bench: setup
	$(VENV)/bin/qa bench

lint: setup
	$(VENV)/bin/ruff check qa app.py tests eval bench
	$(VENV)/bin/mypy

clean:
	rm -rf index .eval-index .pytest_cache
