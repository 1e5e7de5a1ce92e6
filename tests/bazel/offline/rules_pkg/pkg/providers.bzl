"""Stand-in for rules_pkg's providers (pkg/providers.bzl), with the same
names and fields, for the offline test workspace."""

PackageFilesInfo = provider(fields = ["attributes", "dest_src_map"])
PackageDirsInfo = provider(fields = ["attributes", "dirs"])
PackageSymlinkInfo = provider(fields = ["attributes", "destination", "target"])
PackageFilegroupInfo = provider(fields = ["pkg_files", "pkg_dirs", "pkg_symlinks"])
