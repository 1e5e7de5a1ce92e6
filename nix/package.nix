# fstool built from this checkout with nixpkgs' rustPlatform:
#   nix-build -E 'with import <nixpkgs> { }; callPackage ./nix/package.nix { }'
{ lib, rustPlatform }:
rustPlatform.buildRustPackage {
  pname = "fstool";
  version = "0.1.0";
  src = lib.cleanSourceWith {
    src = ./..;
    filter = path: type:
      let base = baseNameOf path;
      in !(builtins.elem base [ "target" ".git" "bench-out" ]) && !(lib.hasPrefix "bazel-" base);
  };
  cargoLock.lockFile = ../Cargo.lock;
  # The integration tests need e2fsprogs, dosfstools, ... at build time.
  doCheck = false;
  meta = {
    description = "Deterministic, hermetic builder of ext2/3/4, FAT and partitioned disk images";
    license = with lib.licenses; [ mit asl20 ];
    mainProgram = "fstool";
  };
}
