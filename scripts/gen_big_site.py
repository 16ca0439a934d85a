#!/usr/bin/env python3
"""One site of a great many servers (issue #12's 50 MB config: ~380,000 server blocks on one
port, in one site file), for scripts/bench-stress.sh.

    python3 scripts/gen_big_site.py --out DIR [--bytes 50000000] [--bad-every 0] [--dense]

Each server: `listen 80`, its own server_name, a /media/ alias location (~140 bytes: 50 MB is
~360,000 servers). With
--bad-every K, every K-th server's /media/ alias loses its trailing slash (MD101 fails there, with
a fix to prove). With --main, the servers are in nginx.conf itself (each its own site, named by
its server_name). With --dense, blocks are indented less (131 bytes a server: 50 MB is ~381,700
servers, the issue's "380k-server config"; memory per config byte grows with servers per
byte). Writes DIR/nginx.conf (and DIR/sites-enabled/big) and prints the number of
servers.
"""
import argparse
import os

p = argparse.ArgumentParser()
p.add_argument("--out", required=True)
p.add_argument("--bytes", type=int, default=50_000_000)
p.add_argument("--bad-every", type=int, default=0)
p.add_argument("--main", action="store_true")
p.add_argument("--dense", action="store_true")
a = p.parse_args()

head = "user www-data;\nevents {}\nhttp {\n    access_log off;\n"
include = "    include sites-enabled/*;\n"


def server(i: int) -> str:
    slash = "" if a.bad_every and i % a.bad_every == 0 else "/"
    outer, inner = (" " * 3, " " * 6) if a.dense else (" " * 4, " " * 8)
    return (
        f"{outer}server {{\n{inner}listen 80;\n{inner}server_name s{i:06}.example.com;\n"
        f"{inner}location /media/ {{ alias /srv/www/s{i:06}/media{slash}; }}\n{outer}}}\n"
    )


n = (a.bytes - len(head) - 2) // len(server(1))
os.makedirs(a.out, exist_ok=True)
if a.main:
    with open(os.path.join(a.out, "nginx.conf"), "w") as f:
        f.write(head)
        for i in range(n):
            f.write(server(i))
        f.write("}\n")
else:
    os.makedirs(os.path.join(a.out, "sites-enabled"), exist_ok=True)
    with open(os.path.join(a.out, "nginx.conf"), "w") as f:
        f.write(head + include + "}\n")
    with open(os.path.join(a.out, "sites-enabled", "big"), "w") as f:
        for i in range(n):
            f.write(server(i))
print(n)
