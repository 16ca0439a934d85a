#!/usr/bin/env python3
"""Where a heap snapshot's bytes are: a massif snapshot (the peak unless a number is given),
summed by the media_doctor functions nearest to each allocation.

  cargo build --release --features system-alloc    # jemalloc hides its blocks from massif
  valgrind --tool=massif --smc-check=all --threshold=0.5 --massif-out-file=/tmp/m.%p \
      target/release/media-doctor check --nginx-conf /tmp/big10/nginx.conf --offline --format json >/dev/null
  scripts/massif-top.py /tmp/m.PID [SNAPSHOT|peak] [FRAMES]

FRAMES (default 1): how many media_doctor frames, innermost first, name a line. (%p: the
as-user checks fork children that would each write the file.)"""
import re, sys, collections
path = sys.argv[1]
want = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] != 'peak' else None
depth = int(sys.argv[3]) if len(sys.argv) > 3 else 1
lines = open(path, errors='replace').read().split('\n')
snaps = []; i = 0
while i < len(lines):
    if lines[i].startswith('snapshot='):
        n = int(lines[i].split('=')[1]); kind = None; start = i
        j = i + 1
        while j < len(lines) and not lines[j].startswith('snapshot='):
            if lines[j].startswith('heap_tree='): kind = lines[j].split('=')[1]
            j += 1
        snaps.append((n, kind, start, j)); i = j
    else: i += 1
pick = None
for n, kind, s, e in snaps:
    if (want is None and kind == 'peak') or n == want: pick = (n, s, e)
n, s, e = pick
total = [l for l in lines[s:e] if l.startswith('mem_heap_B=')][0]
print('snapshot', n, total)
node_re = re.compile(r'^( *)n(\d+): (\d+) (.*)$')
stack = []; agg = collections.Counter()
for l in lines[s:e]:
    m = node_re.match(l)
    if not m: continue
    ind, nk, b, desc = len(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)
    stack = stack[:ind]; stack.append(desc)
    if nk == 0:
        frames = [re.sub(r'^0x[0-9A-F]+: ', '', d) for d in stack]
        md = [f for f in frames if 'media_doctor::' in f and 'media_doctor::fnv' not in f and 'media_doctor::alloc' not in f]
        key = ' <- '.join(re.sub(r'\s*\(.*$', '', f)[:110] for f in md[:depth]) if md else frames[-1][:120]
        agg[key] += b
for k, v in agg.most_common(40):
    print(f'{v/1e6:9.1f} MB  {k}')
