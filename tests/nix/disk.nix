# The disk image of tests/nix/run.sh:  nix-build disk.nix --arg fstool /path/to/fstool
{ fstool, lib ? ../../nix/lib.nix }:
let
  fst = import lib { };
in
fst.mkDiskImage {
  name = "nix-disk";
  inherit fstool;
  sourceDateEpoch = 1700000000;
  spec = {
    seed = "nix-consumer";
    image = { partition_table = "gpt"; format = "qcow2"; };
    partitions = [
      {
        type = "esp"; name = "esp"; size = "40MiB";
        filesystem = {
          type = "fat32"; label = "ESP";
          entries = [ { path = "/EFI/BOOT/HELLO.TXT"; type = "file"; contents = "hello from nix\n"; } ];
        };
      }
      {
        type = "linux"; name = "root"; size = "16MiB";
        filesystem = { type = "ext4"; source = ./tree; };
      }
    ];
  };
}
