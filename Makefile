# Conveniences; the README's two commands are `bash scripts/serve` and `bash scripts/test`.
.PHONY: serve test setup lint schema lock bench

serve:
	bash scripts/serve

test:
	bash scripts/test

setup:
	bash scripts/setup all

lint:
	.venv/bin/ruff check . && .venv/bin/mypy

schema:
	.venv/bin/flows schema > schemas/flow.schema.json

lock:
	python3 -m venv /tmp/gitflows-lock && /tmp/gitflows-lock/bin/pip install -q -r requirements.in \
	  && /tmp/gitflows-lock/bin/pip freeze > requirements.lock && rm -rf /tmp/gitflows-lock

bench:
	.venv/bin/python -m bench && .venv/bin/python -m bench.history && .venv/bin/python -m bench.ingress
