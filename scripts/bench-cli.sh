#!/bin/sh
# Benchmark the media-doctor binary itself (not an example) on the generated 10,000-site config
# (../shared/bench/gen_nginx.py) and print each figure against the `cat` floor of the same run:
#   trace ONE URL        / floor   (target <= 1.5)
#   check --site ONE     / floor   (target <= 2)
#   check, every site    wall time (target <= 5 s on 2 cores) and peak RSS / input bytes (<= 4)
#   check --site on a normal site (the README demo)   (target < 50 ms)
# The floor is `cat` of every file nginx reads (the dump's sections). Times are hyperfine medians
# (RUNS, default 10; the every-site check runs ALL_RUNS times, default 1); peak RSS is
# /usr/bin/time's maximum resident set. Say the load average with the figures (it is printed).
#   scripts/bench-cli.sh
#   SITES=1000 RUNS=5 scripts/bench-cli.sh
# Needs python3, hyperfine and /usr/bin/time (apt-get install hyperfine time).
set -eu
cd "$(dirname "$0")/.."
. scripts/bench-kit.sh
n=${SITES:-10000}
out=${BENCH_DIR:-/tmp/ngx}
dir=$out/s$n
[ -f "$dir/nginx-T.txt" ] || python3 "$bench/gen_nginx.py" --sites "$n" --out "$dir" >/dev/null
cargo build --release --quiet --bin media-doctor
bin=$PWD/target/release/media-doctor
conf=$dir/nginx.conf

# The files nginx reads are exactly the dump's sections.
sed -n 's/^# configuration file \(.*\):$/\1/p' "$dir/nginx-T.txt" >"$out/files-$n.txt"
bytes=$(xargs -a "$out/files-$n.txt" cat | wc -c)
# One site of the middle of the config: its file name is its --site name.
one_file=$(ls "$dir/sites-enabled" | sort | sed -n "$((n / 2))p")
one=${one_file%.conf}
host=$(sed -n 's/^ *server_name \([^ ;]*\).*/\1/p' "$dir/sites-enabled/$one_file" | head -1)

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)  ($(nproc) cores)"
hyperfine -N --style none --warmup 2 --runs "${RUNS:-10}" --export-json "$out/cli-$n.json" \
    "xargs -a $out/files-$n.txt cat" \
    "$bin trace http://$host/media/a.jpg --nginx-conf $conf --offline" \
    "$bin check --site $one --nginx-conf $conf --offline --format json" \
    "$bin check --site myapp --root fixtures/demo --offline --format json" \
    -i >/dev/null
hyperfine -N --style none --runs "${ALL_RUNS:-1}" --export-json "$out/cli-all-$n.json" \
    "$bin check --nginx-conf $conf --offline --format json" -i >/dev/null
rss() { /usr/bin/time -v "$@" 2>&1 >/dev/null | sed -n 's/.*Maximum resident set size (kbytes): //p'; }
rss_trace=$(rss "$bin" trace "http://$host/media/a.jpg" --nginx-conf "$conf" --offline)
rss_one=$(rss "$bin" check --site "$one" --nginx-conf "$conf" --offline --format json)
rss_all=$(rss "$bin" check --nginx-conf "$conf" --offline --format json)
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$out/cli-$n.json" "$out/cli-all-$n.json" "$n" "$bytes" "$rss_trace" "$rss_one" "$rss_all" "$one" <<'PY'
import json, sys
one_path, all_path, n, size, rss_trace, rss_one, rss_all, one = sys.argv[1:]
floor, trace, check_one, normal = [x["median"] for x in json.load(open(one_path))["results"]]
every = json.load(open(all_path))["results"][0]["median"]
size = int(size)
mib = lambda kb: f"{int(kb) / 1024:.0f} MiB"
print(f"{n} sites, {size / 2**20:.1f} MiB of config; floor (cat) {floor:.3f} s")
print(f"  trace one URL          {trace:.3f} s  {trace / floor:.2f}x floor (target <= 1.5)  peak RSS {mib(rss_trace)}")
print(f"  check --site {one}  {check_one:.3f} s  {check_one / floor:.2f}x floor (target <= 2)  peak RSS {mib(rss_one)}")
print(f"  check, every site      {every:.3f} s  (target <= 5 s)  peak RSS {mib(rss_all)} = "
      f"{int(rss_all) * 1024 / size:.2f}x input (target <= 4)")
print(f"  check --site on the demo site  {normal * 1000:.0f} ms (target < 50 ms)")
PY
