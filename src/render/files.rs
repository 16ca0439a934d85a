//! How the CI formats (SARIF, GitHub annotations) name a config file.
//!
//! Code scanning and workflow annotations only land on files of the repository being checked,
//! named relative to its top. So a file whose copy on this machine (under `--root`) lies inside the
//! working directory is named relative to it: `deploy/nginx/site.conf`, or
//! `fixtures/img/etc/nginx/nginx.conf` with `--root fixtures/img`. Any other file keeps its system
//! path (`/etc/nginx/nginx.conf`), as in the text and JSON reports.

use crate::sysroot::SysRoot;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use std::path::{Path, PathBuf};

/// Characters percent-encoded in a URI path (RFC 3986: everything but unreserved, sub-delims,
/// ':', '@' and '/').
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

#[derive(Debug, Clone)]
pub struct SourceFiles {
    root: SysRoot,
    /// The working directory (absolute), when relative names are wanted.
    base: Option<PathBuf>,
    /// The analysis target (the nginx entry config, a system path): where a finding without a
    /// file of its own is shown. GitHub code scanning rejects a result without a file.
    target: Option<String>,
}

/// A file as the CI formats name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceFile {
    /// Inside the working directory: relative to it, `/`-separated.
    Relative(String),
    /// Elsewhere: the system path.
    System(String),
}

impl SourceFiles {
    /// `base` is the working directory; `None` (or `/`) keeps every file's system path.
    pub fn new(root: SysRoot, base: Option<PathBuf>) -> Self {
        let base = base
            .and_then(|b| std::path::absolute(b).ok())
            .filter(|b| b != Path::new("/"));
        SourceFiles {
            root,
            base,
            target: None,
        }
    }

    /// Set the analysis target (a system path): see `target`.
    pub fn with_target(mut self, target: Option<String>) -> Self {
        self.target = target;
        self
    }

    pub fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }

    /// System paths everywhere (no working directory).
    pub fn system_paths() -> Self {
        SourceFiles::new(SysRoot::live(), None)
    }

    pub fn base(&self) -> Option<&Path> {
        self.base.as_deref()
    }

    pub fn name(&self, system_path: &str) -> SourceFile {
        let relative = self.base.as_ref().and_then(|base| {
            let host = self.root.host_path(Path::new(system_path));
            let rel = host.strip_prefix(base).ok()?;
            // A path that climbs out (`..`) is not inside after all.
            if rel.as_os_str().is_empty()
                || rel
                    .components()
                    .any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                return None;
            }
            rel.to_str().map(str::to_string)
        });
        match relative {
            Some(rel) => SourceFile::Relative(rel),
            None => SourceFile::System(system_path.to_string()),
        }
    }
}

impl SourceFile {
    /// The name as written in an annotation: the relative path or the system path.
    pub fn as_str(&self) -> &str {
        match self {
            SourceFile::Relative(p) | SourceFile::System(p) => p,
        }
    }

    /// A URI reference: relative (to be resolved against the working directory) or `file://`.
    pub fn uri(&self) -> String {
        match self {
            SourceFile::Relative(p) => utf8_percent_encode(p, PATH).to_string(),
            SourceFile::System(p) => file_uri(p),
        }
    }
}

/// `file:///etc/nginx/nginx.conf` for an absolute path (a directory gets its trailing slash from
/// the caller).
pub fn file_uri(path: &str) -> String {
    let abs = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    format!("file://{}", utf8_percent_encode(&abs, PATH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_inside_the_working_directory_are_relative() {
        let files = SourceFiles::new(
            SysRoot::new("/work/repo/fixtures/img"),
            Some("/work/repo".into()),
        );
        assert_eq!(
            files.name("/etc/nginx/sites-enabled/my app"),
            SourceFile::Relative("fixtures/img/etc/nginx/sites-enabled/my app".into())
        );
        assert_eq!(
            files.name("/etc/nginx/sites-enabled/my app").uri(),
            "fixtures/img/etc/nginx/sites-enabled/my%20app"
        );
        assert_eq!(
            files.name("/../../../etc/passwd"),
            SourceFile::System("/../../../etc/passwd".into())
        );
    }

    #[test]
    fn other_files_keep_their_system_path() {
        let live = SourceFiles::new(SysRoot::live(), Some("/home/ci/repo".into()));
        assert_eq!(
            live.name("/home/ci/repo/deploy/nginx.conf"),
            SourceFile::Relative("deploy/nginx.conf".into())
        );
        let outside = live.name("/etc/nginx/nginx.conf");
        assert_eq!(outside, SourceFile::System("/etc/nginx/nginx.conf".into()));
        assert_eq!(outside.uri(), "file:///etc/nginx/nginx.conf");
        let from_root = SourceFiles::new(SysRoot::live(), Some("/".into()));
        assert_eq!(
            from_root.name("/etc/nginx/nginx.conf").as_str(),
            "/etc/nginx/nginx.conf"
        );
    }
}
