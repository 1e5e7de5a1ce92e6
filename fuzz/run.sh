#!/usr/bin/env bash
# Coverage-guided fuzzing of fstool's readers and spec parser with AFL++
# (cargo-afl, stable Rust). Builds the targets, makes seed images with
# fstool (one small image per format, a GPT disk, a qcow2 disk, the example
# specs), fuzzes each target for SECONDS, and fails when AFL saved a crash
# (a panic) or a hang (a run over 5 s).
#
#   fuzz/run.sh [SECONDS] [TARGET...]    # default 20 s; targets:
#                                        # ext fat ntfs erofs part qcow2 spec
#                                        # roundtrip (a random small tree built
#                                        # in each format and read back)
#
# The findings stay in fuzz/out/TARGET (crashes/, hangs/, queue/); a crash
# replays with `target/release/TARGET < fuzz/out/TARGET/default/crashes/ID`.
set -euo pipefail
cd "$(dirname "$0")"
SECS=${1:-20}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(ext fat ntfs erofs part qcow2 spec roundtrip)

command -v cargo-afl >/dev/null 2>&1 || cargo install --locked -q cargo-afl --version 0.18.2
cargo build --release -q --manifest-path ../Cargo.toml
cargo afl build --release -q
F=$PWD/../target/release/fstool

# Seeds.
rm -rf work && mkdir -p work/src/d work/seeds
printf 'hello\n' > work/src/a.txt
head -c 5000 /dev/zero | tr '\0' 'x' > work/src/d/b.bin
ln -s a.txt work/src/link
seed() { # TARGET NAME SPEC-BODY
    mkdir -p "work/seeds/$1"
    printf 'version = 1\nseed = "fuzz"\n%s\n' "$3" > "work/$2.toml"
    "$F" build "work/$2.toml" -o "work/seeds/$1/$2" -q
}
fs() { printf '[filesystem]\ntype = "%s"\nsource = "src"\n%s' "$1" "$2"; }
seed ext ext2 "$(fs ext2 'size = "auto"
block_size = 1024')"
seed ext ext4 "$(fs ext4 'size = "auto"
block_size = 1024
features = ["^has_journal"]')"
seed fat fat12 "$(fs fat12 'size = "auto"
unsupported = "skip"')"
seed ntfs ntfs "$(fs ntfs 'size = "auto"')"
seed erofs erofs "$(fs erofs '')"
seed erofs erofs-lz4 "$(fs erofs 'compression = "lz4"')"
disk='[image]
partition_table = "gpt"
alignment = "4KiB"
size = "auto"
[[partitions]]
type = "esp"
size = "auto"
[partitions.filesystem]
type = "fat12"
source = "src"
unsupported = "skip"'
seed part gpt "$disk"
seed part mbr "${disk/gpt/mbr}"
seed qcow2 qcow2 "${disk/alignment = \"4KiB\"/alignment = \"4KiB\"
format = \"qcow2\"
cluster_size = \"4KiB\"}"
# Round trip: byte strings that describe small trees (format byte, then
# op, name length, name bytes[, file size, content]...), one per format.
mkdir -p work/seeds/roundtrip
for fmt in 0 1 2 3 4; do
    printf "\\x0${fmt}\\x00\\x02abc\\x03hello\\x01\\x01dd\\x04\\x01ef\\x02hi\\x07\\x00hl\\x06\\x03\\x02ln" >"work/seeds/roundtrip/tree$fmt"
done
mkdir -p work/seeds/spec
cp ../examples/*.toml ../examples/*.json work/seeds/spec/ 2>/dev/null || true

mkdir -p out
status=0
for t in "${targets[@]}"; do
    rm -rf "out/$t"
    AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 \
        cargo afl fuzz -V "$SECS" -t 5000 -i "work/seeds/$t" -o "out/$t" \
        "target/release/$t" > "out/$t.log" 2>&1 || {
        echo "$t: afl-fuzz failed:"; tail -20 "out/$t.log"; status=1; continue; }
    stats=out/$t/default/fuzzer_stats
    execs=$(awk -F: '/^execs_done/ {gsub(/ /, "", $2); print $2}' "$stats")
    corpus=$(awk -F: '/^corpus_count/ {gsub(/ /, "", $2); print $2}' "$stats")
    crashes=$(find "out/$t/default/crashes" -name 'id:*' | wc -l)
    hangs=$(find "out/$t/default/hangs" -name 'id:*' | wc -l)
    echo "$t: ${SECS} s, $execs runs, corpus $corpus, crashes $crashes, hangs $hangs"
    if [ "$crashes" -gt 0 ] || [ "$hangs" -gt 0 ]; then status=1; fi
done
exit $status
