//! The directories nginx serves files from, for the site's servers.
//!
//! STAND-IN: this reads `root`/`alias` directives directly. The resolver (src/nginx/resolve,
//! `Resolver::static_locations()`) is the one model of how nginx maps URLs to files; when it is
//! on main, `served_dirs` becomes a thin adapter over it and the walk below goes away.

use crate::nginx::Directive;
use crate::report::Location;
use crate::site::Site;
use std::path::{Path, PathBuf};

/// One place nginx serves files from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedDir {
    /// The directory (system path) nginx maps `prefix` to.
    pub dir: PathBuf,
    /// The URL prefix (the location's pattern; `/` for a server-level root).
    pub prefix: String,
    /// `root` or `alias`.
    pub kind: &'static str,
    /// The directive that names the directory.
    pub at: Location,
    /// `disable_symlinks` in effect for the location: its arguments and where it is set.
    pub disable_symlinks: Option<(Vec<String>, Location)>,
    /// The directive's value made absolute but otherwise as written (trailing slash kept):
    /// what nginx concatenates with the URI.
    pub value: String,
}

impl ServedDir {
    /// The file nginx opens for `uri` in this location, built as nginx builds it: `root` + URI
    /// (the root's trailing slash dropped), or `alias` + the URI after the location's prefix,
    /// with no separator added. `None` for URIs outside a prefix location.
    pub fn nginx_path(&self, uri: &str) -> Option<String> {
        match self.kind {
            "alias" => uri
                .strip_prefix(self.prefix.as_str())
                .map(|rest| format!("{}{rest}", self.value)),
            _ => Some(format!("{}{uri}", self.value.trim_end_matches('/'))),
        }
    }
}

/// Handlers that answer without opening a file from the root.
const NOT_STATIC: &[&str] = &[
    "proxy_pass",
    "fastcgi_pass",
    "uwsgi_pass",
    "scgi_pass",
    "grpc_pass",
    "memcached_pass",
    "return",
];

/// Every directory the site's servers serve files from (paths with variables are left out: they
/// have no single directory), in config order, without duplicates.
pub fn served_dirs(site: &Site) -> Vec<ServedDir> {
    let cfg = site.config();
    if cfg.files.is_empty() {
        return Vec::new();
    }
    let http = cfg.top().find(|d| d.is("http"));
    let http_root = http.and_then(|h| h.find("root"));
    let http_ds = http.and_then(|h| h.find("disable_symlinks"));
    let mut out: Vec<ServedDir> = Vec::new();
    for server in site.servers() {
        let root = server.find("root").or(http_root);
        let ds = server.find("disable_symlinks").or(http_ds);
        let has_slash_location = server
            .children()
            .filter(|d| d.is("location"))
            .any(|l| l.args().collect::<Vec<_>>() == ["/"]);
        // Without `location /`, URLs no location matches are served from the server's root.
        if !has_slash_location {
            if let Some(r) = root {
                push(&mut out, site, r, "/", "root", None, ds);
            }
        }
        collect(site, server, root, ds, &mut out);
    }
    out
}

fn collect<'c>(
    site: &Site,
    block: Directive<'c>,
    inherited_root: Option<Directive<'c>>,
    inherited_ds: Option<Directive<'c>>,
    out: &mut Vec<ServedDir>,
) {
    for loc in block.children().filter(|d| d.is("location")) {
        let args: Vec<&str> = loc.args().collect();
        let (modifier, pattern) = match args.as_slice() {
            [m, p] => (*m, *p),
            [p] => ("", *p),
            _ => continue,
        };
        if pattern.starts_with('@') {
            continue;
        }
        let root = loc.find("root").or(inherited_root);
        let ds = loc.find("disable_symlinks").or(inherited_ds);
        let is_static = !loc.children().any(|d| NOT_STATIC.contains(&d.name()));
        let regex = modifier.starts_with('~');
        if is_static && modifier != "=" {
            if let Some(alias) = loc.find("alias") {
                push(out, site, alias, pattern, "alias", None, ds);
            } else if let Some(r) = root {
                // A prefix location serves root + prefix; a regex one anywhere under root.
                let sub = if regex { None } else { Some(pattern) };
                push(out, site, r, pattern, "root", sub, ds);
            }
        }
        collect(site, loc, root, ds, out);
    }
}

fn push(
    out: &mut Vec<ServedDir>,
    site: &Site,
    directive: Directive<'_>,
    prefix: &str,
    kind: &'static str,
    append: Option<&str>,
    ds: Option<Directive<'_>>,
) {
    let Some(value) = directive.arg(0) else {
        return;
    };
    if value.contains('$') {
        return;
    }
    let absolute = if Path::new(value).is_absolute() {
        value.to_string()
    } else {
        format!("{}/{value}", site.config().prefix.display())
    };
    let mut dir = PathBuf::from(&absolute);
    if let Some(p) = append {
        dir.push(p.trim_start_matches('/'));
    }
    let dir = normalize(&dir);
    if out.iter().any(|s| s.dir == dir && s.prefix == prefix) {
        return;
    }
    out.push(ServedDir {
        dir,
        prefix: prefix.to_string(),
        kind,
        at: directive.location(),
        disable_symlinks: ds.map(|d| (d.args().map(String::from).collect(), d.location())),
        value: absolute,
    });
}

/// Drop `.` components and trailing slashes (`..` is kept: the walk resolves it).
fn normalize(p: &Path) -> PathBuf {
    p.components().collect()
}

/// The directories to scan: every served directory not inside another one.
pub fn outermost(dirs: impl IntoIterator<Item = PathBuf>) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = dirs.into_iter().collect();
    all.sort();
    all.dedup();
    let mut out: Vec<PathBuf> = Vec::new();
    for d in all {
        if !out.iter().any(|o| d.starts_with(o)) {
            out.push(d);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outermost_keeps_the_covering_dirs() {
        let v = outermost(
            ["/srv/a/b", "/srv/a", "/srv/ab", "/srv/a"]
                .into_iter()
                .map(PathBuf::from),
        );
        assert_eq!(v, vec![PathBuf::from("/srv/a"), PathBuf::from("/srv/ab")]);
    }
}
