#!/usr/bin/env bash
# sh_test body: check.sh KIND IMAGE FSTOOL EQUIV_MANIFEST
#   KIND            ext4 | fat | disk
#   IMAGE           the image target's files (image, .sha256, report), any order
# Checks, with the real validators, that the image Bazel built is valid, that
# its .sha256 file is right, and that `fstool build` on the equivalent
# hand-written manifest (outside Bazel's rules) gives the same bytes.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
kind=$1; shift
files=()
while [ $# -gt 2 ]; do files+=("$1"); shift; done
fstool=$1 equiv=$2
img="" sumfile=""
for f in "${files[@]}"; do
    case $f in
        *.sha256) sumfile=$f ;;
        *.img | *.qcow2) img=$f ;;
    esac
done
[ -n "$img" ] && [ -n "$sumfile" ] || { echo "FAIL: no image/.sha256 among ${files[*]}"; exit 1; }
tmp=${TEST_TMPDIR:-$(mktemp -d)}

# 1. The .sha256 file matches the bytes.
want=$(cut -d' ' -f1 "$sumfile")
got=$(sha256sum "$img" | cut -d' ' -f1)
[ "$want" = "$got" ] || { echo "FAIL: $sumfile says $want, image is $got"; exit 1; }
grep -q "  $(basename "$img")\$" "$sumfile" || { echo "FAIL: $sumfile does not name $(basename "$img")"; exit 1; }

# 2. The same image from the CLI and the equivalent manifest.
"$fstool" build "$equiv" -o "$tmp/cli.out" --report "$tmp/cli.json" -q
cli=$(sha256sum "$tmp/cli.out" | cut -d' ' -f1)
if [ "$cli" != "$got" ]; then
    echo "FAIL: bazel image $got != fstool build $equiv $cli"
    exit 1
fi
echo "ok: sha256 $got equals fstool build $(basename "$equiv")"

# 3. The real validators.
case $kind in
    ext4)
        e2fsck -fn "$img"
        # Read back what the attributes asked for.
        stat_of() { debugfs -R "stat $1" "$img" 2>/dev/null; }
        [ "$(debugfs -R 'cat /etc/hello.txt' "$img" 2>/dev/null)" = "hello from bazel" ] || { echo "FAIL: /etc/hello.txt"; exit 1; }
        stat_of /usr/bin/app | grep -q 'Mode:  0755' || { echo "FAIL: /usr/bin/app mode"; stat_of /usr/bin/app; exit 1; }
        stat_of /var/log | grep -q 'User:   100   Group:   101' || { echo "FAIL: /var/log owner"; stat_of /var/log; exit 1; }
        stat_of /tmp | grep -q 'Mode:  01777' || { echo "FAIL: /tmp mode"; stat_of /tmp; exit 1; }
        stat_of /etc/hello.txt | grep -q 'Links: 2' || { echo "FAIL: hard link"; exit 1; }
        stat_of /dev/null | grep -q 'Device major/minor number: 01:03' || { echo "FAIL: /dev/null"; stat_of /dev/null; exit 1; }
        debugfs -R 'ea_list /etc/hello.txt' "$img" 2>/dev/null | grep -q 'user.origin.*bazel' || { echo "FAIL: xattr"; exit 1; }
        [ "$(debugfs -R 'cat /usr/share/gen/b.txt' "$img" 2>/dev/null)" = "generated b" ] || { echo "FAIL: gen/b.txt"; exit 1; }
        # From the tar layer, with the archive's owners and modes.
        [ "$(debugfs -R 'cat /opt/layer/readme.txt' "$img" 2>/dev/null)" = "from a tar layer" ] || { echo "FAIL: tar member"; exit 1; }
        stat_of /opt/layer/readme.txt | grep -q 'User:     7   Group:     8' || { echo "FAIL: tar member owner"; stat_of /opt/layer/readme.txt; exit 1; }
        stat_of /opt/layer/readme.txt | grep -q 'Mode:  0640' || { echo "FAIL: tar member mode"; exit 1; }
        ;;
    fat)
        fsck.fat -n "$img"
        [ "$(mtype -i "$img" ::/EFI/BOOT/HELLO.TXT)" = "hello from bazel" ] || { echo "FAIL: HELLO.TXT"; exit 1; }
        ;;
    disk)
        qemu-img check "$img"
        qemu-img convert -O raw "$img" "$tmp/disk.raw"
        sgdisk -v "$tmp/disk.raw" | tee "$tmp/sgdisk.txt"
        grep -q 'No problems found' "$tmp/sgdisk.txt" || { echo "FAIL: sgdisk -v"; exit 1; }
        ;;
    *) echo "unknown kind $kind"; exit 2 ;;
esac
echo "PASS: $kind $(basename "$img")"
