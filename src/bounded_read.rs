//! Reading a whole file that someone else may have made: only a regular file, and never more
//! than a hard cap, whatever its size says. A device (`/dev/zero`) would read forever and a
//! FIFO with no writer would block forever; `metadata()` of either says nothing useful.

use std::io::{self, Read};
use std::path::Path;

/// The whole of `path`, refused when it is not a regular file or holds over `max_bytes`.
/// `what` names the file in messages ("model", "checkpoint").
pub fn read_regular_file(path: &Path, max_bytes: u64, what: &str) -> io::Result<Vec<u8>> {
    // stat, not open: opening a FIFO blocks until a writer comes.
    let kind = std::fs::metadata(path)?.file_type();
    if !kind.is_file() {
        return Err(not_regular(what));
    }
    let file = std::fs::File::open(path)?;
    // The path may have been swapped between the two calls: check what was opened.
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(not_regular(what));
    }
    if meta.len() > max_bytes {
        return Err(too_large(what, max_bytes));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // One byte past the cap tells a file that grew while being read.
    file.take(max_bytes + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_large(what, max_bytes));
    }
    Ok(bytes)
}

/// Whether a file is a character or block device (on Unix; never elsewhere).
pub fn is_device(kind: &std::fs::FileType) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        kind.is_char_device() || kind.is_block_device()
    }
    #[cfg(not(unix))]
    {
        let _ = kind;
        false
    }
}

fn not_regular(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("not a regular file (a folder, device or FIFO); a {what} must be a regular file"),
    )
}

fn too_large(what: &str, max_bytes: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "larger than {} MiB, far larger than any dga-lite {what}",
            max_bytes >> 20
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_small_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello").unwrap();
        assert_eq!(read_regular_file(&path, 5, "model").unwrap(), b"hello");
        let err = read_regular_file(&path, 4, "model").unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");
    }

    #[test]
    fn refuses_folders_and_devices() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_regular_file(dir.path(), 1 << 20, "model").unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let err = read_regular_file(Path::new("/dev/zero"), 1 << 20, "model").unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }
}
