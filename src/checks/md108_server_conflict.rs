//! MD108 server-conflict: requests for the site's names reach the site's server block (no duplicate
//! server_name, no other default).
//! The page: checks/MD108.md.

use super::shared::nginx::{
    config_fix, findings_or_pass, goal_in_dir, loc_of, skip_if_incomplete, RELOAD,
};
use super::{Band, Check, Context, Meta, Outcome};
use crate::nginx::resolve::usable_host;
use crate::nginx::NodeId;
use crate::report::Finding;

pub struct ServerConflict;

static SERVER_CONFLICT: Meta = Meta {
    id: "MD108",
    name: "server-conflict",
    band: Band::Nginx,
    summary: "requests for the site's names reach the site's server block (no duplicate server_name, no other default)",
    docs: include_str!("../../checks/MD108.md"),
};

impl Check for ServerConflict {
    fn meta(&self) -> &'static Meta {
        &SERVER_CONFLICT
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        if site.apache().is_some() {
            return Ok(on_apache(site));
        }
        if let Some(skip) = skip_if_incomplete(site) {
            return Ok(skip);
        }
        let r = site.resolver();
        let cfg = r.config();
        let mut findings = Vec::new();
        let mut reported: Vec<(String, u16)> = Vec::new();
        for &server in &site.nginx.servers {
            let names: Vec<String> = r
                .server_names(server)
                .into_iter()
                .filter(|n| usable_host(n))
                .collect();
            let mut ports = r.server_ports(server);
            ports.dedup();
            for name in &names {
                for &port in &ports {
                    let Some(chosen) = r.select_server(name, port) else {
                        continue;
                    };
                    if chosen == server {
                        continue;
                    }
                    reported.push((name.to_ascii_lowercase(), port));
                    let same_name = r
                        .server_names(chosen)
                        .iter()
                        .any(|n| n.eq_ignore_ascii_case(name));
                    let why = if same_name {
                        format!(
                            "the server block at {} has the same server_name and comes first on this listen socket: nginx warns \"conflicting server name\" and ignores the later one",
                            loc_of(cfg, chosen)
                        )
                    } else {
                        format!(
                            "the server block at {} takes it (a more specific listen address, or a name that matches first)",
                            loc_of(cfg, chosen)
                        )
                    };
                    let f = Finding::error(format!(
                        "requests for {name} on port {port} reach the server block at {}, not this one",
                        loc_of(cfg, chosen)
                    ))
                    .at(loc_of(cfg, server))
                    .evidence("host", name)
                    .evidence("port", port)
                    .evidence("chosen", loc_of(cfg, chosen))
                    .evidence("why", why);
                    // The name taken out of the other block's server_name, proven: this
                    // server's files answer again, the other block keeps its own names.
                    let edit = same_name.then(|| without_name(cfg, chosen, name)).flatten();
                    findings.push(match edit {
                        Some(edit) => {
                            let goal = site
                                .served_dirs()
                                .iter()
                                .filter(|s| s.server == server && !s.regex)
                                .find_map(|s| goal_in_dir(site, &r, server, s.prefix, s.dir))
                                .map(|mut g| {
                                    g.host = name.clone();
                                    g.port = port;
                                    g
                                });
                            config_fix(
                                f,
                                cfg,
                                &format!(
                                    "keep {name} in one server block per port: take it out of the server_name of the block at {}:",
                                    loc_of(cfg, chosen)
                                ),
                                edit,
                                goal,
                            )
                        }
                        // The name is the other block's only one: it keeps it; this block,
                        // which nginx already passes over for it, lets it go (no answer
                        // changes, and the proof holds every URL to that).
                        None => match same_name
                            .then(|| without_name(cfg, server, name))
                            .flatten()
                        {
                            Some(edit) => config_fix(
                                f,
                                cfg,
                                &format!(
                                    "{name} is the only name of the block at {}, which answers it: take it out of this block's server_name (nginx passes over it here already):",
                                    loc_of(cfg, chosen)
                                ),
                                edit,
                                None,
                            ),
                            None => f.fix(
                                format!(
                                    "keep {name} in one server block per port: remove it from the server_name at {} (or from this one)",
                                    loc_of(cfg, chosen)
                                ),
                                vec![RELOAD.into()],
                            ),
                        },
                    });
                }
            }
        }
        // Duplicate names on one socket: nginx ignores the later ones. Only the site's own
        // names: another site's duplicates are that site's report.
        let ours_among = |wanted: &dyn Fn(&str) -> bool| -> std::collections::HashSet<String> {
            site.nginx
                .servers
                .iter()
                .flat_map(|&s| r.names_of(s))
                .map(|n| n.to_ascii_lowercase())
                .filter(|n| wanted(n))
                .collect()
        };
        // From the config's index of duplicate names (built once, shared by the sites of a
        // box): walking every socket's servers for each site made a check of every site
        // quadratic. The one site a user names looks for its own names only; any other keeps
        // only those of its names that are duplicates (one site of 360,000 servers held a
        // lowercase copy of each of its names here, ~80 bytes a name).
        let (of_ours, ours);
        let dups: &[crate::nginx::resolve::DuplicateName] = if site.named_by_user() {
            ours = ours_among(&|_| true);
            of_ours = r.shared().duplicate_names_of(cfg, &ours);
            &of_ours
        } else {
            let all = r.shared().duplicate_names(cfg);
            let keys: std::collections::HashSet<&str> =
                all.iter().map(|d| d.key.as_str()).collect();
            ours = match keys.is_empty() {
                true => Default::default(),
                false => ours_among(&|n| keys.contains(n)),
            };
            all
        };
        for dup in dups {
            if !ours.contains(&dup.key) {
                continue;
            }
            let port: u16 = dup
                .listen
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            if reported.contains(&(dup.key.clone(), port)) {
                continue;
            }
            reported.push((dup.key.clone(), port));
            let f = Finding::warning(format!(
                "server_name {} is used twice on {}: nginx ignores it in the server block at {}",
                dup.name,
                dup.listen,
                loc_of(cfg, dup.ignored)
            ))
            .at(loc_of(cfg, dup.ignored))
            .evidence("first", loc_of(cfg, dup.first))
            .evidence("ignored", loc_of(cfg, dup.ignored));
            // nginx answers the name from the first block already: taking it out of the
            // ignored one changes no answer (the proof holds every URL to it) and ends the
            // "conflicting server name" warning. A block's only name is the user's choice.
            findings.push(match without_name(cfg, dup.ignored, &dup.name) {
                Some(edit) => config_fix(
                    f,
                    cfg,
                    &format!(
                        "take {} out of the server_name of the block at {} (nginx ignores it there already; to move the name, take it out of the first block instead):",
                        dup.name,
                        loc_of(cfg, dup.ignored)
                    ),
                    edit,
                    None,
                ),
                None => f.fix(
                    format!(
                        "{} is the only name of the block at {}: decide which of the two blocks answers it and remove it from the other",
                        dup.name,
                        loc_of(cfg, dup.ignored)
                    ),
                    vec![RELOAD.into()],
                ),
            });
        }
        Ok(findings_or_pass(
            findings,
            "every server_name of the site reaches its own server block",
        ))
    }
}

/// `server`'s own server_name without `name`; None when it is its only name (an empty
/// server_name does not load; which block keeps the name is then the user's choice).
fn without_name(
    cfg: &crate::nginx::Config,
    server: NodeId,
    name: &str,
) -> Option<crate::fix::BlockEdit> {
    let d = cfg
        .directive(server)
        .raw_children()
        .find(|c| c.is("server_name") && c.args().any(|a| a.eq_ignore_ascii_case(name)))?;
    let rest: Vec<String> = d
        .args()
        .filter(|a| !a.eq_ignore_ascii_case(name))
        .map(crate::fix::edit::quote)
        .collect();
    if rest.is_empty() {
        return None;
    }
    Some(
        crate::fix::BlockEdit::new(server)
            .replace(d.id(), format!("server_name {};", rest.join(" "))),
    )
}

/// MD108 when Apache is judged: each name of the site's virtual hosts (ServerName, the
/// ServerAliases without wildcards), asked on the virtual host's own address and port, must
/// reach that virtual host. Apache takes the first `<VirtualHost>` it read that has the name on
/// that address:port (`apache2ctl -S` lists them): a second one with the name never answers it.
/// The fix takes the name out of the virtual host that has it first (a ServerAlias loses the
/// name; a ServerName is commented out), proven on a copy: the name then reaches the site, and
/// that virtual host's other names still reach it with the same answers. When the name is its
/// only one, no edit: it may be the live site, which keeps the name is the user's call.
fn on_apache(cx: &Context<'_>) -> Outcome {
    use super::shared::apache::{loc, model, place, proven_keeping};
    use crate::fix::apache::{request_on, Goal, LineEdit, Place};
    let (site, r) = match model(cx) {
        Ok(m) => m,
        Err(skip) => return skip,
    };
    let cfg = r.config();
    let mut findings = Vec::new();
    let mut asked = 0usize;
    for &v in &site.vhosts {
        let vhost = cfg.directive(v);
        let names: Vec<&str> = vhost
            .children()
            .filter(|d| d.is("ServerName") || d.is("ServerAlias"))
            .flat_map(|d| d.args())
            .filter(|n| !n.contains(['*', '?']))
            .collect();
        let own = request_on(cfg, Some(v), "/");
        for name in names {
            let host = name.split("://").last().unwrap_or(name);
            let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
            if host.is_empty() {
                continue;
            }
            let req = |uri: &str| {
                let q = crate::nginx::resolve::Request::for_path(&host, own.port, uri);
                match own.local_addr {
                    Some(ip) => q.with_local_addr(ip),
                    None => q,
                }
            };
            asked += 1;
            let got = r.resolve(&req("/"));
            let Some(other) = got.vhost.filter(|&o| o != v).map(|o| cfg.directive(o)) else {
                continue;
            };
            let mut f = Finding::error(format!(
                "requests for {host} on port {} reach the <VirtualHost> at {} (Apache read it first), not the site's at {}: the site's Alias and <Directory> sections never answer them",
                own.port,
                place(&other),
                place(&vhost)
            ))
            .at(loc(&vhost))
            .evidence("name", &host)
            .evidence("the site's virtual host", place(&vhost))
            .evidence("apache chooses", place(&other));
            // The other's lines that give it the name.
            let lines: Vec<_> = other
                .children()
                .filter(|d| d.is("ServerName") || d.is("ServerAlias"))
                .filter(|d| {
                    d.args().any(|a| {
                        let a = a.split("://").last().unwrap_or(a);
                        a.split(':').next().unwrap_or(a).eq_ignore_ascii_case(&host)
                    })
                })
                .collect();
            for d in &lines {
                f = f.evidence("the name is also at", place(d));
            }
            let edits: Vec<LineEdit> = lines
                .iter()
                .map(|d| {
                    let rest: Vec<&str> = d
                        .args()
                        .filter(|a| {
                            let a = a.split("://").last().unwrap_or(a);
                            !a.split(':').next().unwrap_or(a).eq_ignore_ascii_case(&host)
                        })
                        .collect();
                    let line = if d.is("ServerAlias") && !rest.is_empty() {
                        format!("ServerAlias {}", rest.join(" "))
                    } else {
                        // Commented out: the line stays to read (`#` starts a comment line).
                        format!(
                            "#{} {}",
                            d.name(),
                            d.args()
                                .map(crate::fix::apache::quoted)
                                .collect::<Vec<_>>()
                                .join(" ")
                        )
                    };
                    LineEdit::at(d, Place::Replace, vec![line])
                })
                .collect();
            if edits.is_empty() {
                findings.push(f.fix(
                    format!(
                        "{host} reaches {} as the default of its address:port: give the site's <VirtualHost> the name (ServerName/ServerAlias {host}) and check again",
                        place(&other)
                    ),
                    Vec::new(),
                ));
                continue;
            }
            // The other's own names, the duplicate aside: they must still reach it after the
            // edit. With none, the edit would leave it no name of its own: which of the two
            // should answer the name is the user's call (it may be the live site).
            let mut kept: Vec<String> = Vec::new();
            for a in other
                .children()
                .filter(|d| d.is("ServerName") || d.is("ServerAlias"))
                .flat_map(|d| d.args())
                .filter(|n| !n.contains(['*', '?']))
            {
                let a = a.split("://").last().unwrap_or(a);
                let a = a.split(':').next().unwrap_or(a).to_ascii_lowercase();
                if !a.is_empty() && a != host && !kept.contains(&a) {
                    kept.push(a);
                }
            }
            if kept.is_empty() {
                findings.push(f.fix(
                    format!(
                        "no edit is printed: {host} is the only name of the <VirtualHost> at {}, so taking it out would leave that site no name of its own, and it may be the live one. Decide which site answers {host}: if {} is stale, disable its site (a2dissite) or remove that <VirtualHost>; if it is the live one, give the site's <VirtualHost> at {} another name. Then check again",
                        place(&other),
                        place(&other),
                        place(&vhost)
                    ),
                    Vec::new(),
                ));
                continue;
            }
            let theirs = request_on(cfg, Some(other.id()), "/");
            let keep: Vec<_> = kept
                .iter()
                .flat_map(|n| {
                    ["/", "/media-doctor-probe.txt"].map(|uri| {
                        let q = crate::nginx::resolve::Request::for_path(n, theirs.port, uri);
                        match theirs.local_addr {
                            Some(ip) => q.with_local_addr(ip),
                            None => q,
                        }
                    })
                })
                .collect();
            // What the site's virtual host answers for a sample of its own: the name must get it.
            let uri = vhost
                .children()
                .filter(|d| d.is("Alias"))
                .find_map(|a| a.arg(0))
                .map(|p| format!("{}/media-doctor-probe.txt", p.trim_end_matches('/')))
                .unwrap_or_else(|| "/media-doctor-probe.txt".into());
            let want = r.resolve(&request_on(cfg, Some(v), &uri));
            let Some(status) = want.predicted_status else {
                findings.push(f);
                continue;
            };
            let goal = Goal {
                request: req(&uri),
                status,
                path: want.path.clone(),
                prefix: "/".into(),
            };
            findings.push(proven_keeping(
                cx,
                f,
                &format!(
                    "take {host} out of the <VirtualHost> that has it first (it keeps {}; or disable that site: a2dissite):",
                    kept.join(", ")
                ),
                &edits,
                std::slice::from_ref(&goal),
                &keep,
            ));
        }
    }
    if findings.is_empty() {
        return Outcome::pass(format!(
            "each of the site's {asked} names reaches the site's <VirtualHost> on its address:port"
        ));
    }
    Outcome::findings(findings)
}
