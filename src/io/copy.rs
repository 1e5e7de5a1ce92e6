//! Copying a finished image file: a reflink where the filesystem has one,
//! otherwise its data segments only, so that holes stay holes (a 64 GiB
//! disk holding 100 MiB copies 100 MiB).

use super::{host_err, next_data, next_hole, Result};
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::Path;

/// Makes `dst` (an empty file, open for writing) a copy of the file at
/// `src`.
pub fn copy_image(src: &Path, dst: &File, dst_path: &Path) -> Result<()> {
    let from = File::open(src).map_err(host_err(src))?;
    let len = from.metadata().map_err(host_err(src))?.len();
    if super::clone_file(dst, &from).is_ok() {
        return Ok(());
    }
    dst.set_len(len).map_err(host_err(dst_path))?;
    let mut pos = 0;
    while let Some(start) = next_data(&from, pos).filter(|d| *d < len) {
        let end = next_hole(&from, start, len)
            .max(start.saturating_add(1))
            .min(len);
        let mut r = &from;
        let mut w = dst;
        r.seek(SeekFrom::Start(start)).map_err(host_err(src))?;
        w.seek(SeekFrom::Start(start)).map_err(host_err(dst_path))?;
        // `io::copy` between files uses copy_file_range: the kernel copies.
        let n = std::io::copy(&mut std::io::Read::take(r, end - start), &mut w)
            .map_err(host_err(dst_path))?;
        if n != end - start {
            return Err(host_err(src)(std::io::Error::other(
                "the file shrank while it was copied",
            )));
        }
        pos = end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn copies_data_and_keeps_holes() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a");
        let mut f = File::create(&src).unwrap();
        f.write_all(b"head").unwrap();
        f.seek(SeekFrom::Start(8 << 20)).unwrap();
        f.write_all(b"tail").unwrap();
        drop(f);
        let dst_path = dir.path().join("b");
        let dst = File::create(&dst_path).unwrap();
        copy_image(&src, &dst, &dst_path).unwrap();
        drop(dst);
        assert_eq!(
            std::fs::read(&src).unwrap(),
            std::fs::read(&dst_path).unwrap()
        );
        use std::os::unix::fs::MetadataExt;
        // Far fewer blocks than the 8 MiB the file spans.
        assert!(std::fs::metadata(&dst_path).unwrap().blocks() < 1024);
    }
}
