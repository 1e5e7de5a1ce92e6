#!/usr/bin/env bash
# sh_test body: check_layered.sh IMAGE_FILES... FSTOOL
# The layered image holds exactly the expected tree: the tar layer, the
# directory output as a layer and through `files`, and the binary with its
# runfiles laid out as `bazel run` does.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
files=()
while [ $# -gt 1 ]; do files+=("$1"); shift; done
fstool=$1
img=""
for f in "${files[@]}"; do case $f in *.img) img=$f ;; esac; done
e2fsck -fn "$img"
want='/etc
/etc/hello.txt
/lost+found
/opt
/opt/app
/opt/app/server
/opt/app/server.runfiles
/opt/app/server.runfiles/fstool_consumer
/opt/app/server.runfiles/fstool_consumer/app
/opt/app/server.runfiles/fstool_consumer/app/server
/opt/app/server.runfiles/fstool_consumer/app/server.conf
/opt/app/server.runfiles/fstool_consumer/app/server.sh
/opt/layer
/opt/layer/readme.txt
/opt/layer/run.sh
/opt/tree
/opt/tree/one.txt
/opt/tree/sub
/opt/tree/sub/two.txt
/usr
/usr/share
/usr/share/generated
/usr/share/generated/one.txt
/usr/share/generated/sub
/usr/share/generated/sub/two.txt'
got=$("$fstool" ls "$img" / -R)
if [ "$got" != "$want" ]; then
    echo "FAIL: the image's tree differs"
    diff <(echo "$want") <(echo "$got") || true
    exit 1
fi
[ "$("$fstool" cat "$img" /opt/tree/sub/two.txt)" = "two" ] || { echo "FAIL: tree artifact content"; exit 1; }
[ "$("$fstool" cat "$img" /opt/app/server.runfiles/fstool_consumer/app/server.conf)" = "port = 8080" ] || { echo "FAIL: runfile"; exit 1; }
mode() { "$fstool" ls "$img" "$1" -l | awk '{print $1}'; }
[ "$(mode /opt/app/server)" = "-rwxr-xr-x" ] || { echo "FAIL: /opt/app/server mode $(mode /opt/app/server)"; exit 1; }
[ "$(mode /opt/app/server.runfiles/fstool_consumer/app/server.sh)" = "-rwxr-xr-x" ] || { echo "FAIL: runfile script mode"; exit 1; }
[ "$(mode /opt/app/server.runfiles/fstool_consumer/app/server.conf)" = "-rw-r--r--" ] || { echo "FAIL: runfile data mode"; exit 1; }
echo "PASS: layered $(basename "$img")"
