# regime: set-up, build, test and the main job. The README's two commands are `make sweep` and
# `make test`; both install what is missing (as root, via apt) and build first.
SHELL := /bin/bash

# CPU the release build targets. `native` is this machine's (AVX-512 here); for a heterogeneous
# cluster pick a common baseline such as x86-64-v3 (AVX2 + FMA). Plain -O would target baseline
# x86-64 without FMA, where the SIMD kernels run 5-100x slower. Results do not depend on it: the
# kernels fix their summation order and use explicit fused multiply-adds.
CPU ?= native
CONFIG := -c release -Xswiftc -target-cpu -Xswiftc $(CPU) -Xswiftc -enable-testing
BIN := .build/release/regime
NP ?= $(shell nproc)
SWEEP ?= sweeps/quick.yaml
OUT ?= results/$(basename $(notdir $(SWEEP)))
# chromium: the report's browser-render test (headless screenshot of report.html).
# time: /usr/bin/time, which measures a trial's peak memory in the memory tests and `regime bench`.
APT_PACKAGES := libopenmpi-dev openmpi-bin dataset-fashion-mnist zlib1g-dev pkg-config python3-numpy chromium time

# OpenMPI refuses to run as root unless told; the oversubscribe flag lets tests use 3 ranks on 2 cores.
export OMPI_ALLOW_RUN_AS_ROOT := 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM := 1
MPIRUN := mpirun --oversubscribe --hostfile hostfile -np $(NP)

.PHONY: setup build test sweep bench report clean

setup:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

build: setup
	swift build $(CONFIG)

# XCTest only (the suites are XCTest), then the plain closing line "N passed, N failed, N skipped".
test: build
	swift test $(CONFIG) --disable-swift-testing 2>&1 | tee .build/test.log; status=$${PIPESTATUS[0]}; \
	scripts/test-summary .build/test.log; exit $$status

sweep: build
	$(MPIRUN) $(BIN) sweep $(SWEEP) --out $(OUT) --force
	$(BIN) report $(OUT)

# The HTML report of an existing sweep directory: make report OUT=results/quick
report: build
	$(BIN) report $(OUT)

bench: build
	$(BIN) bench

clean:
	rm -rf .build results
