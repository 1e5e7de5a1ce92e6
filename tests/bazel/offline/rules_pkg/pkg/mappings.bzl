"""Stand-ins for rules_pkg's pkg_files, pkg_mkdirs, pkg_mklink and
pkg_filegroup: the same attributes (the subset the test uses) and the same
providers as rules_pkg returns."""

load(":providers.bzl", "PackageDirsInfo", "PackageFilegroupInfo", "PackageFilesInfo", "PackageSymlinkInfo")

def _attrs(ctx):
    a = {"mode": ctx.attr.mode} if ctx.attr.mode else {}
    if ctx.attr.uid >= 0:
        a["uid"] = ctx.attr.uid
    if ctx.attr.gid >= 0:
        a["gid"] = ctx.attr.gid
    return a

def _pkg_files_impl(ctx):
    prefix = ctx.attr.prefix.rstrip("/")
    m = {}
    for f in ctx.files.srcs:
        dest = ctx.attr.renames.get(f.basename, f.basename)
        m[(prefix + "/" + dest).lstrip("/")] = f
    return [PackageFilesInfo(attributes = _attrs(ctx), dest_src_map = m), DefaultInfo(files = depset(ctx.files.srcs))]

_COMMON = {"mode": attr.string(), "uid": attr.int(default = -1), "gid": attr.int(default = -1)}

pkg_files = rule(_pkg_files_impl, attrs = dict(_COMMON, srcs = attr.label_list(allow_files = True), prefix = attr.string(), renames = attr.string_dict()))

def _pkg_mkdirs_impl(ctx):
    return [PackageDirsInfo(attributes = _attrs(ctx), dirs = ctx.attr.dirs)]

pkg_mkdirs = rule(_pkg_mkdirs_impl, attrs = dict(_COMMON, dirs = attr.string_list()))

def _pkg_mklink_impl(ctx):
    return [PackageSymlinkInfo(attributes = _attrs(ctx), destination = ctx.attr.link_name, target = ctx.attr.target)]

pkg_mklink = rule(_pkg_mklink_impl, attrs = dict(_COMMON, link_name = attr.string(), target = attr.string()))

def _pkg_filegroup_impl(ctx):
    files, dirs, links = [], [], []
    for s in ctx.attr.srcs:
        if PackageFilesInfo in s:
            files.append((s[PackageFilesInfo], s.label))
        if PackageDirsInfo in s:
            dirs.append((s[PackageDirsInfo], s.label))
        if PackageSymlinkInfo in s:
            links.append((s[PackageSymlinkInfo], s.label))
    return [PackageFilegroupInfo(pkg_files = files, pkg_dirs = dirs, pkg_symlinks = links)]

pkg_filegroup = rule(_pkg_filegroup_impl, attrs = {"srcs": attr.label_list()})
