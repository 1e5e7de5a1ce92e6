#!/usr/bin/env bash
# Builds the README's Bazel workspace exactly as the README gives it: every
# fenced block under "### Use from Bazel" whose first line is
# `# file: NAME` is written to NAME in a fresh directory outside the repo
# (the marker line dropped), the WORKSPACE path is pointed at a copy of
# this checkout's rules and the prebuilt binary goes to tools/fstool, as
# the README tells the reader to do. Then real Bazel 4 builds the targets
# and the images are checked with e2fsck, fsck.fat, qemu-img and sfdisk.
# Env: FSTOOL_BIN (default target/release/fstool, built if missing).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
start=$SECONDS
export PATH="$PATH:/usr/sbin:/sbin"
if [ -z "${FSTOOL_BIN:-}" ]; then
    FSTOOL_BIN=$repo/target/release/fstool
    [ -x "$FSTOOL_BIN" ] || (cd "$repo" && cargo build --release --bin fstool)
fi
tmp=$(mktemp -d /tmp/fstool-readme-bazel.XXXXXX)
ob=$tmp/ob
cleanup() {
    [ -d "$ob" ] && (cd "$tmp/ws" && bazel --output_base="$ob" shutdown >/dev/null 2>&1 || true)
    chmod -R u+w "$tmp" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

mkdir -p "$tmp/fstool" "$tmp/ws"
cp -r "$repo/rules" "$repo/WORKSPACE" "$repo/BUILD.bazel" "$repo/MODULE.bazel" "$tmp/fstool/"
python3 - "$repo/README.md" "$tmp/ws" <<'PY'
import os, re, sys
text = open(sys.argv[1]).read()
section = text.split("### Use from Bazel", 1)[1].split("\n### ", 1)[0]
n = 0
for block in re.findall(r"^```[a-z]*\n(.*?)^```", section, re.S | re.M):
    first, _, body = block.partition("\n")
    m = re.match(r"# file: (\S+)$", first)
    if not m:
        continue
    path = os.path.join(sys.argv[2], m.group(1))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").write(body)
    n += 1
    print("  wrote", m.group(1))
assert n >= 4, f"only {n} file blocks in the README's Bazel section"
PY
ws=$tmp/ws
grep -q '/path/to/fstool' "$ws/WORKSPACE" || fail "WORKSPACE lacks the /path/to/fstool placeholder"
sed -i "s|/path/to/fstool|$tmp/fstool|" "$ws/WORKSPACE"
cp "$FSTOOL_BIN" "$ws/tools/fstool"
chmod +x "$ws/tools/fstool"
cd "$ws"
bazel --output_base="$ob" build //:rootfs //:esp //:disk 2>"$tmp/bazel.err" || { tail -40 "$tmp/bazel.err"; fail "bazel build of the README workspace"; }
bin=$(bazel --output_base="$ob" info bazel-bin 2>/dev/null)
for img in rootfs.img esp.img disk.qcow2; do
    [ "$(cut -d' ' -f1 "$bin/$img.sha256")" = "$(sha256sum "$bin/$img" | cut -d' ' -f1)" ] || fail "$img.sha256"
done
e2fsck -fn "$bin/rootfs.img"
[ "$("$FSTOOL_BIN" cat "$bin/rootfs.img" /etc/motd)" = "hello from bazel" ] || fail "/etc/motd"
"$FSTOOL_BIN" ls "$bin/rootfs.img" /usr/bin -l | grep -q '^-rwxr-xr-x .* app$' || fail "/usr/bin/app mode"
fsck.fat -n "$bin/esp.img"
qemu-img check "$bin/disk.qcow2"
qemu-img convert -O raw "$bin/disk.qcow2" "$tmp/disk.raw"
sfdisk --json "$tmp/disk.raw" | grep -q '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709' || fail "no linux-root partition"
echo "PASS: the README's Bazel workspace builds and checks out in $((SECONDS - start)) s"
