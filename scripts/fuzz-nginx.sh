#!/bin/sh
# Fuzz the nginx config loader with cargo-fuzz (libFuzzer) for SECONDS (default 300).
#   cargo install cargo-fuzz        # once
#   scripts/fuzz-nginx.sh [SECONDS]
# RUSTC_BOOTSTRAP=1 lets a stable toolchain build what cargo-fuzz needs (-Z sanitizer flags).
# Seeds: every config of ../shared/corpus (when present) and the generated 100-site tree.
set -eu
cd "$(dirname "$0")/.."
secs=${1:-300}
corpus=fuzz/corpus/nginx_config
mkdir -p "$corpus"
for d in ../shared/corpus ../../shared/corpus; do
    [ -d "$d" ] && find "$d" -name '*.conf' -exec cp {} "$corpus"/ \; && break
done
RUSTC_BOOTSTRAP=1 cargo fuzz run nginx_config "$corpus" -- \
    -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048
