"""A rule that outputs a directory (a tree artifact), as code generators do."""

def _tree_dir_impl(ctx):
    out = ctx.actions.declare_directory(ctx.label.name)
    ctx.actions.run_shell(
        outputs = [out],
        command = "mkdir -p \"$1/sub\" && printf 'one\\n' > \"$1/one.txt\" && printf 'two\\n' > \"$1/sub/two.txt\"",
        arguments = [out.path],
    )
    return [DefaultInfo(files = depset([out]))]

tree_dir = rule(implementation = _tree_dir_impl)
