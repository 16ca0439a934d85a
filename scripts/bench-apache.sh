#!/bin/sh
# Benchmark the Apache config loader on a generated many-vhost config (scripts/gen_apache.py)
# and print the ratio the issue sets (#14: <= 1.5x `cat`):
#   load / floor   whole-process time to load the files (the load_apache example: read, split,
#                  includes, conditionals, variables), over `cat` of every file Apache reads
# Both from the same run (hyperfine medians). Say the load average with the figure (printed).
#   scripts/bench-apache.sh               # 10,000 sites
#   SITES=1000 RUNS=5 scripts/bench-apache.sh
# Needs python3 and hyperfine (apt-get install hyperfine).
set -eu
cd "$(dirname "$0")/.."
n=${SITES:-10000}
out=${BENCH_DIR:-/tmp/apache-bench}
dir=$out/s$n
[ -f "$dir/apache2.conf" ] || python3 scripts/gen_apache.py --sites "$n" --out "$dir" >/dev/null
cargo build --release --quiet --example load_apache
bin=target/release/examples/load_apache
# The files Apache reads: the main config, then everything it includes (envvars is read by
# apache2ctl, and by the loader).
{
    echo "$dir/envvars"
    echo "$dir/apache2.conf"
    find "$dir/mods-enabled" "$dir/conf-enabled" "$dir/sites-enabled" -type f | sort
    echo "$dir/ports.conf"
} >"$out/files-$n.txt"
bytes=$(xargs -a "$out/files-$n.txt" cat | wc -c)
files=$(wc -l <"$out/files-$n.txt")
"$bin" "$dir/apache2.conf" | tail -1
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)  ($(nproc) cores)"
hyperfine -N --style none --warmup 3 --runs "${RUNS:-15}" --export-json "$out/hyperfine-$n.json" \
    "xargs -a $out/files-$n.txt cat" \
    "$bin $dir/apache2.conf" >/dev/null
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$out/hyperfine-$n.json" "$n" "$files" "$bytes" <<'PY'
import json, sys
path, n, files, size = sys.argv[1:]
floor, load = [x["median"] for x in json.load(open(path))["results"]]
print(f"{n} sites, {files} files, {int(size)/2**20:.1f} MiB: cat {floor:.3f}s"
      f"  load {load:.3f}s ({load/floor:.2f}x floor, target <= 1.5)")
PY
