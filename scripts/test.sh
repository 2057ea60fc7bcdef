#!/usr/bin/env bash
# The whole test suite: Rust formatting, lints and tests, then the Python package
# (lint, strict typing, stubs against the built module, pytest with warnings as errors).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}

step() { printf '\n== %s\n' "$*"; }

step "cargo fmt --check";   cargo fmt --all --check
step "cargo clippy";        cargo clippy --workspace --all-targets -- -D warnings
step "cargo test";          cargo test --workspace
# The AF_XDP tests on veth pairs create network namespaces: they are #[ignore]d,
# run here only as root, and fail (not pass) if forced to run without it.
if [ "$(id -u)" -eq 0 ]; then
    step "cargo test (privileged: AF_XDP on veth)"
    cargo test -p xdpkt --test xsk_veth --test xsk_alloc -- --ignored
else
    step "cargo test (privileged: AF_XDP on veth)"
    echo "skipped: not root (xsk_veth, xsk_alloc create network namespaces and veth pairs; run scripts/test.sh as root)"
fi
step "ruff";                "$PY" -m ruff check python tests
step "mypy --strict";       "$PY" -m mypy --strict
step "stubtest";            "$PY" -m mypy.stubtest xdpkt._xdpkt --allowlist scripts/stubtest-allowlist.txt
step "pytest -W error";     "$PY" -m pytest -W error
step "cargo fuzz (brief)";  scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
echo; echo "all tests passed"
