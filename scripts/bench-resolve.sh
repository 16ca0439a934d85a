#!/bin/sh
# Resolve many URLs against the generated 10,000-site config (see /work/shared/bench/README.md):
#   scripts/bench-resolve.sh [SITES] [URLS]
set -eu
sites=${1:-10000}
urls=${2:-100000}
dir=/tmp/ngx/s$sites
gen=${BENCH_GEN:-/work/shared/bench/gen_nginx.py}
[ -f "$dir/nginx.conf" ] || python3 "$gen" --sites "$sites" --out "$dir"
cargo run --quiet --release --example resolve_bench -- "$dir/nginx.conf" "$urls"
