#!/usr/bin/env python3
# Copied from the team bench kit (../shared/bench/gen_tree.py) so tests and scripts/bench-scan.sh
# can make trees with known faults; the manifest is the ground truth for MD203.
"""Generate a media tree for permission-walker benchmarks (stdlib only; run as root).

    gen_tree.py --files 100000 --out /tmp/tree100k [--manifest FILE] [--seed 1]

Layout under --out DIR (DIR itself root:root 0755):

    DIR/media/uploads/YYYY/MM/DD/<uuid>.<ext>    85%  (2015..2024, one dir per day used)
    DIR/media/avatars/<ab>/<cd>/<uuid>.png       10%  (two-level hex fan-out from the uuid)
    DIR/media/documents/<project>/<uuid>.pdf      5%  (200 project dirs)

Files hold a few bytes (a magic number); on ext4 each still takes one 4 KiB block,
so 1,000,000 files need about 4.3 GB.  Ownership: media/ and everything under it
is www-data:www-data, except ~10% of files that are root:root (deployed by hand).
Modes: files 0644, dirs 0755, then deliberately broken:

  * ~0.1% of files -> 0600, 70% of them root-owned (unreadable for www-data),
    30% www-data-owned (readable for www-data, but not world-readable);
  * ~0.01% of dirs (at least 1) -> 0700, 70% root-owned (hides their subtree from
    www-data), 30% www-data-owned.

--manifest FILE writes JSON with the counts and the exact perturbed paths, so a
permission checker's findings can be compared against ground truth.  The summary
line also gives a deep sample path (for `namei -l`).
"""

import argparse
import json
import os
import pwd
import random
import shutil
import sys
import time

EXT_MAGIC = {
    "jpg": b"\xff\xd8\xff\xe0JFIF", "jpeg": b"\xff\xd8\xff\xe1Exif", "png": b"\x89PNG\r\n\x1a\n",
    "gif": b"GIF89a", "webp": b"RIFF\0\0\0\0WEBP", "mp4": b"\0\0\0\x18ftypmp42", "pdf": b"%PDF-1.7\n",
}
UPLOAD_EXTS = ["jpg"] * 6 + ["jpeg", "png", "png", "gif", "webp", "mp4", "pdf"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--manifest", help="write JSON ground truth here (outside the tree)")
    ap.add_argument("--force", action="store_true", help="remove --out first if it exists")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (files are chowned to root / www-data)")
    www = pwd.getpwnam("www-data")
    WU, WG = www.pw_uid, www.pw_gid

    out = os.path.abspath(args.out)
    if os.path.exists(out):
        if not args.force:
            sys.exit(f"{out} exists (use --force)")
        shutil.rmtree(out)
    os.umask(0o022)
    t0 = time.time()
    rng = random.Random(args.seed)

    dirs = []           # every directory created under media/ (relative to out)
    made = set()

    def mkdir(rel):
        if rel in made:
            return
        parent = os.path.dirname(rel)
        if parent and parent not in made:
            mkdir(parent)
        os.mkdir(os.path.join(out, rel))
        os.chown(os.path.join(out, rel), WU, WG)
        made.add(rel)
        dirs.append(rel)

    os.mkdir(out)
    projects = [f"project-{k:03d}" for k in range(200)]
    files = []
    root_owned = 0
    for n in range(args.files):
        u = rng.getrandbits(128)
        uid = "%08x-%04x-4%03x-%04x-%012x" % (u >> 96, (u >> 80) & 0xFFFF, (u >> 68) & 0xFFF,
                                             0x8000 | ((u >> 52) & 0x3FFF), u & 0xFFFFFFFFFFFF)
        r = rng.random()
        if r < 0.85:
            y = rng.randrange(2015, 2025)
            m = rng.randrange(1, 13)
            d = rng.randrange(1, 29 if m == 2 else 31)
            ext = rng.choice(UPLOAD_EXTS)
            rel_dir = f"media/uploads/{y}/{m:02d}/{d:02d}"
        elif r < 0.95:
            ext = "png"
            rel_dir = f"media/avatars/{uid[:2]}/{uid[2:4]}"
        else:
            ext = "pdf"
            rel_dir = f"media/documents/{rng.choice(projects)}"
        mkdir(rel_dir)
        rel = f"{rel_dir}/{uid}.{ext}"
        fd = os.open(os.path.join(out, rel), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, EXT_MAGIC[ext])
        if rng.random() < 0.10:
            root_owned += 1          # root created it: leave root:root
        else:
            os.fchown(fd, WU, WG)
        os.close(fd)
        files.append(rel)
    os.chown(os.path.join(out, "media"), 0, 0)   # top of the media tree: root-owned

    # deliberate breakage
    n600 = max(1, round(len(files) * 0.001))
    n700 = max(1, round(len(dirs) * 0.0001))
    bad_files = sorted(rng.sample(files, n600))
    leafish = [d for d in dirs if d.count("/") >= 3]   # never media/ or media/<kind>/
    bad_dirs = sorted(rng.sample(leafish, n700))
    f600 = {"root": [], "www-data": []}
    for rel in bad_files:
        p = os.path.join(out, rel)
        os.chmod(p, 0o600)
        if rng.random() < 0.7:
            os.chown(p, 0, 0)
            f600["root"].append(rel)
        else:
            os.chown(p, WU, WG)
            f600["www-data"].append(rel)
    d700 = {"root": [], "www-data": []}
    for rel in bad_dirs:
        p = os.path.join(out, rel)
        os.chmod(p, 0o700)
        if rng.random() < 0.7:
            os.chown(p, 0, 0)
            d700["root"].append(rel)
        else:
            d700["www-data"].append(rel)

    deep = max(files, key=lambda f: (f.count("/"), f))
    hidden = [f for f in files if any(f.startswith(d + "/") for d in d700["root"])]
    summary = {
        "out": out, "seed": args.seed, "files": len(files), "dirs": len(dirs) + 1,
        "root_owned_files": root_owned,
        "files_0600": n600, "files_0600_root": len(f600["root"]),
        "dirs_0700": n700, "dirs_0700_root": len(d700["root"]),
        "files_under_root_0700_dirs": len(hidden),
        "sample_deep_path": os.path.join(out, deep),
        "seconds": round(time.time() - t0, 1),
    }
    print(" ".join(f"{k}={v}" for k, v in summary.items()))
    if args.manifest:
        with open(args.manifest, "w") as f:
            json.dump(dict(summary, files_0600_paths=f600, dirs_0700_paths=d700), f, indent=1)


if __name__ == "__main__":
    main()
