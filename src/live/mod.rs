//! The live side of a site: what its URLs answer now (HEAD probes through `crate::http`) and
//! what the server logged when it could not serve a file (`errorlog` for nginx, `apache_log` for
//! Apache httpd). Checks MD401–MD406 read these, whichever server is judged: the probes of an
//! Apache site are planned from Apache's model (`apache`) into the same `probes::Live`.

pub mod apache;
pub mod apache_log;
pub mod errorlog;
pub mod explain;
pub mod probes;
pub mod public;
pub mod sample;
pub mod signature;
pub mod trace;

use crate::http::Failure;
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
    let Some(app) = site.app() else {
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
        .flat_map(|s| s.server_names().map(str::to_string).collect::<Vec<_>>())
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

/// The likely reason Apache answered `a` where its configuration and the files predict something
/// else: another program on the socket, the app, else a configuration Apache has not loaded
/// (MD507) or another one than media-doctor read; `reload` is the test-and-reload for how this
/// Apache runs.
pub fn mismatch_cause_apache(a: &crate::http::Answer, reload: &str) -> Cause {
    use signature::{who_answered_by, Answerer};
    let owner = |text: String| Cause {
        text,
        fix: "find the process that owns the port:".into(),
        commands: vec!["sudo ss -ltnp".into()],
    };
    match who_answered_by(a, crate::answer::ServerKind::Apache) {
        Answerer::Other(server) => owner(format!(
            "another server answers on this socket (Server: {server})"
        )),
        Answerer::App(evidence) => owner(format!(
            "the app answers on this socket, not Apache ({evidence})"
        )),
        _ => Cause {
            text: "Apache runs another configuration than the one media-doctor read (another \
                   -f, or not reloaded since it changed: see MD507), or the files changed since"
                .into(),
            fix: "test the configuration media-doctor read and reload Apache gracefully:".into(),
            commands: vec![reload.to_string()],
        },
    }
}

/// The likely reason nginx answered `a` where the config and files predict something else.
/// `stale` says which config files changed since nginx last loaded them, when known.
pub fn mismatch_cause(
    a: &crate::http::Answer,
    stale: Option<&crate::system::loaded::Stale>,
) -> Cause {
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
        Some(s) if !s.files.is_empty() => Cause {
            text: format!(
                "the config was changed after nginx loaded it (MD111): {}",
                s.files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            fix: "the running nginx still serves the old config: test the new one and reload:"
                .into(),
            commands: s.reload.clone(),
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

/// How to make the nginx of this config run and bind its listens, for how it runs here: the
/// running master's own reload (a reload binds new listens), else the packaged systemd unit when
/// the box has one and systemd runs it (an image may ship the unit file without systemd), else
/// nginx itself with the config media-doctor read (not `systemctl` on a
/// box where nginx is started by hand).
pub fn start_command(site: &Site) -> String {
    if let Some(reload) = site
        .changed_since_load()
        .and_then(|s| s.reload.into_iter().next())
    {
        return reload;
    }
    let unit = [
        "/etc/systemd/system/nginx.service",
        "/lib/systemd/system/nginx.service",
        "/usr/lib/systemd/system/nginx.service",
    ]
    .iter()
    .any(|u| site.root.is_file(std::path::Path::new(u)));
    if unit && crate::system::systemd_runs(&site.root) {
        return "sudo nginx -t && sudo systemctl restart nginx".into();
    }
    let conf = match &site.nginx.source {
        crate::site::NginxSource::Files { entry } if entry != std::path::Path::new(DEBIAN_CONF) => {
            format!(
                " -c {}",
                crate::fs::walk::shell_quote(&entry.display().to_string())
            )
        }
        _ => String::new(),
    };
    format!("sudo nginx -t{conf} && sudo nginx{conf}")
}

/// Where Debian's nginx reads its configuration when started without `-c`.
const DEBIAN_CONF: &str = "/etc/nginx/nginx.conf";

/// `failure_advice` for the server judged (`nginx`, `Apache`): what to start, what owns the port.
pub fn failure_advice_for(
    server: crate::answer::ServerKind,
    failure: &Failure,
    listen: &str,
    origin: Option<&str>,
) -> (String, Vec<String>) {
    let (text, mut commands) = failure_advice(failure, listen, origin);
    if server == crate::answer::ServerKind::Nginx {
        return (text, commands);
    }
    for c in &mut commands {
        if c == "sudo ss -ltnp | grep nginx" {
            *c = "sudo ss -ltnp | grep -e apache2 -e httpd".into();
        }
    }
    (text.replace("nginx", "Apache"), commands)
}

/// How to start the Apache of this configuration when nothing answers on its sockets: the
/// running master's graceful reload (a reload binds new Listen lines), else the packaged unit's
/// start where systemd runs, else `apache2ctl`/`apachectl` with the configuration media-doctor read.
pub fn start_command_apache(site: &Site, a: &crate::apache::site::ApacheSite) -> String {
    if let Some(m) = crate::apache::site::running_master(&site.root, Some(&a.config)) {
        return crate::apache::site::reload_command(
            Some(&m),
            &a.entry,
            crate::system::systemd_runs(&site.root),
        );
    }
    let rhel = a.entry.starts_with("/etc/httpd");
    let (ctl, unit, default) = if rhel {
        ("apachectl", "httpd", "/etc/httpd/conf/httpd.conf")
    } else {
        ("apache2ctl", "apache2", "/etc/apache2/apache2.conf")
    };
    let has_unit = [
        "/etc/systemd/system",
        "/lib/systemd/system",
        "/usr/lib/systemd/system",
    ]
    .iter()
    .any(|d| {
        site.root
            .is_file(&std::path::Path::new(d).join(format!("{unit}.service")))
    });
    if a.entry == std::path::Path::new(default) {
        if has_unit && crate::system::systemd_runs(&site.root) {
            return format!("sudo {ctl} configtest && sudo systemctl start {unit}");
        }
        return format!("sudo {ctl} configtest && sudo {ctl} start");
    }
    let f = crate::fs::walk::shell_quote(&a.entry.display().to_string());
    format!("sudo {ctl} -f {f} -t && sudo {ctl} -f {f} -k start")
}

/// The host and port a probe went to: a URL (`https://example.com/media/a.jpg`) or a socket
/// (`127.0.0.1:443`).
fn host_and_port(listen: &str) -> Option<(String, u16)> {
    if let Ok(url) = reqwest::Url::parse(listen) {
        if let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) {
            return Some((host.trim_matches(['[', ']']).to_string(), port));
        }
    }
    let (host, port) = listen.rsplit_once(':')?;
    Some((
        host.trim_matches(['[', ']']).to_string(),
        port.parse().ok()?,
    ))
}

/// What to try when a request got no answer: on the local nginx's socket `listen` when
/// `origin` holds the command that starts that nginx (`start_command`), else on the public URL.
pub fn failure_advice(
    failure: &Failure,
    listen: &str,
    origin: Option<&str>,
) -> (String, Vec<String>) {
    match (failure, origin) {
        (Failure::Refused, Some(start)) => (
            format!("nothing listens on {listen}: start nginx (or reload it so it binds the listen):"),
            vec![start.to_string(), "sudo ss -ltnp | grep nginx".into()],
        ),
        (Failure::ConnectTimeout, Some(_)) => (
            "packets are dropped before they reach nginx: check the local firewall:".into(),
            vec!["sudo nft list ruleset | grep -n -e drop -e reject".into()],
        ),
        (Failure::ResponseTimeout | Failure::Reset(_) | Failure::Protocol(_), Some(_)) => (
            "something answers on that socket, but not as nginx would: find the process that owns it:"
                .into(),
            vec!["sudo ss -ltnp".into()],
        ),
        (Failure::Refused | Failure::ConnectTimeout, None) => (
            "the public URL cannot be reached from here: check its DNS record, the firewall or \
             security group, and the CDN's or load balancer's origin:"
                .into(),
            vec![format!(
                "curl -sSI {}",
                crate::fs::walk::shell_quote(listen)
            )],
        ),
        (Failure::ResponseTimeout | Failure::Reset(_) | Failure::Protocol(_), None) => (
            "the server behind the public URL did not answer properly: check the CDN's or load \
             balancer's origin settings:"
                .into(),
            vec![format!("curl -sSI {}", crate::fs::walk::shell_quote(listen))],
        ),
        (Failure::Tls(_), _) => (
            "the TLS handshake failed: check the certificate for the name, and that the listen \
             has `ssl`:"
                .into(),
            host_and_port(listen)
                .map(|(host, port)| {
                    // An IPv6 address keeps its brackets before the port.
                    let connect = if host.contains(':') {
                        format!("[{host}]:{port}")
                    } else {
                        format!("{host}:{port}")
                    };
                    format!(
                        "openssl s_client -connect {} -servername {} </dev/null \
                         | openssl x509 -noout -subject -dates -ext subjectAltName",
                        crate::text_safe::shell_quote(&connect),
                        crate::text_safe::shell_quote(&host)
                    )
                })
                .into_iter()
                .collect(),
        ),
        (Failure::Dns(_), _) => (
            "the name does not resolve from here: check its DNS record (or give the URL that \
             reaches this server with --url):"
                .into(),
            host_and_port(listen)
                .map(|(host, _)| {
                    format!("getent ahosts {}", crate::text_safe::shell_quote(&host))
                })
                .into_iter()
                .collect(),
        ),
        (Failure::Budget, _) => (
            "the probes ran out of time before this one: probe it alone with --probe".into(),
            Vec::new(),
        ),
        (Failure::Other(_), _) => ("see the error".into(), Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_or_certificate_failure_comes_with_a_command_to_look_at_it() {
        // The advice ended with "give the right --url:" and nothing after the colon.
        let (text, commands) = failure_advice(
            &Failure::Dns("no such host".into()),
            "https://shop.example/media/a.jpg",
            None,
        );
        assert!(text.ends_with(':'), "{text}");
        assert_eq!(commands, vec!["getent ahosts shop.example".to_string()]);
        let (_, commands) = failure_advice(
            &Failure::Tls("bad certificate".into()),
            "https://shop.example:8443/media/a.jpg",
            None,
        );
        assert_eq!(commands.len(), 1);
        assert!(
            commands[0].starts_with(
                "openssl s_client -connect shop.example:8443 -servername shop.example"
            ),
            "{commands:?}"
        );
        let (_, commands) = failure_advice(&Failure::Tls("x".into()), "[::1]:443", None);
        assert!(commands[0].contains("-connect '[::1]:443'"), "{commands:?}");
    }
}
