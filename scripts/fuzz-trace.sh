#!/bin/sh
# Fuzz `trace` (random config x random URL: load, resolve, predict, both renderings) with
# cargo-fuzz (libFuzzer) for SECONDS (default 600).
#   cargo install cargo-fuzz        # once
#   scripts/fuzz-trace.sh [SECONDS]
# RUSTC_BOOTSTRAP=1 lets a stable toolchain build what cargo-fuzz needs (-Z sanitizer flags).
# Seeds: every config of ../shared/corpus (when present), each behind a URL line (the target's
# input is the URL on the first line, the config after it).
set -eu
cd "$(dirname "$0")/.."
secs=${1:-600}
corpus=fuzz/corpus/trace
mkdir -p "$corpus"
for d in ../shared/corpus ../../shared/corpus; do
    if [ -d "$d" ]; then
        find "$d" -name '*.conf' | while read -r f; do
            { echo "localhost/media/../a.png?x=1"; cat "$f"; } >"$corpus/$(echo "$f" | md5sum | cut -c1-16)"
        done
        break
    fi
done
RUSTC_BOOTSTRAP=1 cargo fuzz run trace "$corpus" -- \
    -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048
