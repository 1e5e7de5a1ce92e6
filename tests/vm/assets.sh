#!/usr/bin/env bash
# Prepares what tests/it/kernel_vm.rs boots: Debian's own kernel, a busybox
# initramfs that mounts each attached disk read-only and prints a listing on
# the serial port, and QEMU (TCG; no KVM needed). Everything comes from
# Debian packages and lands in one directory, nothing else on the system
# changes except for QEMU's shared libraries, installed with apt.
#
#   tests/vm/assets.sh [DIR]     # default: target/vm
#
# The kernel comes from Debian 13 (trixie): Debian 12's kernel has vfat but no
# ntfs3. It is fetched with `apt-get download` through a private apt state
# under DIR, so the system's apt sources stay as they are. QEMU is Debian 12's
# qemu-system-x86, unpacked rather than installed: installing it would replace
# a newer qemu-utils (qemu-img), which the qcow2 tests use.
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${1:-$PWD/target/vm}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
[ -f "$DIR/ready" ] && [ "$DIR/ready" -nt tests/vm/init ] && [ "$DIR/ready" -nt "$0" ] && exit 0
rm -f "$DIR/ready"

sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
tmp=$(mktemp -d "$DIR/.work.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

$sudo apt-get update -qq
# QEMU: its libraries from apt, the emulator and firmware unpacked.
$sudo apt-get install -y -qq libcapstone4 libfdt1 libpmem1 librdmacm1 libibverbs1 \
    libslirp0 libvdeplug2 libbpf1 libfuse3-3 libseccomp2 libsasl2-2 libaio1 liburing2 libpixman-1-0 libjpeg62-turbo libpng16-16 \
    libnuma1 libgnutls30 libusb-1.0-0 libzstd1 libglib2.0-0 xz-utils >/dev/null
(cd "$tmp" && apt-get download -q qemu-system-x86 qemu-system-common qemu-system-data seabios busybox-static >/dev/null 2>&1)
rm -rf "$DIR/qemu" && mkdir -p "$DIR/qemu"
for d in "$tmp"/qemu-system-*.deb "$tmp"/seabios_*.deb; do dpkg-deb -x "$d" "$DIR/qemu"; done
if ldd "$DIR/qemu/usr/bin/qemu-system-x86_64" | grep "not found"; then
    echo "qemu-system-x86_64 lacks the libraries above"; exit 1
fi
if "$DIR/qemu/usr/bin/qemu-system-x86_64" --version >/dev/null 2>"$tmp/qemu.err"; then :; else
    echo "qemu-system-x86_64 does not start:"; cat "$tmp/qemu.err"; exit 1
fi
dpkg-deb -x "$tmp"/busybox-static_*.deb "$tmp/bb"

# The kernel, from trixie, through a private apt state.
apt_dir=$tmp/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
    > "$apt_dir/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o APT::Architecture=amd64
    -o APT::Sandbox::User=root -q)
apt-get "${apt_opts[@]}" update >/dev/null
kpkg=$(apt-cache "${apt_opts[@]}" depends linux-image-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')
(cd "$tmp" && apt-get "${apt_opts[@]}" download "$kpkg" >/dev/null)
dpkg-deb -x "$tmp"/linux-image-*.deb "$tmp/k"
cp "$tmp"/k/boot/vmlinuz-* "$DIR/vmlinuz"

# The initramfs: busybox, the modules for the disks and filesystems
# (decompressed: busybox's insmod takes plain .ko files), and /init.
root=$tmp/initramfs
mkdir -p "$root/bin" "$root/lib/modules" "$root/proc" "$root/sys" "$root/dev" "$root/mnt"
cp "$tmp/bb/bin/busybox" "$root/bin/busybox"
for m in drivers/block/virtio_blk fs/nls/nls_cp437 fs/nls/nls_ascii fs/nls/nls_utf8 \
         fs/nls/nls_iso8859-1 fs/fat/fat fs/fat/vfat fs/ntfs3/ntfs3; do
    src=$(ls "$tmp"/k/usr/lib/modules/*/kernel/$m.ko* 2>/dev/null | head -1)
    [ -n "$src" ] || { echo "module $m missing from $kpkg"; exit 1; }
    case $src in
        *.xz) xz -dc "$src" > "$root/lib/modules/$(basename "$m").ko" ;;
        *) cp "$src" "$root/lib/modules/$(basename "$m").ko" ;;
    esac
done
cp tests/vm/init "$root/init"
chmod 755 "$root/init" "$root/bin/busybox"
(cd "$root" && find . | sort | "$root/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -1 > "$DIR/initrd.img")
echo "$kpkg" > "$DIR/kernel-version"
touch "$DIR/ready"
echo "vm assets ready in $DIR ($kpkg)"
