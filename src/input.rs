//! Reading input files, bounded. Every file media-doctor reads (nginx configs and dumps, app
//! settings, env files, units, passwd...) comes through here; a ground-layer module, so every
//! reader can use it.
//!
//! - A size limit (`--max-config-bytes`, default 256 MiB) per file: a bigger regular file is
//!   refused from its fstat size before any byte is read (a 4 GB config is an exit-2 message, not
//!   an allocation abort), and a stream (stdin, a FIFO, /dev/zero) is read up to the limit + 1
//!   byte and refused past it.
//! - Opened with O_NONBLOCK and checked with fstat: opening a FIFO with no writer never blocks
//!   (it reads as empty). For a pipe that has a writer the flag is cleared again, so the read
//!   waits for the writer's data (`--nginx-dump <(nginx -T)`).
//!
//! The limit is process-wide, set once from the command line (`set_max_bytes`): it is a policy
//! of the run, like the colour choice, and every reader must obey the same one.

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

pub const DEFAULT_MAX_BYTES: u64 = 256 << 20;

static MAX_BYTES: AtomicU64 = AtomicU64::new(DEFAULT_MAX_BYTES);

pub fn set_max_bytes(n: u64) {
    MAX_BYTES.store(n, Ordering::Relaxed);
}

pub fn max_bytes() -> u64 {
    MAX_BYTES.load(Ordering::Relaxed)
}

/// Input over the limit: the inner error of the `io::Error` that `too_large` makes, so that a
/// refusal can be told from other unreadable input.
#[derive(Debug, thiserror::Error)]
#[error("{what}, over the input limit of {limit} bytes (--max-config-bytes)")]
pub struct TooLarge {
    what: String,
    limit: u64,
}

/// The error for input over the limit (kind `InvalidData`, so callers that pass I/O errors on
/// keep it, and the message says what to change).
pub fn too_large(size: Option<u64>) -> std::io::Error {
    let limit = max_bytes();
    let what = match size {
        Some(n) => format!("{n} bytes"),
        None => format!("more than {limit} bytes"),
    };
    std::io::Error::new(std::io::ErrorKind::InvalidData, TooLarge { what, limit })
}

/// The first file this run refused for its size, as `PATH: why`. A refused file is an input the
/// run could not judge, whichever reader met it (a settings module deep in app discovery, an env
/// file): the run must end with exit 2 and say which file, not report on the rest as if it had
/// been read. Process-wide, like the limit itself.
static REFUSED: Mutex<Option<String>> = Mutex::new(None);

pub fn first_refused() -> Option<String> {
    REFUSED.lock().map(|r| r.clone()).unwrap_or(None)
}

fn note_if_refused(host: &Path, err: &std::io::Error) {
    if err
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<TooLarge>().is_some())
    {
        if let Ok(mut first) = REFUSED.lock() {
            first.get_or_insert_with(|| format!("{}: {err}", host.display()));
        }
    }
}

/// What a bounded open found.
pub enum Opened {
    /// A regular file within the limit, or a stream (pipe, FIFO, character device) to read
    /// with `read_stream`.
    File(std::fs::File, std::fs::Metadata),
    /// A directory, socket or block device: nothing to read as text.
    NotAFile,
}

/// Open `host` (a host path) for reading without blocking on a FIFO, and refuse a regular file
/// over the limit from its size.
pub fn open(host: &Path) -> std::io::Result<Opened> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(host)?;
    let meta = f.metadata()?;
    let t = meta.file_type();
    if t.is_file() {
        if meta.len() > max_bytes() {
            return Err(too_large(Some(meta.len())));
        }
        return Ok(Opened::File(f, meta));
    }
    if t.is_fifo() || t.is_char_device() {
        // Blocking reads from here on: a FIFO that had no writer at open reads as empty (its
        // writer count is zero), one with a writer waits for its data.
        let flags = nix::fcntl::fcntl(&f, nix::fcntl::FcntlArg::F_GETFL)?;
        let flags = nix::fcntl::OFlag::from_bits_truncate(flags) - nix::fcntl::OFlag::O_NONBLOCK;
        nix::fcntl::fcntl(&f, nix::fcntl::FcntlArg::F_SETFL(flags))?;
        return Ok(Opened::File(f, meta));
    }
    Ok(Opened::NotAFile)
}

/// Read all of `r` into `buf`, refusing past the limit.
pub fn read_stream(r: impl Read, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let limit = max_bytes();
    buf.clear();
    r.take(limit.saturating_add(1)).read_to_end(buf)?;
    if buf.len() as u64 > limit {
        buf.clear();
        buf.shrink_to_fit();
        return Err(too_large(None));
    }
    Ok(())
}

/// A whole file (host path), bounded; a directory or other non-file is an error. A file over the
/// limit is remembered (`first_refused`).
pub fn read(host: &Path) -> std::io::Result<Vec<u8>> {
    read_unnoted(host).inspect_err(|e| note_if_refused(host, e))
}

fn read_unnoted(host: &Path) -> std::io::Result<Vec<u8>> {
    match open(host)? {
        Opened::File(f, meta) => {
            let mut buf = Vec::with_capacity(if meta.is_file() {
                meta.len() as usize + 1
            } else {
                0
            });
            read_stream(f, &mut buf)?;
            Ok(buf)
        }
        Opened::NotAFile => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        )),
    }
}

/// `read` as UTF-8 text (an error if it is not).
pub fn read_to_string(host: &Path) -> std::io::Result<String> {
    String::from_utf8(read(host)?)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_without_a_writer_reads_as_empty_at_once() {
        let t = tempfile::tempdir().unwrap();
        let fifo = t.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let start = std::time::Instant::now();
        assert_eq!(read(&fifo).unwrap(), b"");
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn an_endless_stream_stops_at_the_limit() {
        let err = read(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("--max-config-bytes"), "{err}");
    }

    #[test]
    fn a_refused_file_is_remembered_and_other_errors_are_not() {
        let t = tempfile::tempdir().unwrap();
        assert!(read(&t.path().join("missing")).is_err());
        assert!(first_refused().is_none_or(|r| !r.contains("missing")));
        let err = read(Path::new("/dev/zero")).unwrap_err();
        assert!(err.get_ref().unwrap().downcast_ref::<TooLarge>().is_some());
        let first = first_refused().expect("remembered");
        assert!(first.contains("--max-config-bytes"), "{first}");
    }

    #[test]
    fn a_directory_is_not_read() {
        assert!(read(Path::new("/")).is_err());
    }
}
