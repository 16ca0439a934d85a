#!/usr/bin/env bash
# The MD203 tree scan against `du -s` (one stat per entry: the floor), warm cache, in one run.
#
#   scripts/bench-scan.sh [TREE] [ROUNDS]
#
# TREE defaults to /tmp/tree100k; make it with
#   python3 ../shared/bench/gen_tree.py --files 100000 --out /tmp/tree100k --manifest /tmp/tree100k.json
# (1,000,000 files: --out /tmp/tree1m, about 4.1 GB). Runs are interleaved (du, 1 thread,
# 2 threads) so machine noise hits all three alike; medians and peak RSS are printed, and the
# ratios the issue sets: <= 1.0x du with 1 thread, <= 0.6x with 2.
set -euo pipefail
tree=${1:-/tmp/tree100k}
rounds=${2:-7}
cd "$(dirname "$0")/.."
cargo build --release --quiet --example scan
bin=target/release/examples/scan
[ -d "$tree" ] || { echo "no tree at $tree (see the header of this script)" >&2; exit 2; }

# Warm the cache.
du -s "$tree" >/dev/null
"$bin" "$tree" --threads 1 --no-verify >/dev/null

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for _ in $(seq "$rounds"); do
  # Control for a shared machine: two du -s at once. ~1.0x one du means a free second core;
  # ~2.0x means the other core is busy and no 2-thread figure can beat 1.0x.
  /usr/bin/time -f "%e" -a -o "$tmp/du2" bash -c "du -s '$tree' >/dev/null & du -s '$tree' >/dev/null; wait"
  /usr/bin/time -f "%e %M" -a -o "$tmp/du" du -s "$tree" >/dev/null
  /usr/bin/time -f "%e %M" -a -o "$tmp/t1" "$bin" "$tree" --threads 1 --no-verify >/dev/null
  /usr/bin/time -f "%e %M" -a -o "$tmp/t2" "$bin" "$tree" --threads 2 --no-verify >/dev/null
done
median() { sort -n "$1" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
peak() { sort -n -k2 "$1" | tail -1 | awk '{print $2}'; }
du_s=$(median "$tmp/du"); t1=$(median "$tmp/t1"); t2=$(median "$tmp/t2"); du2=$(median "$tmp/du2")
echo "tree: $tree ($("$bin" "$tree" --threads 2 --no-verify))"
echo "rounds: $rounds, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-22s %8s %8s %10s\n' tool seconds "x du" "peak RSS"
printf '%-22s %8s %8s %8s KB\n' "du -s" "$du_s" "1.00" "$(peak "$tmp/du")"
printf '%-22s %8s %8.2f %8s KB\n' "scan, 1 thread" "$t1" "$(echo "$t1 / $du_s" | bc -l)" "$(peak "$tmp/t1")"
printf '%-22s %8s %8.2f %8s KB\n' "scan, 2 threads" "$t2" "$(echo "$t2 / $du_s" | bc -l)" "$(peak "$tmp/t2")"
printf '%-22s %8s %8.2f   (control: ~1.0 = a second core was free)\n' "2 x du -s at once" "$du2" "$(echo "$du2 / $du_s" | bc -l)"
