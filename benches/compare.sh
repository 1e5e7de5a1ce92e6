#!/usr/bin/env bash
# Compares fstool with the usual tool for each format on the same tree, in
# one run: tar cf, mke2fs -d, genext2fs, mkfs.erofs, mksquashfs
# (uncompressed), mkfs.fat + mcopy, and the hash alone (sha256sum, and
# OpenSSL's SHA-NI SHA-256, of fstool's finished image). Reports the median
# wall time of several runs, ratios, peak RSS, image sizes and the input
# size, and where fstool's time goes (FSTOOL_TIMING).
#
#   benches/compare.sh                 # synthetic 60,000-entry / 700 MiB tree
#   benches/compare.sh DIR             # any directory
#   RUNS=5 SIZE=4G benches/compare.sh  # more runs, another image size
#   FAT_TREE=DIR FAT_SIZE=512M         # FAT32's tree (default DIR/doc when it
#                                      # exists, else DIR) and volume size
#   BIG=0 benches/compare.sh           # skip the 64 GiB GPT disk (its
#                                      # sha256sum takes minutes)
#   NTFS=1 benches/compare.sh          # also NTFS: fstool vs mkntfs + ntfs-3g + cp -a
#   MILLION=1 benches/compare.sh       # also 1,000,000 entries (generated once,
#                                      # 2 GiB): fstool's time and peak RSS vs tar
#
# Everything is written under bench-out/ in the repository (same filesystem
# as the build, so fstool can use copy_file_range).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
SIZE=${SIZE:-2G}
OUT=${OUT:-$PWD/bench-out}
mkdir -p "$OUT"

need() { command -v "$1" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$1" >/dev/null 2>&1; }
missing=()
need mke2fs || missing+=(e2fsprogs)
need genext2fs || missing+=(genext2fs)
[ -x /usr/bin/time ] || missing+=(time)
need mkfs.fat || missing+=(dosfstools)
need mcopy || missing+=(mtools)
need mksquashfs || missing+=(squashfs-tools)
need mkfs.erofs || missing+=(erofs-utils)
need openssl || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
export PATH="$PATH:/usr/sbin:/sbin"

cargo build --release -q
FSTOOL=$PWD/target/release/fstool

if [ $# -ge 1 ]; then
    TREE=$(cd "$1" && pwd)
else
    TREE=$OUT/tree
    if [ ! -f "$OUT/tree.done" ]; then
        rm -rf "$TREE"
        python3 benches/gen_tree.py "$TREE"
        touch "$OUT/tree.done"
    fi
fi
entries=$(find "$TREE" | wc -l)
bytes=$(du -sb --apparent-size "$TREE" | cut -f1)
size_bytes=$(numfmt --from=iec "$SIZE")
echo "input: $TREE: $entries entries, $((bytes / 1048576)) MiB; image size $SIZE; $RUNS runs each"
# Warm the page cache so every tool reads from memory.
tar cf - -C "$TREE" . > /dev/null

# run NAME CMD... : times CMD $RUNS times; records median seconds and the
# peak RSS (KiB) of the median run.
declare -A T R
run() {
    local name=$1; shift
    local times=() rss=()
    for _ in $(seq "$RUNS"); do
        rm -f "$OUT/$name.img"
        # Start every run without dirty pages left by the one before (not
        # timed): write-back of another tool's image is not this tool's cost.
        sync
        /usr/bin/time -f "%e %M" -o "$OUT/$name.time" "$@" >/dev/null 2>"$OUT/$name.err" || {
            echo "$name failed:"; cat "$OUT/$name.err"; exit 1; }
        read -r t m < <(tail -1 "$OUT/$name.time")
        times+=("$t"); rss+=("$m")
    done
    T[$name]=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    R[$name]=$(printf '%s\n' "${rss[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    printf '  %-22s %8.2f s   peak RSS %6d MiB\n' "$name" "${T[$name]}" $((R[$name] / 1024))
}

cat > "$OUT/ext4.json" <<JSON
{"version": 1, "filesystem": {"type": "ext4", "source": "$TREE", "size": "$SIZE"}}
JSON
cat > "$OUT/ext4-auto.json" <<JSON
{"version": 1, "filesystem": {"type": "ext4", "source": "$TREE", "size": "auto"}}
JSON
run fstool-ext4 "$FSTOOL" build "$OUT/ext4.json" -o "$OUT/fstool-ext4.img" -q
run fstool-ext4-auto "$FSTOOL" build "$OUT/ext4-auto.json" -o "$OUT/fstool-ext4-auto.img" -q
run fstool-ext4-nohash "$FSTOOL" build "$OUT/ext4.json" -o "$OUT/fstool-ext4-nohash.img" -q --no-hash
run fstool-auto-nohash "$FSTOOL" build "$OUT/ext4-auto.json" -o "$OUT/fstool-auto-nohash.img" -q --no-hash
# The hash alone: coreutils' sha256sum (what a user would run) and OpenSSL
# (SHA-NI, the speed fstool's hasher has) over the finished fixed-size image.
RUNS=1 run sha256sum sha256sum "$OUT/fstool-ext4.img"
run openssl-sha256 openssl dgst -sha256 "$OUT/fstool-ext4.img"
run mke2fs-ext4 mke2fs -q -F -t ext4 -d "$TREE" "$OUT/mke2fs-ext4.img" "$SIZE"
run genext2fs genext2fs -B 4096 -b $((size_bytes / 4096)) -N $((entries + 1024)) -d "$TREE" "$OUT/genext2fs.img"
run tar tar cf "$OUT/tar.img" -C "$TREE" .

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }'; }
echo
echo "fstool ext4 vs mke2fs -t ext4 -d: $(ratio "${T[mke2fs-ext4]}" "${T[fstool-ext4]}")x faster"
echo "fstool ext4 vs genext2fs:         $(ratio "${T[genext2fs]}" "${T[fstool-ext4]}")x faster"
echo "fstool ext4 / tar cf:             $(ratio "${T[fstool-ext4]}" "${T[tar]}")x the time of tar ($SIZE image; hashing it is part of the build)"
echo "fstool ext4 auto-size / tar cf:   $(ratio "${T[fstool-ext4-auto]}" "${T[tar]}")x the time of tar"
echo "fstool ext4 --no-hash / tar cf:   $(ratio "${T[fstool-ext4-nohash]}" "${T[tar]}")x ($SIZE), auto $(ratio "${T[fstool-auto-nohash]}" "${T[tar]}")x"
echo "fstool ext4 / sha256sum of it:    $(ratio "${T[fstool-ext4]}" "${T[sha256sum]}")x; / openssl dgst: $(ratio "${T[fstool-ext4]}" "${T[openssl-sha256]}")x (the hash alone is $(ratio "${T[openssl-sha256]}" "${T[tar]}")x tar)"
echo "fstool peak RSS:                  $((R[fstool-ext4] / 1024)) MiB"
# Where the time goes: one more build of each, with phase timings.
for j in ext4 ext4-auto; do
    rm -f "$OUT/timing.img"; sync
    echo "  timing, $j:"
    FSTOOL_TIMING=1 "$FSTOOL" build "$OUT/$j.json" -o "$OUT/timing.img" -q 2>&1 | sed 's/^/    /'
done
rm -f "$OUT/timing.img"
for n in fstool-ext4 fstool-ext4-auto mke2fs-ext4 genext2fs tar; do
    printf '  %-14s apparent %6d MiB, on disk %6d MiB\n' "$n" \
        $(($(stat -c %s "$OUT/$n.img") / 1048576)) $(($(du -k "$OUT/$n.img" | cut -f1) / 1024))
done

# Reading back: `fstool diff` of two builds of the same spec (identical
# bytes, so every data byte is compared) against `cmp` on the same files;
# `diff` of builds with different seeds (the structural layers run); and
# `fstool verify` (a rebuild plus the comparison) against the build.
"$FSTOOL" build "$OUT/ext4.json" -o "$OUT/ext4-again.img" -q
"$FSTOOL" build "$OUT/ext4.json" -o "$OUT/ext4-seed.img" --seed other -q
sync
run fstool-diff "$FSTOOL" diff "$OUT/fstool-ext4.img" "$OUT/ext4-again.img"
run cmp cmp "$OUT/fstool-ext4.img" "$OUT/ext4-again.img"
# Exit 1 (different) is the expected outcome here.
run fstool-diff-seeds bash -c '"$0" diff "$1" "$2" >/dev/null; [ $? -eq 1 ]' "$FSTOOL" "$OUT/fstool-ext4.img" "$OUT/ext4-seed.img"
run fstool-verify "$FSTOOL" verify "$OUT/ext4.json" "$OUT/fstool-ext4.img"
echo "fstool diff / cmp (identical $SIZE images): $(ratio "${T[fstool-diff]}" "${T[cmp]}")x the time of cmp"
echo "fstool diff, seeds differ:                  ${T[fstool-diff-seeds]} s"
echo "fstool verify / build:                      $(ratio "${T[fstool-verify]}" "${T[fstool-ext4]}")x the build's time"
rm -f "$OUT/ext4-again.img" "$OUT/ext4-seed.img"

# FAT32 at a fixed size on a smaller tree (FAT has no symlinks, and
# mcopy -s is slow): fstool vs mkfs.fat + mcopy -s and tar cf of that tree.
FAT_TREE=${FAT_TREE:-$([ -d "$TREE/doc" ] && echo "$TREE/doc" || echo "$TREE")}
FAT_SIZE=${FAT_SIZE:-512M}
fat_bytes=$(numfmt --from=iec "$FAT_SIZE")
echo "FAT32: $FAT_TREE: $(find "$FAT_TREE" | wc -l) entries, $(($(du -sb --apparent-size "$FAT_TREE" | cut -f1) / 1048576)) MiB; volume $FAT_SIZE"
cat > "$OUT/fat.json" <<JSON
{"version": 1, "filesystem": {"type": "fat32", "source": "$FAT_TREE", "size": "$FAT_SIZE", "unsupported": "skip", "case_conflicts": "rename"}}
JSON
tar cf - -C "$FAT_TREE" . > /dev/null
run fstool-fat32 "$FSTOOL" build "$OUT/fat.json" -o "$OUT/fstool-fat32.img" -q
run fstool-fat32-nohash "$FSTOOL" build "$OUT/fat.json" -o "$OUT/fstool-fat32-nohash.img" -q --no-hash
run tar-fat-tree tar cf "$OUT/tar-fat-tree.img" -C "$FAT_TREE" .
run openssl-sha256-fat openssl dgst -sha256 "$OUT/fstool-fat32.img"
mkfat() { rm -f "$OUT/mkfs-fat.img"; mkfs.fat -F 32 -C "$OUT/mkfs-fat.img" $((fat_bytes / 1024)) >/dev/null &&
    MTOOLS_SKIP_CHECK=1 mcopy -s -D a -i "$OUT/mkfs-fat.img" "$FAT_TREE"/* ::/ </dev/null 2>/dev/null; }
export -f mkfat; export OUT FAT_TREE fat_bytes
RUNS=1 run mkfs.fat+mcopy bash -c 'mkfat || true'
echo "fstool fat32 vs mkfs.fat + mcopy -s: $(ratio "${T[mkfs.fat+mcopy]}" "${T[fstool-fat32]}")x faster"
echo "fstool fat32 / tar cf:               $(ratio "${T[fstool-fat32]}" "${T[tar-fat-tree]}")x the time of tar (--no-hash: $(ratio "${T[fstool-fat32-nohash]}" "${T[tar-fat-tree]}")x; hashing $FAT_SIZE alone: $(ratio "${T[openssl-sha256-fat]}" "${T[tar-fat-tree]}")x)"
rm -f "$OUT/fstool-fat32-nohash.img" "$OUT/tar-fat-tree.img" "$OUT/mkfs-fat.img"

# SquashFS, uncompressed, as the other read-only image builder.
run mksquashfs mksquashfs "$TREE" "$OUT/mksquashfs.img" -noappend -noI -noD -noF -noX -all-root -no-progress -quiet
echo "fstool ext4 auto vs mksquashfs (uncompressed): $(ratio "${T[mksquashfs]}" "${T[fstool-ext4-auto]}")x faster"
rm -f "$OUT/mksquashfs.img"

# EROFS: fstool vs mkfs.erofs (uncompressed, owners reset like the spec's
# defaults), on the same tree; sizes compared too.
if command -v mkfs.erofs >/dev/null 2>&1; then
    cat > "$OUT/erofs.json" <<JSON
{"version": 1, "filesystem": {"type": "erofs", "source": "$TREE"}}
JSON
    cat > "$OUT/erofs-dedupe.json" <<JSON
{"version": 1, "filesystem": {"type": "erofs", "source": "$TREE", "dedupe": true}}
JSON
    run fstool-erofs "$FSTOOL" build "$OUT/erofs.json" -o "$OUT/fstool-erofs.img" -q
    run fstool-erofs-dedupe "$FSTOOL" build "$OUT/erofs-dedupe.json" -o "$OUT/fstool-erofs-dedupe.img" -q
    cat > "$OUT/erofs-lz4.json" <<JSON
{"version": 1, "filesystem": {"type": "erofs", "source": "$TREE", "compression": "lz4"}}
JSON
    cat > "$OUT/erofs-lz4-dedupe.json" <<JSON
{"version": 1, "filesystem": {"type": "erofs", "source": "$TREE", "compression": "lz4", "dedupe": true}}
JSON
    run mkfs.erofs mkfs.erofs -T0 --all-root "$OUT/mkfs.erofs.img" "$TREE"
    echo "fstool erofs vs mkfs.erofs -T0 --all-root: $(ratio "${T[mkfs.erofs]}" "${T[fstool-erofs]}")x faster; / tar cf: $(ratio "${T[fstool-erofs]}" "${T[tar]}")x"
    # LZ4: fstool's fixed-output extents against mkfs.erofs -zlz4 (4 KiB
    # pclusters by default, as fstool's).
    run fstool-erofs-lz4 "$FSTOOL" build "$OUT/erofs-lz4.json" -o "$OUT/fstool-erofs-lz4.img" -q
    run mkfs.erofs-lz4 mkfs.erofs -zlz4 -T0 --all-root "$OUT/mkfs.erofs-lz4.img" "$TREE"
    echo "fstool erofs lz4 vs mkfs.erofs -zlz4:      $(ratio "${T[mkfs.erofs-lz4]}" "${T[fstool-erofs-lz4]}")x faster"
    run fstool-erofs-lz4-dedupe "$FSTOOL" build "$OUT/erofs-lz4-dedupe.json" -o "$OUT/fstool-erofs-lz4-dedupe.img" -q
    sizes=(fstool-erofs fstool-erofs-dedupe mkfs.erofs fstool-erofs-lz4 mkfs.erofs-lz4 fstool-erofs-lz4-dedupe)
    # -Ededupe came with erofs-utils 1.6 (Debian 12 has 1.5, which ignores
    # unknown -E options): check the version mkfs.erofs prints.
    mkdir -p "$OUT/probe.d"
    ver=$(mkfs.erofs "$OUT/probe.img" "$OUT/probe.d" 2>&1 | sed -n 's/^mkfs.erofs \([0-9.]*\).*/\1/p' | head -1)
    rm -rf "$OUT/probe.d"
    if [ "$(printf '%s\n1.6\n' "$ver" | sort -V | head -1)" = 1.6 ]; then
        run mkfs.erofs-lz4-dedupe mkfs.erofs -Ededupe -zlz4 -T0 --all-root "$OUT/mkfs.erofs-lz4-dedupe.img" "$TREE"
        echo "fstool erofs lz4+dedupe vs mkfs.erofs -Ededupe -zlz4: $(ratio "${T[mkfs.erofs-lz4-dedupe]}" "${T[fstool-erofs-lz4-dedupe]}")x faster"
        sizes+=(mkfs.erofs-lz4-dedupe)
    else
        echo "mkfs.erofs here has no -Ededupe (erofs-utils < 1.6): dedupe compared by size only"
    fi
    rm -f "$OUT/probe.img"
    for n in "${sizes[@]}"; do
        printf '  %-20s %10d bytes\n' "$n" "$(stat -c %s "$OUT/$n.img")"
    done
fi

# NTFS (NTFS=1): fstool vs mkntfs -F -Q + an ntfs-3g mount + cp -a, the
# usual rootless-ish route, on the same tree.
if [ "${NTFS:-0}" = 1 ] && command -v mkntfs >/dev/null 2>&1 && command -v ntfs-3g >/dev/null 2>&1; then
    cat > "$OUT/ntfs.json" <<JSON
{"version": 1, "filesystem": {"type": "ntfs", "source": "$TREE", "size": "$SIZE", "unsupported": "skip"}}
JSON
    run fstool-ntfs "$FSTOOL" build "$OUT/ntfs.json" -o "$OUT/fstool-ntfs.img" -q
    mkntfs_cp() {
        rm -f "$OUT/mkntfs.img" && truncate -s "$size_bytes" "$OUT/mkntfs.img" &&
            mkntfs -F -Q -q "$OUT/mkntfs.img" >/dev/null && mkdir -p "$OUT/mnt" &&
            ntfs-3g "$OUT/mkntfs.img" "$OUT/mnt" && cp -a "$TREE"/. "$OUT/mnt"/ 2>/dev/null;
        local rc=$?; fusermount -u "$OUT/mnt"; return $rc; }
    export -f mkntfs_cp; export OUT TREE size_bytes
    RUNS=1 run mkntfs+ntfs-3g+cp bash -c mkntfs_cp || true
    echo "fstool ntfs vs mkntfs -Q + ntfs-3g + cp -a: $(ratio "${T[mkntfs+ntfs-3g+cp]}" "${T[fstool-ntfs]}")x faster"
    echo "fstool ntfs / fstool ext4 ($SIZE):         $(ratio "${T[fstool-ntfs]}" "${T[fstool-ext4]}")x the time"
fi

# Memory does not grow with file size: one 8 GiB sparse file.
mkdir -p "$OUT/sparse-tree"
python3 - "$OUT/sparse-tree/big.bin" <<'PY'
import sys
with open(sys.argv[1], "wb") as f:
    f.truncate(8 << 30)
    for i in range(64):
        f.seek(i * (8 << 30) // 64)
        f.write(bytes([i]) * 65536)
PY
cat > "$OUT/sparse.json" <<JSON
{"version": 1, "filesystem": {"type": "ext4", "source": "$OUT/sparse-tree", "sparse": true}}
JSON
RUNS=1 run fstool-8g-sparse "$FSTOOL" build "$OUT/sparse.json" -o "$OUT/fstool-8g-sparse.img" -q
echo "8 GiB sparse file: peak RSS $((R[fstool-8g-sparse] / 1024)) MiB"

# A 64 GiB GPT disk holding 100 MiB (one ext4 partition with one file):
# the build, hash included, against hashing the finished image once.
if [ "${BIG:-1}" = 1 ]; then
    mkdir -p "$OUT/big-tree"
    [ -f "$OUT/big-tree/data.bin" ] || head -c $((100 << 20)) /dev/urandom > "$OUT/big-tree/data.bin"
    cat > "$OUT/big.toml" <<TOML
version = 1
[image]
partition_table = "gpt"
size = "64GiB"
[[partitions]]
type = "linux"
size = "remaining"
[partitions.filesystem]
type = "ext4"
source = "$OUT/big-tree"
TOML
    RUNS=1 run fstool-64g-gpt "$FSTOOL" build "$OUT/big.toml" -o "$OUT/fstool-64g-gpt.img" -q
    RUNS=1 run sha256sum-64g sha256sum "$OUT/fstool-64g-gpt.img"
    echo "64 GiB GPT disk holding 100 MiB: fstool $(ratio "${T[fstool-64g-gpt]}" "${T[sha256sum-64g]}")x the time of sha256sum of the image; peak RSS $((R[fstool-64g-gpt] / 1024)) MiB; on disk $(($(du -k "$OUT/fstool-64g-gpt.img" | cut -f1) / 1024)) MiB"
    rm -f "$OUT/fstool-64g-gpt.img"
fi

# 1,000,000 entries (MILLION=1): time and peak RSS against tar.
if [ "${MILLION:-0}" = 1 ]; then
    M=$OUT/million
    if [ ! -f "$M.done" ]; then
        rm -rf "$M"
        python3 benches/gen_tree.py --entries 1000000 --mib 2000 "$M"
        touch "$M.done"
    fi
    echo "million: $(find "$M" | wc -l) entries, $(($(du -sb --apparent-size "$M" | cut -f1) / 1048576)) MiB"
    cat > "$OUT/million.json" <<JSON
{"version": 1, "filesystem": {"type": "ext4", "source": "$M", "size": "auto"}}
JSON
    tar cf - -C "$M" . > /dev/null
    RUNS=1 run fstool-million "$FSTOOL" build "$OUT/million.json" -o "$OUT/fstool-million.img" -q
    RUNS=1 run tar-million tar cf "$OUT/tar-million.img" -C "$M" .
    echo "1,000,000 entries, ext4 auto: $(ratio "${T[fstool-million]}" "${T[tar-million]}")x the time of tar; peak RSS $((R[fstool-million] / 1024)) MiB"
    rm -f "$OUT/fstool-million.img" "$OUT/tar-million.img"
fi
