//! What the MD6xx (containers) checks share: the compose project of the run, the directories
//! nginx opens for the app's media and static URLs (from the resolver), and a verdict of
//! `container::judge` as an `Outcome`. The judging itself is in src/container/judge.rs.

use crate::checks::{Context, Outcome};
use crate::container::judge::{Files, NginxDir, Verdict};
use crate::container::{Containers, NotContainers};
use crate::nginx::resolve::ServedKind;

/// The run's containers, or the skip every MD6xx check answers without them.
pub(crate) fn containers<'a>(site: &'a Context<'_>) -> Result<&'a Containers, Outcome> {
    match site.containers() {
        Ok(c) => Ok(c),
        Err(NotContainers::NoCompose) => Err(Outcome::skip(
            "no compose project: the app does not run in containers (no compose file beside --app, no --compose)",
        )),
        Err(NotContainers::NoAppService(why)) => Err(Outcome::skip(why.clone())),
    }
}

/// The directories nginx opens for the app's media (or static) URL, one per server serving it
/// from disk: paths in the nginx container.
pub(crate) fn nginx_dirs(site: &Context<'_>, c: &Containers, files: Files) -> Vec<NginxDir> {
    let app = &c.app.app;
    let url = match files {
        Files::Media => app.media_url_path(),
        Files::Static => app.static_url_path(),
    };
    let Some(prefix) = url.or_else(|| {
        // Read on the host when the container's reading has none (same files, other env).
        site.app().and_then(|a| match files {
            Files::Media => a.media_url_path(),
            Files::Static => a.static_url_path(),
        })
    }) else {
        return Vec::new();
    };
    let resolver = site.resolver();
    site.nginx
        .servers
        .iter()
        .filter_map(|&server| resolver.served_prefix(server, &prefix))
        .map(|s| NginxDir {
            prefix: prefix.clone(),
            dir: s.dir.display().to_string(),
            alias: s.kind == ServedKind::Alias,
            at: site
                .config()
                .directive(s.location.unwrap_or(s.server))
                .location(),
        })
        .collect()
}

pub(crate) fn outcome(v: Verdict) -> Outcome {
    match v {
        Verdict::Pass(s) => Outcome::pass(s),
        Verdict::Skip(s) => Outcome::skip(s),
        Verdict::Findings(f) => Outcome::findings(f),
    }
}

/// Two verdicts (media and static) as one: findings of both, else a pass, else a skip.
pub(crate) fn both(a: Verdict, b: Verdict) -> Verdict {
    match (a, b) {
        (Verdict::Findings(mut x), Verdict::Findings(y)) => {
            x.extend(y);
            Verdict::Findings(x)
        }
        (f @ Verdict::Findings(_), _) | (_, f @ Verdict::Findings(_)) => f,
        (Verdict::Pass(x), Verdict::Pass(y)) => Verdict::Pass(format!("{x}; {y}")),
        (p @ Verdict::Pass(_), _) | (_, p @ Verdict::Pass(_)) => p,
        (s, _) => s,
    }
}
