#!/usr/bin/env bash
# One command for the offload benchmarks of issue 2 (bench/RESULTS.md, "Offload engine").
#   bench/run_offload.sh            full run (~8 min on a busy 2-core machine): 1,000,000-frame files
#   bench/run_offload.sh --quick    orientation run (~2 min; writes bench/results/offload-quick.json only)
#   bench/run_offload.sh --help     every option (bench/run_offload.py)
# Needs: gcc, pkg-config, libdpdk-dev (22.11), libpcap-dev, GNU time, cargo; installs the
# missing Debian packages when run as root. Python tools go into a venv (default: .venv at
# the repository root, override with XDPKT_BENCH_VENV).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${XDPKT_BENCH_VENV:-$ROOT/.venv}

need=()
for pkg in gcc pkg-config libdpdk-dev libpcap-dev time; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
    else
        echo "missing Debian packages: ${need[*]} (apt-get install them, or run as root)" >&2
        exit 2
    fi
fi
command -v cargo >/dev/null || { echo "cargo not found" >&2; exit 2; }

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check \
    "maturin>=1.5,<2" pytest pytest-benchmark "scapy>=2.5" matplotlib
exec "$VENV/bin/python" "$ROOT/bench/run_offload.py" --venv "$VENV" "$@"
