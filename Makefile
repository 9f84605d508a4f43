# mailrep: `make run` installs and starts the service, `make test` runs every test.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# make run HTTP=0.0.0.0:8081 SMTP=127.0.0.1:2526 DNS=127.0.0.1:5353
HTTP ?= 127.0.0.1:8080
SMTP ?= 127.0.0.1:2525
DNS ?= 127.0.0.1:5300

.PHONY: install peers run test lint bench clean

# setup.py and the C source too: an edit of the DNS fast path must rebuild the extension
$(BIN)/mailrep: pyproject.toml setup.py src/mailrep/dns/_fastpath.c src/mailrep/dns/_shield.c src/mailrep/dns/_shield.h
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(BIN)/mailrep

install: $(BIN)/mailrep

peers:
	scripts/install-peers

run: install
	$(BIN)/mailrep serve --http $(HTTP) --smtp $(SMTP) --dns $(DNS)

test: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy --strict src/mailrep/policy src/mailrep/trace
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy --strict src/mailrep/policy src/mailrep/trace

bench: install
	$(BIN)/python benchmarks/trace.py

clean:
	rm -rf $(VENV) var build *.egg-info src/mailrep/dns/_fastpath*.so
