//! Never a confident wrong answer (issue #16): the nginx checks (MD1xx) run offline, with no app,
//! on every real configuration of ../shared/corpus (realworld/: 71 configs of public projects;
//! crossplane/ and nginx-lint-parser/), read where they are. A finding there is either a real
//! mistake, judged and listed in `VERDICTS` with the reason, or a false alarm, which fails the
//! test. A verdict that no longer matches a finding fails it too, so the table stays true.
//!
//! The traversal fixtures of other analysers (gixy/ and gixy-next/: alias_traversal/ and
//! filesystem_root_exposure/) hold the other half: a `*_fp.conf` file is correct and gets no
//! MD102/MD104 finding; every other file there has the traversal its folder names and gets one.

use media_doctor::checks;
use media_doctor::report::Status;
use media_doctor::site::{Options, Site};
use std::path::{Path, PathBuf};

fn corpus_dir() -> Option<PathBuf> {
    // ../shared/corpus beside the checkout (main, CI); from a worktree one level further up.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .skip(1)
        .map(|d| d.join("shared/corpus"))
        .find(|d| d.is_dir())
}

/// One judged finding: on `config` (its path under the corpus), `id` says something containing
/// `says`, and that is right, for the reason `why`.
struct Verdict {
    config: &'static str,
    id: &'static str,
    says: &'static str,
    why: &'static str,
}

/// A missing include of a file that is not in the corpus (the rest of the project's tree:
/// fastcgi_params, h5bp/*.conf, ...): `nginx -t` on the file alone fails with the same words
/// (a warning in a fragment, where nginx would resolve it against its own main config). True
/// of the file as given, and not about the config's logic: one rule rather than 90 rows.
fn missing_include(id: &str, message: &str) -> bool {
    id == "MD100"
        && message.starts_with("open() \"")
        && message.contains("failed (2: No such file or directory)")
        && message
            .split('"')
            .nth(1)
            .is_some_and(|p| !Path::new(p).exists())
}

const NGINX_REJECTS: &str = "nginx -t rejects the file with these words (conformance.rs checks each against the real nginx)";

#[rustfmt::skip]
const VERDICTS: &[Verdict] = &[
    // realworld/: mistakes in published configs.
    Verdict { config: "realworld/devops-recipe-app-api__proxy_default.conf.tpl.conf", id: "MD102", says: "location /static/static with `alias /vol/static`: any /vol/static* directory",
        why: "neither ends with a slash: /static/static-x/f opens /vol/static-x/f, a sibling of the directory (gixy's not_slashed_alias)" },
    Verdict { config: "realworld/devops-recipe-app-api__proxy_default.conf.tpl.conf", id: "MD102", says: "location /static/media with `alias /vol/media`: any /vol/media* directory",
        why: "the same shape for the uploads" },
    Verdict { config: "realworld/docker-django-nginx-uwsgi-postgres-tutorial__nginx_my_nginx.conf", id: "MD102", says: "location /static with `alias /docker_api/static`: any /docker_api/static* directory",
        why: "neither ends with a slash: sibling directories are served" },
    Verdict { config: "realworld/dockerizing-django__nginx_sites-enabled_django_project.conf", id: "MD102", says: "location /static with `alias /usr/src/app/static`: any /usr/src/app/static* directory",
        why: "neither ends with a slash: sibling directories are served" },
    Verdict { config: "realworld/drums_practice_logs__proxy_default.conf.tpl.conf", id: "MD102", says: "location /static with `alias /app/static`: any /app/static* directory",
        why: "neither ends with a slash: sibling directories are served" },
    Verdict { config: "realworld/fabdeploy__fabdeploy_config_templates_nginx_uwsgi.config.conf", id: "MD102", says: "location /static/admin with `alias /home/deploy/envs/current/lib/python2.6/site-packages/django/contrib/admin/media`: any",
        why: "neither ends with a slash: sibling directories are served" },
    Verdict { config: "realworld/shoeshub__proxy_default.conf.tpl.conf", id: "MD102", says: "location /static with `alias /elwedad/static/`: /static../",
        why: "the location lacks the slash the alias has: /static../x opens /elwedad/x (real nginx serves it)" },
    Verdict { config: "realworld/shoeshub__proxy_default.conf.tpl.conf", id: "MD102", says: "location /media with `alias /elwedad/media/`: /media../",
        why: "the same traversal on the uploads" },
    Verdict { config: "realworld/web_rl__web_rl.com.conf", id: "MD109", says: "autoindex is on for /media/",
        why: "`autoindex on` in the uploads location lists every user's files" },
    Verdict { config: "realworld/shoeshub__proxy_default.conf.tpl.conf", id: "MD110", says: "uploads under /media are served without",
        why: "uploads served from disk with no nosniff anywhere" },
    Verdict { config: "realworld/Technopark__Web_HW2_environment_topquestion_task5_topquestion.com.conf", id: "MD110", says: "uploads under /uploads/ are served without",
        why: "uploads served from disk with no nosniff anywhere" },
    Verdict { config: "realworld/Technopark__Web_HW7_topquestion_configs_topquestion.com.conf", id: "MD110", says: "uploads under /uploads/ are served without",
        why: "uploads served from disk with no nosniff anywhere" },
    Verdict { config: "realworld/cookiecutter-django__compose_production_nginx_default.conf", id: "MD110", says: "uploads under /media/ are served without",
        why: "uploads served from disk with no nosniff anywhere" },
    Verdict { config: "realworld/devops-recipe-app-api__proxy_default.conf.tpl.conf", id: "MD110", says: "uploads under /static/media are served without",
        why: "uploads served from disk with no nosniff anywhere" },
    Verdict { config: "realworld/django-on-docker__nginx_nginx.conf", id: "MD110", says: "uploads under /media/ are served without",
        why: "uploads served from disk with no nosniff anywhere" },
    Verdict { config: "realworld/ed-portal__proxy_default.conf.tpl.conf", id: "MD110", says: "uploads under /media/ are served without",
        why: "uploads served from disk with no nosniff anywhere" },
    Verdict { config: "realworld/flask-on-docker__services_nginx_nginx.conf", id: "MD110", says: "uploads under /media/ are served without",
        why: "uploads served from disk with no nosniff anywhere" },
    Verdict { config: "realworld/foodgram__nginx_nginx.conf", id: "MD110", says: "uploads under /media/ are served without",
        why: "uploads served from disk with no nosniff anywhere" },
    Verdict { config: "realworld/social__server-config_nginx.conf", id: "MD110", says: "uploads under /media/ are served without",
        why: "uploads served from disk with no nosniff anywhere" },
    Verdict { config: "realworld/web_rl__web_rl.com.conf", id: "MD110", says: "uploads under /media/ are served without",
        why: "uploads served from disk with no nosniff anywhere" },
    Verdict { config: "realworld/weblate__weblate_examples_weblate.nginx.conf", id: "MD110", says: "uploads under /media/ are served without",
        why: "uploads served from disk with no nosniff anywhere" },
    Verdict { config: "realworld/weblate__weblate_examples_weblate.nginx.gunicorn.conf", id: "MD110", says: "uploads under /media/ are served without",
        why: "uploads served from disk with no nosniff anywhere" },
    // Refused by nginx -t (src/nginx/rules.rs; each checked with the real nginx -t, 1.22).
    Verdict { config: "realworld/hackpad__contrib_nginx.conf", id: "MD100", says: "no servers are inside upstream",
        why: "`upstream frontends { ip_hash; }` left for the admin to fill: nginx -t says `no servers are inside upstream in ...:19`" },
    Verdict { config: "realworld/taguette__contrib_nginx.conf", id: "MD100", says: "a duplicate listen ",
        why: "the 443 server has `listen 443 http2 ssl` and `listen 443 ssl`: nginx -t says `a duplicate listen 0.0.0.0:443 in ...:16`" },
    Verdict { config: "realworld/mastodon__dist_nginx.conf", id: "MD100", says: "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive in ",
        why: "the sample ships its ssl_certificate lines commented out: nginx -t on it (in an http block without one) says exactly this; a warning, as the main config's http block could hold one" },
    Verdict { config: "realworld/magento2__nginx.conf.sample.conf", id: "MD100", says: "variable in `root $MAGE_ROOT` unless the config that includes this file sets it",
        why: "the sample is included in a server that must `set $MAGE_ROOT` (its first lines say so): nginx -t on it alone says `unknown \"mage_root\" variable`; a warning, as the including config may set it" },
    Verdict { config: "realworld/magento2__nginx.conf.sample.conf", id: "MD100", says: "variable in `root $MAGE_ROOT/pub` unless the config that includes this file sets it",
        why: "the same $MAGE_ROOT" },
    Verdict { config: "realworld/magento2__nginx.conf.sample.conf", id: "MD100", says: "variable in `alias $MAGE_ROOT/pub` unless the config that includes this file sets it",
        why: "the same $MAGE_ROOT" },
    // crossplane/ and nginx-lint-parser/: files nginx rejects, and mistakes in generated configs.
    Verdict { config: "crossplane/configs/lua-block-tricky/nginx.conf", id: "MD100", says: "no servers are inside upstream",
        why: "`upstream content_by_lua_block { # stuff }` (a parser test): nginx's upstream module refuses an empty upstream" },
    Verdict { config: "crossplane/configs/bad-args/nginx.conf", id: "MD100", says: "invalid number of arguments in \"user\" directive", why: NGINX_REJECTS },
    Verdict { config: "crossplane/configs/quote-behavior/nginx.conf", id: "MD100", says: "", why: NGINX_REJECTS },
    Verdict { config: "crossplane/configs/spelling-mistake/nginx.conf", id: "MD100", says: "unknown directive \"proxy_passs\": nginx refuses it unless a module provides it",
        why: "a typo of proxy_pass: nginx -t says `unknown directive \"proxy_passs\" in ...:7`; a warning, as a module could have the name" },
    Verdict { config: "nginx-lint-parser/test_generated/0047_regex_security.conf", id: "MD100", says: "duplicate location \"/\"",
        why: "two `location /` in one server (lines 15 and 53): nginx -t says `duplicate location \"/\" in ...:53` (the checks that read the model skip a config that does not load: its MD110 finding is gone)" },
    Verdict { config: "crossplane/configs/non-unicode/nginx.conf", id: "MD100", says: "bytes that are not UTF-8 are shown as U+FFFD",
        why: "a warning about our reading, true of the file: its paths hold bytes that are not UTF-8" },
    Verdict { config: "nginx-lint-parser/test_generated/0020_static_server.conf", id: "MD100", says: "", why: NGINX_REJECTS },
    Verdict { config: "nginx-lint-parser/test_generated/0021_regex_quantifiers.conf", id: "MD100", says: "", why: NGINX_REJECTS },
    Verdict { config: "nginx-lint-parser/test_generated/0027_regex_modifiers.conf", id: "MD100", says: "", why: NGINX_REJECTS },
    Verdict { config: "nginx-lint-parser/test_generated/0028_regex_complex.conf", id: "MD100", says: "", why: NGINX_REJECTS },
    Verdict { config: "nginx-lint-parser/test_generated/0029_regex_rewrites.conf", id: "MD100", says: "", why: NGINX_REJECTS },
    Verdict { config: "nginx-lint-parser/test_generated/0030_regex_edge_cases.conf", id: "MD100", says: "", why: NGINX_REJECTS },
    Verdict { config: "nginx-lint-parser/test_generated/0041_regex_capture_groups.conf", id: "MD100", says: "", why: NGINX_REJECTS },
    Verdict { config: "nginx-lint-parser/test_generated/0043_regex_api_versioning.conf", id: "MD100", says: "", why: NGINX_REJECTS },
    Verdict { config: "nginx-lint-parser/test_generated/0044_regex_locale.conf", id: "MD100", says: "", why: NGINX_REJECTS },
    Verdict { config: "nginx-lint-parser/test_generated/0048_regex_rewrite_advanced.conf", id: "MD100", says: "", why: NGINX_REJECTS },
    Verdict { config: "nginx-lint-parser/test_generated/0049_regex_media_streaming.conf", id: "MD100", says: "", why: NGINX_REJECTS },
    Verdict { config: "nginx-lint-parser/test_generated/0050_regex_microservices.conf", id: "MD100", says: "", why: NGINX_REJECTS },
    Verdict { config: "nginx-lint-parser/test_generated/0017_ip_restriction.conf", id: "MD103", says: "location /admin has `root /var/www/admin`",
        why: "root appends the whole URI: /admin/index.html opens /var/www/admin/admin/index.html (alias, or root /var/www, was meant)" },
    Verdict { config: "nginx-lint-parser/test_generated/0045_regex_user_agent.conf", id: "MD103", says: "location /legacy/ has `root /var/www/legacy`",
        why: "the same: /legacy/x opens /var/www/legacy/legacy/x" },
    Verdict { config: "nginx-lint-parser/test_generated/0035_uwsgi.conf", id: "MD110", says: "uploads under /media/ are served without",
        why: "uploads served from disk with no nosniff anywhere" },
];

/// Every real config of the corpus: the entry files (an include of another corpus file is
/// examined through its includer).
fn real_configs(corpus: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut add = |dir: PathBuf, pick: &dyn Fn(&Path) -> Option<PathBuf>| {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok())
            .filter_map(|e| pick(&e.path()))
            .collect();
        v.sort();
        out.extend(v);
    };
    add(corpus.join("realworld"), &|p| {
        (p.extension().is_some_and(|e| e == "conf")).then(|| p.to_path_buf())
    });
    add(corpus.join("crossplane/configs"), &|p| {
        let c = p.join("nginx.conf");
        c.is_file().then_some(c)
    });
    add(corpus.join("nginx-lint-parser/test_generated"), &|p| {
        (p.extension().is_some_and(|e| e == "conf")).then(|| p.to_path_buf())
    });
    out
}

/// The MD1xx results on one config: (check id, status, finding messages).
fn md1(conf: &Path) -> Vec<(&'static str, Status, String, Vec<String>)> {
    let args = Options {
        nginx_conf: Some(conf.to_path_buf()),
        ..Default::default()
    };
    let site = match Site::gather(&args, true) {
        Ok(s) => s,
        Err(e) => panic!("{}: does not load: {e:#}", conf.display()),
    };
    let nginx: Vec<_> = checks::registry()
        .into_iter()
        .filter(|c| c.meta().id.starts_with("MD1"))
        .collect();
    checks::run(&site, &nginx)
        .into_iter()
        .map(|r| {
            let msgs = r.findings.iter().map(|f| f.message.clone()).collect();
            (r.id, r.status, r.summary, msgs)
        })
        .collect()
}

#[test]
fn no_false_alarm_on_real_configs() {
    let Some(corpus) = corpus_dir() else {
        assert!(
            !crate::support::ci(),
            "the corpus ../shared/corpus is missing"
        );
        eprintln!("skipping: no ../shared/corpus beside the checkout");
        return;
    };
    let configs = real_configs(&corpus);
    let realworld = configs
        .iter()
        .filter(|c| c.starts_with(corpus.join("realworld")))
        .count();
    assert!(realworld >= 71, "realworld/ holds {realworld} configs");
    let mut used = vec![0usize; VERDICTS.len()];
    let mut false_alarms = Vec::new();
    let mut judged = 0;
    let mut missing = 0;
    for conf in &configs {
        let name = conf
            .strip_prefix(&corpus)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        for (id, status, summary, findings) in md1(conf) {
            assert_ne!(
                status,
                Status::Error,
                "{name}: {id} broke instead of judging: {summary}"
            );
            for m in findings {
                if missing_include(id, &m) {
                    missing += 1;
                    continue;
                }
                match VERDICTS
                    .iter()
                    .position(|v| v.config == name && v.id == id && m.contains(v.says))
                {
                    Some(i) => {
                        used[i] += 1;
                        judged += 1;
                    }
                    None => false_alarms.push(format!("{name}: {id}: {m}")),
                }
            }
        }
    }
    let stale: Vec<String> = VERDICTS
        .iter()
        .zip(&used)
        .filter(|(_, n)| **n == 0)
        .map(|(v, _)| format!("{} {} {:?} ({})", v.config, v.id, v.says, v.why))
        .collect();
    eprintln!(
        "{} configs: {judged} findings judged right, {missing} missing includes, {} false alarms",
        configs.len(),
        false_alarms.len()
    );
    assert!(
        false_alarms.is_empty(),
        "findings nobody judged (false alarms, or judge them in VERDICTS):\n{}",
        false_alarms.join("\n")
    );
    assert!(
        stale.is_empty(),
        "verdicts that match no finding any more:\n{}",
        stale.join("\n")
    );
}

/// One check on a config written to a temporary file and given with `--nginx-conf` (no app, offline).
fn check_conf(id: &str, conf: &str) -> media_doctor::report::CheckResult {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site.conf");
    std::fs::write(&path, conf).unwrap();
    let args = Options {
        nginx_conf: Some(path),
        ..Default::default()
    };
    let site = Site::gather(&args, true).expect("the config loads");
    checks::run_one(checks::find(id).expect("registered"), &site)
}

fn messages(r: &media_doctor::report::CheckResult) -> String {
    r.findings
        .iter()
        .map(|f| f.message.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn md110_judges_only_locations_that_give_uploads_to_clients() {
    let served = "server { listen 80; location /media/ { alias /srv/app/media/; } }";
    let r = check_conf("MD110", served);
    assert_eq!(r.status, Status::Warn, "{}", r.summary);
    let fix = &r.findings[0].remediation.as_ref().unwrap().text;
    assert!(
        fix.contains("an .html or .svg one still opens as a page"),
        "{fix}"
    );
    for (conf, why) in [
        (
            "server { listen 80; location /media/exports/ { alias /srv/app/media/exports/; add_header Content-Disposition \"attachment\"; } }",
            "attachment-only",
        ),
        (
            "server { listen 80; location /media/ { internal; alias /srv/app/media/; } }",
            "internal",
        ),
        (
            "server { listen 80; location /uploads/ { deny all; alias /srv/app/uploads/; } }",
            "deny all",
        ),
        (
            "server { listen 80; location /files/ { return 410; alias /srv/app/files/; } }",
            "return",
        ),
    ] {
        let r = check_conf("MD110", conf);
        assert!(r.findings.is_empty(), "{why}: {}", messages(&r));
    }
    // Without an app, a deny/internal block is not taken for the uploads prefix.
    let r = check_conf(
        "MD110",
        "server { listen 80; location /uploads/ { internal; alias /srv/u/; } location /media/ { deny all; } }",
    );
    assert_eq!(r.status, Status::Skip, "{}: {}", r.summary, messages(&r));
}

#[test]
fn a_file_alias_and_an_exact_file_regex_are_not_findings() {
    let r = check_conf(
        "MD102",
        "server { listen 80; location ^~ /sad.svg { alias /var/www/errors/sad.svg; } }",
    );
    assert!(r.findings.is_empty(), "{}", messages(&r));
    let r = check_conf(
        "MD104",
        "server { listen 80; location ~ ^/favicon.ico$ { alias /srv/app/static/favicon.ico; } location ~* ^/files-(en|fr|es) { alias /home/; } }",
    );
    assert!(r.findings.is_empty(), "{}", messages(&r));
    // A regex that captures the file name and drops it is still one.
    let r = check_conf(
        "MD104",
        "server { listen 80; location ~ ^/thumbs/(.+\\.jpg)$ { alias /srv/app/thumbs/; } }",
    );
    assert_eq!(r.status, Status::Fail, "{}", r.summary);
}

/// The traversal fixtures of gixy and Gixy-Next: `*_fp.conf` is correct (no MD102/MD104
/// finding); every other file has the traversal its folder names (at least one).
#[test]
fn traversal_found_where_nginx_allows_it_and_only_there() {
    let Some(corpus) = corpus_dir() else {
        assert!(
            !crate::support::ci(),
            "the corpus ../shared/corpus is missing"
        );
        return;
    };
    let mut files = Vec::new();
    for dir in [
        "gixy/alias_traversal",
        "gixy-next/alias_traversal",
        "gixy-next/filesystem_root_exposure",
    ] {
        for e in std::fs::read_dir(corpus.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "conf") {
                files.push(p);
            }
        }
    }
    files.sort();
    let (mut found, mut quiet, mut wrong) = (0, 0, Vec::new());
    let (mut positives, mut fps) = (0, 0);
    for f in &files {
        let name = f.strip_prefix(&corpus).unwrap().display().to_string();
        let fp = name.ends_with("_fp.conf");
        let hits: Vec<String> = md1(f)
            .into_iter()
            .filter(|(id, ..)| *id == "MD102" || *id == "MD104")
            .flat_map(|(id, _, _, msgs)| msgs.into_iter().map(move |m| format!("{id}: {m}")))
            .collect();
        if fp {
            fps += 1;
            if hits.is_empty() {
                quiet += 1;
            } else {
                wrong.push(format!("{name} (correct) got:\n  {}", hits.join("\n  ")));
            }
        } else {
            positives += 1;
            if hits.is_empty() {
                wrong.push(format!("{name}: the traversal was not found"));
            } else {
                found += 1;
            }
        }
    }
    eprintln!("gixy traversal: {found}/{positives} found, {quiet}/{fps} correct files quiet");
    assert!(
        positives >= 22 && fps >= 16,
        "{positives} {fps}: the corpus looks incomplete"
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The issue's cases, one by one, with the URL and the path nginx opens as evidence.
#[test]
fn traversal_cases_of_issue_16() {
    let r = check_conf("MD104", "location ~ /images(.*) { alias /app/static/$1; }");
    let f = &r.findings[0];
    assert!(
        f.message
            .contains("/images../x opens /app/static/../x (/app/x)"),
        "{}",
        f.message
    );
    let ev: Vec<String> = f
        .evidence
        .iter()
        .map(|e| format!("{}={}", e.label, e.value))
        .collect();
    assert!(ev.iter().any(|e| e == "also=/images%2e%2e/x"), "{ev:?}");
    // A snippet of bare locations is examined as if included in a server.
    let r = check_conf("MD102", "location /files { alias /home/; }");
    assert_eq!(r.status, Status::Fail, "{}", r.summary);
    // A variable set in the server is followed.
    let r = check_conf(
        "MD102",
        "server { listen 80; set $MAGE_ROOT /var/www/magento; location /pub { alias $MAGE_ROOT/pub/; } }",
    );
    assert!(
        messages(&r).contains("/pub../ reaches /var/www/magento"),
        "{}",
        messages(&r)
    );
    // A root built from a capture climbs the same way (root appends the URI after it).
    let r = check_conf("MD104", "location ~ ^/u(.*)/x$ { root /srv/u/$1; }");
    assert!(
        messages(&r).contains("with `root /srv/u/$1`: the capture may start with `..`"),
        "{}",
        messages(&r)
    );
    // A capture that cannot hold `..`, a capture after a slash: nothing escapes.
    let r = check_conf(
        "MD104",
        "location ~ /images([^.]*) { alias /app/static/$1; } location ~ ^/m/(.*)$ { alias /srv/m/$1; }",
    );
    assert!(r.findings.is_empty(), "{}", messages(&r));
}

/// Every branch of an alternation is probed: the traversal reachable only through the second
/// branch is found (the first, `/static/../x`, normalises away and reaches no location), and a
/// regex safe in every branch stays quiet.
#[test]
fn md104_probes_every_branch_of_an_alternation() {
    let r = check_conf(
        "MD104",
        "server { listen 80; location ~ ^/(static/|media)(.*)$ { alias /srv/media/$2; } }",
    );
    assert_eq!(r.status, Status::Fail, "{}", r.summary);
    assert!(
        messages(&r).contains("/media../x opens /srv/media/../x (/srv/x)"),
        "{}",
        messages(&r)
    );
    let r = check_conf(
        "MD104",
        "server { listen 80; location ~ ^/media/(a|b)/(.*)$ { alias /srv/media/$1/$2; } \
         location ~ ^/(?:m|media)/(.+)$ { alias /srv/m/$1; } }",
    );
    assert!(r.findings.is_empty(), "{}", messages(&r));
}

/// A GET on 127.0.0.1:`port` with the target as written (no client-side normalisation):
/// the status and the body.
fn raw_get(port: u16, target: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    write!(s, "GET {target} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

/// Real nginx settles it: the URL MD104 gives as evidence opens, in nginx, the file outside
/// the alias directory, in both spellings (plain and percent-encoded).
#[test]
fn md104_evidence_is_what_real_nginx_serves() {
    if !crate::support::require_root_and_nginx() {
        return;
    }
    let nginx = crate::support::Nginx::start(
        "root",
        "server { listen 127.0.0.1:{PORT}; location ~ /images(.*) { alias {DIR}/app/static/$1; } }",
    )
    .expect("nginx starts");
    let dir = nginx.dir.path();
    std::fs::create_dir_all(dir.join("app/static")).unwrap();
    std::fs::write(dir.join("app/x"), "outside the alias directory\n").unwrap();
    let args = Options {
        nginx_conf: Some(nginx.conf_path()),
        ..Default::default()
    };
    let site = Site::gather(&args, true).expect("gather");
    let r = checks::run_one(checks::find("MD104").unwrap(), &site);
    assert_eq!(r.status, Status::Fail, "{}", r.summary);
    let ev = |label: &str| {
        r.findings[0]
            .evidence
            .iter()
            .find(|e| e.label == label)
            .map(|e| e.value.clone())
            .unwrap_or_default()
    };
    assert_eq!(ev("which is"), dir.join("app/x").display().to_string());
    for url in [ev("url"), ev("also")] {
        assert!(!url.is_empty(), "{:#?}", r.findings[0]);
        let (status, body) = raw_get(nginx.port, &url);
        assert_eq!(
            (status, body.as_str()),
            (200, "outside the alias directory\n"),
            "{url}"
        );
    }
}

/// The loader's `nginx -t` rules (src/nginx/rules.rs) word each refusal as the real `nginx -t`
/// on this machine does, at the file:line it names.
#[test]
fn loader_rules_say_what_nginx_t_says() {
    let Some(bin) = crate::support::nginx_binary() else {
        assert!(
            !crate::support::ci(),
            "needs nginx (apt-get install nginx-light)"
        );
        eprintln!("skipping: no nginx");
        return;
    };
    let cases: &[(&str, &str, &str)] = &[
        (
            "try_files twice, one from a snippet",
            "server { listen 127.0.0.1:8089; location / {\n include snip.conf;\n try_files $uri =404;\n} }",
            "try_files $uri $uri/ =404;\n",
        ),
        (
            "root, then alias",
            "server { listen 127.0.0.1:8089; location / {\n root /srv;\n alias /x/;\n} }",
            "",
        ),
        ("sendfile twice", "sendfile on;\nsendfile off;\n", ""),
        (
            "one server listening twice on one address",
            "server {\n listen 127.0.0.1:8089;\n listen 127.0.0.1:8089;\n}",
            "",
        ),
        (
            "two default servers",
            "server {\n listen 127.0.0.1:8089 default_server;\n}\nserver {\n listen 127.0.0.1:8089 default_server;\n}",
            "",
        ),
        ("an empty upstream", "upstream app {\n keepalive 2;\n}\n", ""),
        // `listen` addresses nginx refuses whatever the machine (a signed number is a host name
        // to nginx, which no resolver knows; the readers took `+8080` for port 8080).
        ("a signed port", "server {\n listen +8080;\n}", ""),
        ("a signed port after an address", "server {\n listen 127.0.0.1:+8080;\n}", ""),
        ("port 0", "server {\n listen 0;\n}", ""),
        ("a port past 65535", "server {\n listen 65536;\n}", ""),
        ("a bare IPv6 address", "server {\n listen ::1;\n}", ""),
        ("no host before the port", "server {\n listen :8089;\n}", ""),
        ("a signed port after an IPv6 address", "server {\n listen [::1]:+80;\n}", ""),
        (
            "listen ssl without a certificate",
            "server {\n listen 127.0.0.1:8089 ssl;\n}",
            "",
        ),
        // nginx reads a relative include from the main config's directory (its conf prefix,
        // the directory of -c), not /etc/nginx, whatever -p says: a main config kept elsewhere
        // does not find /etc/nginx/uwsgi_params.
        (
            "a relative include beside a main config outside /etc/nginx",
            "include uwsgi_params;\n",
            "",
        ),
    ];
    for (what, http, snippet) in cases {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, format!("events {{}}\nhttp {{\n{http}\n}}\n")).unwrap();
        std::fs::write(dir.path().join("snip.conf"), snippet).unwrap();
        let out = std::process::Command::new(&bin)
            .arg("-t")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .output()
            .expect("run nginx -t");
        assert!(!out.status.success(), "{what}: nginx -t accepts it");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let said = stderr
            .lines()
            .find_map(|l| l.strip_prefix("nginx: [emerg] "))
            .unwrap_or_else(|| panic!("{what}: {stderr}"));
        let cfg = media_doctor::nginx::load_files(&media_doctor::sysroot::SysRoot::live(), &conf)
            .expect("loads");
        let ours: Vec<String> = cfg
            .diagnostics
            .iter()
            .filter(|d| d.fatal)
            .map(|d| {
                if d.message.contains(" directive in ") {
                    d.message.clone()
                } else {
                    format!("{} in {}:{}", d.message, d.file.display(), d.line)
                }
            })
            .collect();
        assert!(
            ours.iter().any(|o| o == said),
            "{what}: nginx -t says\n  {said}\nwe say\n  {}",
            ours.join("\n  ")
        );
    }
}

/// The `listen` addresses `nginx -t` accepts (without resolving a name) load without a refusal:
/// leading zeros in a port, an IPv6 address with or without a port, `*`, a flag.
#[test]
fn listen_addresses_nginx_t_accepts_load() {
    let Some(bin) = crate::support::nginx_binary() else {
        assert!(
            !crate::support::ci(),
            "needs nginx (apt-get install nginx-light)"
        );
        eprintln!("skipping: no nginx");
        return;
    };
    for listen in [
        "00080",
        "127.0.0.1:080",
        "*:8089",
        "[::1]",
        "[::1]:0080",
        "8089 default_server",
        "65535",
        "unix:/run/x.sock",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("nginx.conf");
        let text = format!("events {{}}\nhttp {{\nserver {{\n listen {listen};\n}}\n}}\n");
        std::fs::write(&conf, text).unwrap();
        let out = std::process::Command::new(&bin)
            .args(["-t", "-q", "-p"])
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .output()
            .expect("run nginx -t");
        assert!(
            out.status.success(),
            "listen {listen}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cfg = media_doctor::nginx::load_files(&media_doctor::sysroot::SysRoot::live(), &conf)
            .expect("loads");
        let fatal: Vec<_> = cfg.diagnostics.iter().filter(|d| d.fatal).collect();
        assert!(fatal.is_empty(), "listen {listen}: {fatal:?}");
    }
}

/// `--nginx-conf FILE` without `--app` judges the config against no app found elsewhere on the
/// machine (#16 item 4): a Django project under /srv (the only one, so the machine-wide search
/// would pick it) with `MEDIA_URL = "/uploads/"` is not this config's app. The control run,
/// the same config as the machine's own /etc/nginx/nginx.conf, does find it: the test would
/// fail if the search were not turned off.
#[test]
fn a_config_given_alone_uses_no_app_found_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write = |rel: &str, text: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write(
        "srv/blog/manage.py",
        "import os\nos.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", \"blog.settings\")\n",
    );
    write("srv/blog/blog/__init__.py", "");
    write(
        "srv/blog/blog/settings.py",
        "MEDIA_URL = \"/uploads/\"\nMEDIA_ROOT = \"/srv/blog/media\"\n",
    );
    let conf = "server { listen 80; server_name site.test; location /media/ { alias /var/www/site/media/; } }";
    write("home/ci/repo/deploy/site.conf", conf);
    write(
        "etc/nginx/nginx.conf",
        &format!("user www-data;\nevents {{}}\nhttp {{\n{conf}\n}}\n"),
    );
    let given = Options {
        root: Some(root.to_path_buf()),
        nginx_conf: Some("/home/ci/repo/deploy/site.conf".into()),
        ..Default::default()
    };
    let site = Site::gather(&given, true).expect("gather");
    assert!(
        site.app().is_none(),
        "an app from elsewhere was used: {:?}",
        site.app_search()
    );
    let r = checks::run_one(checks::find("MD110").unwrap(), &site);
    assert!(
        messages(&r).contains("uploads under /media/"),
        "{}",
        messages(&r)
    );
    let control = Options {
        root: Some(root.to_path_buf()),
        ..Default::default()
    };
    let site = Site::gather(&control, true).expect("gather");
    assert!(
        site.app().is_some(),
        "the control should find /srv/blog: {:?}",
        site.app_search()
    );
}

/// A path built from a variable nothing sets is unknown: never walked or scanned by MD2xx, never
/// shown as `/` (#16 item 3; `alias $public/` once made MD203 walk the whole filesystem).
#[test]
fn an_unknown_path_is_never_walked_nor_shown_as_root() {
    let started = std::time::Instant::now();
    for conf in [
        "location /pub/ { alias $MAGE_ROOT/pub/; }",
        "server { listen 80; location /p/ { alias $public/; } }",
    ] {
        for id in ["MD102", "MD201", "MD202", "MD203"] {
            let r = check_conf(id, conf);
            assert!(
                r.findings.is_empty() && r.status != Status::Error,
                "{id} on {conf}: {} {}",
                r.summary,
                messages(&r)
            );
        }
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

/// Real nginx settles a variable set only under an `if`: for every other Host it is empty and
/// `alias $public/` serves the filesystem (nginx logs `using uninitialized "public" variable`
/// and answers 200). MD102 says so, and why.
#[test]
fn a_variable_empty_for_the_request_is_judged_as_nginx_uses_it() {
    if !crate::support::require_root_and_nginx() {
        return;
    }
    let nginx = crate::support::Nginx::start(
        "root",
        "server { listen 127.0.0.1:{PORT}; server_name a.test;\n if ($host = b.test) { set $public /srv/b; }\n location /p/ { alias $public/; } }",
    )
    .expect("nginx starts");
    let (status, body) = raw_get(nginx.port, "/p/etc/passwd");
    assert_eq!(status, 200);
    assert!(body.contains("root:"), "{body}");
    let args = Options {
        nginx_conf: Some(nginx.conf_path()),
        ..Default::default()
    };
    let site = Site::gather(&args, true).expect("gather");
    let r = checks::run_one(checks::find("MD102").unwrap(), &site);
    let f = r
        .findings
        .first()
        .unwrap_or_else(|| panic!("{}", r.summary));
    assert!(
        f.message
            .contains("serves the whole filesystem: /p/etc/passwd opens /etc/passwd"),
        "{}",
        f.message
    );
    assert!(
        f.evidence.iter().any(|e| e.label == "variables"),
        "{:?}",
        f.evidence
    );
}

/// An unknown variable (`${MEDIA_ROOT}` of an unrendered docker template, `$undefined_var`)
/// makes `nginx -t` fail with `unknown "media_root" variable` and no line; MD100 says so at the
/// directive's line. Real nginx is the oracle for each case: MD100 fails on exactly the cases
/// nginx refuses for an unknown variable, and stays quiet on the forms nginx accepts (a declared
/// or built-in name in any case, `$` where nginx takes it as text).
#[test]
fn md100_reports_the_unknown_variables_nginx_refuses() {
    let cases: &[(&str, bool)] = &[
        ("location /media/ { alias ${MEDIA_ROOT}/; }", true),
        ("location /media/ { alias $undefined_var/; }", true),
        ("location /media/ { root /srv/$MEDIA_ROOT; }", true),
        ("location /x { try_files $uri ${FALLBACK} =404; }", true),
        ("location /x { proxy_pass http://${BACKEND}; }", true),
        ("location /media/ { alias /srv/$uri; }", false),
        ("location /media/ { alias ${uri}; }", false),
        ("location /media/ { root /srv/$HTTP_HOST/$arg_x; }", false),
        ("set $Base /srv; location /media/ { root $base; }", false),
        ("location ~ ^/u/(?<file>.+)$ { alias /srv/u/$file; }", false),
        ("location ~ ^/u/(.+)$ { alias /srv/u/$1; }", false),
        ("location ~ ^/u/(?<File>.+)$ { alias /srv/u/$file; }", false),
        ("location ~ ^/u/(?<file>.+)$ { alias /srv/u/$FILE; }", false),
        ("error_log DIR/${E}.log; location / { }", false),
        ("location /r { return 301 https://$host$request_uri; }", false),
        ("location /r { return 200 \"$undefined_var\"; }", true),
        ("location /r { return 301 /x/${TARGET}; }", true),
        ("rewrite ^/old/(.*)$ /new/$1$is_args$args; location / { }", false),
        ("rewrite ^/old/(.*)$ /new/$slug; location / { }", true),
        ("rewrite ^/old/(?<Slug>.*)$ /new/$slug; location / { }", false),
        ("error_page 404 /404.html?from=$uri; location / { }", false),
        ("error_page 404 /404.html?from=$nope; location / { }", true),
        ("add_header X-Id $request_id always; location / { }", false),
        ("add_header X-Cache $cache_status; location / { }", true),
        ("location / { if ($arg_x) { return 403 $why; } }", true),
        // A named capture declares a variable only in the regexes nginx registers them from.
        ("valid_referers ~(?<rf>x); location /r { return 200 $rf; }", true),
        ("gzip_disable \"(?<gz>x)\"; location /r { return 200 $gz; }", true),
        (
            "location /p { proxy_pass http://127.0.0.1:9; proxy_redirect ~(?<pr>x) /; } location /r { return 200 $pr; }",
            false,
        ),
        (
            "location /p { proxy_pass http://127.0.0.1:9; proxy_cookie_path ~(?<cp>x) /; } location /r { return 200 $cp; }",
            false,
        ),
        (
            "location /ws { proxy_set_header Connection $connection_upgrade; proxy_pass http://127.0.0.1:9; }",
            false,
        ),
    ];
    let nginx = crate::support::nginx_binary();
    if !crate::support::require(nginx.is_some(), "needs nginx (apt-get install nginx-light)") {
        return;
    }
    let nginx = nginx.unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (server_body, unknown) in cases {
        let conf = format!(
            "pid {d}/n.pid; error_log {d}/error.log;\nevents {{}}\nhttp {{\n\
             client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d};\n\
             uwsgi_temp_path {d}; scgi_temp_path {d}; access_log off;\n\
             map $http_upgrade $connection_upgrade {{ default upgrade; }}\n\
             server {{\nlisten 127.0.0.1:9;\n{body}\n}}\n}}\n",
            d = dir.path().display(),
            body = server_body.replace("DIR", &dir.path().display().to_string())
        );
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, &conf).unwrap();
        let out = std::process::Command::new(&nginx)
            .args(["-t", "-q", "-e", "stderr", "-p"])
            .arg(dir.path())
            .arg("-c")
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let nginx_refuses = !out.status.success() && stderr.contains(" variable");
        assert_eq!(
            nginx_refuses, *unknown,
            "nginx on `{server_body}`: {stderr}"
        );
        let r = check_conf("MD100", &conf);
        let ours: Vec<_> = r
            .findings
            .iter()
            .filter(|f| f.message.starts_with("unknown \""))
            .collect();
        assert_eq!(
            !ours.is_empty(),
            *unknown,
            "MD100 on `{server_body}`: {}",
            messages(&r)
        );
        if let Some(f) = ours.first() {
            // nginx's own words, at the directive's line (the 9th of the file).
            let want = stderr
                .lines()
                .find_map(|l| l.split_once("[emerg] "))
                .and_then(|(_, m)| m.split_once(": "))
                .map(|(_, m)| m.trim().to_string())
                .unwrap();
            assert!(f.message.starts_with(&want), "{} / {want}", f.message);
            let at = f.location.as_ref().expect("a file:line");
            assert_eq!(at.line, 9, "{server_body}");
        }
    }
}

/// Two unknown variables share MD100's fix ("correct the file at that line"): the text report
/// gives the line of each, not only the first's.
#[test]
fn each_finding_of_one_fix_keeps_its_line_in_the_text_report() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("nginx.conf");
    std::fs::write(
        &conf,
        "events {}\nhttp {\n  server {\n    listen 80;\n    location /media/ { alias ${MEDIA_ROOT}/; }\n    location /static/ { alias ${STATIC_ROOT}/; }\n  }\n}\n",
    )
    .unwrap();
    let out = crate::run::media_doctor(&[
        "check",
        "--nginx-conf",
        conf.to_str().unwrap(),
        "--offline",
        "--select",
        "MD100",
        "--color",
        "never",
    ]);
    let text = out
        .stdout
        .replace('\n', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let shown = conf.display().to_string();
    assert!(text.contains(&format!("at {shown}:5")), "{}", out.stdout);
    assert!(text.contains(&format!("(at {shown}:6)")), "{}", out.stdout);
}

/// `location /media { root DIR/media; }` whose files are in DIR/media: MD201 gives the
/// root-to-alias fix as a proven config edit (it was advice in words), and MD103's edit ends
/// the location with a slash too (it printed `location /media { alias DIR/media/; }`, which
/// opens DIR/media/../x for /media../x). Each fix, pasted as printed, leaves MD102, MD103 and
/// MD201 passing.
#[test]
fn root_to_alias_fixes_are_edits_that_leave_no_traversal() {
    for id in ["MD201", "MD103"] {
        let dir = tempfile::tempdir().unwrap();
        let media = dir.path().join("media");
        std::fs::create_dir_all(&media).unwrap();
        std::fs::write(media.join("a.jpg"), "jpg").unwrap();
        let conf = dir.path().join("site.conf");
        std::fs::write(
            &conf,
            format!(
                "server {{\n    listen 80;\n    server_name a.test;\n    location /media {{\n        root {};\n    }}\n}}\n",
                media.display()
            ),
        )
        .unwrap();
        let run = |select: &str| -> serde_json::Value {
            let out = crate::run::media_doctor(&[
                "check",
                "--nginx-conf",
                conf.to_str().unwrap(),
                "--offline",
                "--select",
                select,
                "--format",
                "json",
            ]);
            serde_json::from_str(&out.stdout)
                .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr))
        };
        let r = run(id);
        let check = &r["checks"][0];
        assert_eq!(check["status"], "fail", "{check}");
        let rem = check["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|f| f["remediation"].as_object())
            .map(|o| serde_json::Value::Object(o.clone()))
            .expect("a fix");
        let text = rem["text"].as_str().unwrap();
        assert!(
            text.contains(&format!("# {}:4", conf.display()))
                && text.contains("location /media/ {"),
            "{id}: {text}"
        );
        // The config edit only: its reload is for a running nginx, not this file.
        let mut edit = rem.clone();
        edit["commands"] = serde_json::json!([]);
        crate::sites::apply_in(&edit, None);
        let r = run("MD102,MD103,MD201");
        for c in r["checks"].as_array().unwrap() {
            assert_eq!(c["status"], "pass", "{id}'s fix: {c}");
        }
    }
    // A root that exists but does not end with the prefix (`root /usr/share/nginx/html` for
    // /docs/, whose files an image adds): no alias edit is asserted on a guess.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<p>").unwrap();
    let conf = dir.path().join("site.conf");
    std::fs::write(
        &conf,
        format!(
            "server {{\n    listen 80;\n    server_name a.test;\n    location /docs/ {{\n        root {};\n    }}\n}}\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let out = crate::run::media_doctor(&[
        "check",
        "--nginx-conf",
        conf.to_str().unwrap(),
        "--offline",
        "--select",
        "MD201",
        "--format",
        "json",
    ]);
    let r: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let check = &r["checks"][0];
    assert_eq!(check["status"], "fail", "{check}");
    assert!(
        !check.to_string().contains("# /"),
        "an edit on a guess: {check}"
    );
}

/// `disable_symlinks on` and a symlinked media directory: nginx's openat(O_NOFOLLOW|O_DIRECTORY)
/// fails with ENOTDIR and answers 404; the reason says it is the symlink (it said "a component
/// of the path is not a directory", which sent the reader to look for a file among the dirs).
#[test]
fn a_symlinked_directory_under_disable_symlinks_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("data");
    std::fs::create_dir_all(&real).unwrap();
    std::fs::write(real.join("a.jpg"), "jpg").unwrap();
    std::os::unix::fs::symlink(&real, dir.path().join("media")).unwrap();
    let conf = dir.path().join("site.conf");
    std::fs::write(
        &conf,
        format!(
            "server {{\n    listen 80;\n    server_name a.test;\n    disable_symlinks on;\n    location /media/ {{\n        alias {}/media/;\n    }}\n}}\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let out = crate::run::media_doctor(&[
        "trace",
        "http://a.test/media/a.jpg",
        "--nginx-conf",
        conf.to_str().unwrap(),
        "--offline",
        "--format",
        "json",
    ]);
    let t: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr));
    assert_eq!(t["predicted_status"], 404, "{t}");
    let reason = t["reason"].as_str().unwrap();
    assert!(
        reason.contains("goes through a symlinked directory and disable_symlinks forbids it"),
        "{reason}"
    );
}
