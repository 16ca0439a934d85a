#!/bin/sh
# Predict the status of many URLs on the generated 10,000-site config (../shared/bench/gen_nginx.py):
# load once, build the resolver's index, then resolve URLS requests (a server_name of the config as
# Host, a usual media/static/app path) twice. Issue 3 asks for 100,000 URLs in well under a second.
#   scripts/bench-resolve.sh [SITES] [URLS]      # defaults: 10000 100000
# BENCH_DIR (default /tmp/ngx) holds the generated configs, shared with scripts/bench-nginx.sh.
# MD_BENCH_SAME=1 resolves the same URL every time (steady-state cost of one request).
set -eu
cd "$(dirname "$0")/.."
. scripts/bench-kit.sh
sites=${1:-10000}
urls=${2:-100000}
dir=${BENCH_DIR:-/tmp/ngx}/s$sites
[ -f "$dir/nginx.conf" ] || python3 "$bench/gen_nginx.py" --sites "$sites" --out "$dir" >/dev/null
cargo build --release --quiet --example resolve_bench
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
target/release/examples/resolve_bench "$dir/nginx.conf" "$urls"
