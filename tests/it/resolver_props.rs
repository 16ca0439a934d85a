//! Properties of the resolver on any input: random configurations built from every directive the
//! resolver models (nested and named locations, error_page chains with recursive_error_pages,
//! rewrite loops, try_files, if, set, map with regex keys and captures, alias/root with
//! variables, index, autoindex, internal, access rules, limit_except, disable_symlinks), over a
//! small real file tree (files, a directory, a symlink loop, a FIFO), asked random URLs.
//!
//! Whatever the input: no panic (caught at the resolver's boundary, a panic would show as
//! `MODEL_FAILURE` in the reason), an answer in bounded time, and a known status or a reason why
//! it is unknown. Seeded: `MD_PROPS_SEED=N` replays a run, `MD_PROPS_CONFIGS=N` sets the count.

use crate::differential::{env_u64, Rng};
use media_doctor::nginx::resolve::{Request, Resolution, MODEL_FAILURE};
use media_doctor::site::{Options, Site};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

/// Names that locations, rewrites and URLs share, so requests do reach the generated blocks.
const SEGMENTS: &[&str] = &["a", "b", "media", "static", "x", "sub", "err"];
const FILES: &[&str] = &[
    "f.png",
    "index.html",
    "404.html",
    "loop",
    "fifo",
    "sub",
    "none",
];

fn seg(rng: &mut Rng) -> &'static str {
    rng.word(SEGMENTS)
}

/// A root/alias value: literal, with a capture, a `set` variable, a map's value or an unknown.
fn root_value(rng: &mut Rng, t: &str) -> String {
    match rng.below(8) {
        0 => format!("{t}/$1"),
        1 => format!("{t}/$v/"),
        2 => format!("{t}/$m"),
        3 => format!("{t}/$name/"),
        4 => "$undefined_thing/".to_string(),
        5 => "relative/dir".to_string(),
        _ => format!("{t}/{}/", seg(rng)),
    }
}

/// Where a directive goes: nginx allows some only in locations, few inside `if`.
#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Server,
    Location,
    If,
}

/// `count` directives for one block, none that nginx allows once given twice (`root` and
/// `alias` count as one: nginx refuses both in a block).
fn directives(rng: &mut Rng, t: &str, ctx: Ctx, count: usize) -> String {
    const REPEATABLE: &[&str] = &[
        "valid_referers",
        "error_page",
        "rewrite",
        "set",
        "if",
        "allow",
        "deny",
        "return",
        "break",
        "index",
    ];
    let mut seen: Vec<String> = Vec::new();
    let mut out = String::new();
    for _ in 0..count * 3 {
        if seen.len() >= count {
            break;
        }
        let d = directive(rng, t, ctx);
        let name = d
            .split([' ', ';'])
            .next()
            .unwrap_or("")
            .replace("alias", "root");
        if !REPEATABLE.contains(&name.as_str()) && seen.contains(&name) {
            continue;
        }
        seen.push(name);
        out.push_str(&d);
        out.push(' ');
    }
    out
}

/// One directive of a server, location or `if` body, drawn until one fits the context.
fn directive(rng: &mut Rng, t: &str, ctx: Ctx) -> String {
    loop {
        let n = rng.below(36);
        let fits = match ctx {
            Ctx::Location => n != 33,
            Ctx::Server => !matches!(n, 1 | 20 | 23 | 29 | 34),
            // The rewrite module (a server-level `if` takes nothing else; no `if` in an `if`).
            Ctx::If => matches!(n, 9..=14 | 17),
        };
        if fits {
            return directive_n(rng, t, n);
        }
    }
}

fn directive_n(rng: &mut Rng, t: &str, n: usize) -> String {
    let s = seg(rng);
    let s2 = seg(rng);
    match n {
        0 => format!("root {};", root_value(rng, t)),
        1 => format!("alias {};", root_value(rng, t)),
        2 => format!("try_files $uri $uri/ /{s}/{};", rng.pick(FILES)),
        3 => "try_files $uri @n =404;".into(),
        4 => format!(
            "try_files /{s}/none $uri/ =4{}{};",
            rng.below(10),
            rng.below(10)
        ),
        5 => format!("error_page 404 /{s}/404.html;"),
        6 => format!(
            "error_page 403 404 500 ={} /{s}/{};",
            200 + rng.below(300),
            rng.pick(FILES)
        ),
        7 => "error_page 404 = @n;".into(),
        8 => "recursive_error_pages on;".into(),
        9 => format!("rewrite ^/{s}/(.*)$ /{s2}/$1 last;"),
        10 => format!("rewrite ^(.*)$ $1 {};", rng.pick(&["last", "break", ""])),
        11 => format!(
            "rewrite ^/{s}(.*)$ /{s2}$1?q=1 {};",
            rng.pick(&["last", "break", "redirect", "permanent"])
        ),
        12 => format!(
            "return {};",
            rng.pick(&[
                "200 ok",
                "301 /a/",
                "403",
                "404",
                "444",
                "500",
                "302 $scheme://$host$uri",
                "$uri"
            ])
        ),
        13 => format!("set $v {s};"),
        14 => "set $v $m$1$arg_x;".to_string(),
        15 => format!("if ($arg_x) {{ {} }}", directive(rng, t, Ctx::If)),
        16 => format!(
            "if ($uri ~ ^/{s}/(?<name>[^/]*)) {{ set $v $name; {} }}",
            directive(rng, t, Ctx::If)
        ),
        17 => "break;".into(),
        18 => format!("index {} index.html;", rng.pick(FILES)),
        19 => "autoindex on;".into(),
        20 => "internal;".into(),
        21 => format!("{} 127.0.0.1;", rng.pick(&["allow", "deny"])),
        22 => "deny all;".into(),
        23 => "limit_except GET { deny all; }".into(),
        24 => format!(
            "disable_symlinks {} from={t};",
            rng.pick(&["on", "if_not_owner"])
        ),
        25 => "disable_symlinks on;".into(),
        26 => format!("try_files $uri /{s}/$1 =404;"),
        27 => format!(
            "if ($request_uri ~* \"(\\.\\.|%2e)\") {{ return 4{}{}; }}",
            rng.below(10),
            rng.below(10)
        ),
        28 => "if ($v = 'a') { rewrite ^ /b/ last; }".into(),
        29 => format!("alias {t}/{s}/$name;"),
        30 => format!("auth_request /{s}/{};", rng.word(FILES)),
        31 => format!("gzip_static {};", rng.word(&["always", "on"])),
        32 => "valid_referers none blocked; if ($invalid_referer) { return 403; }".into(),
        33 => "large_client_header_buffers 4 1k;".into(),
        34 => "random_index on;".into(),
        _ => "disable_symlinks on from=$document_root;".into(),
    }
}

/// A location block, nested up to `depth` more levels. Nested prefixes extend the parent's.
fn location(
    rng: &mut Rng,
    t: &str,
    parent: &str,
    depth: usize,
    used: &mut Vec<String>,
    out: &mut String,
) {
    let s = seg(rng);
    let head = match rng.below(8) {
        0 => format!("= {parent}/{s}"),
        1 => format!("^~ {parent}/{s}/"),
        2 => format!("~ ^{parent}/{s}/(.*)$"),
        3 => format!("~* ^{parent}/(?<name>{s})/(.+)\\.png$"),
        4 if parent.is_empty() => "@n".to_string(),
        5 => format!("{parent}/{s}"),
        _ => format!("{parent}/{s}/"),
    };
    if used.contains(&head) {
        return;
    }
    used.push(head.clone());
    let _ = write!(out, "location {head} {{ ");
    let n = rng.below(4);
    out.push_str(&directives(rng, t, Ctx::Location, n));
    if depth > 0 && !head.starts_with('@') && !head.starts_with('=') {
        let inner = head
            .trim_start_matches(['^', '~', '*', ' '])
            .trim_end_matches('/')
            .to_string();
        let inner = if inner.contains(['(', '$']) {
            parent.to_string()
        } else {
            inner
        };
        for _ in 0..rng.below(3) {
            location(rng, t, &inner, depth - 1, used, out);
        }
    }
    out.push_str("} ");
}

/// A whole configuration: maps, a server with its directives and locations, maybe a second one.
fn config(rng: &mut Rng, t: &str) -> String {
    let mut c = String::from("events {}\nhttp {\n");
    let _ = writeln!(
        c,
        "map $uri $m {{ default {}; ~^/(?<top>[a-z]+)/(.*)$ $top/$2; ~*\\.PNG$ {}; /a/ $v; }}",
        seg(rng),
        seg(rng)
    );
    if rng.chance(30) {
        let _ = writeln!(c, "map $m $mm {{ default $m; ~(?<deep>.+) $deep/x; }}");
    }
    let _ = writeln!(c, "server {{ listen 80; server_name a.test;");
    let n = rng.below(4);
    c.push_str(&directives(rng, t, Ctx::Server, n));
    let mut used = Vec::new();
    for _ in 0..1 + rng.below(7) {
        location(rng, t, "", 2, &mut used, &mut c);
        c.push('\n');
    }
    c.push_str("}\n");
    if rng.chance(30) {
        let _ = writeln!(
            c,
            "server {{ listen 80 default_server; server_name ~^(?<sub>.+)\\.re\\.test$; root {t}/$sub; {} }}",
            directive(rng, t, Ctx::Server)
        );
    }
    c.push_str("}\n");
    c
}

fn url(rng: &mut Rng) -> String {
    let mut u = String::new();
    for _ in 0..1 + rng.below(4) {
        u.push('/');
        let part = match rng.below(10) {
            0 => rng.word(&["..", "%2e%2e", ".", "", "%00", "%2F", "a%", "@n"]),
            1 | 2 => rng.word(FILES),
            _ => seg(rng),
        };
        u.push_str(part);
    }
    if rng.chance(20) {
        u.push('/');
    }
    if rng.chance(20) {
        u.push_str(rng.word(&["?x=1", "?x=", "?a=b&x=0", "?"]));
    }
    let host = *rng.pick(&["a.test", "b.re.test", "other", "a.test:80"]);
    format!("http://{host}{u}")
}

/// The file tree the configs point into: files, directories, a symlink loop, a FIFO.
fn tree(t: &Path) {
    for s in SEGMENTS {
        let d = t.join(s);
        std::fs::create_dir_all(d.join("sub")).unwrap();
        for f in ["f.png", "index.html", "404.html"] {
            std::fs::write(d.join(f), "x\n").unwrap();
        }
        let _ = std::os::unix::fs::symlink("loop", d.join("loop"));
        let _ = nix::unistd::mkfifo(
            &d.join("fifo"),
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        );
    }
}

#[test]
fn any_config_and_url_resolve_without_panic_in_bounded_time() {
    let seed = env_u64("MD_PROPS_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            % 1_000_000_007
    });
    let configs = env_u64("MD_PROPS_CONFIGS").unwrap_or(150) as usize;
    eprintln!("resolver_props: seed {seed} (MD_PROPS_SEED={seed} replays it), {configs} configs");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t");
    tree(&t);
    let conf = dir.path().join("nginx.conf");
    let (mut loaded, mut asked, mut known) = (0usize, 0usize, 0usize);
    let mut slowest = Duration::ZERO;
    for n in 0..configs {
        let text = config(&mut rng, &t.display().to_string());
        std::fs::write(&conf, &text).unwrap();
        let opts = Options {
            nginx_conf: Some(conf.clone()),
            ..Default::default()
        };
        let Ok(site) = Site::gather(&opts, true) else {
            continue;
        };
        if site.config().has_fatal_errors() {
            if std::env::var_os("MD_PROPS_VERBOSE").is_some() {
                for d in site.config().diagnostics.iter().filter(|d| d.fatal) {
                    eprintln!("not loaded: {}", d.message);
                }
            }
            continue;
        }
        loaded += 1;
        let resolver = site.resolver();
        // The served directories, made as the locations are found, are the first location of
        // each directory in config order, as `static_locations` lists them.
        let listed: Vec<(std::path::PathBuf, u32)> = resolver
            .static_locations()
            .into_iter()
            .map(|s| (s.dir.components().collect(), s.server))
            .collect();
        let served: Vec<(std::path::PathBuf, u32)> = site
            .served_dirs()
            .iter()
            .map(|s| (s.dir.to_path_buf(), s.server))
            .collect();
        assert_eq!(served, listed, "config {n} (seed {seed})\n{text}");
        for _ in 0..12 {
            let u = url(&mut rng);
            let Ok(req) = Request::from_url(&u) else {
                continue;
            };
            let req = if rng.chance(15) {
                req.with_method(rng.word(&["HEAD", "POST", "DELETE"]))
            } else {
                req
            };
            for explain in [true, false] {
                let started = Instant::now();
                let res = if explain {
                    resolver.resolve(&req)
                } else {
                    resolver.predict(&req)
                };
                let took = started.elapsed();
                slowest = slowest.max(took);
                let context = || format!("config {n} (seed {seed}), {u}\n{text}\n{res:#?}");
                assert!(
                    !res.reason.contains(MODEL_FAILURE),
                    "the model panicked: {}",
                    context()
                );
                assert!(
                    took < Duration::from_secs(2),
                    "took {took:?}: {}",
                    context()
                );
                // Known, passed to an upstream, refused (no server), or unknown with a reason.
                if explain {
                    asked += 1;
                    match res.predicted_status {
                        Some(_) => known += 1,
                        None => assert!(
                            res.upstream.is_some()
                                || res.server.is_none()
                                || res.unknown.as_deref().is_some_and(|w| !w.is_empty()),
                            "no status and no reason why: {}",
                            context()
                        ),
                    }
                }
            }
        }
    }
    eprintln!(
        "resolver_props: {loaded}/{configs} configs loaded, {asked} requests ({known} with a \
         status), slowest {slowest:?}"
    );
    assert!(
        loaded * 2 >= configs,
        "most generated configs should load ({loaded}/{configs})"
    );
}

/// Issue 16's panic: `recursive_error_pages on` and an error page that is missing itself. nginx
/// redirects to the page until the eleventh URI change and answers 500.
#[test]
fn recursive_error_page_that_is_missing_gives_500() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("nginx.conf");
    let root = dir.path().join("www");
    std::fs::create_dir(&root).unwrap();
    let site = site_at(
        &conf,
        &format!(
            "events {{}}\nhttp {{ server {{ listen 80; server_name a.test; root {}; \
             error_page 404 /404.html; recursive_error_pages on; }} }}\n",
            root.display()
        ),
    );
    let res = site
        .resolver()
        .resolve(&Request::from_url("http://a.test/missing").unwrap());
    assert_eq!(res.predicted_status, Some(500), "{res:#?}");
    assert!(
        res.log.iter().any(|l| l.contains("redirection cycle")),
        "{res:#?}"
    );
}

/// The site of the config `text`, written at `conf` (it loads).
fn site_at(conf: &Path, text: &str) -> Site {
    std::fs::write(conf, text).unwrap();
    Site::gather(
        &Options {
            nginx_conf: Some(conf.to_path_buf()),
            ..Default::default()
        },
        true,
    )
    .unwrap()
}

/// A site from `server` (the body of one server block listening on 80, named a.test) over a
/// fresh directory `{DIR}`; the resolver's answer for each URL (method, URL).
fn answers(server: &str, setup: impl Fn(&Path), urls: &[(&str, &str)]) -> Vec<Resolution> {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let conf = dir.path().join("nginx.conf");
    let server = server.replace("{DIR}", &dir.path().display().to_string());
    let site = site_at(
        &conf,
        &format!("events {{}}\nhttp {{ server {{ listen 80; server_name a.test; {server} }} }}\n"),
    );
    let r = site.resolver();
    urls.iter()
        .map(|(m, u)| r.resolve(&Request::from_url(u).unwrap().with_method(m)))
        .collect()
}

fn files(dir: &Path) {
    std::fs::create_dir_all(dir.join("www/sub")).unwrap();
    std::fs::write(dir.join("www/a.png"), "a").unwrap();
    std::fs::write(dir.join("www/sub/index.html"), "i").unwrap();
}

/// Directives the resolver does not follow make the answer unknown, with the directive and
/// where it is, only for the requests they act on; `predicted_status` stays None.
#[test]
fn unmodelled_directives_make_the_answer_unknown() {
    let res = answers(
        "root {DIR}/www; location /img/ { alias {DIR}/www/; image_filter resize 10 10; } \
         location /dav/ { alias {DIR}/www/; dav_methods PUT; } \
         location /ri/ { alias {DIR}/www/; random_index on; } \
         location /off/ { alias {DIR}/www/; random_index off; }",
        files,
        &[
            ("GET", "http://a.test/img/a.png"),
            ("GET", "http://a.test/img/missing.png"),
            ("PUT", "http://a.test/dav/x.png"),
            ("GET", "http://a.test/dav/a.png"),
            ("GET", "http://a.test/ri/sub/"),
            ("GET", "http://a.test/off/sub/"),
        ],
    );
    let unknown = |r: &Resolution, what: &str| {
        assert_eq!(r.predicted_status, None, "{r:#?}");
        let why = r.unknown.as_deref().unwrap_or("");
        assert!(why.contains(what) && why.contains("not modelled"), "{r:#?}");
    };
    unknown(&res[0], "image_filter");
    // A 404 is not filtered: image_filter acts on 200 answers only.
    assert_eq!(res[1].predicted_status, Some(404), "{:#?}", res[1]);
    unknown(&res[2], "dav_methods");
    assert_eq!(res[3].predicted_status, Some(200), "{:#?}", res[3]);
    unknown(&res[4], "random_index");
    assert_eq!(res[5].predicted_status, Some(200), "{:#?}", res[5]);
    assert!(res[5].unknown.is_none());
}

/// `path` is the file nginx opens first; the file the answer ends on is `final_path`.
#[test]
fn path_is_the_first_file_and_final_path_the_last() {
    let res = answers(
        "root {DIR}/www; error_page 404 /sub/index.html;",
        files,
        &[
            ("GET", "http://a.test/missing.png"),
            ("GET", "http://a.test/sub/"),
            ("GET", "http://a.test/a.png"),
        ],
    );
    let p = |r: &Resolution| r.path.as_ref().map(|p| p.display().to_string());
    let f = |r: &Resolution| r.final_path.as_ref().map(|p| p.display().to_string());
    assert_eq!(res[0].predicted_status, Some(404));
    assert!(
        p(&res[0]).unwrap().ends_with("/www/missing.png"),
        "{:#?}",
        res[0]
    );
    assert!(
        f(&res[0]).unwrap().ends_with("/www/sub/index.html"),
        "{:#?}",
        res[0]
    );
    assert!(res[0]
        .served_path()
        .unwrap()
        .ends_with("www/sub/index.html"));
    // The index file is opened first and served: one path.
    assert!(
        p(&res[1]).unwrap().ends_with("/www/sub/index.html"),
        "{:#?}",
        res[1]
    );
    assert_eq!(f(&res[1]), None);
    assert_eq!(f(&res[2]), None);
}

/// A `set` variable in root/alias: the checks' questions (no request runs the scripts) follow
/// the server's and the location's own `set`s, and leave anything else unknown, never `/`.
#[test]
fn set_variables_in_alias_are_followed_or_unknown() {
    let dir = tempfile::tempdir().unwrap();
    files(dir.path());
    let d = dir.path().display().to_string();
    let conf = dir.path().join("nginx.conf");
    let site = site_at(
        &conf,
        &format!(
            "events {{}}\nhttp {{ server {{ listen 80; server_name a.test; set $base {d}/www; \
             location /pub/ {{ alias $base/; }} \
             location /own/ {{ set $mine {d}/www; alias $mine/; }} \
             location /case/ {{ set $Mine {d}/www; alias $MINE/; }} \
             location /elsewhere/ {{ alias $public/; }} \
             location /other/ {{ set $public {d}; }} \
             location /captured/ {{ alias {d}/www$pr/; }} \
             location /up/ {{ proxy_pass http://127.0.0.1:9; proxy_redirect ~(?<pr>x) /; }} }} }}\n"
        ),
    );
    let r = site.resolver();
    let server = site.config().servers()[0].id();
    let path = |uri: &str| r.path_for(server, uri).map(|p| p.display().to_string());
    assert_eq!(path("/pub/a.png"), Some(format!("{d}/www/a.png")));
    assert_eq!(path("/own/a.png"), Some(format!("{d}/www/a.png")));
    // Variable names are case-insensitive: `set $Mine` is what `$MINE` reads.
    assert_eq!(path("/case/a.png"), Some(format!("{d}/www/a.png")));
    assert_eq!(path("/elsewhere/a.png"), None, "unknown, not /a.png");
    assert!(r.static_locations().iter().all(|s| s.dir != Path::new("/")));
    // A request runs the server's script, so `$base` is set when the alias is built.
    let res = r.resolve(&Request::from_url("http://a.test/pub/a.png").unwrap());
    assert_eq!(res.predicted_status, Some(200), "{res:#?}");
    // A named capture of `proxy_redirect` is declared (nginx registers it): in a request that
    // never ran that regex it is empty, as a `set` variable nothing set.
    let res = r.resolve(&Request::from_url("http://a.test/captured/a.png").unwrap());
    assert_eq!(res.predicted_status, Some(200), "{res:#?}");
}

/// A location matched once (`location_match`, as MD105 asks) is `location_for`'s, and the path
/// built from it (`path_of_match`, with the match's captures) is `path_for`'s: prefix, exact,
/// nested and regex locations, numbered and named captures in an alias, no location at all.
#[test]
fn a_location_matched_once_builds_the_path_of_path_for() {
    let dir = tempfile::tempdir().unwrap();
    files(dir.path());
    let d = dir.path().display().to_string();
    let conf = dir.path().join("nginx.conf");
    let site = site_at(
        &conf,
        &format!(
            "events {{}}\nhttp {{ server {{ listen 80; server_name a.test; root {d}/www; \
             location /pub/ {{ alias {d}/www/; location ~ \\.txt$ {{ }} }} \
             location = /x.png {{ }} \
             location ~* ^/img/(?<name>[^/]+)\\.(png|jpg)$ {{ alias {d}/www/$name.$2; }} \
             location ~ ^/n/(\\w+)/ {{ alias {d}/www/$1/; }} }} }}\n"
        ),
    );
    let r = site.resolver();
    let server = site.config().servers()[0].id();
    let uris = [
        "/pub/a.png",
        "/pub/b.txt",
        "/x.png",
        "/img/cat.PNG",
        "/img/cat.gif",
        "/n/abc/def",
        "/other",
        "/",
    ];
    let mut matched = 0;
    for uri in uris {
        let m = r.location_match(server, uri);
        assert_eq!(
            m.as_ref().map(|m| m.node),
            r.location_for(server, uri),
            "{uri}"
        );
        if let Some(m) = m {
            matched += 1;
            assert_eq!(
                r.path_of_match(server, uri, m),
                r.path_for(server, uri),
                "{uri}"
            );
        }
    }
    assert!(matched >= 5, "{matched}");
}

/// One served directory per directory, however its locations spell it: `location /` with
/// `root D` serves `D/` (the root and the URI `/`), a regex location with the same root serves
/// `D`; both are the first location's (what every directory check reads).
#[test]
fn a_directory_two_locations_spell_differently_is_served_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let conf = dir.path().join("nginx.conf");
    let site = site_at(
        &conf,
        &format!(
            "events {{}}\nhttp {{ server {{ listen 80; server_name a.test; \
             location / {{ root {d}/public; }} \
             location ~* \\.(jpg|png)$ {{ root {d}/public; }} \
             location /media/ {{ alias {d}/media/; }} }} }}\n"
        ),
    );
    let served: Vec<(String, String)> = site
        .served_dirs()
        .iter()
        .map(|s| (s.dir.display().to_string(), s.prefix.to_string()))
        .collect();
    assert_eq!(
        served,
        [
            (format!("{d}/public"), "/".to_string()),
            (format!("{d}/media"), "/media/".to_string()),
        ]
    );
}
