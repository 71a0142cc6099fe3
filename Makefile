# GridLoop developer entry points. Everything runs as local processes (no Docker engine needed).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install up down status demo test unit bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

up: install
	$(BIN)/gridloop stack up

.PHONY: infra
infra: install
	$(BIN)/gridloop stack up --infra-only

down:
	$(BIN)/gridloop stack down

status:
	$(BIN)/gridloop stack status

lint: install
	$(BIN)/ruff check gridloop services tests
