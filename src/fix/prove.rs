//! Proving a config fix before it is printed: the edits are applied to an in-memory copy of the
//! configuration (`edit::edited_dump`), the copy is loaded again with the loader's own `nginx -t`
//! rules (plus the two nginx enforces at start that the loader leaves to the resolver: no
//! duplicate location in a block, no directive left without its arguments), and resolved:
//!
//! - the failing URL must get the answer meant (a status, or the file nginx should open);
//! - no other URL may change its answer: a sample per location of every server block (a real
//!   file under the location's directory when there is one, and a made-up name), except the
//!   URLs of the location the fix is about.
//!
//! A fix that fails is not printed as a fix: the caller says what to decide instead.

use super::edit::{edited_dump, BlockEdit};
use crate::nginx::resolve::{Request, Resolution, Resolver};
use crate::nginx::{Config, Directive, NodeId};
use crate::site::Site;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use crate::report::edit::Goal;

/// Why a fix is not proven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The edited configuration would not load (`nginx -t` fails): the message.
    DoesNotLoad(String),
    /// The failing URL still does not get the answer meant.
    Unmet(String),
    /// Another URL's answer changes: the URL, before, after.
    SideEffect(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::DoesNotLoad(m) => write!(f, "the edited configuration would not load: {m}"),
            Refusal::Unmet(m) => write!(f, "the edit does not fix the URL: {m}"),
            Refusal::SideEffect(m) => write!(f, "the edit changes another URL: {m}"),
        }
    }
}

/// The copy of `site` with `edits` applied, loaded as nginx would load it.
pub fn edited_config(site: &Site, edits: &[BlockEdit]) -> Result<Config, Refusal> {
    let cfg = site.config();
    let dump = edited_dump(cfg, edits);
    let mut copy = crate::nginx::load_dump(&site.root, dump.as_bytes(), "the edited copy")
        .map_err(|e| Refusal::DoesNotLoad(e.to_string()))?;
    copy.prefix = cfg.prefix.clone();
    // Only problems the edit brings in count: a warning already there is not the fix's doing.
    let before: Vec<&str> = cfg
        .diagnostics
        .iter()
        .filter(|d| d.fatal)
        .map(|d| d.message.as_str())
        .collect();
    if let Some(d) = copy
        .diagnostics
        .iter()
        .find(|d| d.fatal && !before.contains(&d.message.as_str()))
    {
        return Err(Refusal::DoesNotLoad(d.message.clone()));
    }
    if let Some(m) = start_errors(&copy)
        .into_iter()
        .find(|m| !start_errors(cfg).contains(m))
    {
        return Err(Refusal::DoesNotLoad(m));
    }
    Ok(copy)
}

/// Directives that need at least one argument, which an edit could leave empty.
const NEED_ARGS: &[&str] = &[
    "server_name",
    "root",
    "alias",
    "listen",
    "try_files",
    "proxy_pass",
    "location",
    "include",
    "index",
    "return",
];

/// What `nginx -t` refuses that the loader leaves to the resolver: `duplicate location "/x"` in
/// one block, and a directive without arguments.
pub fn start_errors(cfg: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for (_, d) in cfg.depth_first() {
        if d.arg_count() == 0 && NEED_ARGS.iter().any(|n| d.is(n)) {
            out.push(format!(
                "invalid number of arguments in \"{}\" directive",
                d.name()
            ));
        }
        if !(d.is("server") || d.is("location")) || !d.has_block() {
            continue;
        }
        let mut seen: Vec<(String, String)> = Vec::new();
        for c in d.children().filter(|c| c.is("location")) {
            let (m, p) = location_key(&c);
            // nginx compares prefix and exact names; `^~ /a` and `/a` are the same location.
            let m = if m == "^~" { String::new() } else { m };
            if m.starts_with('~') {
                continue;
            }
            if seen.contains(&(m.clone(), p.clone())) {
                out.push(format!("duplicate location \"{p}\""));
            } else {
                seen.push((m, p));
            }
        }
    }
    out
}

fn location_key(d: &Directive<'_>) -> (String, String) {
    let args: Vec<&str> = d.args().collect();
    match args.as_slice() {
        [p] => match p.strip_prefix('=') {
            Some(rest) if !rest.is_empty() => ("=".into(), rest.into()),
            _ => (String::new(), p.to_string()),
        },
        [m, p, ..] => (m.to_string(), p.to_string()),
        [] => (String::new(), String::new()),
    }
}

/// The copy's servers: the site's, by their place in the config (an edit adds or removes none).
fn same_servers(site: &Site, copy: &Config) -> Vec<NodeId> {
    let order: HashMap<NodeId, usize> = site
        .config()
        .servers()
        .iter()
        .enumerate()
        .map(|(i, d)| (d.id(), i))
        .collect();
    let new_ids: Vec<NodeId> = copy.servers().iter().map(|d| d.id()).collect();
    site.nginx
        .servers
        .iter()
        .filter_map(|id| order.get(id).and_then(|&i| new_ids.get(i).copied()))
        .collect()
}

/// The answer to compare: what nginx does, not how it explains it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    status: Option<u16>,
    handler: String,
    path: Option<PathBuf>,
    location: Option<(String, String)>,
    redirect: Option<String>,
    upstream: Option<String>,
}

impl Answer {
    fn of(r: &Resolver<'_>, res: &Resolution) -> Answer {
        Answer {
            status: res.predicted_status,
            handler: res.handler.as_str().to_string(),
            path: res.path.clone(),
            location: res
                .location
                .and_then(|l| r.location_pattern(l))
                .map(|(m, p)| (m.as_str().to_string(), p)),
            redirect: res.redirect.clone(),
            upstream: res.upstream.clone(),
        }
    }
    fn short(&self) -> String {
        let status = self
            .status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "?".into());
        match &self.path {
            Some(p) => format!("{status} ({}, {})", self.handler, p.display()),
            None => format!("{status} ({})", self.handler),
        }
    }
}

/// Proves `edits` against `goal` (None: the edit must only load and leave the other URLs
/// alone): Ok with what was checked, or why not.
pub fn prove(site: &Site, edits: &[BlockEdit], goal: Option<&Goal>) -> Result<String, Refusal> {
    let copy = edited_config(site, edits)?;
    let model = crate::nginx::resolve::Model::build(&copy);
    let servers = same_servers(site, &copy);
    // Both sides over the whole config: the site's own resolver models only its servers, and
    // the other servers' answers are compared too.
    let old_model = crate::nginx::resolve::Model::build(site.config());
    let old = Resolver::new(crate::nginx::resolve::Inputs {
        config: site.config(),
        model: &old_model,
        root: &site.root,
        worker: site.worker(),
        servers: &site.nginx.servers,
        whole: None,
    });
    let new = Resolver::new(crate::nginx::resolve::Inputs {
        config: &copy,
        model: &model,
        root: &site.root,
        worker: site.worker(),
        servers: &servers,
        // The copy's model covers every server of the copy.
        whole: None,
    });
    // The locations the fix is about, before and after, by server: their URLs may change
    // (without a goal, the edited blocks; with one, the locations that answer it).
    let mut about: Vec<(usize, Option<(String, String)>)> = Vec::new();
    for e in edits {
        let d = site.config().directive(e.block);
        if let Some(i) = enclosing_server(site.config(), e.block) {
            if d.is("location") {
                let (m, p) = location_key(&d);
                about.push((i, Some((m, p.clone()))));
                // The head as rewritten (`location ^~ /media/`).
                if let Some(h) = &e.head {
                    let w: Vec<&str> = h.split_whitespace().skip(1).collect();
                    let (m, p) = match w.as_slice() {
                        [p] => (String::new(), p.to_string()),
                        [m, p, ..] => (m.to_string(), p.to_string()),
                        [] => (String::new(), String::new()),
                    };
                    about.push((i, Some((m, p))));
                }
            } else {
                // A server block edit (server_name, a new location): its URLs are the point.
                about.push((i, None));
            }
        }
    }
    let mut summary = String::from("the edit loads");
    if let Some(goal) = goal {
        let req = Request::for_path(&goal.host, goal.port, &goal.uri);
        let (before, after) = (old.resolve(&req), new.resolve(&req));
        let got = Answer::of(&new, &after);
        if let Some(want) = goal.status {
            if after.predicted_status != Some(want) {
                return Err(Refusal::Unmet(format!(
                    "{} would answer {} instead of {want}",
                    goal.uri,
                    got.short()
                )));
            }
        }
        if let Some(want) = &goal.path {
            if !same_file(after.served_path(), want) {
                return Err(Refusal::Unmet(format!(
                    "{} would open {} instead of {}",
                    goal.uri,
                    after
                        .served_path()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "no file".into()),
                    want.display()
                )));
            }
        }
        if let Some(want) = &goal.location {
            // `/static` and `/static/` (a fix may add the slash) name the same place.
            let same = |p: &String| p.trim_end_matches('/') == want.trim_end_matches('/');
            if !got.location.as_ref().is_some_and(|(_, p)| same(p)) {
                return Err(Refusal::Unmet(format!(
                    "{} would still not be answered by location {want}",
                    goal.uri
                )));
            }
        }
        // With a goal, only the goal's URL is meant to change: the edited blocks' other URLs
        // are held to their answers too.
        about.clear();
        if let Some(i) = server_index(site.config(), before.server) {
            about.push((i, Answer::of(&old, &before).location));
            about.push((i, got.location.clone()));
        }
        summary = format!("{} answers {} with the edit", goal.uri, got.short());
    }
    let old_servers = site.config().servers();
    let mut checked = 0;
    for (i, s) in old_servers.iter().enumerate() {
        let Some(new_server) = copy.servers().get(i).map(|d| d.id()) else {
            return Err(Refusal::SideEffect(format!(
                "the server block at {} is gone",
                s.location()
            )));
        };
        let host = first_name(&old, s.id());
        let port = old.server_ports(s.id()).into_iter().next().unwrap_or(80);
        for uri in samples(site, &old, s.id()) {
            let req = Request::for_path(&host, port, &uri);
            let a = Answer::of(&old, &old.resolve_on(s.id(), &req));
            let is_about = |loc: &Option<(String, String)>| {
                about
                    .iter()
                    .any(|(si, l)| *si == i && (l.is_none() || l == loc))
            };
            if is_about(&a.location) {
                continue;
            }
            let b = Answer::of(&new, &new.resolve_on(new_server, &req));
            if is_about(&b.location) {
                continue;
            }
            checked += 1;
            if a != b {
                return Err(Refusal::SideEffect(format!(
                    "{host}{uri} ({}) would answer {} instead of {}",
                    s.location(),
                    b.short(),
                    a.short()
                )));
            }
        }
    }
    Ok(format!("{summary}; {checked} other URLs keep their answer"))
}

fn same_file(got: Option<&Path>, want: &Path) -> bool {
    let norm = |p: &Path| {
        let s = p.display().to_string();
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            if !(c == '/' && out.ends_with('/')) {
                out.push(c);
            }
        }
        out
    };
    got.is_some_and(|g| norm(g) == norm(want))
}

/// The index (in `Config::servers`) of the server block that holds `node`.
fn enclosing_server(cfg: &Config, node: NodeId) -> Option<usize> {
    cfg.servers().iter().position(|s| {
        let mut stack = vec![*s];
        while let Some(d) = stack.pop() {
            if d.id() == node {
                return true;
            }
            stack.extend(d.children().filter(|c| c.has_block()));
        }
        false
    })
}

fn server_index(cfg: &Config, server: Option<NodeId>) -> Option<usize> {
    let server = server?;
    cfg.servers().iter().position(|d| d.id() == server)
}

fn first_name(r: &Resolver<'_>, server: NodeId) -> String {
    r.server_names(server)
        .into_iter()
        .find(|n| {
            !n.is_empty()
                && !n.starts_with('~')
                && !n.contains('*')
                && !n.starts_with('.')
                && n != "_"
        })
        .unwrap_or_else(|| "localhost".into())
}

/// A made-up name and a real file per location of `server` (prefix and exact locations; a
/// regex location is sampled by the real files of the others).
fn samples(site: &Site, r: &Resolver<'_>, server: NodeId) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |u: String| {
        if !out.contains(&u) {
            out.push(u);
        }
    };
    push("/".into());
    for loc in r.locations_of(server) {
        let Some((m, p)) = r.location_pattern(loc) else {
            continue;
        };
        if m.is_regex() || !p.starts_with('/') {
            continue;
        }
        if m == crate::nginx::resolve::Modifier::Exact {
            push(p.clone());
            continue;
        }
        let base = if p.ends_with('/') {
            p.clone()
        } else {
            format!("{p}/")
        };
        push(format!("{base}md-sample.txt"));
        if let Some(dir) = r.path_in(server, loc, &base) {
            if let Some(f) = first_file(site, &dir) {
                push(format!("{base}{f}"));
            }
        }
    }
    out
}

/// The first regular file (by name) in `dir` or one level below: a real URL to compare.
fn first_file(site: &Site, dir: &Path) -> Option<String> {
    let list = |d: &Path| -> Vec<(String, bool)> {
        let mut v: Vec<(String, bool)> = std::fs::read_dir(site.root.host_path(d))
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| {
                        let t = e.file_type().ok()?;
                        let n = e.file_name().to_str()?.to_string();
                        let plain = !n.starts_with('.') && !n.contains(['?', '#', '%', ' ']);
                        (plain && (t.is_file() || t.is_dir())).then_some((n, t.is_dir()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let top = list(dir);
    if let Some((f, _)) = top.iter().find(|(_, d)| !d) {
        return Some(f.clone());
    }
    for (sub, _) in top.iter().filter(|(_, d)| *d).take(8) {
        if let Some((f, _)) = list(&dir.join(sub)).into_iter().find(|(_, d)| !d) {
            return Some(format!("{sub}/{f}"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fix::edit::BlockEdit;

    /// Two sites on one nginx: the shop (alias without its slash) and the blog.
    fn two_sites() -> (tempfile::TempDir, Site) {
        let tmp = tempfile::tempdir().unwrap();
        let w = |p: &str, text: &str| {
            let p = tmp.path().join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        w(
            "etc/passwd",
            "root:x:0:0::/root:/bin/sh\nwww-data:x:33:33::/var/www:/bin/sh\n",
        );
        w("etc/group", "root:x:0:\nwww-data:x:33:\n");
        w(
            "etc/nginx/nginx.conf",
            "user www-data;\nevents {}\nhttp {\n    include /etc/nginx/sites-enabled/*;\n}\n",
        );
        w(
            "etc/nginx/sites-enabled/shop",
            "server {\n    listen 80;\n    server_name shop.example.com;\n    location / { proxy_pass http://unix:/run/shop.sock; }\n    location /media/ {\n        alias /srv/shop/media;\n    }\n    location /static/ { alias /srv/shop/static/; }\n}\n",
        );
        w(
            "etc/nginx/sites-enabled/blog",
            "server {\n    listen 80;\n    server_name blog.example.com;\n    root /home/deploy/blog;\n    location /static/ { }\n}\n",
        );
        w("srv/shop/media/a.jpg", "x");
        w("srv/shop/static/s.css", "x");
        w("home/deploy/blog/static/b.css", "x");
        let args = crate::site::Options {
            root: Some(tmp.path().to_path_buf()),
            site: Some("shop".into()),
            ..Default::default()
        };
        let site = Site::gather(&args, true).unwrap();
        (tmp, site)
    }

    /// The directive of the shop's file.
    fn node(cfg: &Config, name: &str, arg: &str) -> NodeId {
        cfg.depth_first()
            .map(|(_, d)| d)
            .find(|d| d.is(name) && d.args().any(|a| a == arg) && d.file().ends_with("shop"))
            .unwrap()
            .id()
    }

    fn goal() -> Goal {
        Goal {
            host: "shop.example.com".into(),
            port: 80,
            uri: "/media/a.jpg".into(),
            status: Some(200),
            path: Some(PathBuf::from("/srv/shop/media/a.jpg")),
            location: Some("/media/".into()),
        }
    }

    #[test]
    fn a_right_fix_is_proven() {
        let (_tmp, site) = two_sites();
        let cfg = site.config();
        let fix = BlockEdit::new(node(cfg, "location", "/media/")).replace(
            node(cfg, "alias", "/srv/shop/media"),
            "alias /srv/shop/media/;",
        );
        let proof = prove(&site, &[fix], Some(&goal())).expect("proven");
        assert!(proof.contains("/media/a.jpg answers 200"), "{proof}");
    }

    #[test]
    fn a_fix_that_does_not_load_or_does_not_fix_is_refused() {
        let (_tmp, site) = two_sites();
        let cfg = site.config();
        let shop = node(cfg, "server_name", "shop.example.com");
        let server = cfg
            .servers()
            .into_iter()
            .find(|s| s.children().any(|c| c.id() == shop))
            .unwrap()
            .id();
        // A second `location /media/` beside the first: nginx -t says duplicate location.
        let dup = BlockEdit::new(server).append("location ^~ /media/ { alias /srv/shop/media/; }");
        assert_eq!(
            prove(&site, &[dup], Some(&goal())),
            Err(Refusal::DoesNotLoad(
                "duplicate location \"/media/\"".into()
            ))
        );
        // An empty server_name.
        let empty = BlockEdit::new(server).replace(shop, "server_name;");
        assert!(matches!(
            prove(&site, &[empty], Some(&goal())),
            Err(Refusal::DoesNotLoad(m)) if m.contains("server_name")
        ));
        // Loads, but the file is still not found.
        let wrong = BlockEdit::new(node(cfg, "location", "/media/"))
            .replace(node(cfg, "alias", "/srv/shop/media"), "alias /srv/media/;");
        assert!(matches!(
            prove(&site, &[wrong], Some(&goal())),
            Err(Refusal::Unmet(_))
        ));
    }

    #[test]
    fn a_fix_that_changes_another_url_is_refused() {
        let (_tmp, site) = two_sites();
        let cfg = site.config();
        // Right for /media/, but it also sends /static/ to the media directory.
        let fix = BlockEdit::new(node(cfg, "location", "/media/")).replace(
            node(cfg, "alias", "/srv/shop/media"),
            "alias /srv/shop/media/;",
        );
        let breaks = BlockEdit::new(node(cfg, "location", "/static/")).replace(
            node(cfg, "alias", "/srv/shop/static/"),
            "alias /srv/shop/media/;",
        );
        let got = prove(&site, &[fix, breaks], Some(&goal()));
        assert!(
            matches!(&got, Err(Refusal::SideEffect(m)) if m.contains("shop.example.com/static/")),
            "{got:?}"
        );
    }
}
