# The two commands of the README, as thin wrappers over CMake and ctest.
#   make demo  installs what is missing, builds, runs the demo against kmsim
#   make test  installs what is missing, builds (plain, ASan+UBSan and the
#              libFuzzer targets with clang), runs the whole suite through ctest
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz

.PHONY: all deps build build-asan build-fuzz demo test unit format clean

all: build

deps:
	@./scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DKM_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

# Only the core library and the fuzz targets (tests/fuzz, docs/fuzzing.md).
build-fuzz: deps
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DKM_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target km_fuzzers

demo: build
	@./scripts/demo.sh $(BUILD)

test: build build-asan build-fuzz
	@./scripts/npm-deps.sh
	@./scripts/test.sh $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

unit: build
	@cd $(BUILD) && ctest -L unit --output-on-failure -j $(JOBS)

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
