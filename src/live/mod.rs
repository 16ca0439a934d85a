//! The live side of a site: what its URLs answer now (HEAD probes through `crate::http`) and
//! what nginx logged when it could not serve a file (`errorlog`). Checks MD401–MD406 read these.

pub mod errorlog;
pub mod explain;
pub mod probes;
pub mod public;
pub mod sample;
pub mod signature;
pub mod trace;

use crate::site::Site;
use std::path::PathBuf;

/// Media or static: the two kinds of files the site serves from disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Media,
    Static,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Media => "media",
            Kind::Static => "static",
        }
    }
}

/// What the app says about one kind of file: the URL prefix and the directory it keeps them in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppPrefix {
    pub kind: Kind,
    /// `/media/` (a path; an absolute URL such as a CDN's is not the site's own prefix).
    pub url: Option<String>,
    /// MEDIA_ROOT / STATIC_ROOT (a system path).
    pub root: Option<PathBuf>,
}

/// MEDIA_URL/MEDIA_ROOT and STATIC_URL/STATIC_ROOT, when the app's settings could be read.
pub fn app_prefixes(site: &Site) -> Vec<AppPrefix> {
    let Some(app) = &site.app else {
        return Vec::new();
    };
    let path_url = |u: Option<&String>| u.filter(|u| u.starts_with('/')).cloned();
    [
        AppPrefix {
            kind: Kind::Media,
            url: path_url(app.media_url.value()),
            root: app.media_root.value().cloned(),
        },
        AppPrefix {
            kind: Kind::Static,
            url: path_url(app.static_url.value()),
            root: app.static_root.value().cloned(),
        },
    ]
    .into_iter()
    .filter(|p| p.url.is_some() || p.root.is_some())
    .collect()
}

/// The names the site's server blocks answer to (exact names only: used to pick the site's lines
/// out of a shared log, and the Host header of probes).
pub fn server_names(site: &Site) -> Vec<String> {
    let mut names: Vec<String> = site
        .servers()
        .flat_map(|s| {
            s.children()
                .filter(|c| c.is("server_name"))
                .flat_map(|c| c.args().map(str::to_string).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        })
        .collect();
    names.dedup();
    names
}

/// Why a live answer differs from what the model predicts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Cause {
    pub text: String,
    pub fix: String,
    pub commands: Vec<String>,
}

/// The likely reason nginx answered `a` where the config and files predict something else.
/// `stale` is the list of config files changed since nginx last loaded them, when known.
pub fn mismatch_cause(a: &crate::http::Answer, stale: Option<&[PathBuf]>) -> Cause {
    use signature::{who_answered, Answerer};
    let owner = |text: String| Cause {
        text,
        fix: "find the process that owns the port:".into(),
        commands: vec!["sudo ss -ltnp".into()],
    };
    match who_answered(a) {
        Answerer::Other(server) => {
            return owner(format!(
                "another server answers on this socket (Server: {server})"
            ))
        }
        Answerer::App(evidence) => {
            return owner(format!(
                "the app answers on this socket, not nginx ({evidence})"
            ))
        }
        _ => {}
    }
    match stale {
        Some(files) if !files.is_empty() => Cause {
            text: format!(
                "the config was changed after nginx loaded it (MD111): {}",
                files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            fix: "test and reload nginx:".into(),
            commands: vec!["sudo nginx -t && sudo systemctl reload nginx".into()],
        },
        _ => Cause {
            text: "nginx runs another config than the one media-doctor read (another -c, or \
                   not reloaded: see MD111), or the files changed since"
                .into(),
            fix: "compare with the config nginx runs:".into(),
            commands: vec!["sudo nginx -T | head -50".into()],
        },
    }
}
