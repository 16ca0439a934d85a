#!/bin/sh
# Benchmark the nginx config loader on the generated 100 / 1,000 / 10,000-site configs
# (../shared/bench/gen_nginx.py) and print the ratios ../shared/bench/README.md sets targets for:
#   load / floor   whole-process time to load the files, over `cat` of every file nginx reads
#                  (target <= 1.5)
#   dump MB/s      an `nginx -T` dump parsed in-process, best of 10 (target >= 200)
#   RSS / input    peak memory of the load over the bytes read (target <= 4)
# All figures of one size come from the same run, one after the other (hyperfine, medians).
#   scripts/bench-nginx.sh                # all sizes
#   SIZES=10000 scripts/bench-nginx.sh    # one size
# Needs python3 and hyperfine (apt-get install hyperfine) and /usr/bin/time (apt-get install time).
# Loading alone can be timed with the example it builds:
#   target/release/examples/load_config [--dump] [--repeat N] [--tree] PATH
set -eu
cd "$(dirname "$0")/.."
. scripts/bench-kit.sh
out=${BENCH_DIR:-/tmp/ngx}
sizes=${SIZES:-"100 1000 10000"}
for n in $sizes; do
    [ -f "$out/s$n/nginx-T.txt" ] || python3 "$bench/gen_nginx.py" --sites "$n" --out "$out/s$n" >/dev/null
done
cargo build --release --quiet --example load_config
bin=target/release/examples/load_config

for n in $sizes; do
    dir=$out/s$n
    # The files nginx reads are exactly the dump's sections.
    sed -n 's/^# configuration file \(.*\):$/\1/p' "$dir/nginx-T.txt" >"$out/files-$n.txt"
    bytes=$(xargs -a "$out/files-$n.txt" cat | wc -c)
    files=$(wc -l <"$out/files-$n.txt")
    hyperfine -N --style none --warmup 3 --runs "${RUNS:-15}" --export-json "$out/hyperfine-$n.json" \
        "xargs -a $out/files-$n.txt cat" \
        "$bin $dir/nginx.conf" \
        "cat $dir/nginx-T.txt" \
        "$bin --dump $dir/nginx-T.txt" >/dev/null
    dump_mbs=$("$bin" --dump --repeat 10 "$dir/nginx-T.txt" | sed -n 's/.*(\([0-9]*\) MB\/s).*/\1/p')
    rss_kb=$(/usr/bin/time -f %M "$bin" "$dir/nginx.conf" 2>&1 >/dev/null | tail -1)
    python3 - "$out/hyperfine-$n.json" "$n" "$files" "$bytes" "$dump_mbs" "$rss_kb" <<'PY'
import json, sys
path, n, files, size, dump_mbs, rss_kb = sys.argv[1:]
r = [x["median"] for x in json.load(open(path))["results"]]
floor, load, cat_dump, dump = r
size = int(size)
print(f"{n:>6} sites, {files} files, {size/2**20:.1f} MiB:"
      f" cat {floor:.3f}s  load {load:.3f}s ({load/floor:.2f}x floor, target <= 1.5)"
      f" | dump: cat {cat_dump:.3f}s, load {dump:.3f}s, parse {dump_mbs} MB/s (target >= 200)"
      f" | peak RSS {int(rss_kb)/1024:.0f} MiB ({int(rss_kb)*1024/size:.2f}x input, target <= 4)")
PY
done
