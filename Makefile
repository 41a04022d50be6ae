# Two commands do all the set-up: `make demo` and `make test`. Both are idempotent.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.alignment-installed
DEMO := data/demo
DEMO_CONFIG := $(DEMO)/alignment.toml
# The demo history ends on 2026-10-31: three calm months, then the three with the planted change.
DEMO_REVIEW_MONTHS := 2026-05 2026-06 2026-07 2026-08 2026-09 2026-10

.PHONY: demo test test-fast install kernel bench bench-quick bench-scale lint clean-demo

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	  echo "error: '$(PYTHON) -m venv' failed; on Debian/Ubuntu run: apt-get install python3-venv"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench,spark]'
	$(BIN)/python -m ipykernel install --sys-prefix --name alignment --display-name "Python (alignment)" >/dev/null
	@touch $(STAMP)

install: $(STAMP)

$(DEMO_CONFIG): $(STAMP)
	$(BIN)/alignment demo-data --out $(DEMO) --reports-dir reports

$(DEMO)/model/model.json: $(DEMO_CONFIG)
	$(BIN)/alignment fit --config $(DEMO_CONFIG)

# The demo's agreement: signed once, at the workshop's expected-value optimum, in force before the first
# reviewed month, so every demo review holds both teams to it.
DEMO_AGREEMENT_FROM := 2026-04-01

demo: $(DEMO)/model/model.json
	@ls $(DEMO)/agreements/agreement-v*.yaml >/dev/null 2>&1 || $(BIN)/alignment agreement sign \
	  --config $(DEMO_CONFIG) --optimum --marketing "Maria Marketing (demo)" --sales "Sam Sales (demo)" \
	  --effective-from $(DEMO_AGREEMENT_FROM) --min-win-rate 0.07 \
	  --notes "Signed by make demo at the expected-value optimum"
	@for month in $(DEMO_REVIEW_MONTHS); do \
	  $(BIN)/alignment report --config $(DEMO_CONFIG) --month $$month --skip-existing || exit 1; \
	done
	@echo ""
	@echo "Demo history:   $(DEMO)/ (config: $(DEMO_CONFIG))"
	@echo "Fitted scale:   $(DEMO)/model/ (model.json, points.csv)"
	@echo "Agreement:      $(DEMO)/agreements/ (alignment agreement list --config $(DEMO_CONFIG))"
	@echo "Monthly review: reports/ (open reports/index.html)"
	@echo "Workshop:       $(BIN)/alignment workshop --config $(DEMO_CONFIG)"

test: $(STAMP)
	$(BIN)/python -m pytest

# The unit lane: no notebook execution, no browser, no database server (what CI runs is `make test`).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not browser and not postgres and not spark"

lint: $(STAMP)
	$(BIN)/ruff check alignment tests benchmarks

bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks.run --quick

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

# 10M leads + ~200M events on DuckDB, and the 1M history on Spark local[2] (not in CI: ~30 min, ~15 GB disk).
bench-scale: $(STAMP)
	$(BIN)/python -m benchmarks.bench_scale

clean-demo:
	rm -rf $(DEMO)
