#!/usr/bin/env bash
# The binary sizes the docs quote, measured: the default build (HTTP server and CUDA backend)
# and the lean sensor build (neither). Release profile, as README's commands build them.
# Usage: benches/sizes.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
cargo build --release --quiet --no-default-features --target-dir target/lean
mib() { python3 -c "import os,sys; print(f'{os.path.getsize(sys.argv[1]) / 2**20:.1f} MiB')" "$1"; }
echo "default build (server, cuda): $(mib target/release/dga-lite)  target/release/dga-lite"
echo "lean build (--no-default-features): $(mib target/lean/release/dga-lite)  target/lean/release/dga-lite"
echo "on $(uname -m), $(rustc --version)"
