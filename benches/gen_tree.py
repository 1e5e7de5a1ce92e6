#!/usr/bin/env python3
"""Generates a deterministic synthetic tree shaped like a root filesystem.

    gen_tree.py OUT_DIR [--entries 60000] [--mib 700] [--seed 1]

The same arguments always give the same names, sizes and contents (a fixed
PRNG), so benchmark runs on different machines compare like with like.
Shape: a handful of top-level dirs (usr, etc, var, opt, lib...), deep and
wide subtrees, mostly small files with a long tail of large ones (a
log-normal spread like /usr), some empty files, and ~7% symlinks. Like a
real /usr/share, a few directories are huge: one holds ~18,000 entries (as
share/man/man1 does) and seven more hold 300-1,500 each.
"""
import argparse
import os
import random

TOP = ["bin", "etc", "lib", "opt", "sbin", "srv", "usr", "var"]
WORDS = ["core", "data", "doc", "share", "lib", "locale", "man", "include",
         "python3", "perl5", "x86_64-linux-gnu", "icons", "hicolor", "fonts",
         "zoneinfo", "systemd", "modules", "firmware", "terminfo", "misc"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--entries", type=int, default=60000)
    ap.add_argument("--mib", type=int, default=700)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)

    # Directories: about 1 per 12 entries, nested up to depth 12.
    n_dirs = max(len(TOP), a.entries // 12)
    dirs = [os.path.join(a.out, t) for t in TOP]
    for d in dirs:
        os.makedirs(d, exist_ok=True)
    while len(dirs) < n_dirs:
        parent = dirs[int(rng.random() ** 2 * len(dirs))]  # favour early (wide) dirs
        if parent.count(os.sep) - a.out.count(os.sep) >= 12:
            parent = dirs[rng.randrange(len(TOP))]
        d = os.path.join(parent, "%s-%d" % (rng.choice(WORDS), len(dirs)))
        os.makedirs(d, exist_ok=True)
        dirs.append(d)

    n_files = a.entries - len(dirs)
    n_links = n_files // 14
    n_files -= n_links
    # Log-normal sizes, rescaled to the byte budget.
    raw = [0 if rng.random() < 0.04 else rng.lognormvariate(8.0, 2.0) for _ in range(n_files)]
    scale = a.mib * 1024 * 1024 / max(1.0, sum(raw))
    sizes = [int(s * scale) for s in raw]
    block = bytes(rng.getrandbits(8) for _ in range(1 << 20))
    hot = []
    for h in ["usr/bin", "usr/lib/x86_64-linux-gnu", "usr/share/man/man1",
              "usr/share/man/man3", "usr/share/doc", "usr/include",
              "usr/share/locale", "usr/share/zoneinfo/right"]:
        d = os.path.join(a.out, h)
        os.makedirs(d, exist_ok=True)
        hot.append(d)
    files = []
    for i, size in enumerate(sizes):
        r = rng.random()
        if r < 0.34:
            d = hot[2]  # share/man/man1
        elif r < 0.44:
            d = hot[int(rng.random() * len(hot))]
        else:
            d = dirs[int(rng.random() ** 1.5 * len(dirs))]
        # Real names are long (man pages, libraries, locales): most need
        # VFAT long names, and many share a prefix.
        p = os.path.join(d, "%s-%s-%d.%s" % (rng.choice(WORDS), rng.choice(WORDS), i,
                                             rng.choice(["so.6", "txt", "py", "1.gz", "mo", "h", "png"])))
        with open(p, "wb") as f:
            off = (i * 7919) % len(block)
            left = size
            while left > 0:
                chunk = block[off:off + left] or block[:left]
                f.write(chunk)
                left -= len(chunk)
                off = 0
        files.append(p)
    for i in range(n_links):
        d = dirs[rng.randrange(len(dirs))]
        target = os.path.relpath(files[rng.randrange(len(files))], d)
        os.symlink(target, os.path.join(d, "link%05d" % i))
    total = sum(sizes)
    n_dirs_all = len(dirs) + len(hot)
    print("%s: %d entries (%d dirs, %d files, %d symlinks), %.1f MiB"
          % (a.out, n_dirs_all + n_files + n_links, n_dirs_all, n_files, n_links, total / 1048576))


if __name__ == "__main__":
    main()
