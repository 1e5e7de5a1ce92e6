#!/usr/bin/env bash
# Runs the whole test suite, installing the validators it needs first.
#   ./scripts/test.sh            everything, including the scale tests
#   ./scripts/test.sh --quick    skips the #[ignore]d scale tests
# Validators missing after the install step fail the tests
# (FSTOOL_REQUIRE_TOOLS=1), they are never silently skipped here.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(e2fsprogs dosfstools mtools fdisk gdisk ntfs-3g qemu-utils genext2fs bazel-bootstrap nix-bin erofs-utils cryptsetup-bin systemd-container openssl acl libcap2-bin selinux-utils selinux-policy-default tmux)
need=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing validators: ${need[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Debian's kernel, QEMU and a busybox initramfs, for the vfat and ntfs3
# readback (tests/it/kernel_vm.rs); the host kernel has neither driver.
tests/vm/assets.sh target/vm
export FSTOOL_VM_DIR="$PWD/target/vm"

export FSTOOL_REQUIRE_TOOLS=1
ignored="--include-ignored"
[ "${1:-}" = "--quick" ] && ignored=""
cargo test --release --all-targets -- $ignored

# Build-system integrations with real Bazel 4 and nix-build.
cargo build --release
FSTOOL_BIN="$PWD/target/release/fstool" tests/bazel/run.sh
FSTOOL_BIN="$PWD/target/release/fstool" tests/bazel/readme.sh
FSTOOL_BIN="$PWD/target/release/fstool" tests/nix/run.sh

# A short coverage-guided fuzz of every reader and the spec parser
# (cargo-afl on stable Rust); a saved crash or hang fails the run.
fuzz/run.sh "${FSTOOL_FUZZ_SECONDS:-10}"
