#!/usr/bin/env bash
# sh_test body: check_pkg.sh IMAGE_FILES... FSTOOL
# The image built from rules_pkg mappings holds them with their modes and owners.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
files=()
while [ $# -gt 1 ]; do files+=("$1"); shift; done
fstool=$1
img=""
for f in "${files[@]}"; do case $f in *.img) img=$f ;; esac; done
e2fsck -fn "$img"
got=$("$fstool" ls "$img" / -R -l | awk '{print $1, $3, $4, $NF}')
want='drwxr-xr-x 0 0 /etc
drwxr-xr-x 0 0 /etc/pkg
-rw-r----- 10 20 /etc/pkg/config.toml
lrwxrwxrwx 0 0 config.toml
-rw-r----- 10 20 /etc/pkg/hello.txt
drwx------ 0 0 /lost+found
drwxr-xr-x 0 0 /var
drwxr-xr-x 0 0 /var/lib
drwx------ 0 0 /var/lib/pkg'
if [ "$got" != "$want" ]; then
    echo "FAIL: the rules_pkg image differs"
    diff <(echo "$want") <(echo "$got") || true
    exit 1
fi
[ "$("$fstool" cat "$img" /etc/pkg/hello.txt)" = "hello from bazel" ] || { echo "FAIL: content"; exit 1; }
echo "PASS: rules_pkg mappings in $(basename "$img")"
