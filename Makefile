# OneVision Desk. `make test` is what CI runs (through .ci/run); `make run` starts the app.
CARGO ?= cargo
NPM ?= npm
PYTHON ?= python3
# The GPU build when NVIDIA's compiler is here; the CPU build everywhere else.
APP_FEATURES ?= $(if $(shell command -v nvcc 2>/dev/null),--features cuda,)

.PHONY: test fmt-check clippy cuda-check unit api-test ui-deps ui-build ui-test e2e package package-test run bench bench-llama bench-llama-avx2 bench-7b bench-serve bench-eval bench-startup parity-fixtures tokenizer

test: ui-build fmt-check clippy cuda-check unit api-test ui-test e2e package-test

fmt-check:
	$(CARGO) fmt --all -- --check

# The app crate embeds ui/dist at compile time, so the UI is built before any cargo step.
clippy: ui-build
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

# The `cuda` build type-checked and linted without a GPU or a CUDA toolkit (see the script).
cuda-check: ui-build
	bash scripts/check-cuda.sh

unit: ui-build
	$(CARGO) test --workspace --locked

tests/api/node_modules/.package-lock.json: tests/api/package-lock.json
	cd tests/api && $(NPM) ci --no-audit --no-fund --loglevel=error

# OpenAI's own npm client against `onevision serve` on the fixture model. The binary comes from the
# same build as the unit tests, so nothing is compiled again after `unit`.
api-test: ui-build tests/api/node_modules/.package-lock.json
	$(CARGO) test --workspace --locked --no-run
	node tests/api/run.mjs

ui/node_modules/.package-lock.json: ui/package-lock.json
	cd ui && $(NPM) ci --no-audit --no-fund --loglevel=error

ui-deps: ui/node_modules/.package-lock.json

ui-build: ui-deps
	cd ui && $(NPM) run build

ui-test: ui-deps
	cd ui && $(NPM) run typecheck && $(NPM) test

tests/e2e/node_modules/.package-lock.json: tests/e2e/package-lock.json
	cd tests/e2e && $(NPM) ci --no-audit --no-fund --loglevel=error

# The real app under Xvfb through tauri-driver (scripts/install-deps.sh --test installs them).
# `cargo test --no-run` builds the app binary and the scripted-model writer with the same features
# as the unit tests, so after `unit` nothing is compiled again.
e2e: ui-build tests/e2e/node_modules/.package-lock.json
	$(CARGO) test --workspace --locked --no-run
	node tests/e2e/prepare.mjs
	node tests/e2e/run.mjs

# The .deb and .rpm a student installs: the release build, bundled by Tauri's bundler with the
# desktop entry, icons and the `onevision` command (scripts/package.sh). CPU only unless
# PACKAGE_FEATURES says otherwise (a CUDA build runs only where NVIDIA's libraries are installed).
package:
	bash scripts/package.sh

# Bundles the debug build `unit` made (nothing compiled again), installs the .deb with dpkg (as
# root; sudo otherwise), starts the installed app under Xvfb, checks its desktop entry and icons,
# and removes it again.
package-test: ui-build
	$(CARGO) test --workspace --locked --no-run
	bash tests/package/run.sh

# Installs what is missing (saying so), builds the interface and starts the app.
run:
	bash scripts/install-deps.sh
	$(MAKE) ui-build
	$(CARGO) run --release --locked -p onevision-desk $(APP_FEATURES)

# Side-by-side CPU benchmark against transformers (needs Python with tests/parity/requirements.txt;
# writes a 1.4 GB random model under bench/.work once). Results: docs/performance.md.
bench:
	$(CARGO) build --release --locked -p onevision-cli
	$(PYTHON) bench/compare.py

# `onevision serve` with 1, 4 and 16 concurrent clients beside `onevision ask` alone, on the random
# mid-size model (written once with numpy under bench/.work). Results: docs/performance.md.
# The same picture and question through llama.cpp's llama-mtmd-cli (what LM Studio, Ollama and Jan
# run), row by row against our precisions, with the machine's memory bandwidth and each side's
# bound. llama.cpp is built once from the llama-cpp-python sdist, outside the repository; PYTHON
# needs llama.cpp's converter requirements (bench/llama_compare.py says which).
bench-llama:
	$(CARGO) build --release --locked -p onevision-cli
	$(PYTHON) bench/llama_compare.py

# The same on a CPU with AVX-512 as one with AVX2 only runs it (both sides; the mid-size model, a
# 1-megapixel picture: the vision tower is where AVX2 and AVX-512 differ most).
bench-llama-avx2:
	$(PYTHON) bench/llama_compare.py --avx2-only --rows q8_0 --picture-side 1024 \
		--onevision "$$(bench/build_avx2_only.sh)"

# The 7B's dimensions: first and second start, peak memory, speed per quantisation (numpy and
# pillow; writes a 16.6 GB random checkpoint under bench/.work once).
bench-7b:
	$(CARGO) build --release --locked -p onevision-cli
	$(PYTHON) bench/seven_b.py

bench-serve:
	$(CARGO) build --release --locked -p onevision-cli
	$(PYTHON) bench/write_random_model.py
	$(PYTHON) bench/serve_load.py --onevision target/release/onevision

# `onevision eval`'s items per hour on the random mid-size model: here, and through onevision serve
# with 1 and 4 requests at once. Results: docs/performance.md.
bench-eval:
	$(CARGO) build --release --locked -p onevision-cli
	$(PYTHON) bench/write_random_model.py
	$(PYTHON) bench/eval_throughput.py --onevision target/release/onevision

# The app's time from start to its first painted window (Xvfb), over several starts. Results:
# docs/performance.md.
bench-startup: ui-build
	$(CARGO) test --workspace --locked --no-run
	$(PYTHON) bench/startup.py --runs 9

# Regenerates the transformers reference fixtures (needs Python with tests/parity/requirements.txt).
parity-fixtures: tokenizer
	$(PYTHON) tests/parity/generate.py

tokenizer:
	bash tests/tokenizer/rebuild_qwen25_tokenizer.sh tests/tokenizer/qwen2.5
