#!/usr/bin/env bash
# Builds tests/nix/default.nix (nix/lib.nix's mkFsImage) with real nix-build
# (Debian nix-bin; no nixpkgs, no daemon, no root needed) and checks:
#   - the output holds the image, NAME.img.sha256 and the report;
#   - the .sha256 is the image's;
#   - `fstool build` on the same manifest (the derivation's own) with the
#     same SOURCE_DATE_EPOCH gives the same bytes;
#   - e2fsck passes and debugfs reads back the entries;
#   - the image's tests.verify check derivation runs `fstool verify`;
#   - tests/nix/disk.nix (mkDiskImage, GPT in qcow2) the same way, checked
#     with qemu-img check and sgdisk -v (skipped with a notice when the
#     binary says disks are not supported).
# The store is private: NIX_STORE_DIR/NIX_STATE_DIR/NIX_CONF_DIR under a
# temporary directory (so /nix is never touched), `sandbox = false`
# (the builder is the host's /bin/sh), no substituters, no build users.
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
command -v nix-build >/dev/null || { echo "nix-build not found (apt-get install nix-bin)"; exit 1; }

tmp=$(mktemp -d /tmp/fstool-nix.XXXXXX)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
export NIX_STORE_DIR=$tmp/nix/store
export NIX_STATE_DIR=$tmp/nix/var/nix
export NIX_LOG_DIR=$tmp/nix/var/log/nix
export NIX_CONF_DIR=$tmp/etc
export NIX_REMOTE=local
export XDG_CACHE_HOME=$tmp/cache HOME=$tmp/home
mkdir -p "$NIX_CONF_DIR" "$HOME"
cat >"$NIX_CONF_DIR/nix.conf" <<CONF
sandbox = false
build-users-group =
substituters =
experimental-features = nix-command
CONF

fail() { echo "FAIL: $*"; exit 1; }
# An absolute path is a Nix path literal: nix copies the binary into the store.
bin=$(readlink -f "$FSTOOL_BIN")
out=$(nix-build "$here/default.nix" --arg fstool "$bin" --no-out-link)
echo "built $out"
ls -l "$out"
img=$out/nix-ext4.img
[ -f "$img" ] && [ -f "$img.sha256" ] && [ -f "$out/nix-ext4.report.json" ] || fail "output incomplete"
got=$(sha256sum "$img" | cut -d' ' -f1)
[ "$(cat "$img.sha256")" = "$got  nix-ext4.img" ] || fail ".sha256 says $(cat "$img.sha256"), image is $got"

# The check derivation (passthru.tests style) verifies the image against
# its manifest.
v=$(nix-build "$here/default.nix" --arg fstool "$bin" -A tests.verify --no-out-link)
grep -q "^verified: " "$v" || { cat "$v"; fail "tests.verify did not verify the image"; }
echo "ok: tests.verify: $(cat "$v")"

# The same manifest through the CLI.
nix eval --raw -f "$here/default.nix" --arg fstool "$bin" manifest >"$tmp/manifest.json"
SOURCE_DATE_EPOCH=1700000000 "$FSTOOL_BIN" build "$tmp/manifest.json" -o "$tmp/cli.img" -q
cli=$(sha256sum "$tmp/cli.img" | cut -d' ' -f1)
[ "$cli" = "$got" ] || fail "nix image $got != fstool build of the same manifest $cli"
echo "ok: sha256 $got equals the CLI's"

e2fsck -fn "$img"
[ "$(debugfs -R 'cat /etc/motd' "$img" 2>/dev/null)" = "hello from nix" ] || fail "/etc/motd"
[ "$(debugfs -R 'cat /etc/hostname' "$img" 2>/dev/null)" = "nixhost" ] || fail "/etc/hostname"
debugfs -R 'stat /usr/bin/hi' "$img" 2>/dev/null | grep -q 'Mode:  0755' || fail "/usr/bin/hi mode"
debugfs -R 'stat /var/log' "$img" 2>/dev/null | grep -q 'User:   100   Group:   101' || fail "/var/log owner"
debugfs -R 'stat /etc/hostname' "$img" 2>/dev/null | grep -q 'mtime: 0x6553f100' || fail "mtime is not SOURCE_DATE_EPOCH"
# The store's 0444/0555 source became canonical modes (the default).
debugfs -R 'stat /etc/hostname' "$img" 2>/dev/null | grep -q 'Mode:  0644' || fail "/etc/hostname is not 0644"
debugfs -R 'stat /etc' "$img" 2>/dev/null | grep -q 'Mode:  0755' || fail "/etc is not 0755"
grep -q '"permissions":"canonical"' "$tmp/manifest.json" || fail "manifest lacks permissions = canonical"
echo "ok: mkFsImage"

# mkDiskImage: a GPT disk in qcow2 (when this fstool builds disks).
nix eval --raw -f "$here/disk.nix" --arg fstool "$bin" manifest >"$tmp/disk.json"
if SOURCE_DATE_EPOCH=1700000000 "$FSTOOL_BIN" build "$tmp/disk.json" -o "$tmp/cli.qcow2" -q 2>"$tmp/disk.err"; then
    out=$(nix-build "$here/disk.nix" --arg fstool "$bin" --no-out-link)
    disk=$out/nix-disk.qcow2
    [ -f "$disk" ] && [ -f "$disk.sha256" ] && [ -f "$out/nix-disk.report.json" ] || fail "disk output incomplete"
    got=$(sha256sum "$disk" | cut -d' ' -f1)
    [ "$(cat "$disk.sha256")" = "$got  nix-disk.qcow2" ] || fail "disk .sha256"
    cli=$(sha256sum "$tmp/cli.qcow2" | cut -d' ' -f1)
    [ "$cli" = "$got" ] || fail "nix disk $got != fstool build of the same manifest $cli"
    qemu-img check "$disk"
    qemu-img convert -O raw "$disk" "$tmp/disk.raw"
    sgdisk -v "$tmp/disk.raw" | grep -q 'No problems found' || fail "sgdisk -v"
    echo "ok: mkDiskImage $got"
elif grep -q "not supported" "$tmp/disk.err"; then
    echo "NOTICE: SKIPPED mkDiskImage: this fstool does not build the disk manifest: $(tail -1 "$tmp/disk.err")"
else
    cat "$tmp/disk.err"
    fail "fstool build of the disk manifest"
fi
# The README's example, exactly as the README gives it, in a fresh
# directory outside the repo with a rootfs/ beside it (store modes 0444/0555
# become canonical 0644/0755).
rd=$tmp/readme
mkdir -p "$rd/rootfs/etc" "$rd/rootfs/usr/bin"
python3 - "$repo/README.md" "$rd/image.nix" <<'PY'
import re, sys
section = open(sys.argv[1]).read().split("### Use from Nix", 1)[1].split("\n### ", 1)[0]
blocks = [b for b in re.findall(r"^```nix\n(.*?)^```", section, re.S | re.M) if b.startswith("# file: image.nix\n")]
assert len(blocks) == 1, "the README's Nix section has no `# file: image.nix` block"
open(sys.argv[2], "w").write(blocks[0].split("\n", 1)[1])
PY
printf 'readme-host\n' >"$rd/rootfs/etc/hostname"
printf '#!/bin/sh\necho hi\n' >"$rd/rootfs/usr/bin/hi"
chmod 755 "$rd/rootfs/usr/bin/hi"
for attr in rootfs disk; do
    out=$(cd "$rd" && nix-build image.nix --arg fstool "$bin" --arg fstoolSrc "$repo" -A "$attr" --no-out-link)
    echo "built README $attr: $out"
done
out=$(cd "$rd" && nix-build image.nix --arg fstool "$bin" --arg fstoolSrc "$repo" -A rootfs --no-out-link)
e2fsck -fn "$out/rootfs.img"
[ "$(debugfs -R 'cat /etc/hostname' "$out/rootfs.img" 2>/dev/null)" = "readme-host" ] || fail "README image: /etc/hostname"
debugfs -R 'stat /etc/hostname' "$out/rootfs.img" 2>/dev/null | grep -q 'Mode:  0644' || fail "README image: /etc/hostname is not 0644"
debugfs -R 'stat /usr/bin/hi' "$out/rootfs.img" 2>/dev/null | grep -q 'Mode:  0755' || fail "README image: /usr/bin/hi is not 0755"
echo "ok: the README's image.nix builds from $rd"

echo "PASS: nix builders in $((SECONDS - start)) s"
