# Nix builders for fstool images. No nixpkgs needed:
#
#   let fst = import ./nix/lib.nix { };
#   in fst.mkFsImage {
#     name = "rootfs";
#     fstool = "${pkgs.fstool}/bin/fstool";   # or a path to a prebuilt binary
#     spec = { filesystem = { type = "ext4"; source = ./rootfs; size = "64MiB"; }; };
#   }
#
# `spec` is the fstool manifest (schema v1, `fstool schema`) as an attrset;
# `version = 1` is added. Nix paths in it (`./rootfs`) become store paths.
# The derivation's output is a directory with NAME.img (or NAME.qcow2),
# NAME.img.sha256 (`<hex>  NAME.img`, like sha256sum) and NAME.report.json.
#
# Time: the manifest's `source_date_epoch` if set, else the derivation's
# SOURCE_DATE_EPOCH (the `sourceDateEpoch` argument, default 315532800,
# 1980-01-01 like nixpkgs' stdenv), which fstool reads.
#
# Modes: a `source` from the store is 0444/0555 throughout, which says
# nothing about the image. Every filesystem with a `source` and no
# `permissions` key gets `permissions = "canonical"` (directories 0755,
# files 0644, or 0755 when executable); set `permissions = "source"` to
# keep the store's modes.
#
# `IMAGE.tests.verify` is a check derivation (nixpkgs' passthru.tests):
# it runs `fstool verify` on the image against the same manifest, and
# fails, printing what differs, unless the image is what it builds.
#
# The builder is a POSIX shell running one fstool command, plus `mkdir`.
# `shell` and `path` default to the host's /bin/sh and /bin:/usr/bin, which
# needs `sandbox = false`; with nixpkgs pass
#   shell = "${pkgs.bash}/bin/bash"; path = "${pkgs.coreutils}/bin";
{ system ? builtins.currentSystem }:
let
  script = ''
    set -eu
    mkdir -p "$out"
    "$fstool" build "$manifestPath" -o "$out/$imageName" --report "$out/$reportName" --quiet
    # The report's first "sha256" is the image's (shell builtins only).
    h=""
    while IFS= read -r line; do
      case $line in
        *'"sha256": "'*) h=''${line#*'"sha256": "'}; h=''${h%%'"'*}; break ;;
      esac
    done < "$out/$reportName"
    [ -n "$h" ]
    printf '%s  %s\n' "$h" "$imageName" > "$out/$imageName.sha256"
  '';

  canonical = fs:
    if (fs ? source || fs ? sources) && !(fs ? permissions)
    then fs // { permissions = "canonical"; }
    else fs;
  normalise = spec:
    (if spec ? filesystem then spec // { filesystem = canonical spec.filesystem; } else spec)
    // (if spec ? partitions then {
      partitions = map
        (p: if p ? filesystem then p // { filesystem = canonical p.filesystem; } else p)
        spec.partitions;
    } else { });

  # `fstool verify` of a built image against its own manifest; the
  # output is verify's text. Fails the build on any difference.
  verifyScript = ''
    "$fstool" verify "$manifestPath" "$image/$imageName" >"$out" 2>&1 || { cat "$out"; exit 1; }
  '';

  mkImage = { name, spec, fstool, ext, sourceDateEpoch ? 315532800
            , shell ? "/bin/sh", path ? "/bin:/usr/bin" }:
    let
      common = {
        inherit system fstool;
        builder = shell;
        manifest = builtins.toJSON ({ version = 1; } // normalise spec);
        passAsFile = [ "manifest" ];
        imageName = "${name}${ext}";
        SOURCE_DATE_EPOCH = toString sourceDateEpoch;
        PATH = path;
      };
      image = builtins.derivation (common // {
        inherit name;
        args = [ "-c" script ];
        reportName = "${name}.report.json";
      });
      verify = builtins.derivation (common // {
        name = "${name}-verify";
        args = [ "-c" verifyScript ];
        inherit image;
      });
    in
    # As nixpkgs' passthru.tests: `nix-build -A tests.verify` (or a
    # flake's checks) rebuilds the manifest and compares.
    image // { tests = { inherit verify; }; };
in
{
  # A bare filesystem: `spec.filesystem` is required. `sources` (a list of
  # { path = "/opt/app"; source = <store path or ./dir>; }) is appended to
  # the filesystem's layers.
  mkFsImage = args@{ name, spec, fstool, sources ? [ ], ... }:
    assert spec ? filesystem;
    let
      fs = spec.filesystem;
      withSources =
        if sources == [ ] then spec
        else spec // { filesystem = fs // { sources = (fs.sources or [ ]) ++ sources; }; };
    in
    mkImage (removeAttrs args [ "sources" ] // { spec = withSources; ext = ".img"; });

  # A whole disk: `spec.image` and `spec.partitions`.
  mkDiskImage = args@{ name, spec, fstool, ... }:
    assert spec ? partitions;
    mkImage (args // {
      ext = if (spec.image.format or "raw") == "qcow2" then ".qcow2" else ".img";
    });
}
