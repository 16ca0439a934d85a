#!/bin/sh
# Fuzz the Django/Flask settings reader (any text as settings.py, through tree-sitter and the safe
# interpreter) with cargo-fuzz (libFuzzer) for SECONDS (default 600).
#   cargo install cargo-fuzz        # once
#   scripts/fuzz-settings.sh [SECONDS]
# RUSTC_BOOTSTRAP=1 lets a stable toolchain build what cargo-fuzz needs (-Z sanitizer flags).
# Seeds: every settings module and Flask app file under fixtures/ (real projects' layouts).
set -eu
cd "$(dirname "$0")/.."
secs=${1:-600}
corpus=fuzz/corpus/settings_reader
mkdir -p "$corpus"
find fixtures -name '*.py' -size -64k | while read -r f; do
    cp "$f" "$corpus/$(echo "$f" | md5sum | cut -c1-16)"
done
RUSTC_BOOTSTRAP=1 cargo fuzz run settings_reader "$corpus" -- \
    -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048
