//! Streaming file data into its runs, checking length and SHA-256.

use crate::bytes::hex;
use crate::fs::ext::layout::Run;
use crate::fs::ext::ExtError;
use crate::io::{host_err, BlockDevice, IoError, CHUNK};
use crate::tree::FileData;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::path::Path;

/// Writes `data` (the inode's logical bytes) across its runs.
pub(super) fn write_runs_from(
    dev: &mut dyn BlockDevice,
    runs: &[Run],
    bs: u64,
    data: &[u8],
) -> Result<(), ExtError> {
    for r in runs {
        let start = (r.logical * bs) as usize;
        if start >= data.len() {
            continue;
        }
        let end = ((r.logical + r.len) * bs).min(data.len() as u64) as usize;
        dev.write_at(r.physical * bs, &data[start..end])?;
    }
    Ok(())
}

/// Streams a regular file's bytes to its runs, checking size and sha256.
pub(super) fn write_file_data(
    dev: &mut dyn BlockDevice,
    runs: &[Run],
    bs: u64,
    data: &FileData,
    image_path: &dyn Fn() -> String,
) -> Result<(), ExtError> {
    match data {
        FileData::Inline(bytes) => write_runs_from(dev, runs, bs, bytes),
        FileData::Host { path, len, sha256 } => {
            // The length is checked once, after the copy: a file that
            // shrank fails the copy itself (a read comes up short).
            let mut f = File::open(path).map_err(host_err(path))?;
            let mut hasher = sha256.map(|_| Sha256::new());
            // Bytes hashed so far; holes of sparse files hash as zeros.
            let mut pos = 0u64;
            for r in runs {
                let start = r.logical * bs;
                if start >= *len {
                    continue;
                }
                let n = (r.len * bs).min(*len - start);
                match hasher.as_mut() {
                    None => dev.copy_from(r.physical * bs, &mut f, path, start, n)?,
                    Some(h) => {
                        crate::io::hash_zeros(h, start - pos);
                        copy_hashing(dev, r.physical * bs, &mut f, path, start, n, *len, h)?
                    }
                }
                pos = start + n;
            }
            if let Some(h) = hasher.as_mut() {
                crate::io::hash_zeros(h, *len - pos);
            }
            check_len(&f, path, *len)?;
            if let (Some(h), Some(want)) = (hasher, sha256) {
                let got: [u8; 32] = h.finalize().into();
                if &got != want {
                    return Err(ExtError::Sha256Mismatch {
                        path: format!("{} (from {})", image_path(), path.display()),
                        expected: hex(want),
                        found: hex(&got),
                    });
                }
            }
            Ok(())
        }
    }
}

pub(super) fn check_len(f: &File, path: &Path, expected: u64) -> Result<(), ExtError> {
    let found = f.metadata().map_err(host_err(path))?.len();
    if found != expected {
        return Err(ExtError::Io(IoError::SourceChanged {
            path: path.to_path_buf(),
            expected,
            found,
        }));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(super) fn copy_hashing(
    dev: &mut dyn BlockDevice,
    offset: u64,
    f: &mut File,
    path: &Path,
    start: u64,
    n: u64,
    total: u64,
    h: &mut Sha256,
) -> Result<(), ExtError> {
    use std::io::{Read, Seek, SeekFrom};
    f.seek(SeekFrom::Start(start)).map_err(host_err(path))?;
    let mut buf = vec![0u8; CHUNK.min(n as usize).max(1)];
    let mut done = 0u64;
    while done < n {
        let k = (n - done).min(buf.len() as u64) as usize;
        let mut got = 0;
        while got < k {
            let r = f.read(&mut buf[got..k]).map_err(host_err(path))?;
            if r == 0 {
                return Err(ExtError::Io(IoError::SourceChanged {
                    path: path.to_path_buf(),
                    expected: total,
                    found: start + done + got as u64,
                }));
            }
            got += r;
        }
        h.update(&buf[..k]);
        crate::io::write_nonzero(dev, offset + done, &buf[..k])?;
        done += k as u64;
    }
    Ok(())
}
