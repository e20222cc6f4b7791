# The two commands the README opens with: `make run` and `make test`.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
PYTHON     ?= /usr/bin/python3

.PHONY: all setup build build-asan run test unit unit-asan integration bench clean

all: build

setup:
	@scripts/setup

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

$(ASAN_BUILD)/build.ninja:
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPOSTERN_SANITIZE=ON

build-asan: $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD) -j $(JOBS) --target unit_tests

# Runs the server on its embedded default: 127.0.0.1:2525 (mx), :2587 (submission), :2465 (submissions), data in ./var.
run: setup build
	$(BUILD)/postern serve

unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

unit-asan: build-asan
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j $(JOBS)

integration: build
	POSTERN_BIN=$(abspath $(BUILD)/postern) $(PYTHON) -m pytest -q tests/integration

test: setup
	$(MAKE) unit
	$(MAKE) integration
	$(MAKE) unit-asan

# Postern side by side with Postfix and smtp-sink; writes bench/RESULTS.md. BENCH_ARGS=--quick for a short pass.
bench: setup build
	bench/run $(BENCH_ARGS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
