#!/usr/bin/env bash
# Benchmarks for the live band (MD4xx, MD111):
#
#   1. MD405 on a large error log: media-doctor reads only the tail (512 KiB of the log and of
#      its .1), so its time must not grow with the log. Floor: `tail -c 1M | grep -c` on the same
#      log in the same run.
#   2. `check` against a site whose origin and public URL blackhole packets (a listen socket with
#      a full accept queue): every probe times out, the total must stay within the probe budget
#      (6 s) plus the rest of `check`.
#
# Usage: scripts/bench-live.sh [LOG_MB]   (default 200; needs python3; run from the repo root)
set -euo pipefail

LOG_MB=${1:-200}
RUNS=5
BIN=target/release/media-doctor
cargo build --release --quiet
WORK=$(mktemp -d /tmp/md-bench-live-XXXX)
trap 'rm -rf "$WORK"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timeit() { # timeit CMD... → seconds (median of $RUNS)
    for _ in $(seq $RUNS); do
        local t0 t1
        t0=$(date +%s.%N)
        "$@" >/dev/null 2>&1 || true
        t1=$(date +%s.%N)
        echo "$t1 - $t0" | bc -l
    done | median
}

# --- 1. MD405 on a big log -------------------------------------------------------------------
IMG=$WORK/img
mkdir -p "$IMG/etc/nginx" "$IMG/var/log/nginx" "$IMG/srv/app/media"
printf 'root:x:0:0::/root:/bin/sh\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\n' >"$IMG/etc/passwd"
printf 'root:x:0:\nwww-data:x:33:\n' >"$IMG/etc/group"
cat >"$IMG/etc/nginx/nginx.conf" <<'EOF'
user www-data;
error_log /var/log/nginx/error.log;
events {}
http { server { listen 80; server_name example.com; location /media/ { alias /srv/app/media/; } } }
EOF
python3 - "$IMG/var/log/nginx/error.log" "$LOG_MB" <<'EOF'
import sys
path, mb = sys.argv[1], int(sys.argv[2])
kinds = [
    'open() "/srv/app/media/u/{n}.jpg" failed (13: Permission denied)',
    'open() "/srv/app/mediax{n}.jpg" failed (2: No such file or directory)',
    'directory index of "/srv/app/media/d{n}/" is forbidden',
    'upstream timed out (110: Connection timed out) while reading response header from upstream',
]
with open(path, "w") as f:
    written, n = 0, 0
    while written < mb << 20:
        msg = kinds[n % 4].format(n=n % 997)
        line = (f'2024/05/01 12:{(n // 60) % 60:02d}:{n % 60:02d} [error] 811#811: *{n} {msg}, '
                f'client: 10.0.0.{n % 250}, server: example.com, request: "GET /media/u/{n % 997}.jpg HTTP/1.1", '
                f'host: "example.com"\n')
        f.write(line)
        written += len(line)
        n += 1
EOF
LOG=$IMG/var/log/nginx/error.log
floor=$(timeit sh -c "tail -c 1048576 '$LOG' | grep -c 'failed ('")
md405=$(timeit "$BIN" check --root "$IMG" --nginx-conf /etc/nginx/nginx.conf --select MD405 --format json)
printf 'MD405 on a %d MB log: %.3f s   floor (tail -c 1M | grep): %.3f s   ratio %.1fx\n' \
    "$LOG_MB" "$md405" "$floor" "$(echo "$md405 / $floor" | bc -l)"

# --- 2. check against a blackhole ------------------------------------------------------------
# A listening socket whose accept queue is full drops SYNs: the kernel's own blackhole.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 - "$PORT" <<'EOF' &
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(0)
fill = []
for _ in range(3):
    c = socket.socket(); c.settimeout(0.2)
    try: c.connect(("127.0.0.1", int(sys.argv[1])))
    except OSError: pass
    fill.append(c)
time.sleep(120)
EOF
HOLE=$!
sleep 0.5
SITE=$WORK/site
mkdir -p "$SITE/media"
echo jpeg >"$SITE/media/a.jpg"
cat >"$SITE/nginx.conf" <<EOF
events {}
http { server { listen 127.0.0.1:$PORT; server_name site.test; location /media/ { alias $SITE/media/; } } }
EOF
t0=$(date +%s.%N)
"$BIN" check --nginx-conf "$SITE/nginx.conf" --url "http://127.0.0.1:$PORT/" --select MD4 >/dev/null 2>&1 || true
t1=$(date +%s.%N)
kill "$HOLE"
printf 'check (MD4xx) against a blackholing origin and public URL: %.2f s (probe budget 6 s)\n' \
    "$(echo "$t1 - $t0" | bc -l)"
