//! MD306: media URLs written into templates and code. A hard-coded `/uploads/x.jpg` when
//! MEDIA_URL is `/media/`, or `http://localhost:8000/media/x.jpg`, breaks in production even when
//! nginx and the settings agree. Templates are scanned for URL-valued attributes and CSS `url()`;
//! Python files through the parser's string literals (route declarations excluded).

use super::shared::app::app_of;
use super::{Check, Context, Meta, Outcome};
use crate::app::python::{string_literals, Module};
use crate::app::App;
use crate::checks::Band;
use crate::report::{Finding, Location};
use crate::site::Site;
use std::path::{Path, PathBuf};

pub struct TemplateUrlPrefix;

static TEMPLATE_URL_PREFIX: Meta = Meta {
    id: "MD306",
    name: "template-url-prefix",
    band: Band::App,
    summary:
        "templates and code build media URLs with MEDIA_URL, not another prefix or a local host",
    docs: include_str!("../../checks/MD306.md"),
};

/// First path segments that name a media or static directory.
const MEDIA_WORDS: &[&str] = &[
    "media",
    "uploads",
    "upload",
    "files",
    "userfiles",
    "user_uploads",
    "images",
    "img",
    "static",
    "assets",
    "photos",
];
const LOCAL_HOSTS: &[&str] = &["localhost", "127.0.0.1", "0.0.0.0", "[::1]"];
const TEMPLATE_EXTS: &[&str] = &["html", "htm", "jinja", "jinja2", "j2", "txt", "xml"];
const MAX_FILES: usize = 5000;
const MAX_BYTES: u64 = 1 << 20;
/// Findings shown one by one; the rest are counted.
const MAX_SHOWN: usize = 10;

impl Check for TemplateUrlPrefix {
    fn meta(&self) -> &'static Meta {
        &TEMPLATE_URL_PREFIX
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let app = match app_of(site) {
            Ok(a) => a,
            Err(o) => return Ok(o),
        };
        let media = app.media_url_path();
        let statics = app.static_url_path();
        if media.is_none() && statics.is_none() {
            return Ok(Outcome::skip(
                "neither MEDIA_URL nor STATIC_URL is a local URL path: nothing to compare with",
            ));
        }
        if let Some(u) = app.unseen(&app.dir) {
            return Ok(Outcome::skip(format!(
                "the project's templates and code are not read: {}",
                u.why
            )));
        }
        let mut hosts: Vec<String> = site
            .servers()
            .flat_map(|s| s.server_names().map(str::to_string).collect::<Vec<_>>())
            .collect();
        if let Some(h) = app.allowed_hosts.value() {
            hosts.extend(h.iter().cloned());
        }
        let (files, truncated) = source_files(site, app);
        let mut findings = Vec::new();
        let mut scanned = 0;
        for (path, kind) in &files {
            let host = site
                .root
                .host_path(&site.root.real_path(path).unwrap_or(path.clone()));
            let Ok(meta) = std::fs::metadata(&host) else {
                continue;
            };
            if meta.len() > MAX_BYTES {
                continue;
            }
            let Ok(bytes) = crate::input::read(&host) else {
                continue;
            };
            let text = String::from_utf8_lossy(&bytes);
            scanned += 1;
            let urls = match kind {
                Kind::Template => template_urls(&text, path),
                Kind::Python => match Module::parse(path, text.into_owned()) {
                    Ok(m) => string_literals(&m),
                    Err(_) => continue,
                },
            };
            for (url, at) in urls {
                if let Some(f) = judge(&url, at, media.as_deref(), statics.as_deref(), &hosts) {
                    findings.push(f);
                }
            }
        }
        if findings.is_empty() {
            return Ok(Outcome::pass(format!(
                "{scanned} template/code file{} use{} no other media prefix and no local host{}",
                if scanned == 1 { "" } else { "s" },
                if scanned == 1 { "s" } else { "" },
                if truncated {
                    format!(" (the first {MAX_FILES} files)")
                } else {
                    String::new()
                }
            )));
        }
        let total = findings.len();
        findings.truncate(MAX_SHOWN);
        let mut out = Outcome::findings(findings);
        if total > MAX_SHOWN {
            out = out.with_summary(format!(
                "{total} hard-coded media URLs with another prefix or host (the first {MAX_SHOWN} are shown)"
            ));
        }
        Ok(out)
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Template,
    Python,
}

/// The project's templates and Python files (virtualenvs, node_modules, collected static and the
/// settings files themselves excluded).
fn source_files(site: &Site, app: &App) -> (Vec<(PathBuf, Kind)>, bool) {
    let host_dir = site
        .root
        .host_path(&site.root.real_path(&app.dir).unwrap_or(app.dir.clone()));
    let mut out = Vec::new();
    let mut truncated = false;
    let walker = walkdir::WalkDir::new(&host_dir)
        .max_depth(8)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| {
            let name = e.file_name().to_string_lossy();
            !(e.file_type().is_dir()
                && (matches!(
                    name.as_ref(),
                    "node_modules"
                        | "__pycache__"
                        | "site-packages"
                        | "staticfiles"
                        | "media"
                        | ".git"
                        | "migrations"
                ) || e.path().join("pyvenv.cfg").exists()))
        });
    for e in walker.flatten() {
        if !e.file_type().is_file() {
            continue;
        }
        let ext = e.path().extension().and_then(|x| x.to_str()).unwrap_or("");
        let kind = if ext == "py" {
            Kind::Python
        } else if TEMPLATE_EXTS.contains(&ext) {
            Kind::Template
        } else {
            continue;
        };
        let Ok(rel) = e.path().strip_prefix(&host_dir) else {
            continue;
        };
        let sys = app.dir.join(rel);
        if app.settings_files.contains(&sys) {
            continue;
        }
        if out.len() >= MAX_FILES {
            truncated = true;
            break;
        }
        out.push((sys, kind));
    }
    (out, truncated)
}

/// Quoted values that look like URLs (`"/uploads/a.jpg"`, `'http://...'`) and CSS `url(...)`.
fn template_urls(text: &str, path: &Path) -> Vec<(String, Location)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = || Location::new(path.display().to_string(), i as u32 + 1);
        let bytes = line.as_bytes();
        let mut j = 0;
        while j < bytes.len() {
            let c = bytes[j];
            let start = if c == b'"' || c == b'\'' {
                Some((j + 1, c))
            } else if bytes[j..].starts_with(b"url(") {
                let k = j + 4;
                match bytes.get(k) {
                    Some(b'"') | Some(b'\'') => None,
                    _ => Some((k, b')')),
                }
            } else {
                None
            };
            if let Some((s, close)) = start {
                if let Some(len) = line[s..].find(close as char) {
                    let v = &line[s..s + len];
                    if v.starts_with('/') || v.starts_with("http://") || v.starts_with("https://") {
                        out.push((v.to_string(), at()));
                        j = s + len + 1;
                        continue;
                    }
                    // Not a URL itself (`style="... url(/x.png)"`): look inside it.
                    j = s;
                    continue;
                }
            }
            j += 1;
        }
    }
    out
}

fn judge(
    url: &str,
    at: Location,
    media: Option<&str>,
    statics: Option<&str>,
    hosts: &[String],
) -> Option<Finding> {
    let under = |p: &str| {
        media.is_some_and(|m| p.starts_with(m)) || statics.is_some_and(|s| p.starts_with(s))
    };
    if let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    {
        let (authority, path) = rest
            .split_once('/')
            .map(|(a, p)| (a, format!("/{p}")))
            .unwrap_or((rest, "/".into()));
        // `[::1]:8000` keeps its brackets; `host:port` loses the port.
        let host = match authority.strip_prefix('[') {
            Some(v6) => format!("[{}]", v6.split(']').next().unwrap_or("")),
            None => authority.split(':').next().unwrap_or("").to_string(),
        };
        let media_like = under(&path) || first_segment_is_media(&path);
        if !media_like {
            return None;
        }
        if LOCAL_HOSTS.contains(&host.as_str()) {
            return Some(
                Finding::error(format!(
                    "{url} points visitors at {host}, which is their own machine"
                ))
                .at(at)
                .evidence("URL", url)
                .fix_with_block(
                    "build the URL from the setting instead of a host:",
                    &[
                        "{{ object.file.url }}".into(),
                        "{{ MEDIA_URL }}path/to/file".into(),
                    ],
                    Vec::new(),
                ),
            );
        }
        if under(&path) && !hosts.is_empty() && !hosts.iter().any(|h| host_matches(h, &host)) {
            return Some(
                Finding::warning(format!(
                    "{url} points at host {host}, which is not one of the site's names ({})",
                    hosts.join(", ")
                ))
                .at(at)
                .evidence("URL", url)
                .fix_with_block(
                    "use a relative URL built from the setting:",
                    &["{{ object.file.url }}".into()],
                    Vec::new(),
                ),
            );
        }
        return None;
    }
    if url.starts_with("//") || under(url) || !first_segment_is_media(url) {
        return None;
    }
    // A path with a media-like first segment but neither MEDIA_URL nor STATIC_URL.
    let seg = url.trim_start_matches('/').split('/').next().unwrap_or("");
    if url.trim_start_matches('/') == seg {
        return None; // just "/media": not a file URL
    }
    Some(
        Finding::warning(format!(
            "{url} uses the prefix /{seg}/, but MEDIA_URL is {} and STATIC_URL is {}",
            media.unwrap_or("unset"),
            statics.unwrap_or("unset")
        ))
        .at(at)
        .evidence("URL", url)
        .fix_with_block(
            "build media URLs from the setting (or the file field), never a hard-coded prefix:",
            &[
                "{{ object.image.url }}".into(),
                "{% static 'path/to/file' %}".into(),
            ],
            Vec::new(),
        ),
    )
}

fn first_segment_is_media(path: &str) -> bool {
    let seg = path.trim_start_matches('/').split('/').next().unwrap_or("");
    MEDIA_WORDS.contains(&seg.to_ascii_lowercase().as_str())
}

/// nginx-style server_name / Django ALLOWED_HOSTS entry against a host.
fn host_matches(pattern: &str, host: &str) -> bool {
    let p = pattern.trim_start_matches('.');
    pattern == "*"
        || pattern == host
        || (pattern.starts_with('.') && (host == p || host.ends_with(&format!(".{p}"))))
        || (pattern.starts_with("*.") && host.ends_with(&pattern[1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> Location {
        Location::new("/t.html", 1)
    }

    #[test]
    fn judges_urls() {
        let hosts = vec!["shop.example.com".to_string()];
        let j = |u: &str| judge(u, at(), Some("/media/"), Some("/static/"), &hosts);
        assert!(j("/media/a.jpg").is_none());
        assert!(j("/static/css/a.css").is_none());
        assert!(j("/uploads/a.jpg").is_some());
        assert!(j("/about/").is_none());
        assert!(j("/uploads").is_none());
        let f = j("http://localhost:8000/media/a.jpg").unwrap();
        assert_eq!(f.severity, crate::report::Severity::Error);
        assert!(j("https://old.example.org/media/a.jpg").is_some());
        assert!(j("https://shop.example.com/media/a.jpg").is_none());
        assert!(j("https://cdn.jsdelivr.net/npm/x.js").is_none());
    }

    #[test]
    fn finds_urls_in_templates() {
        let t = "<img src=\"/uploads/{{ p.file }}\" alt='x'>\n<div style=\"background: url(/media/a.png)\">\n{{ MEDIA_URL }}";
        let urls: Vec<String> = template_urls(t, Path::new("/t.html"))
            .into_iter()
            .map(|(u, _)| u)
            .collect();
        assert!(
            urls.contains(&"/uploads/{{ p.file }}".to_string()),
            "{urls:?}"
        );
        assert!(urls.iter().any(|u| u == "/media/a.png"), "{urls:?}");
    }

    #[test]
    fn a_line_with_text_not_ascii_is_read_to_its_end() {
        // `©` and `é` are two bytes each: the scan steps a byte at a time and must not slice
        // inside them (it panicked at `url(` after `©`).
        let t = "<footer>© 2024 café ☕ <img src=\"/uploads/a.jpg\"> url(/media/é.png)</footer>";
        let urls: Vec<String> = template_urls(t, Path::new("/t.html"))
            .into_iter()
            .map(|(u, _)| u)
            .collect();
        assert_eq!(urls, ["/uploads/a.jpg", "/media/é.png"], "{urls:?}");
    }
}
