//! Reading input files, bounded. Every file media-doctor reads (nginx configs and dumps, app
//! settings, env files, units, passwd...) comes through here; a ground-layer module, so every
//! reader can use it.
//!
//! - A size limit (`--max-config-bytes`, default 256 MiB) per file: a bigger regular file is
//!   refused from its fstat size before any byte is read (a 4 GB config is an exit-2 message, not
//!   an allocation abort), and a stream (stdin, a FIFO, /dev/zero) is read up to the limit + 1
//!   byte and refused past it.
//! - Opened with O_NONBLOCK and checked with fstat: opening a FIFO with no writer never blocks
//!   (it reads as empty). For a pipe that has a writer the flag is cleared again, so a plain
//!   read waits for the writer's data (`--nginx-dump <(nginx -T)`); `read_stream` waits in
//!   poll(2) instead, bounded (below).
//! - A stream that is not a terminal (a pipe, a FIFO, a socket: stdin too) that sends no byte
//!   for `--input-timeout` seconds (default 120) is given up: exit 2 naming it, how long it
//!   waited and what it had sent. A writer that holds a FIFO open and never writes cannot hang
//!   the run; `nginx -T | media-doctor check --nginx-dump -` still waits for nginx -T, which
//!   prints nothing until it has read the whole config (about 20 s for 10,000 sites on 2 idle
//!   cores, 45 s on busy ones). A terminal is waited on: a person is typing.
//!
//! The limits are process-wide, set once from the command line (`set_max_bytes`,
//! `set_idle_timeout`): a policy of the run, like the colour choice, and every reader must obey
//! the same one.

use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

pub const DEFAULT_MAX_BYTES: u64 = 256 << 20;

static MAX_BYTES: AtomicU64 = AtomicU64::new(DEFAULT_MAX_BYTES);

pub fn set_max_bytes(n: u64) {
    MAX_BYTES.store(n, Ordering::Relaxed);
}

pub fn max_bytes() -> u64 {
    MAX_BYTES.load(Ordering::Relaxed)
}

/// How long a stream may send nothing, in seconds (`--input-timeout`).
pub const DEFAULT_IDLE_SECS: u64 = 120;

static IDLE_MILLIS: AtomicU64 = AtomicU64::new(DEFAULT_IDLE_SECS * 1000);

pub fn set_idle_timeout(d: Duration) {
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    IDLE_MILLIS.store(ms, Ordering::Relaxed);
}

pub fn idle_timeout() -> Duration {
    Duration::from_millis(IDLE_MILLIS.load(Ordering::Relaxed))
}

/// A stream that sent nothing for the idle timeout: the inner error of an `io::Error` of kind
/// `TimedOut`.
#[derive(Debug)]
pub struct Idle {
    waited: Duration,
    read: u64,
}

impl std::fmt::Display for Idle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.waited.as_secs_f64();
        let secs = if self.waited.subsec_millis() == 0 {
            format!("{secs} s")
        } else {
            format!("{secs:.1} s")
        };
        match self.read {
            0 => write!(f, "nothing came in {secs}")?,
            n => write!(f, "{n} bytes came, then nothing for {secs}")?,
        }
        write!(f, ": given up (--input-timeout SECONDS waits longer)")
    }
}

impl std::error::Error for Idle {}

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
    if err.get_ref().is_some_and(|inner| {
        inner.downcast_ref::<TooLarge>().is_some() || inner.downcast_ref::<Idle>().is_some()
    }) {
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

/// Read all of `r` into `buf`, refusing past the limit; a stream that is not a regular file nor
/// a terminal is given up when it sends nothing for the idle timeout.
pub fn read_stream(mut r: impl Read + AsFd, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let limit = max_bytes();
    buf.clear();
    let waits = {
        let fd = r.as_fd();
        let regular = nix::sys::stat::fstat(fd).is_ok_and(|st| {
            nix::sys::stat::SFlag::from_bits_truncate(st.st_mode) & nix::sys::stat::SFlag::S_IFMT
                == nix::sys::stat::SFlag::S_IFREG
        });
        !regular && !nix::unistd::isatty(fd).unwrap_or(false)
    };
    if waits {
        read_with_idle_timeout(&mut r, buf, limit.saturating_add(1), idle_timeout())?;
    } else {
        r.take(limit.saturating_add(1)).read_to_end(buf)?;
    }
    if buf.len() as u64 > limit {
        buf.clear();
        buf.shrink_to_fit();
        return Err(too_large(None));
    }
    Ok(())
}

/// Read `r` to its end (at most `max` bytes) into `buf`, waiting at most `idle` for each
/// byte. The descriptor is read non-blocking (its flags restored after): a FIFO whose writers
/// are gone, or that never had one, reads as ended at once (poll(2) would not say so for one
/// that never had a writer); a read that would block waits in poll(2) for the time left, so a
/// writer that never writes (nor closes) is given up.
fn read_with_idle_timeout(
    r: &mut (impl Read + AsFd),
    buf: &mut Vec<u8>,
    max: u64,
    idle: Duration,
) -> std::io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = OFlag::from_bits_truncate(fcntl(r.as_fd(), FcntlArg::F_GETFL)?);
    if !flags.contains(OFlag::O_NONBLOCK) {
        fcntl(r.as_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    }
    let read = read_polling(r, buf, max, idle);
    if !flags.contains(OFlag::O_NONBLOCK) {
        // Shared with whoever else holds the descriptor (stdin: the caller's pipe).
        let _ = fcntl(r.as_fd(), FcntlArg::F_SETFL(flags));
    }
    read
}

fn read_polling(
    r: &mut (impl Read + AsFd),
    buf: &mut Vec<u8>,
    max: u64,
    idle: Duration,
) -> std::io::Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut chunk = vec![0u8; 1 << 16];
    let mut since = std::time::Instant::now();
    loop {
        let want = (max - buf.len() as u64).min(chunk.len() as u64) as usize;
        match r.read(&mut chunk[..want]) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() as u64 >= max {
                    return Ok(());
                }
                since = std::time::Instant::now();
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        let left = idle.saturating_sub(since.elapsed());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                Idle {
                    waited: idle,
                    read: buf.len() as u64,
                },
            ));
        }
        let mut fds = [PollFd::new(r.as_fd(), PollFlags::POLLIN)];
        // Whole milliseconds, rounded up (a poll of 0 ms would spin), at most i32::MAX (24
        // days: the loop waits the rest).
        let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        match poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            // Ready, hung up, in error, or the time is up: the next read or turn says which.
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
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
    fn a_silent_writer_is_given_up_and_a_slow_one_is_not() {
        let (rd, wr) = nix::unistd::pipe().unwrap();
        let mut rd = std::fs::File::from(rd);
        let mut wr = std::fs::File::from(wr);
        let mut buf = Vec::new();
        std::io::Write::write_all(&mut wr, b"events {}\n").unwrap();
        let start = std::time::Instant::now();
        let err = read_with_idle_timeout(&mut rd, &mut buf, 1 << 20, Duration::from_millis(300))
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert!(
            err.to_string().contains("10 bytes came, then nothing"),
            "{err}"
        );
        assert!(start.elapsed() < Duration::from_secs(2));
        // Bytes every 200 ms, each within the timeout: read to the end.
        let writer = std::thread::spawn(move || {
            for _ in 0..4 {
                std::thread::sleep(Duration::from_millis(200));
                std::io::Write::write_all(&mut wr, b"x").unwrap();
            }
        });
        buf.clear();
        read_with_idle_timeout(&mut rd, &mut buf, 1 << 20, Duration::from_millis(300)).unwrap();
        writer.join().unwrap();
        assert_eq!(buf, b"xxxx");
    }

    #[test]
    fn a_fifo_that_never_had_a_writer_ends_at_once() {
        let t = tempfile::tempdir().unwrap();
        let fifo = t.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let Opened::File(mut f, _) = open(&fifo).unwrap() else {
            panic!("a FIFO is read");
        };
        let start = std::time::Instant::now();
        let mut buf = Vec::new();
        read_with_idle_timeout(&mut f, &mut buf, 100, Duration::from_secs(30)).unwrap();
        assert!(buf.is_empty());
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn a_directory_is_not_read() {
        assert!(read(Path::new("/")).is_err());
    }
}
