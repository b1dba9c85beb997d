//! Reading a plugin file: opened once, only a regular file, never more than the limit.
//!
//! Checking the path's metadata and then reading it races with a swap, and a size from
//! metadata means nothing for `/dev/zero` (0) or a FIFO (which blocks forever). So: open
//! without blocking, check what was opened, and read at most one byte past the limit.

use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::describe_bytes;

/// The file's bytes, or a message (without the path) saying what is wrong and what to do.
pub fn read_bounded(path: &Path, limit: usize) -> Result<Vec<u8>, String> {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|error| format!("cannot read it ({error}); check the path"))?;
    let metadata = file.metadata().map_err(|error| format!("cannot read it ({error})"))?;
    if !metadata.is_file() {
        return Err(format!(
            "it is not a regular file (it is {}); give the path to a built .wasm component",
            describe_kind(&metadata.file_type())
        ));
    }
    let mut bytes = Vec::with_capacity((metadata.len() as usize).min(limit) + 1);
    file.take(limit as u64 + 1).read_to_end(&mut bytes).map_err(|error| format!("cannot read it ({error})"))?;
    if bytes.len() > limit {
        return Err(format!("it is over the {} limit for plugin files", describe_bytes(limit)));
    }
    Ok(bytes)
}

fn describe_kind(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_directories_are_refused_by_kind() {
        let error = read_bounded(Path::new("/dev/zero"), 1024).unwrap_err();
        assert!(error.contains("it is not a regular file (it is a character device)"), "{error}");
        let error = read_bounded(Path::new("/"), 1024).unwrap_err();
        assert!(error.contains("(it is a directory)"), "{error}");
    }

    #[test]
    fn a_file_one_byte_over_the_limit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.wasm");
        std::fs::write(&path, vec![0u8; 1025]).unwrap();
        assert_eq!(read_bounded(&path, 1024).unwrap_err(), "it is over the 1 KiB limit for plugin files");
        std::fs::write(&path, vec![0u8; 1024]).unwrap();
        assert_eq!(read_bounded(&path, 1024).unwrap().len(), 1024);
    }
}
