//! Apache config fixes proven before they are printed, as `prove` does for nginx: the edits are
//! applied to an in-memory copy of every file Apache reads (`apache::load_memory`), the copy is
//! loaded again (an error `apache2ctl -t` would stop at that the edit brings in refuses it), and
//! resolved:
//!
//! - the failing URL must get the answer meant (a status);
//! - no other URL may change its answer: per virtual host that the edited files can matter to,
//!   its `DocumentRoot` and each of its mappings (`Alias`, `ProxyPass`, ...) with a made-up
//!   name, except the URLs under the mapping the fix is about.
//!
//! Apache's configuration is line-based, so an edit is lines: the directive at `file:line`
//! replaced, or lines put before or after it.

use super::prove::Refusal;
use crate::apache::resolve::{Resolution, Resolver};
use crate::apache::site::ApacheSite;
use crate::apache::{self, Config};
use crate::nginx::resolve::Request;
use crate::sysroot::SysRoot;
use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

pub use crate::report::edit::{
    ApacheFix as ProvenFix, ApacheGoal, LineEdit, OptionsEdit, OptionsRewrite, Place,
};

impl OptionsEdit {
    /// The line's words once every rewrite is made.
    pub fn words(&self) -> Vec<String> {
        let words = self
            .rewrites
            .iter()
            .fold(self.was.clone(), |words, r| r.apply(&words));
        // A word once (All expanded beside a FollowSymLinks already there).
        let mut out: Vec<String> = Vec::with_capacity(words.len());
        for w in words {
            if !out.iter().any(|o| o.eq_ignore_ascii_case(&w)) {
                out.push(w);
            }
        }
        out
    }

    /// The line as it reads then.
    pub fn line(&self) -> String {
        let words = self.words();
        if words.is_empty() {
            "Options None".to_string()
        } else {
            format!("Options {}", words.join(" "))
        }
    }
}

impl OptionsRewrite {
    /// `words` (an `Options` line's arguments) rewritten.
    pub fn apply(self, words: &[String]) -> Vec<String> {
        let relative = words.first().is_some_and(|a| a.starts_with(['+', '-']));
        let bare = |a: &str| a.trim_start_matches(['+', '-']).to_ascii_lowercase();
        match self {
            OptionsRewrite::NoIndexes => {
                let kept: Vec<String> = words
                    .iter()
                    .filter(|a| !matches!(a.to_ascii_lowercase().as_str(), "indexes" | "+indexes"))
                    .cloned()
                    .collect();
                if relative {
                    let mut kept = kept;
                    if !kept.iter().any(|a| a.eq_ignore_ascii_case("-indexes")) {
                        kept.push("-Indexes".into());
                    }
                    return kept;
                }
                if kept.iter().any(|a| a.eq_ignore_ascii_case("all")) {
                    // All, less Indexes (SymLinksIfOwnerMatch is moot beside FollowSymLinks).
                    let mut out: Vec<String> = ["FollowSymLinks", "ExecCGI", "Includes"]
                        .iter()
                        .map(|w| w.to_string())
                        .collect();
                    out.extend(kept.into_iter().filter(|a| !a.eq_ignore_ascii_case("all")));
                    return out;
                }
                kept
            }
            OptionsRewrite::FollowSymLinks => {
                let mut kept: Vec<String> = words
                    .iter()
                    .filter(|a| {
                        !matches!(
                            bare(a).as_str(),
                            "followsymlinks" | "symlinksifownermatch" | "none"
                        )
                    })
                    .cloned()
                    .collect();
                kept.push(
                    if relative {
                        "+FollowSymLinks"
                    } else {
                        "FollowSymLinks"
                    }
                    .into(),
                );
                kept
            }
        }
    }
}

impl LineEdit {
    /// An edit at the line of `d`.
    pub fn at(d: &crate::apache::Directive<'_>, place: Place, lines: Vec<String>) -> LineEdit {
        let args: Vec<String> = d.args().map(quoted).collect();
        let head = std::iter::once(d.name().to_string())
            .chain(args)
            .collect::<Vec<_>>()
            .join(" ");
        LineEdit {
            file: d.file().to_path_buf(),
            line: d.line(),
            place,
            lines,
            context: if d.is_section() {
                format!("<{head}>")
            } else {
                head
            },
            options: None,
        }
    }

    /// The `Options` line `o` replaced by itself rewritten.
    pub fn options(o: &crate::apache::Directive<'_>, rewrite: OptionsRewrite) -> LineEdit {
        let edit = OptionsEdit {
            was: o.args().map(str::to_string).collect(),
            rewrites: vec![rewrite],
        };
        let mut e = LineEdit::at(o, Place::Replace, vec![edit.line()]);
        e.options = Some(edit);
        e
    }
}

/// Why two fixes cannot be one edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clash(pub String);

/// Two fixes' edits as one: the same edit once, two rewrites of the same `Options` line as one
/// line, what goes before or after a line one after the other. Two different replacements of
/// one line (other than `Options` rewrites) clash.
pub fn merge(a: &[LineEdit], b: &[LineEdit]) -> Result<Vec<LineEdit>, Clash> {
    let mut out: Vec<LineEdit> = a.to_vec();
    for e in b {
        if out.contains(e) {
            continue;
        }
        let same = out
            .iter_mut()
            .find(|o| o.file == e.file && o.line == e.line && o.place == e.place);
        match (same, e.place) {
            (None, _) => out.push(e.clone()),
            (Some(o), Place::Replace) => match (&mut o.options, &e.options) {
                (Some(mine), Some(theirs)) if mine.was == theirs.was => {
                    for r in &theirs.rewrites {
                        if !mine.rewrites.contains(r) {
                            mine.rewrites.push(*r);
                        }
                    }
                    o.lines = vec![mine.line()];
                }
                _ => {
                    return Err(Clash(format!(
                        "{}:{} would become both `{}` and `{}`",
                        e.file.display(),
                        e.line,
                        o.lines.join(" / "),
                        e.lines.join(" / ")
                    )))
                }
            },
            (Some(o), _) => {
                // Lines already there (the same <Directory> added twice) go in once.
                if !o
                    .lines
                    .windows(e.lines.len().max(1))
                    .any(|w| w == e.lines.as_slice())
                {
                    o.lines.extend(e.lines.iter().cloned());
                }
            }
        }
    }
    Ok(out)
}

/// An argument as Apache reads it back (quoted when it holds a space or a quote).
pub fn quoted(s: &str) -> String {
    if s.is_empty() || s.contains([' ', '\t', '"', '\'']) {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        s.to_string()
    }
}

/// The request the fix is for and the status it must then get.
#[derive(Debug, Clone)]
pub struct Goal {
    pub request: Request,
    pub status: u16,
    /// The file Apache must then open, when the fix is about which file that is.
    pub path: Option<PathBuf>,
    /// URLs under this prefix, on the goal's virtual host, may change (they are what the fix is
    /// about).
    pub prefix: String,
}

impl Goal {
    /// The goal as a finding keeps it (`report::edit::ApacheGoal`).
    pub fn data(&self) -> ApacheGoal {
        ApacheGoal {
            host: self.request.host_header.clone(),
            port: self.request.port,
            uri: String::from_utf8_lossy(&self.request.target).into_owned(),
            local_addr: self.request.local_addr,
            status: self.status,
            path: self.path.clone(),
            prefix: self.prefix.clone(),
        }
    }

    /// The goal a finding kept, to prove again.
    pub fn from_data(g: &ApacheGoal) -> Goal {
        let req = Request::for_path(&g.host, g.port, &g.uri);
        Goal {
            request: match g.local_addr {
                Some(ip) => req.with_local_addr(ip),
                None => req,
            },
            status: g.status,
            path: g.path.clone(),
            prefix: g.prefix.clone(),
        }
    }
}

/// The edits as they are printed: under one `# FILE:LINE` per line edited (the place the report
/// groups causes by), the new lines, with the line they go before or after as it reads now.
pub fn render(edits: &[LineEdit]) -> String {
    let mut out = String::new();
    let mut places: Vec<(&Path, u32)> = Vec::new();
    for e in edits {
        if !places.contains(&(e.file.as_path(), e.line)) {
            places.push((e.file.as_path(), e.line));
        }
    }
    for (file, line) in places {
        out.push_str(&format!("# {}:{line}\n", file.display()));
        let here: Vec<&LineEdit> = edits
            .iter()
            .filter(|e| e.file == file && e.line == line)
            .collect();
        let push = |out: &mut String, place: Place| {
            for e in here.iter().filter(|e| e.place == place) {
                for l in &e.lines {
                    out.push_str(l);
                    out.push('\n');
                }
            }
        };
        push(&mut out, Place::Before);
        push(&mut out, Place::Replace);
        if !here.iter().any(|e| e.place == Place::Replace) {
            if let Some(e) = here.first() {
                out.push_str(&e.context);
                out.push('\n');
            }
        }
        push(&mut out, Place::After);
    }
    out
}

/// Every file the configuration read, from disk under `root`, with `edits` applied.
///
/// With `only_edited`, a file that holds nothing but `<VirtualHost>` sections and is not edited
/// is put in empty (it is still there for the includes' globs): a fix in one site of a
/// 10,000-site box is proven on that site, not by reading and loading every site again.
fn edited_files(
    cfg: &Config,
    root: &SysRoot,
    edits: &[LineEdit],
    only_edited: bool,
) -> Result<BTreeMap<PathBuf, Vec<u8>>, Refusal> {
    let mut files = BTreeMap::new();
    let mut sites_only: HashSet<&Path> = HashSet::new();
    if only_edited {
        let mut mixed: HashSet<&Path> = HashSet::new();
        for d in cfg.top() {
            if d.is_section() && d.is("VirtualHost") {
                sites_only.insert(d.file());
            } else {
                mixed.insert(d.file());
            }
        }
        sites_only.retain(|f| !mixed.contains(f) && !edits.iter().any(|e| e.file == *f));
    }
    for f in cfg.files.iter().chain(cfg.envvars.iter()) {
        if sites_only.contains(&f.as_path()) {
            files.insert(f.clone(), Vec::new());
            continue;
        }
        let bytes = root
            .resolve(f)
            .and_then(|h| crate::input::read(&h))
            .map_err(|e| {
                Refusal::DoesNotLoad(format!("{} cannot be read again: {e}", f.display()))
            })?;
        files.insert(f.clone(), bytes);
    }
    for (file, text) in files.iter_mut() {
        let mine: Vec<&LineEdit> = edits.iter().filter(|e| &e.file == file).collect();
        if mine.is_empty() {
            continue;
        }
        let old = String::from_utf8_lossy(text).into_owned();
        let mut out = String::with_capacity(old.len() + 256);
        for (i, line) in old.split_inclusive('\n').enumerate() {
            let n = i as u32 + 1;
            let indent: String = line
                .chars()
                .take_while(|c| c.is_whitespace() && *c != '\n')
                .collect();
            let put = |out: &mut String, place: Place| {
                for e in mine.iter().filter(|e| e.line == n && e.place == place) {
                    for l in &e.lines {
                        out.push_str(&indent);
                        out.push_str(l);
                        out.push('\n');
                    }
                }
            };
            put(&mut out, Place::Before);
            if mine
                .iter()
                .any(|e| e.line == n && e.place == Place::Replace)
            {
                if line.trim_end().ends_with('\\') {
                    return Err(Refusal::DoesNotLoad(format!(
                        "{}:{n} goes on over several lines: edit it by hand",
                        file.display()
                    )));
                }
                put(&mut out, Place::Replace);
            } else {
                out.push_str(line);
                if !line.ends_with('\n') {
                    out.push('\n');
                }
            }
            put(&mut out, Place::After);
        }
        *text = out.into_bytes();
    }
    Ok(files)
}

/// A request for `uri` on the virtual host `v` (its name, its port, its address).
pub fn request_on(cfg: &Config, v: Option<apache::NodeId>, uri: &str) -> Request {
    let (mut host, mut port, mut addr) = ("localhost".to_string(), 80u16, None::<IpAddr>);
    if let Some(v) = v {
        let d = cfg.directive(v);
        if let Some(a) = d.arg(0) {
            let (h, p) = match a.rsplit_once(':') {
                Some((h, p)) => (h, p.parse().ok()),
                None => (a, None),
            };
            port = p.unwrap_or(80);
            addr = h.trim_matches(['[', ']']).parse().ok();
        }
        let name = d
            .children()
            .filter(|c| c.is("ServerName"))
            .last()
            .and_then(|c| c.arg(0))
            .or_else(|| {
                d.children()
                    .filter(|c| c.is("ServerAlias"))
                    .flat_map(|c| c.args())
                    .find(|a| !a.contains(['*', '?']))
            });
        if let Some(n) = name {
            let n = n.split("://").last().unwrap_or(n);
            host = n.split(':').next().unwrap_or(n).to_string();
        }
    }
    let req = Request::for_path(&host, port, uri);
    match addr {
        Some(ip) => req.with_local_addr(ip),
        None => req.with_local_addr(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)),
    }
}

/// The sample URLs of one virtual host: `/` and each mapping's path with a made-up name.
fn samples(cfg: &Config, v: apache::NodeId) -> Vec<String> {
    let mut out = vec!["/".to_string(), "/media-doctor-probe.txt".to_string()];
    for d in cfg.directive(v).descendants() {
        let plain = [
            "Alias",
            "ScriptAlias",
            "ProxyPass",
            "WSGIScriptAlias",
            "Redirect",
        ]
        .iter()
        .any(|n| d.is(n));
        if !plain {
            continue;
        }
        // Redirect's first argument may be its status.
        let from = d.args().find(|a| a.starts_with('/'));
        if let Some(from) = from {
            let base = if from.ends_with('/') {
                from.to_string()
            } else {
                format!("{from}/")
            };
            out.push(format!("{base}media-doctor-probe.jpg"));
            out.push(base);
        }
    }
    out
}

fn answer(r: &Resolution) -> (Option<u16>, Option<PathBuf>, String, Option<String>) {
    (
        r.predicted_status,
        r.path.clone(),
        format!("{:?}", r.handler),
        r.redirect.clone(),
    )
}

/// Applies `edits` to a copy of `site`'s configuration and holds the copy to every goal and to
/// every other URL's answer.
pub fn prove(
    site: &ApacheSite,
    root: &SysRoot,
    before: &Resolver<'_>,
    edits: &[LineEdit],
    goals: &[Goal],
) -> Result<(), Refusal> {
    prove_keeping(site, root, before, edits, goals, &[])
}

/// `prove`, and each request of `keep` still reaches the same `<VirtualHost>` (its file and
/// line) with the same answer: URLs of a virtual host the edit touches that the goals' sample
/// URLs do not ask (another of its names, when a goal takes one of them away).
pub fn prove_keeping(
    site: &ApacheSite,
    root: &SysRoot,
    before: &Resolver<'_>,
    edits: &[LineEdit],
    goals: &[Goal],
    keep: &[Request],
) -> Result<(), Refusal> {
    let cfg = &site.config;
    // The virtual hosts the edited files can matter to: those in them, or all of them when an
    // edit lies outside every virtual host (the main server's settings reach each one).
    let edited: Vec<&Path> = edits.iter().map(|e| e.file.as_path()).collect();
    let in_vhost = |e: &LineEdit| {
        cfg.virtual_hosts().any(|v| {
            v.file() == e.file
                && v.line() <= e.line
                && v.descendants()
                    .last()
                    .is_some_and(|last| last.line() >= e.line)
        })
    };
    let everywhere = edits.iter().any(|e| !in_vhost(e));
    let meant: Vec<_> = goals
        .iter()
        .map(|g| (before.resolve(&g.request).vhost, g.prefix.as_str()))
        .collect();
    // The other sites' files are left out only when every goal's request reaches a virtual
    // host of an edited file (then the name it asks for is one of theirs).
    let only_edited = !everywhere
        && meant
            .iter()
            .all(|(v, _)| v.is_some_and(|v| edited.contains(&cfg.directive(v).file())));
    let files = edited_files(cfg, root, edits, only_edited)?;
    let copy =
        apache::load_memory(files, &site.entry).map_err(|e| Refusal::DoesNotLoad(e.to_string()))?;
    new_error(cfg, &copy)?;
    let after = Resolver::new(&copy, root);
    for goal in goals {
        meets(&after, goal)?;
    }
    let at = |c: &Config, v: Option<apache::NodeId>| {
        v.map_or("the main server".to_string(), |v| {
            let d = c.directive(v);
            format!("{}:{}", d.file().display(), d.line())
        })
    };
    for req in keep {
        let (was, now) = (before.resolve(req), after.resolve(req));
        let (from, to) = (at(cfg, was.vhost), at(&copy, now.vhost));
        if from != to || answer(&was) != answer(&now) {
            return Err(Refusal::SideEffect(format!(
                "{} reached the <VirtualHost> at {from} ({}) and would reach {to} ({})",
                req.url,
                status_word(was.predicted_status),
                status_word(now.predicted_status)
            )));
        }
    }
    let vhosts = cfg
        .virtual_hosts()
        .filter(|v| everywhere || edited.contains(&v.file()));
    unchanged(cfg, before, &after, vhosts, |was| {
        meant.iter().any(|(vhost, prefix)| {
            was.vhost == *vhost && was.uri.as_deref().is_some_and(|u| u.starts_with(prefix))
        })
    })
}

/// Every sample URL of `vhosts` answers the same before and after, except those `meant` to
/// change (judged on the answer before).
fn unchanged<'c>(
    cfg: &Config,
    before: &Resolver<'_>,
    after: &Resolver<'_>,
    vhosts: impl Iterator<Item = apache::Directive<'c>>,
    meant: impl Fn(&Resolution) -> bool,
) -> Result<(), Refusal> {
    for v in vhosts {
        for uri in samples(cfg, v.id()) {
            let req = request_on(cfg, Some(v.id()), &uri);
            let was = before.resolve(&req);
            if meant(&was) {
                continue;
            }
            let now = after.resolve(&req);
            if answer(&was) != answer(&now) {
                return Err(Refusal::SideEffect(format!(
                    "{} answered {} and would answer {}",
                    req.url,
                    status_word(was.predicted_status),
                    status_word(now.predicted_status)
                )));
            }
        }
    }
    Ok(())
}

/// Enabling a site proven like an edit: the copy reads `available` also as `link` (what
/// `a2ensite` makes), loads, and `request` reaches a virtual host of that file; the other
/// virtual hosts' sample URLs keep their answers (a new vhost can become a port's default).
pub fn prove_enabled(
    site: &ApacheSite,
    root: &SysRoot,
    before: &Resolver<'_>,
    available: &Path,
    link: &Path,
    request: &Request,
) -> Result<(), Refusal> {
    let cfg = &site.config;
    let mut files = edited_files(cfg, root, &[], false)?;
    let bytes = root
        .resolve(available)
        .and_then(|h| crate::input::read(&h))
        .map_err(|e| Refusal::DoesNotLoad(format!("{}: {e}", available.display())))?;
    files.insert(link.to_path_buf(), bytes);
    let copy =
        apache::load_memory(files, &site.entry).map_err(|e| Refusal::DoesNotLoad(e.to_string()))?;
    new_error(cfg, &copy)?;
    let after = Resolver::new(&copy, root);
    let got = after.resolve(request);
    let reached = got.vhost.map(|v| copy.directive(v).file().to_path_buf());
    if reached.as_deref() != Some(link) {
        return Err(Refusal::Unmet(format!(
            "{} would still reach {}",
            request.url,
            reached.map_or("the main server".into(), |f| f.display().to_string())
        )));
    }
    unchanged(
        cfg,
        before,
        &after,
        cfg.virtual_hosts().take(MAX_SAMPLED_VHOSTS),
        |_| false,
    )
}

/// An error `apache2ctl -t` would stop at that the copy has and the original has not.
fn new_error(cfg: &Config, copy: &Config) -> Result<(), Refusal> {
    let was: Vec<&str> = cfg
        .diagnostics
        .iter()
        .filter(|d| d.fatal)
        .map(|d| d.message.as_str())
        .collect();
    match copy
        .diagnostics
        .iter()
        .find(|d| d.fatal && !was.contains(&d.message.as_str()))
    {
        Some(d) => Err(Refusal::DoesNotLoad(d.to_string())),
        None => Ok(()),
    }
}

/// Virtual hosts whose sample URLs a proof that can reach every one of them asks (a
/// 10,000-site box is bounded).
const MAX_SAMPLED_VHOSTS: usize = 500;

/// The copy gives `goal.request` the answer meant.
fn meets(after: &Resolver<'_>, goal: &Goal) -> Result<(), Refusal> {
    let got = after.resolve(&goal.request);
    if got.predicted_status != Some(goal.status) {
        return Err(Refusal::Unmet(format!(
            "{} would still answer {} ({})",
            goal.request.url,
            got.predicted_status
                .map_or("an unknown status".into(), |s| s.to_string()),
            got.reason
        )));
    }
    if let Some(p) = &goal.path {
        if got.path.as_deref() != Some(p.as_path()) {
            return Err(Refusal::Unmet(format!(
                "{} would open {} rather than {}",
                goal.request.url,
                got.path
                    .as_deref()
                    .map_or("no file".into(), |g| g.display().to_string()),
                p.display()
            )));
        }
    }
    Ok(())
}

fn status_word(s: Option<u16>) -> String {
    s.map_or("an unknown status".into(), |s| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_land_on_their_lines_with_the_indent() {
        let dir = tempfile::tempdir().unwrap();
        let root = SysRoot::new(dir.path());
        std::fs::create_dir_all(dir.path().join("etc/apache2")).unwrap();
        std::fs::write(
            dir.path().join("etc/apache2/apache2.conf"),
            "<VirtualHost *:80>\n  ServerName a.test\n  Alias /m/ /srv/m\n</VirtualHost>\n",
        )
        .unwrap();
        let entry = Path::new("/etc/apache2/apache2.conf");
        let cfg = apache::load_files(&root, entry).unwrap();
        let edits = vec![
            LineEdit {
                file: entry.into(),
                line: 3,
                place: Place::Replace,
                lines: vec!["Alias /m/ /srv/m/".into()],
                context: "Alias /m/ /srv/m".into(),
                options: None,
            },
            LineEdit {
                file: entry.into(),
                line: 3,
                place: Place::After,
                lines: vec!["<Directory /srv/m/>".into(), "</Directory>".into()],
                context: "Alias /m/ /srv/m".into(),
                options: None,
            },
        ];
        let files = edited_files(&cfg, &root, &edits, false).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&files[&PathBuf::from(entry)]),
            "<VirtualHost *:80>\n  ServerName a.test\n  Alias /m/ /srv/m/\n  <Directory /srv/m/>\n  </Directory>\n</VirtualHost>\n"
        );
        assert_eq!(
            render(&edits),
            "# /etc/apache2/apache2.conf:3\nAlias /m/ /srv/m/\n<Directory /srv/m/>\n</Directory>\n"
        );
    }

    fn options(line: u32, was: &[&str], r: OptionsRewrite) -> LineEdit {
        let edit = OptionsEdit {
            was: was.iter().map(|w| w.to_string()).collect(),
            rewrites: vec![r],
        };
        LineEdit {
            file: "/etc/apache2/sites-enabled/a.conf".into(),
            line,
            place: Place::Replace,
            lines: vec![edit.line()],
            context: format!("Options {}", was.join(" ")),
            options: Some(edit),
        }
    }

    #[test]
    fn two_rewrites_of_one_options_line_are_one_line() {
        use OptionsRewrite::*;
        for (was, want) in [
            (&["Indexes"][..], "Options FollowSymLinks"),
            (
                &["+Indexes", "-FollowSymLinks"][..],
                "Options -Indexes +FollowSymLinks",
            ),
            (&["All"][..], "Options FollowSymLinks ExecCGI Includes"),
            (
                &["Indexes", "SymLinksIfOwnerMatch", "MultiViews"][..],
                "Options MultiViews FollowSymLinks",
            ),
        ] {
            for (a, b) in [(NoIndexes, FollowSymLinks), (FollowSymLinks, NoIndexes)] {
                let m = merge(&[options(6, was, a)], &[options(6, was, b)]).unwrap();
                assert_eq!(m.len(), 1, "{was:?}");
                // The same words (in the order the rewrites were made).
                let mut got: Vec<&str> = m[0].lines[0].split(' ').collect();
                let mut meant: Vec<&str> = want.split(' ').collect();
                got.sort_unstable();
                meant.sort_unstable();
                assert_eq!(got, meant, "{was:?} {a:?} then {b:?}");
            }
        }
        assert_eq!(
            options(6, &["Indexes"], NoIndexes).lines,
            vec!["Options None"]
        );
    }

    #[test]
    fn other_replacements_of_one_line_clash_and_additions_go_in_once() {
        let alias = |to: &str| LineEdit {
            file: "/etc/apache2/sites-enabled/a.conf".into(),
            line: 4,
            place: Place::Replace,
            lines: vec![format!("Alias /m/ {to}")],
            context: "Alias /m/ /srv/m".into(),
            options: None,
        };
        assert!(merge(&[alias("/srv/m/")], &[alias("/srv/n/")]).is_err());
        assert_eq!(
            merge(&[alias("/srv/m/")], &[alias("/srv/m/")])
                .unwrap()
                .len(),
            1
        );
        let after = |lines: &[&str]| LineEdit {
            place: Place::After,
            lines: lines.iter().map(|l| l.to_string()).collect(),
            ..alias("/srv/m")
        };
        let dir = [
            "<Directory /srv/m/>",
            "    Require all granted",
            "</Directory>",
        ];
        let m = merge(
            &[alias("/srv/m/"), after(&dir)],
            &[after(&dir[..]), after(&["Header set X y"])],
        )
        .unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].lines.len(), 4, "{m:?}");
    }
}
