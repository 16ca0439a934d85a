//! `.dockerignore`: the files of the build context that the builder never sends, so that no
//! COPY or ADD can put them in the image. Read as BuildKit reads it: `<Dockerfile>.dockerignore`
//! beside the Dockerfile when there is one, else `.dockerignore` at the context's root. Each
//! line is a pattern relative to the context (`*` and `?` within a name, `**` across
//! directories, a leading `/` ignored), `!` re-includes, the last matching line decides, and a
//! pattern that matches a directory excludes everything below it.

use crate::sysroot::SysRoot;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    /// The build context (system path).
    context: PathBuf,
    /// The file read (system path), when there was one.
    pub file: Option<PathBuf>,
    rules: Vec<(glob::Pattern, bool)>,
}

impl DockerIgnore {
    /// The ignore file of a build of `dockerfile` (system path) with the context `context`.
    pub fn read(root: &SysRoot, context: &Path, dockerfile: &Path) -> DockerIgnore {
        let beside = dockerfile
            .file_name()
            .map(|n| dockerfile.with_file_name(format!("{}.dockerignore", n.to_string_lossy())));
        for file in beside.into_iter().chain([context.join(".dockerignore")]) {
            let host = root.host_path(&file);
            let Ok(meta) = std::fs::metadata(&host) else {
                continue;
            };
            if !meta.is_file() || meta.len() > 1 << 20 {
                continue;
            }
            let Ok(bytes) = crate::input::read(&host) else {
                continue;
            };
            let mut d = DockerIgnore::parse(context, &String::from_utf8_lossy(&bytes));
            d.file = Some(file);
            return d;
        }
        DockerIgnore {
            context: context.to_path_buf(),
            ..Default::default()
        }
    }

    /// The patterns of `text`, for the context `context`. A line that is no valid pattern is
    /// left out (the builder refuses the build: nothing is judged on such a line).
    pub fn parse(context: &Path, text: &str) -> DockerIgnore {
        let mut rules = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negated, pat) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            let pat = clean(pat);
            if pat.is_empty() {
                continue;
            }
            if let Ok(p) = glob::Pattern::new(&pat) {
                rules.push((p, negated));
            }
        }
        DockerIgnore {
            context: context.to_path_buf(),
            file: None,
            rules,
        }
    }

    /// True when `host` (a system path in the context) is not sent to the builder.
    pub fn ignores(&self, host: &Path) -> bool {
        if self.rules.is_empty() {
            return false;
        }
        let Ok(rel) = host.strip_prefix(&self.context) else {
            return false;
        };
        let rel = rel.to_string_lossy();
        if rel.is_empty() {
            return false;
        }
        let opts = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        // The path or one of its parents: an excluded directory takes what is below it.
        let mut prefixes = Vec::new();
        for (i, c) in rel.char_indices() {
            if c == '/' {
                prefixes.push(&rel[..i]);
            }
        }
        prefixes.push(&rel);
        let mut ignored = false;
        for (pat, negated) in &self.rules {
            if prefixes.iter().any(|p| pat.matches_with(p, opts)) {
                ignored = !negated;
            }
        }
        ignored
    }
}

/// A pattern as the builder cleans it: no leading `/` or `./`, no `.` components, no trailing
/// `/`.
fn clean(p: &str) -> String {
    p.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ig(text: &str) -> DockerIgnore {
        DockerIgnore::parse(Path::new("/ctx"), text)
    }

    #[test]
    fn patterns_exceptions_and_directories() {
        let d = ig("# comment\n.git\n/media/\n**/__pycache__\n*.log\nstatic/*\n!static/keep.css\n");
        let yes = |p: &str| d.ignores(&Path::new("/ctx").join(p));
        assert!(yes(".git/config"));
        assert!(yes("media"));
        assert!(yes("media/a/b.jpg"));
        assert!(yes("app/__pycache__/x.pyc"));
        assert!(yes("__pycache__/x.pyc"));
        assert!(yes("debug.log"));
        assert!(!yes("logs/debug.log"), "* stays within one name");
        assert!(yes("static/site.css"));
        assert!(!yes("static/keep.css"));
        assert!(!yes("app/media/x"), "anchored at the context");
        assert!(!yes(""));
        assert!(!d.ignores(Path::new("/elsewhere/media")));
    }
}
