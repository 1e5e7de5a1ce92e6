#!/bin/sh
# Finds its data through the runfiles tree, as `bazel run` lays it out.
cat "$0.runfiles/fstool_consumer/app/server.conf"
