#!/usr/bin/env bash
# Installs what xdpkt needs to build and test: Debian packages (when run as root and
# something is missing), a virtualenv in .venv, and the package with its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
    build-essential pkg-config python3-venv python3-dev
    ethtool iproute2 tcpdump tcpreplay
    libpcap-dev libdpdk-dev libxdp-dev libbpf-dev
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]]; then
        echo "install: apt-get install ${missing[*]}"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    else
        echo "install: not root, skipping missing Debian packages: ${missing[*]}" >&2
    fi
fi

for tool in cargo rustc; do
    command -v "$tool" >/dev/null || { echo "install: $tool not found (a Rust toolchain >= 1.87 is needed)" >&2; exit 1; }
done

PYTHON=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q '.[test]'
echo "install: done; activate with: . .venv/bin/activate"
