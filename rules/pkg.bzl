"""rules_pkg's mappings as fs_image input, kept apart from defs.bzl so that
rules_pkg stays optional: only workspaces that load this file need it.

    load("@fstool//rules:pkg.bzl", "pkg_fstool_entries")

    pkg_fstool_entries(name = "app_entries", srcs = [":app_files", ":app_dirs", ":links"])
    fs_image(name = "rootfs", entries_from = [":app_entries"], ...)

`srcs` takes targets providing PackageFilesInfo (pkg_files),
PackageDirsInfo (pkg_mkdirs), PackageSymlinkInfo (pkg_mklink) or
PackageFilegroupInfo (pkg_filegroup). Their `mode`, `uid` and `gid`
attributes become the entries' (user and group names are not used: the
image stores numbers).
"""

load(
    "@rules_pkg//pkg:providers.bzl",
    "PackageDirsInfo",
    "PackageFilegroupInfo",
    "PackageFilesInfo",
    "PackageSymlinkInfo",
)
load(":defs.bzl", "FstoolEntriesInfo")

def _with_attrs(e, attributes):
    mode = attributes.get("mode")
    if mode:
        e["mode"] = mode if mode.startswith("0") else "0" + mode
    for k in ("uid", "gid"):
        if attributes.get(k) != None:
            e[k] = int(attributes[k])
    return e

def _files(info, entries, inputs):
    for dest, f in info.dest_src_map.items():
        inputs.append(f)
        if f.is_directory:
            fail("%s: directory outputs go in fs_image's `layers`" % dest)
        entries.append(_with_attrs({"path": "/" + dest.lstrip("/"), "type": "file", "source": f.path}, info.attributes))

def _dirs(info, entries):
    for d in info.dirs:
        entries.append(_with_attrs({"path": "/" + d.lstrip("/"), "type": "dir"}, info.attributes))

def _link(info, entries):
    entries.append(_with_attrs({"path": "/" + info.destination.lstrip("/"), "type": "symlink", "target": info.target}, info.attributes))

def _entry_path(e):
    return e["path"]

def _pkg_fstool_entries_impl(ctx):
    entries = []
    inputs = []
    for s in ctx.attr.srcs:
        if PackageFilegroupInfo in s:
            g = s[PackageFilegroupInfo]
            for info, _ in g.pkg_files:
                _files(info, entries, inputs)
            for info, _ in g.pkg_dirs:
                _dirs(info, entries)
            for info, _ in g.pkg_symlinks:
                _link(info, entries)
        if PackageFilesInfo in s:
            _files(s[PackageFilesInfo], entries, inputs)
        if PackageDirsInfo in s:
            _dirs(s[PackageDirsInfo], entries)
        if PackageSymlinkInfo in s:
            _link(s[PackageSymlinkInfo], entries)
    return [FstoolEntriesInfo(entries = sorted(entries, key = _entry_path), inputs = depset(inputs))]

pkg_fstool_entries = rule(
    implementation = _pkg_fstool_entries_impl,
    doc = "Manifest entries for fs_image(entries_from = ...) from rules_pkg mappings.",
    attrs = {"srcs": attr.label_list(doc = "pkg_files, pkg_mkdirs, pkg_mklink or pkg_filegroup targets.")},
)
