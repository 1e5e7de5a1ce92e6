#!/usr/bin/env bash
# Runs the Bazel consumer workspace with real Bazel (Debian bazel-bootstrap
# 4.2.3, no network) and checks what the rules promise:
#   1. the sh_tests pass (validators + SHA-256 equal to `fstool build` on the
#      equivalent manifest);
#   2. two output bases give identical image hashes;
#   3. after `bazel clean`, a rebuild with --disk_cache runs no fstool
#      action: every FsImage spawn is a cache hit;
#   4. changing an unrelated workspace file does not rebuild the image;
#   5. changing an input file changes the image hash.
# FAT and disk targets are built only when the fstool binary accepts them
# (a notice says when they are skipped).
# Env: FSTOOL_BIN (default: target/release/fstool, built if missing),
#      KEEP_TMP=1 keeps the scratch directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
start=$SECONDS

if [ -z "${FSTOOL_BIN:-}" ]; then
    FSTOOL_BIN=$repo/target/release/fstool
    [ -x "$FSTOOL_BIN" ] || (cd "$repo" && cargo build --release --bin fstool)
fi
command -v bazel >/dev/null || { echo "bazel not found (apt-get install bazel-bootstrap)"; exit 1; }

tmp=$(mktemp -d /tmp/fstool-bazel.XXXXXX)
ob1=$tmp/ob1 ob2=$tmp/ob2
cleanup() {
    for ob in "$ob1" "$ob2"; do
        [ -d "$ob" ] && (cd "$tmp/ws" && bazel --output_base="$ob" shutdown >/dev/null 2>&1 || true)
    done
    if [ "${KEEP_TMP:-}" = 1 ]; then
        echo "kept $tmp"
    else
        chmod -R u+w "$tmp" 2>/dev/null || true
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT

# The fstool repository as the consumer sees it: only what the rules need
# (not target/, which is large).
mkdir -p "$tmp/fstool"
cp -r "$repo/rules" "$repo/WORKSPACE" "$repo/BUILD.bazel" "$repo/MODULE.bazel" "$tmp/fstool/"

# The consumer workspace, with absolute paths where Bazel 4 needs them.
cp -r "$here" "$tmp/ws"
ws=$tmp/ws
rm -rf "$ws"/bazel-* "$ws/run.sh"
sed -i "s|path = \"../..\",|path = \"$tmp/fstool\",|" "$ws/WORKSPACE"
cp "$FSTOOL_BIN" "$ws/tools/fstool"
chmod +x "$ws/tools/fstool"
cat >> "$ws/.bazelrc" <<RC
build --override_repository=rules_cc=$ws/offline/rules_cc
build --override_repository=rules_java=$ws/offline/rules_java
build --override_repository=remote_coverage_tools=$ws/offline/remote_coverage_tools
build --override_repository=rules_pkg=$ws/offline/rules_pkg
RC
cd "$ws"

fail() { echo "FAIL: $*"; exit 1; }
bz() { local ob=$1; shift; bazel --output_base="$ob" "$@" --disk_cache="$tmp/cache" 2>"$tmp/bazel.err" || { tail -50 "$tmp/bazel.err"; fail "bazel $*"; }; }

# Which image kinds does this fstool build? Probe with the equivalent
# manifests (FAT and disks land on main separately).
images=(rootfs_ext4 layered_ext4 pkg_ext4)
tests=(//:rootfs_ext4_test //:layered_ext4_test //:pkg_ext4_test //:rootfs_ext4_verify //:layered_ext4_verify)
probe() {
    (cd "$tmp" && mkdir -p probe/equiv && cp -r "$ws/data" probe/ && cp "$ws/equiv/$1.json" probe/equiv/ &&
        mkdir -p probe/data/gen && printf 'generated a\n' >probe/data/gen/a.txt && printf 'generated b\n' >probe/data/gen/b.txt &&
        "$FSTOOL_BIN" build "probe/equiv/$1.json" -o "probe/$1.out" -q) >"$tmp/probe-$1.log" 2>&1
}
if probe esp_fat32; then
    images+=(esp_fat32)
    tests+=(//:esp_fat32_test)
    if probe disk_gpt; then
        images+=(disk_gpt)
        tests+=(//:disk_gpt_test //:disk_gpt_verify)
    else
        echo "NOTICE: SKIPPED disk_gpt: this fstool rejects the disk manifest: $(tail -1 "$tmp/probe-disk_gpt.log")"
    fi
else
    echo "NOTICE: SKIPPED esp_fat32 and disk_gpt: this fstool rejects FAT: $(tail -1 "$tmp/probe-esp_fat32.log")"
fi
targets=()
for i in "${images[@]}"; do targets+=("//:$i"); done

sums() { # output base -> "name hash" lines
    local bin
    bin=$(bazel --output_base="$1" info bazel-bin 2>/dev/null)
    for i in "${images[@]}"; do
        local f
        f=$(ls "$bin/$i".*.sha256)
        echo "$i $(cut -d' ' -f1 "$f")"
    done
}
spawns() { # execution log -> number of FsImage spawns, and how many were cache hits
    local n hits
    n=$(grep -c '"mnemonic": "FsImage"' "$1" || true)
    hits=$(grep -A40 '"mnemonic": "FsImage"' "$1" | grep -c '"remoteCacheHit": true' || true)
    echo "$n $hits"
}

echo "== 1. bazel test (output base 1)"
t=$SECONDS
bz "$ob1" test "${tests[@]}" "${targets[@]}"
sums "$ob1" | tee "$tmp/sums1"
echo "   $((SECONDS - t)) s"

# The binary in the layered image finds its runfiles where `bazel run`
# would put them (outside the test sandbox: it runs the extracted copy).
bin1=$(bazel --output_base="$ob1" info bazel-bin 2>/dev/null)
"$FSTOOL_BIN" extract "$bin1/layered_ext4.img" "$tmp/layered"
[ "$("$tmp/layered/opt/app/server")" = "port = 8080" ] || fail "the binary in layered_ext4 does not find its runfiles"
echo "   layered_ext4: /opt/app/server runs from the image's tree and finds its runfiles"

# fs_image_test against a spec the image is not: the test fails and its log
# says what differs.
if bazel --output_base="$ob1" test //:rootfs_ext4_wrong_spec_verify --disk_cache="$tmp/cache" >"$tmp/wrong.out" 2>&1; then
    fail "fs_image_test passed on an image that is not its spec"
fi
wrong_log=$(bazel --output_base="$ob1" info bazel-testlogs 2>/dev/null)/rootfs_ext4_wrong_spec_verify/test.log
grep -q "NOT verified" "$wrong_log" || { cat "$wrong_log"; fail "fs_image_test's log does not explain the difference"; }
echo "   fs_image_test: images verified against their manifests; a wrong spec fails with: $(grep -A1 "NOT verified" "$wrong_log" | tail -1)"

echo "== 2. same targets, output base 2"
t=$SECONDS
bazel --output_base="$ob2" build "${targets[@]}" 2>"$tmp/bazel.err" || { tail -50 "$tmp/bazel.err"; fail "build in ob2"; }
sums "$ob2" >"$tmp/sums2"
diff "$tmp/sums1" "$tmp/sums2" || fail "hashes differ between output bases"
bazel --output_base="$ob2" shutdown
echo "   identical ($((SECONDS - t)) s)"

echo "== 3. bazel clean, rebuild from --disk_cache"
bazel --output_base="$ob1" clean 2>/dev/null
bz "$ob1" build "${targets[@]}" --execution_log_json_file="$tmp/exec3.json"
read -r n hits < <(spawns "$tmp/exec3.json")
[ "$n" -ge "${#images[@]}" ] || fail "expected ${#images[@]} FsImage spawns in the log, saw $n"
[ "$n" = "$hits" ] || fail "$((n - hits)) of $n fstool actions ran instead of coming from the disk cache"
sums "$ob1" | diff "$tmp/sums1" - || fail "hashes changed after a cache rebuild"
echo "   $n fstool actions, all disk cache hits"

echo "== 4. unrelated file changed"
echo "changed $(date +%s%N)" >>data/unrelated.txt
bz "$ob1" build "${targets[@]}" --execution_log_json_file="$tmp/exec4.json"
read -r n hits < <(spawns "$tmp/exec4.json")
[ "$n" = 0 ] || fail "$n fstool actions ran after an unrelated change"
sums "$ob1" | diff "$tmp/sums1" - || fail "hashes changed after an unrelated change"
echo "   no fstool action ran"

echo "== 5. input file changed"
echo "one more line" >>data/hello.txt
bz "$ob1" build //:rootfs_ext4 --execution_log_json_file="$tmp/exec5.json"
read -r n hits < <(spawns "$tmp/exec5.json")
[ "$n" -ge 1 ] && [ "$hits" = 0 ] || fail "fstool did not run after an input change ($n spawns, $hits hits)"
old=$(grep '^rootfs_ext4 ' "$tmp/sums1" | cut -d' ' -f2)
new=$(sums "$ob1" | grep '^rootfs_ext4 ' | cut -d' ' -f2)
[ "$old" != "$new" ] || fail "image hash did not change after an input change"
echo "   $old -> $new"

echo "PASS: bazel consumer workspace (${images[*]}) in $((SECONDS - start)) s"
