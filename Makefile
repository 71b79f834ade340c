# The two commands a new machine needs: `make run` and `make test`.
# Each builds its own virtual environment from the pinned requirements first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run check test test-slow bench bench-quick lock clean catalogs

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt | $(BIN)/activate
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt | $(BIN)/activate
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

run: $(VENV)/.runtime
	$(BIN)/python -m bot

# What to fix before (or after) `make run`: one line per finding, exit status 1 if anything
# the bot needs does not hold. `python -m bot check --offline` leaves the network out.
check: $(VENV)/.runtime
	$(BIN)/python -m bot check

# Lint, then every test but the slow ones (real processes, real 60-second rate windows);
# `make test-slow` runs those, and CI runs both.
test: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -m "not slow"

test-slow: $(VENV)/.dev
	$(BIN)/python -m pytest -m slow

clean:
	rm -rf $(VENV) .tools .pytest_cache .ruff_cache

# The locks, with hashes, from pyproject.toml's dependencies (after changing a pin there).
LOCK := .tools/bin/pip-compile --quiet --generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links
lock:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check pip-tools==7.6.2
	$(LOCK) --output-file requirements.txt pyproject.toml
	$(LOCK) --extra dev --output-file requirements-dev.txt pyproject.toml

bench: $(VENV)/.dev
	$(BIN)/python -m bench.run

bench-quick: $(VENV)/.dev
	$(BIN)/python -m bench.run --quick

# The translations (bot/locales): every text marked in the code (`tr`, `mark`, `locale_str`)
# into the template, then into each language's catalog, new texts left for translating. The
# bot reads the .po files as they are: there is nothing to compile.
LOCALES := bot/locales
LANGUAGES := es pt_BR fr de ja
catalogs: $(VENV)/.runtime
	$(BIN)/pybabel extract --no-default-keywords -k tr:2 -k mark -k locale_str -k named:1c,2 \
		--add-location=file --sort-by-file --no-wrap --project=posebot \
		-o $(LOCALES)/bot.pot bot cogs
	for language in $(LANGUAGES); do \
		$(BIN)/pybabel update --init-missing --no-fuzzy-matching --ignore-obsolete \
			--no-wrap -D bot -i $(LOCALES)/bot.pot -d $(LOCALES) -l $$language || exit 1; \
	done
