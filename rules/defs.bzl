"""Bazel rules that build filesystem and disk images with fstool.

    load("@fstool//rules:defs.bzl", "fs_image", "disk_image")

Both rules write an fstool JSON manifest (schema v1, see `fstool schema` and
docs/build-systems.md) with `json.encode` + `ctx.actions.write`, then run
`fstool build` on it in one action whose inputs are exactly the manifest and
the files it names. Paths in the manifest are relative (fstool resolves them
against the manifest's directory), there are no absolute paths and no
`local`/`no-sandbox` tags: the action is remote-cacheable and
remote-executable.

The fstool binary comes from the label flag `@fstool//rules:fstool`; point it
at a prebuilt binary with one line in `.bazelrc`:

    build --@fstool//rules:fstool=//tools:fstool
"""

FsImageInfo = provider(
    doc = "A filesystem image built by fs_image.",
    fields = {
        "image": "File: the image.",
        "sha256": "File: `<hex>  <basename>\\n`, like sha256sum.",
        "report": "File: fstool's JSON report.",
        "manifest": "File: the JSON manifest fstool was run on.",
        "fs_type": "string: ext2/ext3/ext4/fat12/fat16/fat32/fat.",
        "filesystem": "dict: the manifest's `filesystem` object, host paths relative to the execroot (for embedding in a disk_image partition).",
        "inputs": "depset of File: the files `filesystem` names.",
        "overlays": "list of File: the `spec_file` merged over the manifest (`--overlay`), if any.",
    },
)

FstoolEntriesInfo = provider(
    doc = "Manifest entries made elsewhere (rules/pkg.bzl from rules_pkg mappings), for fs_image's `entries_from`.",
    fields = {
        "entries": "list of dict: manifest `entries`, host paths relative to the execroot.",
        "inputs": "depset of File: the files they name.",
    },
)

DiskImageInfo = provider(
    doc = "A disk image built by disk_image.",
    fields = {
        "image": "File: the disk image (raw or qcow2).",
        "sha256": "File: `<hex>  <basename>\\n`.",
        "report": "File: fstool's JSON report.",
        "manifest": "File: the JSON manifest.",
        "inputs": "depset of File: every file the manifest names.",
    },
)

# ---------------------------------------------------------------- helpers

def _up_prefix(f):
    """`../` repeated once per directory of `f`'s execroot path: manifest-relative paths then reach the execroot."""
    return "../" * len(f.dirname.split("/"))

def _rebase(fs, prefix):
    """Copy of a `filesystem` dict with every host path prefixed."""
    out = dict(fs)
    if "source" in out:
        out["source"] = prefix + out["source"]
    if "sources" in out:
        out["sources"] = [dict(l, source = prefix + l["source"]) for l in out["sources"]]
    if "device_table" in out:
        out["device_table"] = prefix + out["device_table"]
    if "entries" in out:
        entries = []
        for e in out["entries"]:
            if "source" in e:
                e = dict(e)
                e["source"] = prefix + e["source"]
            entries.append(e)
        out["entries"] = entries
    return out

def _norm_path(p):
    if not p.startswith("/"):
        p = "/" + p
    if len(p) > 1 and p.endswith("/"):
        p = p[:-1]
    return p

def _mode_value(m):
    """A mode attribute ("0755", "755", "0o755") as the manifest's octal string."""
    if m.startswith("0o"):
        m = m[2:]
    if not m.startswith("0"):
        m = "0" + m
    return m

def _run_fstool(ctx, manifest, inputs, image, report, sha256, what, overlays = []):
    fstool = ctx.executable._fstool
    args = ctx.actions.args()

    # Arguments travel in a param file (`fstool @file`), so no command line
    # grows with the tree; the tree itself is in the manifest file.
    args.use_param_file("@%s", use_always = True)
    args.set_param_file_format("multiline")
    args.add("build")
    args.add(manifest)
    for o in overlays:
        args.add("--overlay", o)
    args.add("-o", image)
    args.add("--report", report)
    args.add("--sha256-file", sha256)
    args.add("--quiet")
    ctx.actions.run(
        executable = fstool,
        arguments = [args],
        inputs = depset([manifest] + overlays, transitive = [inputs]),
        outputs = [image, report, sha256],
        mnemonic = "FsImage",
        progress_message = "fstool: building %s %s" % (what, image.short_path),
        # A clean environment: no $SOURCE_DATE_EPOCH or anything else leaks
        # in from the host; the manifest says everything.
        env = {},
    )

_COMMON_ATTRS = {
    "seed": attr.string(doc = "Seed every identifier (UUIDs, hash seeds, GUIDs) derives from. Default: the target's label."),
    "source_date_epoch": attr.int(default = 0, doc = "Every timestamp in the image (the host's $SOURCE_DATE_EPOCH is never read inside Bazel)."),
    "_fstool": attr.label(
        default = Label("//rules:fstool"),
        executable = True,
        # A prebuilt binary may be a plain file.
        allow_files = True,
        cfg = "exec",
    ),
}

# ---------------------------------------------------------------- fs_image

def _add(st, path, entry, default_mode):
    """Appends an entry for `path` with its mode, owner and xattrs."""
    path = _norm_path(path)
    if path in st.seen:
        fail("%s is mapped twice" % path)
    st.seen[path] = True
    entry["path"] = path
    entry["mode"] = st.per_mode.get(path, default_mode)
    uid, gid = st.per_owner.get(path, st.default_owner)
    entry["uid"] = uid
    entry["gid"] = gid
    if path in st.per_xattrs:
        entry["xattrs"] = st.per_xattrs[path]
    st.entries.append(entry)

def _layer(path, f):
    l = {"path": path, "source": f.path}
    if f.is_directory:
        l["follow_symlinks"] = True
    return l

def _first(t):
    return t[0]

def _second(t):
    return t[1]

def _short_path(f):
    return f.short_path

def _runfiles_path(ctx, f):
    """Where `f` sits below a runfiles directory: WORKSPACE/short_path, or REPO/... for an external repository."""
    if f.short_path.startswith("../"):
        return f.short_path[3:]
    return ctx.workspace_name + "/" + f.short_path

def _add_runfile(st, path, f):
    """A runfile entry: its mode is the file's own (no `mode` key)."""
    path = _norm_path(path)
    if path in st.seen:
        return
    st.seen[path] = True
    uid, gid = st.default_owner
    st.entries.append({"path": path, "type": "file", "source": f.path, "uid": uid, "gid": gid})

def _fs_image_impl(ctx):
    fs_type = ctx.attr.fs_type
    entries = []
    inputs = []
    seen = {}

    per_mode = {_norm_path(k): _mode_value(v) for k, v in ctx.attr.modes.items()}
    per_owner = {}
    for k, v in ctx.attr.owners.items():
        uid, _, gid = v.partition(":")
        per_owner[_norm_path(k)] = (int(uid), int(gid if gid else uid))
    per_xattrs = {}
    for k, vs in ctx.attr.xattrs.items():
        d = {}
        for v in vs:
            name, eq, value = v.partition("=")
            if not eq:
                fail("xattrs[%r]: %r is not NAME=VALUE" % (k, v))
            d[name] = value
        per_xattrs[_norm_path(k)] = d

    st = struct(
        entries = entries,
        seen = seen,
        per_mode = per_mode,
        per_owner = per_owner,
        per_xattrs = per_xattrs,
        default_owner = (ctx.attr.uid, ctx.attr.gid),
    )

    for d in ctx.attr.dirs:
        _add(st, d, {"type": "dir"}, _mode_value(ctx.attr.dir_mode))

    # Files: sorted by image path so the manifest does not depend on the
    # order of the dict in the BUILD file.
    # Layers: `tars` at /, then `layers` in the order written, then tree
    # artifacts (directory outputs) of `files` at their paths, by path. A
    # tree artifact's contents are only known when the action runs; as a
    # layer, fstool walks it then.
    layers = [("/", f) for f in ctx.files.tars]
    for target, dest in ctx.attr.layers.items():
        for f in target.files.to_list():
            layers.append((_norm_path(dest), f))
    files = []
    trees = []
    for target, dest in ctx.attr.files.items():
        outs = target.files.to_list()
        dirs_out = [f for f in outs if f.is_directory]
        outs = [f for f in outs if not f.is_directory]
        for f in dirs_out:
            trees.append((_norm_path(dest), f))
        if len(outs) == 1 and not dirs_out and not dest.endswith("/"):
            files.append((_norm_path(dest), outs[0]))
        else:
            for f in outs:
                files.append((_norm_path(dest) + "/" + f.basename, f))
    layers += sorted(trees, key = _first)
    for path, f in sorted(files):
        inputs.append(f)
        _add(st, path, {"type": "file", "source": f.path}, _mode_value(ctx.attr.mode))

    # Binaries with their runfiles, laid out as Bazel lays them out:
    # DEST and DEST.runfiles/WORKSPACE/short_path (external repositories
    # under DEST.runfiles/REPO/...). Runfiles keep the modes Bazel gives
    # them (executables stay executable).
    for target, dest in sorted(ctx.attr.binaries.items(), key = _second):
        info = target[DefaultInfo]
        exe = info.files_to_run.executable
        if exe == None:
            fail("binaries: %s is not executable" % target.label)
        dest = _norm_path(dest)
        inputs.append(exe)
        _add(st, dest, {"type": "file", "source": exe.path}, "0755")
        tree = dest + ".runfiles/"
        for f in sorted(info.default_runfiles.files.to_list(), key = _short_path):
            if f.is_directory:
                layers.append((_norm_path(tree + _runfiles_path(ctx, f)), f))
                continue
            inputs.append(f)
            _add_runfile(st, tree + _runfiles_path(ctx, f), f)

    # Entries from rules_pkg mappings (rules/pkg.bzl): their own modes and
    # owners, else the rule's defaults.
    for src in ctx.attr.entries_from:
        info = src[FstoolEntriesInfo]
        inputs.extend(info.inputs.to_list())
        for e in info.entries:
            e = dict(e)
            path = e.pop("path")
            mode = e.pop("mode", None)
            owner = (e.pop("uid", None), e.pop("gid", None))
            default_mode = {"dir": _mode_value(ctx.attr.dir_mode), "symlink": "0777"}.get(e["type"], _mode_value(ctx.attr.mode))
            _add(st, path, e, mode or default_mode)
            if owner[0] != None:
                st.entries[-1]["uid"] = owner[0]
            if owner[1] != None:
                st.entries[-1]["gid"] = owner[1]

    for path, target in sorted(ctx.attr.symlinks.items()):
        _add(st, path, {"type": "symlink", "target": target}, "0777")

    for path, spec in sorted(ctx.attr.devices.items()):
        parts = spec.split(" ")
        kind = {"c": "char", "b": "block", "p": "fifo", "s": "socket"}.get(parts[0])
        if kind == None:
            fail("devices[%r]: %r is not 'c MAJOR MINOR', 'b MAJOR MINOR', 'p' or 's'" % (path, spec))
        e = {"type": kind}
        if kind in ("char", "block"):
            if len(parts) != 3:
                fail("devices[%r]: %r needs a major and a minor" % (path, spec))
            e["major"] = int(parts[1])
            e["minor"] = int(parts[2])
        _add(st, path, e, "0644" if kind != "socket" else "0755")

    for path, target in sorted(ctx.attr.hardlinks.items()):
        p = _norm_path(path)
        if p in seen:
            fail("%s is mapped twice" % p)
        seen[p] = True
        entries.append({"path": p, "type": "hardlink", "target": _norm_path(target)})

    fs = {"type": fs_type}
    for _, f in layers:
        inputs.append(f)
    if len(layers) == 1 and layers[0][0] == "/":
        fs["source"] = layers[0][1].path
    elif layers:
        # The sandbox stages a directory output's files as symlinks:
        # fstool stores them as the files they point to.
        fs["sources"] = [_layer(p, f) for p, f in layers]
    if ctx.attr.whiteouts:
        fs["whiteouts"] = True
    if ctx.attr.permissions != "source":
        fs["permissions"] = ctx.attr.permissions
    if ctx.attr.fs_size:
        fs["size"] = ctx.attr.fs_size
    if ctx.attr.label:
        fs["label"] = ctx.attr.label
    if entries:
        fs["entries"] = entries

    # Per-path settings for paths the rule did not create itself (implied
    # parents, "/"): literal globs. A per-path entry value beats a rule, so
    # these never fight with the entries above.
    rules = []
    for path in sorted(per_mode.keys() + per_owner.keys()):
        if path in seen:
            continue
        seen[path] = True
        r = {"glob": path}
        if path in per_mode:
            r["mode"] = per_mode[path]
        if path in per_owner:
            r["uid"], r["gid"] = per_owner[path]
        rules.append(r)
    if rules:
        fs["rules"] = rules

    # The inline `spec`: a JSON object merged over what the attributes made
    # (its top-level keys win; its `filesystem` keys win over the rule's).
    top = {}
    if ctx.attr.spec:
        extra = json.decode(ctx.attr.spec)
        for k, v in extra.items():
            if k == "filesystem":
                for fk, fv in v.items():
                    if fk == "entries":
                        fs["entries"] = fs.get("entries", []) + fv
                    elif fk == "rules":
                        fs["rules"] = fs.get("rules", []) + fv
                    else:
                        fs[fk] = fv
            else:
                top[k] = v

    manifest = ctx.actions.declare_file(ctx.label.name + ".manifest.json")
    doc = {
        "version": 1,
        "seed": ctx.attr.seed or str(ctx.label),
        "source_date_epoch": ctx.attr.source_date_epoch,
    }
    doc.update(top)
    doc["filesystem"] = _rebase(fs, _up_prefix(manifest))
    ctx.actions.write(manifest, json.encode_indent(doc, indent = "  ") + "\n")

    image = ctx.actions.declare_file(ctx.attr.out or (ctx.label.name + ".img"))
    report = ctx.actions.declare_file(ctx.label.name + ".report.json")
    sha256 = ctx.actions.declare_file(image.basename + ".sha256")
    inputs_set = depset(inputs)
    overlays = [ctx.file.spec_file] if ctx.file.spec_file else []
    _run_fstool(ctx, manifest, inputs_set, image, report, sha256, fs_type, overlays)

    return [
        DefaultInfo(
            files = depset([image, sha256, report]),
            runfiles = ctx.runfiles(files = [image, sha256, report]),
        ),
        OutputGroupInfo(
            image = depset([image]),
            sha256 = depset([sha256]),
            report = depset([report]),
            manifest = depset([manifest]),
        ),
        FsImageInfo(
            image = image,
            sha256 = sha256,
            report = report,
            manifest = manifest,
            fs_type = fs_type,
            filesystem = fs,
            inputs = inputs_set,
            overlays = overlays,
        ),
    ]

_fs_image = rule(
    implementation = _fs_image_impl,
    doc = "A filesystem image (ext2/3/4, FAT) built by fstool from labels mapped to image paths.",
    attrs = dict(_COMMON_ATTRS, **{
        "fs_type": attr.string(default = "ext4", values = ["ext2", "ext3", "ext4", "fat12", "fat16", "fat32", "fat", "ntfs", "erofs"]),
        "fs_size": attr.string(doc = "\"64MiB\", a byte count, or \"auto\" (default)."),
        "label": attr.string(doc = "Volume label."),
        "out": attr.string(doc = "Image file name (default NAME.img)."),
        "files": attr.label_keyed_string_dict(
            allow_files = True,
            doc = "Label -> image path. A label with one file maps to that path; one with several files (or a path ending in /) maps each file to PATH/basename. No runfiles are included.",
        ),
        "tars": attr.label_list(
            allow_files = [".tar", ".tar.gz", ".tgz"],
            doc = "Tar archives (e.g. pkg_tar outputs) whose members form the tree first, in order, each over the one before, keeping their modes and owners; the other attributes add to it.",
        ),
        "layers": attr.label_keyed_string_dict(
            allow_files = True,
            doc = "Label -> image path: tar archives or directory outputs (tree artifacts) placed at that path, after `tars`, in the order written; later layers win. Directory outputs in `files` become layers too.",
        ),
        "entries_from": attr.label_list(
            providers = [FstoolEntriesInfo],
            doc = "Targets of rules/pkg.bzl's pkg_fstool_entries: rules_pkg's pkg_files, pkg_mkdirs, pkg_mklink and pkg_filegroup as entries.",
        ),
        "whiteouts": attr.bool(doc = "OCI whiteouts (.wh.NAME, .wh..wh..opq) in layers delete what the layers below brought."),
        "binaries": attr.label_keyed_string_dict(
            doc = "Executable target -> image path. The binary goes to the path and its runfiles to PATH.runfiles/WORKSPACE/..., as `bazel run` lays them out.",
        ),
        "permissions": attr.string(
            default = "source",
            values = ["source", "canonical"],
            doc = "Modes of what the layers bring: as they are, or canonical (dirs 0755, files 0644 or 0755 when executable).",
        ),
        "dirs": attr.string_list(doc = "Directories to create (parents are implied)."),
        "symlinks": attr.string_dict(doc = "Image path -> link target."),
        "hardlinks": attr.string_dict(doc = "Image path -> image path of an existing file."),
        "devices": attr.string_dict(doc = "Image path -> 'c MAJOR MINOR', 'b MAJOR MINOR', 'p' (fifo) or 's' (socket)."),
        "mode": attr.string(default = "0644", doc = "Default mode of files and devices."),
        "dir_mode": attr.string(default = "0755", doc = "Default mode of `dirs`."),
        "uid": attr.int(default = 0, doc = "Default owner of everything the rule creates."),
        "gid": attr.int(default = 0),
        "modes": attr.string_dict(doc = "Image path -> mode, e.g. {'/bin/app': '0755'}. Paths the rule does not create (implied parents, '/') are set too."),
        "owners": attr.string_dict(doc = "Image path -> 'UID:GID'."),
        "xattrs": attr.string_list_dict(doc = "Image path -> ['user.name=value', ...]."),
        "spec_file": attr.label(
            allow_single_file = [".toml", ".json"],
            doc = "A checked-in TOML or JSON spec merged over the manifest the attributes make, by `fstool build --overlay`: tables merge, its values win, its arrays (`filesystem.entries`, `rules`) are appended. Paths in it resolve against the manifest's directory, like the manifest's own. Not carried into `disk_image` partitions (use `spec` there).",
        ),
        "spec": attr.string(doc = "A JSON object (e.g. json.encode of a dict from a .bzl file) merged over the manifest the attributes make: top-level keys win, `filesystem` keys win, `filesystem.entries`/`rules` are appended."),
    }),
)

# ---------------------------------------------------------------- disk_image

def _disk_image_impl(ctx):
    manifest = ctx.actions.declare_file(ctx.label.name + ".manifest.json")
    prefix = _up_prefix(manifest)
    if len(ctx.attr.partition_specs) != len(ctx.attr.partition_srcs):
        fail("internal: partition_specs and partition_srcs differ in length")
    parts = []
    transitive = []
    for spec_json, src in zip(ctx.attr.partition_specs, ctx.attr.partition_srcs):
        p = json.decode(spec_json)
        kind = p.pop("_kind")
        if kind == "fs":
            if FsImageInfo not in src:
                fail("partition %s: `fs` must be an fs_image target" % src.label)
            info = src[FsImageInfo]
            fs = _rebase(info.filesystem, prefix)
            if not p.pop("_fs_keep_size", False):
                # Inside a partition the filesystem fills it.
                fs.pop("size", None)
            p["filesystem"] = fs
            transitive.append(info.inputs)
        else:
            files = src.files.to_list()
            if len(files) != 1:
                fail("partition %s: `image` must be exactly one file" % src.label)
            p["image"] = prefix + files[0].path
            transitive.append(depset(files))
        parts.append(p)

    image_obj = {"partition_table": ctx.attr.partition_table, "format": ctx.attr.format}
    if ctx.attr.disk_size:
        image_obj["size"] = ctx.attr.disk_size
    doc = {
        "version": 1,
        "seed": ctx.attr.seed or str(ctx.label),
        "source_date_epoch": ctx.attr.source_date_epoch,
        "image": image_obj,
        "partitions": parts,
    }
    ctx.actions.write(manifest, json.encode_indent(doc, indent = "  ") + "\n")

    ext = ".qcow2" if ctx.attr.format == "qcow2" else ".img"
    image = ctx.actions.declare_file(ctx.attr.out or (ctx.label.name + ext))
    report = ctx.actions.declare_file(ctx.label.name + ".report.json")
    sha256 = ctx.actions.declare_file(image.basename + ".sha256")
    _run_fstool(ctx, manifest, depset(transitive = transitive), image, report, sha256, "disk")
    return [
        DefaultInfo(
            files = depset([image, sha256, report]),
            runfiles = ctx.runfiles(files = [image, sha256, report]),
        ),
        OutputGroupInfo(
            image = depset([image]),
            sha256 = depset([sha256]),
            report = depset([report]),
            manifest = depset([manifest]),
        ),
        DiskImageInfo(
            image = image,
            sha256 = sha256,
            report = report,
            manifest = manifest,
            inputs = depset(transitive = transitive),
        ),
    ]

_disk_image = rule(
    implementation = _disk_image_impl,
    attrs = dict(_COMMON_ATTRS, **{
        "partition_table": attr.string(default = "gpt", values = ["gpt", "mbr", "none"]),
        "format": attr.string(default = "raw", values = ["raw", "qcow2"]),
        "disk_size": attr.string(),
        "out": attr.string(),
        "partition_specs": attr.string_list(),
        "partition_srcs": attr.label_list(allow_files = True),
    }),
)

_PART_KEYS = ["type", "name", "size", "headroom", "uuid", "attributes", "bootable", "fs", "image", "keep_fs_size"]

def fs_image(name, size = None, **kwargs):
    """A filesystem image built by fstool. See _fs_image's attributes.

    `size` ("64MiB", bytes, "auto") is passed on as `fs_size` (`size` is a
    reserved attribute name for rules in Bazel).
    """
    if size != None:
        kwargs["fs_size"] = str(size)
    _fs_image(name = name, **kwargs)

def disk_image(name, partitions, partition_table = "gpt", format = "raw", size = None, **kwargs):
    """A partitioned disk image.

    Args:
      name: target name; the image is NAME.img (raw) or NAME.qcow2.
      partitions: list of dicts, in disk order, each with
        `type` (alias such as "linux", "esp", MBR byte "0x83" or GPT GUID),
        exactly one of `fs` (an fs_image label; its filesystem is rebuilt
        inside the partition and fills it unless `keep_fs_size = True`) or
        `image` (a label of a raw blob copied verbatim), and optionally
        `name`, `size` ("512MiB", "auto", "remaining"), `headroom`, `uuid`,
        `attributes` (list of names or a number), `bootable`.
      partition_table: "gpt" (default), "mbr" or "none".
      format: "raw" (default) or "qcow2".
      size: disk size ("8GiB", bytes, "auto" = default).
      **kwargs: seed, source_date_epoch, out, visibility, tags, ...
    """
    specs = []
    srcs = []
    for i, p in enumerate(partitions):
        for k in p:
            if k not in _PART_KEYS:
                fail("partition %d: unknown key %r (known: %s)" % (i, k, ", ".join(_PART_KEYS)))
        if ("fs" in p) == ("image" in p):
            fail("partition %d: give exactly one of `fs` and `image`" % i)
        if "type" not in p:
            fail("partition %d: `type` is required" % i)
        s = {k: v for k, v in p.items() if k not in ("fs", "image", "keep_fs_size")}
        s["_kind"] = "fs" if "fs" in p else "image"
        if p.get("keep_fs_size"):
            s["_fs_keep_size"] = True
        specs.append(json.encode(s))
        srcs.append(p.get("fs") or p.get("image"))
    if size != None:
        kwargs["disk_size"] = str(size)
    _disk_image(
        name = name,
        partition_table = partition_table,
        format = format,
        partition_specs = specs,
        partition_srcs = srcs,
        **kwargs
    )

# ---------------------------------------------------------------- fs_image_test

def _fs_image_test_impl(ctx):
    info = ctx.attr.image[FsImageInfo] if FsImageInfo in ctx.attr.image else ctx.attr.image[DiskImageInfo]
    if ctx.file.spec:
        spec = ctx.file.spec
        overlays = []
        inputs = depset(ctx.files.data)
    else:
        spec = info.manifest
        overlays = getattr(info, "overlays", [])
        inputs = info.inputs
    log = ctx.actions.declare_file(ctx.label.name + ".verify.log")
    status = ctx.actions.declare_file(ctx.label.name + ".verify.status")
    args = ctx.actions.args()
    args.add(ctx.executable._fstool)
    args.add(log)
    args.add(status)
    args.add("verify")
    args.add(spec)
    for o in overlays:
        args.add("--overlay", o)
    args.add(info.image)

    # The spec's host paths are relative to the execroot, which only an
    # action sees (a test runs in its runfiles tree): the verification
    # runs here, and records its exit status instead of failing the build,
    # so that the test reports it.
    ctx.actions.run_shell(
        command = 'f=$1 log=$2 st=$3; shift 3; "$f" "$@" >"$log" 2>&1 && echo 0 >"$st" || echo $? >"$st"',
        arguments = [args],
        inputs = depset([spec, info.image] + overlays, transitive = [inputs]),
        tools = [ctx.executable._fstool],
        outputs = [log, status],
        mnemonic = "FsImageVerify",
        progress_message = "fstool: verifying %s" % info.image.short_path,
        env = {},
    )
    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.write(
        script,
        "#!/bin/sh\ncat '%s'\nread -r status < '%s'\nexit \"$status\"\n" % (log.short_path, status.short_path),
        is_executable = True,
    )
    return [DefaultInfo(executable = script, runfiles = ctx.runfiles(files = [log, status]))]

fs_image_test = rule(
    implementation = _fs_image_test_impl,
    test = True,
    doc = """Runs `fstool verify` on an fs_image or disk_image: passes when the image is
exactly what its spec builds (by default the manifest the image was built from,
with its overlays; or `spec` with its `data`), and otherwise prints the
difference by field and path (`fstool verify`'s text). Catches an image that a
cache or a remote executor handed back differently from what its inputs build.""",
    attrs = {
        "image": attr.label(
            mandatory = True,
            providers = [[FsImageInfo], [DiskImageInfo]],
            doc = "An fs_image or disk_image target.",
        ),
        "spec": attr.label(
            allow_single_file = [".toml", ".json"],
            doc = "A spec to verify against instead of the image's own manifest; its relative paths resolve against its directory.",
        ),
        "data": attr.label_list(allow_files = True, doc = "The files `spec` names."),
        "_fstool": _COMMON_ATTRS["_fstool"],
    },
)
