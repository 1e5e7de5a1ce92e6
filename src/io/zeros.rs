//! Zeros are never written and holes are decided by content. A device
//! starts out zeroed, so leaving an all-zero block out changes no image
//! byte, and in a raw output file it stays a hole. Where a source file has
//! holes, `SEEK_DATA` lets us skip reading them; it never decides what is
//! data: the bytes do, so a file written with zeros and one created sparse
//! give the same image.

use super::{check_bounds, host_err, next_data, BlockDevice, IoError, Result, CHUNK};
use std::fs::File;
use std::path::Path;

/// Reads exactly `buf.len()` bytes at `offset` (no seek), reporting a
/// short file as a size change.
fn read_exact_at_or_changed(
    src: &File,
    path: &Path,
    buf: &mut [u8],
    offset: u64,
    expected_total: u64,
) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let mut done = 0;
    while done < buf.len() {
        match src.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => {
                let found = src.metadata().map(|m| m.len()).unwrap_or(0);
                return Err(IoError::SourceChanged {
                    path: path.to_path_buf(),
                    expected: expected_total,
                    found,
                });
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(host_err(path)(e)),
        }
    }
    Ok(())
}

/// Copies `len` bytes of `src` from `src_offset` to `offset` in chunks.
/// The source's holes are skipped without reading them (`SEEK_DATA` only
/// saves the read: what is written is decided by content alone), and every
/// all-zero block of what is read is left out by [`write_nonzero`]. The
/// device starts out zeroed, so the image bytes are the same either way, and
/// a raw output file keeps those blocks as holes.
pub fn copy_by_chunks<D: BlockDevice + ?Sized>(
    dev: &mut D,
    offset: u64,
    src: &mut File,
    src_path: &Path,
    src_offset: u64,
    len: u64,
) -> Result<()> {
    check_bounds(
        dev.size(),
        offset,
        usize::try_from(len).unwrap_or(usize::MAX),
    )?;
    let end = src_offset.checked_add(len).ok_or(IoError::OutOfBounds {
        offset: src_offset,
        len,
        size: u64::MAX,
    })?;
    let mut buf = vec![0u8; CHUNK.min(usize::try_from(len).unwrap_or(CHUNK)).max(1)];
    let mut pos = src_offset;
    // A file of one chunk or less is read at once: asking for its holes
    // would cost as much as reading them.
    let seek_holes = len > CHUNK as u64;
    while pos < end {
        match if seek_holes {
            next_data(src, pos)
        } else {
            Some(pos)
        } {
            // No data from here on: the rest is a hole, unless the file
            // has shrunk since it was planned.
            None => {
                let found = src.metadata().map(|m| m.len()).unwrap_or(0);
                if found < end {
                    return Err(IoError::SourceChanged {
                        path: src_path.to_path_buf(),
                        expected: end,
                        found,
                    });
                }
                break;
            }
            Some(d) if d > pos => {
                pos = d.min(end);
                continue;
            }
            Some(_) => {}
        }
        let n = usize::try_from((end - pos).min(buf.len() as u64)).unwrap_or(buf.len());
        read_exact_at_or_changed(src, src_path, &mut buf[..n], pos, end)?;
        write_nonzero(dev, offset + (pos - src_offset), &buf[..n])?;
        pos += n as u64;
    }
    Ok(())
}

/// Size of the blocks [`write_nonzero`] leaves out when they are all zero:
/// the block size of the host filesystems an output file lands on, so that
/// each one left out is a hole there.
pub const HOLE_BLOCK: u64 = 4096;

/// Writes `buf` at `offset`, leaving out every all-zero block (aligned to
/// [`HOLE_BLOCK`] in the device) and merging the rest into as few writes as
/// possible. Valid because a device starts out zeroed.
pub fn write_nonzero<D: BlockDevice + ?Sized>(dev: &mut D, offset: u64, buf: &[u8]) -> Result<()> {
    let mut run: Option<usize> = None;
    let mut i = 0usize;
    while i < buf.len() {
        let abs = offset.saturating_add(i as u64);
        // How far to the next block boundary (always 1..=HOLE_BLOCK).
        let step = usize::try_from(HOLE_BLOCK - abs % HOLE_BLOCK).unwrap_or(1);
        let end = i.saturating_add(step).min(buf.len());
        if is_zero(&buf[i..end]) {
            if let Some(s) = run.take() {
                dev.write_at(offset + s as u64, &buf[s..i])?;
            }
        } else if run.is_none() {
            run = Some(i);
        }
        i = end;
    }
    if let Some(s) = run {
        dev.write_at(offset + s as u64, &buf[s..])?;
    }
    Ok(())
}

/// True when every byte is zero. Word-at-a-time; this runs over all data.
pub fn is_zero(buf: &[u8]) -> bool {
    let chunks = buf.chunks_exact(8);
    let rest = chunks.remainder();
    rest.iter().all(|&b| b == 0)
        && chunks
            .map(|c| u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .all(|w| w == 0)
}

/// The segments `[start, end)` of a host file that hold non-zero bytes, at
/// `granule`-byte granularity (aligned to file offset 0; the last one may
/// end at `len`). A granule that is all zero, written or a hole, is left
/// out. This reads the file's data regions once.
pub fn nonzero_segments(path: &Path, len: u64, granule: u64) -> Result<Vec<(u64, u64)>> {
    let f = File::open(path).map_err(host_err(path))?;
    let g = granule.max(1);
    let step = (CHUNK as u64).div_ceil(g).max(1) * g;
    let mut buf = vec![0u8; usize::try_from(step.min(len.max(1))).unwrap_or(CHUNK)];
    let mut out: Vec<(u64, u64)> = Vec::new();
    let mut pos = 0u64;
    while pos < len {
        let Some(data) = next_data(&f, pos) else {
            break;
        };
        // Start reading at the granule holding the first data byte.
        if data > pos {
            pos = (data / g) * g;
            if pos >= len {
                break;
            }
        }
        let n = usize::try_from((len - pos).min(buf.len() as u64)).unwrap_or(buf.len());
        read_exact_at_or_changed(&f, path, &mut buf[..n], pos, len)?;
        push_nonzero(&mut out, &buf[..n], pos, g);
        pos += n as u64;
    }
    Ok(out)
}

/// [`nonzero_segments`] of bytes in memory.
pub fn nonzero_segments_in(bytes: &[u8], granule: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    push_nonzero(&mut out, bytes, 0, granule.max(1));
    out
}

/// Appends the non-zero `g`-byte granules of `buf`, which starts at byte
/// `base` (a multiple of `g`), to `out`, merging each with the segment
/// before it when they touch.
fn push_nonzero(out: &mut Vec<(u64, u64)>, buf: &[u8], base: u64, g: u64) {
    for (i, gr) in buf
        .chunks(usize::try_from(g).unwrap_or(buf.len()).max(1))
        .enumerate()
    {
        if is_zero(gr) {
            continue;
        }
        let s = base + i as u64 * g;
        let e = s + gr.len() as u64;
        match out.last_mut() {
            Some(last) if last.1 == s => last.1 = e,
            _ => out.push((s, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, SeekFrom, Write};

    #[test]
    fn segments_come_from_bytes_whether_zeros_are_written_or_holes() {
        let dir = tempfile::tempdir().unwrap();
        let (dense, holey) = (dir.path().join("d"), dir.path().join("h"));
        let mut bytes = vec![0u8; 40_000];
        bytes[5000] = 1; // granule 1 (4096..8192)
        bytes[39_999] = 2; // the short last granule (36864..40000)
        std::fs::write(&dense, &bytes).unwrap();
        let mut f = File::create(&holey).unwrap();
        f.seek(SeekFrom::Start(5000)).unwrap();
        f.write_all(&[1]).unwrap();
        f.seek(SeekFrom::Start(39_999)).unwrap();
        f.write_all(&[2]).unwrap();
        drop(f);
        let want = vec![(4096, 8192), (36_864, 40_000)];
        assert_eq!(nonzero_segments(&dense, 40_000, 4096).unwrap(), want);
        assert_eq!(nonzero_segments(&holey, 40_000, 4096).unwrap(), want);
        assert_eq!(
            nonzero_segments(&dense, 40_000, 1024).unwrap(),
            vec![(4096, 5120), (39_936, 40_000)]
        );
        assert!(nonzero_segments(&dense, 0, 4096).unwrap().is_empty());
        assert_eq!(nonzero_segments_in(&bytes, 4096), want);
    }
}
