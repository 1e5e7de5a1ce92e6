# The test image of tests/nix/run.sh:  nix-build --arg fstool /path/to/fstool
{ fstool, lib ? ../../nix/lib.nix }:
let
  fst = import lib { };
in
fst.mkFsImage {
  name = "nix-ext4";
  inherit fstool;
  sourceDateEpoch = 1700000000;
  spec = {
    seed = "nix-consumer";
    filesystem = {
      type = "ext4";
      size = "8MiB";
      label = "nixroot";
      source = ./tree;
      entries = [
        { path = "/etc/motd"; type = "file"; contents = "hello from nix\n"; mode = "0644"; }
        { path = "/var/log"; type = "dir"; uid = 100; gid = 101; }
        { path = "/dev/null"; type = "char"; major = 1; minor = 3; mode = "0666"; }
      ];
      rules = [ { glob = "/usr/bin/*"; mode = "0755"; } ];
    };
  };
}
