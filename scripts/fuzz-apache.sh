#!/bin/sh
# Fuzz the Apache config loader with cargo-fuzz (libFuzzer) for SECONDS (default 300).
#   cargo install cargo-fuzz        # once
#   scripts/fuzz-apache.sh [SECONDS]
# RUSTC_BOOTSTRAP=1 lets a stable toolchain build what cargo-fuzz needs (-Z sanitizer flags).
# Seeds: this machine's /etc/apache2 files (when present) and a generated 20-site tree.
set -eu
cd "$(dirname "$0")/.."
secs=${1:-300}
corpus=fuzz/corpus/apache_config
mkdir -p "$corpus"
[ -d /etc/apache2 ] && find /etc/apache2 -name '*.conf' -exec cp {} "$corpus"/ \;
python3 scripts/gen_apache.py --sites 20 --out /tmp/fuzz-apache-seed >/dev/null
find /tmp/fuzz-apache-seed -name '*.conf' | head -40 | while read -r f; do
    cp "$f" "$corpus/seed-$(basename "$f")"
done
RUSTC_BOOTSTRAP=1 cargo fuzz run apache_config "$corpus" -- \
    -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048
