//! The `fstool` command line. Only argument handling lives here; every
//! format decision is in the library.

mod cli;

use anyhow::{Context, Result};
use clap::Parser;
use cli::{Cli, Cmd, Common, SpecArgs};
use fstool::spec::{self, FsSpec, FsType, SizeSpec, Spec, TimePolicy};
use fstool::{build, BuildOptions, Report};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

impl SpecArgs {
    /// The spec with overlays and overrides applied, and its directory.
    fn load(&self) -> Result<(Spec, PathBuf)> {
        let mut spec = spec::load_with_overlays(&self.spec, &self.overlays)?;
        spec.seed = self.seed.clone().or(spec.seed);
        spec.source_date_epoch = self.source_date_epoch.or(spec.source_date_epoch);
        Ok((spec, spec_dir(&self.spec)?))
    }
}

fn main() {
    let args = match expand_param_files(std::env::args_os()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("fstool: error: {e:#}");
            std::process::exit(2);
        }
    };
    let cli = Cli::parse_from(args);
    clean_up_on_interrupt();
    let result = run(cli);
    if let Err(e) = result {
        eprintln!("fstool: error: {}", describe(&e));
        std::process::exit(1);
    }
}

/// Expands `@FILE` arguments (a build system's param file): each line of
/// FILE is one argument. `@@x` stands for a literal `@x`.
fn expand_param_files(
    args: impl Iterator<Item = std::ffi::OsString>,
) -> Result<Vec<std::ffi::OsString>> {
    let mut out = Vec::new();
    for (i, a) in args.enumerate() {
        let text = a.to_string_lossy();
        match text.strip_prefix('@') {
            Some(rest) if i > 0 && rest.starts_with('@') => out.push(rest.into()),
            Some(file) if i > 0 && !file.is_empty() => {
                let body = std::fs::read_to_string(file)
                    .with_context(|| format!("cannot read param file {file}"))?;
                out.extend(
                    body.lines()
                        .filter(|l| !l.is_empty())
                        .map(std::ffi::OsString::from),
                );
            }
            _ => out.push(a),
        }
    }
    Ok(out)
}

/// The error and its causes, each said once: many of our errors already
/// include their cause's text, so a cause already present is skipped.
fn describe(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Build {
            spec: path,
            overlays,
            common,
        } => {
            let mut spec = spec::load_with_overlays(&path, &overlays)?;
            apply_common(&mut spec, &common);
            finish(&spec, spec_dir(&path)?, &common, Some(&path))
        }
        Cmd::Create {
            fs_type,
            source,
            size,
            label,
            time_policy,
            common,
        } => {
            if fstool::fs::find(fstool::fs::FORMATS, &fs_type).is_none() {
                anyhow::bail!(
                    "unknown filesystem type {fs_type:?} (use one of {})",
                    fstool::fs::type_names(fstool::fs::FORMATS).join(", ")
                );
            }
            let fs_type = FsType(fs_type);
            let time_policy: TimePolicy = match time_policy {
                None => TimePolicy::Fixed,
                Some(t) => serde_json::from_value(serde_json::Value::String(t.clone()))
                    .with_context(|| {
                        format!("unknown time policy {t:?} (use fixed, clamp or preserve)")
                    })?,
            };
            let mut fs: FsSpec = serde_json::from_value(serde_json::json!({ "type": fs_type }))?;
            fs.source = Some(source);
            fs.size = size.map(SizeSpec::Text);
            fs.label = label;
            let mut spec = Spec {
                version: 1,
                seed: None,
                source_date_epoch: None,
                time_policy,
                time_range: Default::default(),
                filesystem: Some(fs),
                image: None,
                partitions: vec![],
            };
            apply_common(&mut spec, &common);
            finish(&spec, std::env::current_dir()?, &common, None)
        }
        Cmd::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cmd, "fstool", &mut out);
            emit(&out)
        }
        Cmd::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            emit(&out)
        }
        Cmd::Info { image, json } => {
            let v = fstool::inspect::info(&image)
                .with_context(|| format!("cannot read {}", image.display()))?;
            let text = if json {
                serde_json::to_string_pretty(&v)? + "\n"
            } else {
                fstool::inspect::render_text(&v)
            };
            emit(text.as_bytes())
        }
        Cmd::Plan { args, json } => {
            let (spec, base_dir) = args.load()?;
            let opts = fstool::PlanOptions {
                base_dir,
                output: None,
                env_source_date_epoch: env_source_date_epoch(),
                phase: Default::default(),
            };
            let planned = fstool::plan(&spec, &opts)?;
            if json {
                emit(format!("{}\n", serde_json::to_string_pretty(&planned.image)?).as_bytes())?;
            } else {
                emit(render_plan(&planned.image).as_bytes())?;
            }
            Ok(())
        }
        Cmd::Digest { args, output, json } => {
            let (spec, base_dir) = args.load()?;
            let opts = fstool::PlanOptions {
                base_dir: base_dir.clone(),
                output,
                env_source_date_epoch: env_source_date_epoch(),
                phase: Default::default(),
            };
            let planned = fstool::plan(&spec, &opts)?;
            let d = fstool::build::digest::input_digest(&spec, &base_dir, &planned)?;
            let text = match json {
                true => serde_json::to_string_pretty(&serde_json::json!({ "input_digest": d }))?,
                false => d,
            };
            emit(format!("{text}\n").as_bytes())
        }
        Cmd::Ls {
            image,
            path,
            recursive,
            long,
            json,
        } => {
            use fstool::inspect::ls;
            let r = fstool::inspect::volume::open(&image)?;
            let items = ls::list(r.as_ref(), &image, &path, recursive)?;
            let text = if json {
                serde_json::to_string_pretty(&ls::render_json(&items))? + "\n"
            } else {
                ls::render_text(&items, long)
            };
            emit(text.as_bytes())
        }
        Cmd::Cat { image, path } => {
            use std::io::Write;
            let r = fstool::inspect::volume::open(&image)?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let done = fstool::inspect::ls::cat(r.as_ref(), &image, &path, &mut out)
                .map_err(anyhow::Error::from)
                .and_then(|_| out.flush().context("cannot write to stdout"));
            // A reader that went away (`| head`) is not an error.
            match done {
                Err(e) if is_broken_pipe(&e) => Ok(()),
                other => other,
            }
        }
        Cmd::Extract { image, dest, tar } => {
            use fstool::inspect::extract;
            let r = fstool::inspect::volume::open(&image)?;
            let stats = match (&tar, &dest) {
                (Some(t), None) => extract::to_tar(r.as_ref(), &image, t)?,
                (None, Some(d)) => extract::to_dir(r.as_ref(), &image, d)?,
                _ => anyhow::bail!("give either DEST_DIR or --tar OUT.tar, not both"),
            };
            for w in &stats.warnings {
                eprintln!("fstool: warning: {w}");
            }
            Ok(())
        }
        Cmd::Diff { a, b, json, max } => {
            use fstool::inspect::diff;
            let report = match diff::diff(&a, &b) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("fstool: error: {}", describe(&e.into()));
                    std::process::exit(2);
                }
            };
            let text = if json {
                serde_json::to_string_pretty(&report)? + "\n"
            } else {
                diff::render_text(&report, max)
            };
            emit(text.as_bytes())?;
            if !report.same {
                std::process::exit(1);
            }
            Ok(())
        }
        Cmd::Verify {
            args,
            image,
            json,
            max,
        } => {
            use fstool::inspect::{diff, verify};
            let path = args.spec.clone();
            let run = || -> Result<verify::Verification> {
                let (spec, base_dir) = args.load()?;
                let opts = verify::VerifyOptions {
                    base_dir,
                    env_source_date_epoch: env_source_date_epoch(),
                };
                verify::verify(&spec, &opts, &image).map_err(|e| match e {
                    verify::VerifyError::Build(b) => at_spec_line(b, Some(&path)),
                    other => other.into(),
                })
            };
            let v = match run() {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("fstool: error: {}", describe(&e));
                    std::process::exit(2);
                }
            };
            let text = if json {
                serde_json::to_string_pretty(&v)? + "\n"
            } else if v.verified {
                format!(
                    "verified: {} is what {} builds (sha256 of the rebuild {})\n",
                    image.display(),
                    path.display(),
                    v.expected_sha256.as_deref().unwrap_or("?")
                )
            } else {
                format!(
                    "NOT verified: {} differs from what {} builds (left: the image, right: the rebuild)\n{}",
                    image.display(),
                    path.display(),
                    diff::render_text(&v.diff, max)
                )
            };
            emit(text.as_bytes())?;
            if !v.verified {
                std::process::exit(1);
            }
            Ok(())
        }
        Cmd::Schema => {
            emit(format!("{}\n", serde_json::to_string_pretty(&spec::schema())?).as_bytes())?;
            Ok(())
        }
    }
}

/// Relative paths in a spec start at its directory (the working directory
/// for stdin).
fn spec_dir(path: &Path) -> Result<PathBuf> {
    Ok(if path.as_os_str() == "-" {
        std::env::current_dir()?
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    })
}

/// `SOURCE_DATE_EPOCH`: the only environment variable a build depends on,
/// read here so that the library never looks at the environment.
#[allow(clippy::disallowed_methods)]
fn env_source_date_epoch() -> Option<std::ffi::OsString> {
    std::env::var_os("SOURCE_DATE_EPOCH")
}

/// The plan as text: one line per partition and filesystem.
fn render_plan(p: &fstool::ImagePlan) -> String {
    let mut s = format!(
        "{} image, {} bytes, seed {:?}, source_date_epoch {}\n",
        p.format, p.size, p.seed, p.source_date_epoch
    );
    if let Some(t) = &p.partition_table {
        s += &format!("partition table: {}\n", t["table"].as_str().unwrap_or("?"));
        for part in t["partitions"].as_array().into_iter().flatten() {
            s += &format!(
                "  partition {}: offset {} size {} type {} uuid {}\n",
                part["index"], part["offset"], part["size"], part["type"], part["uuid"]
            );
        }
    }
    for f in &p.filesystems {
        s += &format!(
            "filesystem {} at offset {}: {} bytes, label {:?}, uuid {}\n",
            f.volume.fs_type, f.offset, f.volume.size, f.volume.label, f.volume.uuid
        );
    }
    s
}

/// Whether `e` comes from writing to a pipe whose reader has gone.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Writes to stdout; a reader that went away (`| head`) is not an error.
fn emit(bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write to stdout")
        }
        _ => Ok(()),
    }
}

fn apply_common(spec: &mut Spec, c: &Common) {
    if let Some(s) = &c.seed {
        spec.seed = Some(s.clone());
    }
    if let Some(e) = c.source_date_epoch {
        spec.source_date_epoch = Some(e);
    }
}

/// Prefixes an error about a spec key with the spec file and the key's line.
fn at_spec_line(e: fstool::build::BuildError, spec_path: Option<&Path>) -> anyhow::Error {
    use fstool::build::BuildError;
    let key = match &e {
        BuildError::Invalid { key, .. } => Some(key.as_str()),
        BuildError::Volume { context, .. } => Some(context.as_str()),
        _ => None,
    };
    match (spec_path, key) {
        (Some(p), Some(k)) => match spec::line_of_key(p, k) {
            Some(line) => anyhow::anyhow!("{}:{line}: {e}", p.display()),
            None => e.into(),
        },
        _ => e.into(),
    }
}

/// On SIGINT, SIGTERM or SIGHUP: remove the build's temp output and tar
/// extraction dirs, and exit as the shell expects (128 + the signal).
/// Without this the default action would kill the process and leave them.
fn clean_up_on_interrupt() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            fstool::io::cleanup::remove_registered();
            std::process::exit(128 + sig);
        }
    });
}

/// Writes `bytes` to a temp file beside `path` and renames it into place.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = fstool::io::check_output_path(path)?;
    let base = fstool::io::TEMP_BASE;
    let mut tmp = tempfile::Builder::new()
        .prefix(&fstool::io::cleanup::owned_prefix(base))
        .suffix(".tmp")
        .tempfile_in(dir)?;
    let _interrupt = fstool::io::cleanup::register(tmp.path());
    tmp.write_all(bytes)?;
    // A temp file is 0600; an output file gets the usual 0644.
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )?;
    tmp.persist(path)?;
    Ok(())
}

/// `FSTOOL_TIMING`: phase timings on stderr, for benchmarks.
#[allow(clippy::disallowed_methods)]
fn timing_requested() -> bool {
    std::env::var_os("FSTOOL_TIMING").is_some()
}

fn finish(spec: &Spec, base_dir: PathBuf, c: &Common, spec_path: Option<&Path>) -> Result<()> {
    if c.output == Path::new("-") {
        anyhow::bail!(
            "-o -: an image is written with random access (a disk's tables sit at both ends, \
             a filesystem's metadata before its data), so it cannot stream to stdout; give a \
             file path, e.g. -o image.img"
        );
    }
    // Every output is checked before anything is written: a report that
    // cannot be written must not leave an image behind.
    if let Some(r) = &c.report {
        fstool::io::check_output_path(r).context("cannot write the report")?;
    }
    if let Some(s) = &c.sha256_file {
        if c.no_hash {
            anyhow::bail!("--sha256-file needs the hash; drop --no-hash");
        }
        fstool::io::check_output_path(s).context("cannot write the --sha256-file")?;
    }
    let opts = BuildOptions {
        output: c.output.clone(),
        base_dir,
        progress: !c.quiet && std::io::stderr().is_terminal(),
        hash: !c.no_hash,
        env_source_date_epoch: env_source_date_epoch(),
        timing: timing_requested(),
        input_digest: c.input_digest,
        cache: c.cache.clone(),
    };
    let report: Report = build(spec, &opts).map_err(|e| at_spec_line(e, spec_path))?;
    // Warnings go to stderr even with --quiet: they say the image may not
    // work where it goes.
    for w in report.filesystems.iter().flat_map(|f| &f.warnings) {
        eprintln!("fstool: warning: {w}");
    }
    let mut side = Vec::new();
    if let Some(r) = &c.report {
        side.push((r, serde_json::to_string_pretty(&report)? + "\n"));
    }
    if let (Some(s), Some(h)) = (&c.sha256_file, &report.sha256) {
        let name = c.output.file_name().unwrap_or_default().to_string_lossy();
        side.push((s, format!("{h}  {name}\n")));
    }
    for (path, text) in side {
        if let Err(e) = write_atomically(path, text.as_bytes()) {
            // All or nothing: the image goes too (and a report written
            // before it).
            let _ = std::fs::remove_file(&c.output);
            if let Some(r) = &c.report {
                let _ = std::fs::remove_file(r);
            }
            return Err(e.context(format!("cannot write {}", path.display())));
        }
    }
    if !c.quiet {
        let hash = match &report.sha256 {
            Some(h) => format!("sha256 {h}"),
            None => "sha256 not computed (--no-hash)".to_string(),
        };
        emit(format!("{}\n{hash}\n", report.summary()).as_bytes())?;
    }
    Ok(())
}
