//! The resolver against a real nginx: generated scenarios (a config, a file tree with real owners
//! and modes, a batch of requests), each request sent to a private nginx on 127.0.0.1 and
//! predicted by the resolver through the same code path as `trace`. Statuses must agree, and for
//! 403/404 so must the paths nginx names in its error log.
//!
//! Seeded and reproducible: the seed is printed; `MD_DIFF_SEED=N` replays a run,
//! `MD_DIFF_SCENARIOS=N` sets how many scenarios to generate. A disagreement prints the whole
//! scenario (config, tree, request) so it can become a regression fixture.

use crate::support::{self, Nginx};
use media_doctor::nginx::resolve::{Request, Resolution};
use media_doctor::site::Options;
use media_doctor::site::Site;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::time::Duration;

/// SplitMix64: small, seedable, good enough to pick features (also drives resolver_props).
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    /// `pick` for string lists (a `&'static str`, not a reference to one).
    pub(crate) fn word(&mut self, items: &[&'static str]) -> &'static str {
        items[self.below(items.len())]
    }
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const OWNERS: &[(&str, u32, u32)] = &[
    ("root", 0, 0),
    ("www-data", 33, 33),
    ("nobody", 65534, 65534),
    ("root:www-data", 0, 33),
];
const DIR_MODES: &[u32] = &[0o755, 0o755, 0o755, 0o711, 0o700, 0o750];
const FILE_MODES: &[u32] = &[0o644, 0o644, 0o644, 0o600, 0o640];
const DIRS: &[&str] = &[
    "media",
    "static",
    "media-backup",
    "uploads",
    "www",
    "err",
    "img",
];

/// One generated file-system entry, for the printout.
#[derive(Debug)]
struct Entry {
    path: String,
    what: String,
}

fn chown(p: &Path, uid: u32, gid: u32) {
    let _ = nix::unistd::fchownat(
        nix::fcntl::AT_FDCWD,
        p,
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    );
}

fn make_tree(rng: &mut Rng, t: &Path) -> Vec<Entry> {
    let mut entries = Vec::new();
    let set = |p: &Path, mode: u32, owner: &(&str, u32, u32), entries: &mut Vec<Entry>| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
        chown(p, owner.1, owner.2);
        entries.push(Entry {
            path: p.strip_prefix(t).unwrap().display().to_string(),
            what: format!("{:o} {}", mode, owner.0),
        });
    };
    for d in DIRS {
        let dir = t.join(d);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        for f in [
            "a.png",
            "b.jpg",
            "index.html",
            "secret.txt",
            "x.php",
            "sub/c.png",
        ] {
            if rng.chance(85) {
                std::fs::write(dir.join(f), format!("{d}/{f}\n")).unwrap();
                let mode = if rng.chance(70) {
                    0o644
                } else {
                    *rng.pick(FILE_MODES)
                };
                let owner = rng.pick(OWNERS);
                set(&dir.join(f), mode, owner, &mut entries);
            }
        }
        if rng.chance(30) {
            std::fs::write(dir.join("sub/index.html"), "sub index\n").unwrap();
            set(&dir.join("sub/index.html"), 0o644, &OWNERS[0], &mut entries);
        } else if rng.chance(15) {
            // An index file that is a symlink loop: the index module's ELOOP (403).
            symlink("index.html", dir.join("sub/index.html")).unwrap();
            entries.push(Entry {
                path: format!("{d}/sub/index.html"),
                what: "symlink -> index.html (a loop)".into(),
            });
        }
        if rng.chance(40) {
            let target = *rng.pick(&[
                "a.png",
                "../static/a.png",
                "sub",
                "missing.png",
                "/etc/hostname",
            ]);
            let link = dir.join("link.png");
            symlink(target, &link).unwrap();
            let owner = rng.pick(&OWNERS[..2]);
            chown(&link, owner.1, owner.2);
            entries.push(Entry {
                path: format!("{d}/link.png"),
                what: format!("symlink -> {target} ({})", owner.0),
            });
        }
        // gzip_static's precompressed twins, some unreadable or a directory.
        if rng.chance(50) {
            let gz = dir.join("a.png.gz");
            if rng.chance(15) {
                std::fs::create_dir(&gz).unwrap();
            } else {
                std::fs::write(&gz, "gz\n").unwrap();
            }
            let mode = if rng.chance(75) { 0o644 } else { 0o600 };
            set(&gz, mode, rng.pick(OWNERS), &mut entries);
        }
        if rng.chance(30) {
            std::fs::write(dir.join("only.txt.gz"), "gz only\n").unwrap();
            set(&dir.join("only.txt.gz"), 0o644, &OWNERS[0], &mut entries);
        }
        // Special files: open() of a socket fails (ENXIO: 500); a FIFO opens (O_NONBLOCK) and
        // is not a regular file (404). A symlink loop fails with ELOOP (403).
        if rng.chance(50) {
            let _ = nix::unistd::mkfifo(
                &dir.join("fifo"),
                nix::sys::stat::Mode::from_bits_truncate(0o644),
            );
            entries.push(Entry {
                path: format!("{d}/fifo"),
                what: "fifo 644".into(),
            });
        }
        if rng.chance(50) {
            drop(std::os::unix::net::UnixListener::bind(dir.join("sock")));
            entries.push(Entry {
                path: format!("{d}/sock"),
                what: "unix socket".into(),
            });
        }
        if rng.chance(40) {
            symlink("loop", dir.join("loop")).unwrap();
            entries.push(Entry {
                path: format!("{d}/loop"),
                what: "symlink -> loop".into(),
            });
        }
        if rng.chance(25) {
            symlink("sub", dir.join("dirlink")).unwrap();
            entries.push(Entry {
                path: format!("{d}/dirlink"),
                what: "symlink -> sub (root)".into(),
            });
        }
        let sub_mode = if rng.chance(70) {
            0o755
        } else {
            *rng.pick(DIR_MODES)
        };
        set(&dir.join("sub"), sub_mode, rng.pick(OWNERS), &mut entries);
        let mode = if rng.chance(60) {
            0o755
        } else {
            *rng.pick(DIR_MODES)
        };
        set(&dir, mode, rng.pick(OWNERS), &mut entries);
    }
    std::fs::write(t.join("err/404.html"), "not found page\n").unwrap();
    std::fs::set_permissions(
        t.join("err/404.html"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::fs::write(t.join("htpasswd"), "u:$apr1$x$y\n").unwrap();
    std::fs::set_permissions(t.join("htpasswd"), std::fs::Permissions::from_mode(0o644)).unwrap();
    entries
}

/// A server block's locations, from templates with random parameters.
fn make_locations(rng: &mut Rng, t: &str, used: &mut Vec<String>) -> String {
    let mut out = String::new();
    let n = 3 + rng.below(6);
    for _ in 0..n {
        let dir = *rng.pick(DIRS);
        let slash = if rng.chance(60) { "/" } else { "" };
        let mut body = String::new();
        let (head, name) = match rng.below(42) {
            0..=4 => {
                let p = *rng.pick(&[
                    "/media/",
                    "/media",
                    "/static/",
                    "/static",
                    "/uploads/",
                    "/img/",
                ]);
                body.push_str(&format!("alias {t}/{dir}{slash};"));
                (format!("location {p}"), p.to_string())
            }
            5 => {
                let p = *rng.pick(&["/media/", "/static/", "/www/"]);
                body.push_str(&format!("root {t}{slash};"));
                (format!("location ^~ {p}"), p.to_string())
            }
            6 => {
                let p = *rng.pick(&["/media/", "/img/", "/static/"]);
                body.push_str(&format!("root {t}/{dir};"));
                (format!("location {p}"), p.to_string())
            }
            7 => {
                body.push_str(&format!("root {t}/{dir};"));
                let m = *rng.pick(&["~*", "~"]);
                (format!("location {m} \\.(png|jpg)$"), "regex-img".into())
            }
            8 => {
                body.push_str(&format!("alias {t}/{dir}/$1;"));
                ("location ~ ^/re/(.+)$".into(), "regex-re".into())
            }
            9 => {
                body.push_str(&format!("alias {t}/{dir}/a.png;"));
                ("location = /exact.png".into(), "exact".into())
            }
            10 => {
                let flag = *rng.pick(&["last", "break", "redirect", "permanent", ""]);
                let to = *rng.pick(&["/media/$1", "/static/$1", "/old/$1", "/re/$1"]);
                body.push_str(&format!("rewrite ^/old/(.*)$ {to} {flag};"));
                if rng.chance(50) {
                    body.push_str(&format!(" alias {t}/{dir}/;"));
                }
                ("location /old/".into(), "/old/".into())
            }
            11 => {
                body.push_str(&format!("alias {t}/{dir}/; internal;"));
                ("location /priv/".into(), "/priv/".into())
            }
            12 => {
                let rule = *rng.pick(&[
                    "deny all;",
                    "allow 127.0.0.1; deny all;",
                    "allow 10.0.0.0/8; deny all;",
                    "deny 127.0.0.0/8;",
                ]);
                body.push_str(&format!("alias {t}/{dir}/; {rule}"));
                ("location /deny/".into(), "/deny/".into())
            }
            13 => {
                let rule = if rng.chance(30) {
                    " allow 127.0.0.1; satisfy any;"
                } else {
                    ""
                };
                body.push_str(&format!(
                    "alias {t}/{dir}/; auth_basic \"x\"; auth_basic_user_file {t}/htpasswd;{rule}"
                ));
                ("location /auth/".into(), "/auth/".into())
            }
            14 => {
                let r = *rng.pick(&[
                    "return 200 \"ok\";",
                    "return 204;",
                    "return 301 /media/a.png;",
                    "return 403;",
                    "return 404;",
                    "return 418;",
                    "return 444;",
                    "return 302 http://example.com/x;",
                ]);
                body.push_str(r);
                ("location /ret/".into(), "/ret/".into())
            }
            15 => {
                body.push_str(&format!(
                    "alias {t}/{dir}/; location ~ \\.php$ {{ deny all; }} location ~ ^/nest/sub/ {{ return 299; }}"
                ));
                ("location /nest/".into(), "/nest/".into())
            }
            16 => {
                let lim = *rng.pick(&["GET", "POST"]);
                body.push_str(&format!(
                    "alias {t}/{dir}/; limit_except {lim} {{ deny all; }}"
                ));
                ("location /lim/".into(), "/lim/".into())
            }
            17 => {
                body.push_str("proxy_pass http://127.0.0.1:1;");
                ("location /up/".into(), "/up/".into())
            }
            18 => {
                body.push_str(&format!(
                    "alias {t}/{dir}/; if ($uri ~ \\.php$) {{ return 403; }} if ($arg_x) {{ return 419; }}"
                ));
                ("location /cond/".into(), "/cond/".into())
            }
            20 => {
                body.push_str(&format!("alias {t}/{dir}/$f;"));
                ("location ~ ^/nc/(?<f>.+)$".into(), "regex-nc".into())
            }
            21 => {
                body.push_str(&format!("alias {t}/{dir}/$1; try_files $uri =404;"));
                ("location ~ ^/rt/(.+)$".into(), "regex-rt".into())
            }
            22 => {
                let flag = *rng.pick(&["last", "permanent", "", "break"]);
                body.push_str(&format!("rewrite ^/rw/(.*)$ /media/$1?from=rw {flag};"));
                ("location /rw/".into(), "/rw/".into())
            }
            23 => {
                let r = *rng.pick(&[
                    "return 301 $scheme://$host$request_uri;",
                    "return 302 /media/$arg_f;",
                    "return 200 $uri;",
                ]);
                body.push_str(r);
                ("location /to/".into(), "/to/".into())
            }
            24 => {
                body.push_str(&format!("alias {t}/{dir}/; autoindex on;"));
                ("location /ai/".into(), "/ai/".into())
            }
            25 => {
                body.push_str(&format!(
                    "alias {t}/{dir}/; location ~ \\.png$ {{ deny all; }}"
                ));
                ("location ^~ /np/".into(), "/np/".into())
            }
            26 => {
                let ep = *rng.pick(&[
                    "error_page 403 404 =200 /err/404.html;",
                    "error_page 404 /ep/index.html;",
                    "error_page 403 = @fb;",
                ]);
                body.push_str(&format!("alias {t}/{dir}/; {ep}"));
                ("location /ep/".into(), "/ep/".into())
            }
            27 => {
                body.push_str(&format!(
                    "set $d {dir}; if ($arg_x) {{ set $d err; }} alias {t}/$d/;"
                ));
                ("location /sv/".into(), "/sv/".into())
            }
            28 => {
                body.push_str(&format!(
                    "alias {t}/{dir}/; disable_symlinks {} from={t};",
                    rng.pick(&["on", "if_not_owner"])
                ));
                ("location /ds/".into(), "/ds/".into())
            }
            29 | 30 => {
                // auth_request to a location of the server (see make_scenario): allowed,
                // refused, an unexpected status (500), a file, or a dead upstream.
                let to = rng.word(&["ok", "no", "forbid", "odd", "file", "up", "missing"]);
                let extra = if rng.chance(25) {
                    " allow 127.0.0.1; deny all; satisfy any;"
                } else {
                    ""
                };
                body.push_str(&format!(
                    "alias {t}/{dir}/; auth_request /_auth/{to};{extra}"
                ));
                ("location /ar/".into(), "/ar/".into())
            }
            31 => {
                let mode = rng.word(&["always", "on", "always", "on; gzip_vary on"]);
                body.push_str(&format!("alias {t}/{dir}/; gzip_static {mode};"));
                ("location /gz/".into(), "/gz/".into())
            }
            32 => {
                // The map's regex captures (named and $1) feed the alias; $1 of the location
                // is overwritten by the map's own when the map is evaluated first.
                let alias = rng.word(&["$mapdir/$1", "$mapdir/$rest", "$mpd/$rest"]);
                body.push_str(&format!("set $probe $mapdir; alias {t}/{alias};"));
                (
                    "location ~ ^/m[pq]/[a-z-]+/(?<rest>.*)$".into(),
                    "regex-map".into(),
                )
            }
            33 => {
                let v = rng.word(&[
                    "none blocked server_names",
                    "server_names *.example.com",
                    "blocked a.test",
                ]);
                body.push_str(&format!(
                    "alias {t}/{dir}/; valid_referers {v}; if ($invalid_referer) {{ return 403; }}"
                ));
                ("location /vr/".into(), "/vr/".into())
            }
            34 => {
                body.push_str(&format!(
                    "alias {t}/{dir}/; disable_symlinks {} from=$document_root;",
                    rng.pick(&["on", "if_not_owner"])
                ));
                ("location /dr/".into(), "/dr/".into())
            }
            35 => {
                let ep = rng.word(&[
                    "error_page 404 /rep/missing.html; recursive_error_pages on;",
                    "error_page 404 /rep/missing.html;",
                    "error_page 403 404 /rep/index.html; recursive_error_pages on;",
                ]);
                body.push_str(&format!("alias {t}/{dir}/; {ep}"));
                ("location /rep/".into(), "/rep/".into())
            }
            36 => {
                // Not modelled: the resolver must say unknown, not guess.
                let d = rng.word(&[
                    "dav_methods PUT DELETE;",
                    "random_index on;",
                    "mp4;",
                    "flv;",
                ]);
                body.push_str(&format!("alias {t}/{dir}/; {d}"));
                ("location /um/".into(), "/um/".into())
            }
            37 => {
                // Catastrophic backtracking: PCRE's match limit, nginx answers 500.
                body.push_str("return 299;");
                ("location ~ ^/bt/(a|aa)+$".into(), "regex-bt".into())
            }
            38 => {
                body.push_str(&format!(
                    "alias {t}/{dir}/; if ($uri ~ ^/rg/(a|aa)+$) {{ return 298; }}"
                ));
                ("location /rg/".into(), "/rg/".into())
            }
            39..=41 => {
                // Special files and loops under a served directory (make_tree adds them).
                body.push_str(&format!("alias {t}/{dir}/;"));
                if rng.chance(30) {
                    body.push_str(" try_files $uri =404;");
                }
                ("location /sp/".into(), "/sp/".into())
            }
            _ => {
                let tf = *rng.pick(&[
                    "try_files $uri =404;",
                    "try_files $uri $uri/ =404;",
                    "try_files $uri $uri/ /err/404.html;",
                    "try_files $uri @fb;",
                    "try_files /missing.png $uri =410;",
                    "try_files $uri/ $uri =404;",
                ]);
                let p = *rng.pick(&["/media/", "/static/", "/", "/tf/"]);
                let root = if rng.chance(50) {
                    format!("alias {t}/{dir}/;")
                } else {
                    format!("root {t};")
                };
                let root = if p == "/" {
                    format!("root {t}/{dir};")
                } else {
                    root
                };
                body.push_str(&format!("{root} {tf}"));
                (format!("location {p}"), p.to_string())
            }
        };
        if used.contains(&name) {
            continue;
        }
        used.push(name);
        let mut extra = String::new();
        if rng.chance(15) {
            extra.push_str(" index missing.html index.html;");
        }
        // Extras never repeat a directive the body has (nginx refuses a duplicate).
        if rng.chance(15) && !body.contains("autoindex") {
            extra.push_str(" autoindex on;");
        }
        if rng.chance(10) && !body.contains("disable_symlinks") {
            extra.push_str(&format!(
                " disable_symlinks {};",
                rng.pick(&["on", "if_not_owner"])
            ));
        }
        let _ = writeln!(out, "    {head} {{ {body}{extra} }}");
    }
    out
}

struct Scenario {
    config: String,
    tree: Vec<Entry>,
    requests: Vec<(String, String, String)>, // (method, host, target)
}

fn make_scenario(rng: &mut Rng, t: &str) -> (String, Vec<(String, String, String)>) {
    let mut used = Vec::new();
    let mut http = String::new();
    let mut server = String::new();
    let _ = writeln!(server, "  server {{\n    listen 127.0.0.1:{{PORT}};\n    server_name a.test *.wild.test www.tail.*;");
    if rng.chance(70) {
        let _ = writeln!(server, "    root {t}/{};", rng.pick(DIRS));
    }
    if rng.chance(15) {
        let _ = writeln!(server, "    merge_slashes off;");
    }
    if rng.chance(15) {
        let _ = writeln!(
            server,
            "    disable_symlinks {};",
            rng.pick(&["on", "if_not_owner"])
        );
    }
    if rng.chance(40) {
        let ep = *rng.pick(&[
            "error_page 404 /404.html;",
            "error_page 403 404 /404.html;",
            "error_page 403 =410 /404.html;",
            "error_page 404 = @fb;",
            "error_page 404 =301 http://example.com/nf;",
            "error_page 404 /missing-error.html;",
        ]);
        let _ = writeln!(server, "    {ep}");
        let internal = if rng.chance(50) { " internal;" } else { "" };
        let _ = writeln!(
            server,
            "    location = /404.html {{ root {t}/err;{internal} }}"
        );
    }
    if rng.chance(20) {
        let _ = writeln!(server, "    if ($arg_deny) {{ return 451; }}");
    }
    if rng.chance(8) {
        // A server-level `if` that does not end the request: its block is no location
        // (ngx_http_rewrite_if), so nginx still searches the server's locations.
        let _ = writeln!(server, "    if ($arg_s) {{ set $flag 1; }}");
    }
    if rng.chance(15) {
        let _ = writeln!(
            server,
            "    index {};",
            rng.pick(&["missing.html", "index.html missing.html"])
        );
    }
    let _ = writeln!(server, "    location @fb {{ return 299; }}");
    // auth_request's targets (location 29/30).
    let _ = writeln!(
        server,
        "    location = /_auth/ok {{ return 204; }}\n    location = /_auth/no {{ return 401; }}\n    \
         location = /_auth/forbid {{ return 403; }}\n    location = /_auth/odd {{ return 418; }}\n    \
         location = /_auth/file {{ alias {t}/www/a.png; }}\n    \
         location = /_auth/up {{ proxy_pass http://127.0.0.1:1; }}"
    );
    if rng.chance(20) {
        let _ = writeln!(server, "    large_client_header_buffers 4 1k;");
    }
    if rng.chance(10) {
        // Inherited by every location, /_auth/ok's own included: its subrequest skips the
        // access phase, so it does not ask itself.
        let _ = writeln!(
            server,
            "    auth_request /_auth/{};",
            rng.word(&["ok", "ok", "no"])
        );
    }
    let locations = make_locations(rng, t, &mut used);
    if rng.chance(40) {
        // A multi-file config: the locations come from an included snippet.
        let snippet = format!("{t}/snippet-{}.conf", rng.below(1_000_000));
        std::fs::write(&snippet, &locations).unwrap();
        let _ = writeln!(server, "    include {snippet};");
    } else {
        server.push_str(&locations);
    }
    server.push_str("  }\n");
    let _ = writeln!(
        http,
        "  map $uri $mapdir {{ ~^/mp/(?<mpd>[a-z-]+)/ $mpd; ~*^/mq/([a-z]+)/ $1; default www; }}"
    );
    http.push_str(&server);
    // A second server: chosen by a regex name with a capture, or the default for unknown hosts.
    let default = if rng.chance(50) {
        " default_server"
    } else {
        ""
    };
    let _ = writeln!(
        http,
        "  server {{\n    listen 127.0.0.1:{{PORT}}{default};\n    server_name ~^(?<sub>[a-z-]+)\\.re\\.test$ .dot.test;\n    root {t}/$sub;\n    location /only-second/ {{ return 298; }}\n  }}"
    );
    let hosts = [
        "a.test",
        "x.wild.test",
        "www.tail.org",
        "media.re.test",
        "static.re.test",
        "dot.test",
        "y.dot.test",
        "unknown.test",
        "127.0.0.1",
        "A.TEST",
    ];
    let prefixes = [
        "/media/",
        "/media",
        "/static/",
        "/static",
        "/media-backup/",
        "/uploads/",
        "/img/",
        "/re/",
        "/old/",
        "/",
        "/www/",
        "/priv/",
        "/deny/",
        "/auth/",
        "/ret/",
        "/nest/",
        "/lim/",
        "/up/",
        "/up",
        "/cond/",
        "/tf/",
        "/only-second/",
        "/exact.png",
        "/404.html",
        "/ar/",
        "/gz/",
        "/vr/",
        "/sp/",
        "/um/",
    ];
    let suffixes = [
        "a.png",
        "b.jpg",
        "index.html",
        "secret.txt",
        "x.php",
        "sub/",
        "sub",
        "sub/c.png",
        "link.png",
        "dirlink/a.png",
        "dirlink/c.png",
        "missing.png",
        "",
        "../secret.txt",
        "%2e%2e/secret.txt",
        "./a.png",
        "/a.png",
        "A.PNG",
        "a.png?x=1",
        "a.png?deny=1",
        "sub/index.html",
        "sub%2Fc.png",
        "%61.png",
        "link.png",
        "dirlink/",
        "sub/?x=1",
        "a.png?s=1",
        "a.png?f=b.jpg",
        "a.png.gz",
        "only.txt",
        "fifo",
        "sock",
        "loop",
        "loop/x",
        "sub/../sock",
    ];
    // Most requests aim at the locations this config has, on the server that has them.
    let mut aimed: Vec<String> = used
        .iter()
        .map(|u| match u.as_str() {
            "regex-img" => "/www/".to_string(),
            "regex-re" => "/re/".to_string(),
            "exact" => "/exact.png".to_string(),
            "regex-nc" => "/nc/".to_string(),
            "regex-rt" => "/rt/".to_string(),
            "regex-map" => format!("/{}/{}/", rng.word(&["mp", "mq"]), rng.word(DIRS)),
            "regex-bt" => "/bt/".to_string(),
            p => p.to_string(),
        })
        .collect();
    aimed.push("/".into());
    let mut requests = Vec::new();
    let n = 26 + rng.below(10);
    for _ in 0..n {
        let host = if rng.chance(65) {
            "a.test".to_string()
        } else {
            rng.pick(&hosts).to_string()
        };
        let target = match rng.below(13) {
            1..=7 => format!("{}{}", rng.pick(&aimed), rng.pick(&suffixes)),
            12 => {
                // Long request lines around the large_client_header_buffers sizes (1k, 8k),
                // and patterns that run into PCRE's match limit.
                let n = *rng.pick(&[1000, 1009, 1010, 1011, 1012, 8170, 8179, 8180, 8181, 9000]);
                match rng.below(3) {
                    0 => format!("/bt/{}b", "a".repeat(rng.pick(&[5, 40, 60]).to_owned())),
                    1 => format!("/rg/{}b", "a".repeat(40)),
                    _ => format!("/media/{}", "x".repeat(n - 7)),
                }
            }
            0 => rng
                .pick(&[
                    "/media../secret.txt",
                    "/media../media-backup/a.png",
                    "/static../www/a.png",
                    "/media-backup/a.png",
                    "/%",
                    "/a%2",
                    "/..",
                    "/media/%00",
                    "/up",
                    "/img../secret.txt",
                ])
                .to_string(),
            _ => format!("{}{}", rng.pick(&prefixes), rng.pick(&suffixes)),
        };
        let method = match rng.below(24) {
            0..=2 => "HEAD",
            3 => "POST",
            4 => "PUT",
            5 => "DELETE",
            _ => "GET",
        };
        requests.push((method.to_string(), host, target));
    }
    (http, requests)
}

/// Send one raw request; the status, or 444 when nginx closed the connection without answering.
pub(crate) fn send(port: u16, method: &str, host: &str, target: &str) -> u16 {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let body = if matches!(method, "POST" | "PUT") {
        "Content-Length: 0\r\n"
    } else {
        ""
    };
    let req =
        format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n{body}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    match text.split_whitespace().nth(1).and_then(|c| c.parse().ok()) {
        Some(c) if text.starts_with("HTTP/") => c,
        _ => 444,
    }
}

/// The quoted paths of error-log lines at error level and above (what media-doctor predicts).
fn logged_paths(log: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in log.lines() {
        if !(line.contains("[error]") || line.contains("[crit]") || line.contains("[alert]")) {
            continue;
        }
        // The message ends at ", client:"; its first quoted string is the path.
        let msg = line.split(", client:").next().unwrap_or(line);
        if let Some(i) = msg.find('"') {
            match msg[i + 1..].find('"') {
                Some(j) => out.push(msg[i + 1..i + 1 + j].to_string()),
                // nginx cut the line (NGX_MAX_ERROR_STR, 2048 bytes) and ended it with "...":
                // the path's beginning, marked as such.
                None => {
                    let rest = &msg[i + 1..];
                    let cut = rest.find("...").unwrap_or(rest.len());
                    out.push(format!("{}{TRUNCATED}", &rest[..cut]));
                }
            }
        }
    }
    out.sort();
    out
}

/// Marks a logged path nginx truncated.
const TRUNCATED: char = '\u{2026}';

/// The logged paths and the predicted ones are the same (a truncated logged path: its
/// beginning).
fn same_paths(logged: &[String], predicted: &[String]) -> bool {
    logged.len() == predicted.len()
        && logged
            .iter()
            .zip(predicted)
            .all(|(l, p)| match l.strip_suffix(TRUNCATED) {
                Some(start) => p.starts_with(start),
                None => l == p,
            })
}

fn predicted_paths(lines: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for l in lines {
        if let Some(i) = l.find('"') {
            if let Some(j) = l[i + 1..].find('"') {
                out.push(l[i + 1..i + 1 + j].to_string());
            }
        }
    }
    out.sort();
    out
}

/// The report with long runs of one character (the 414 cases' URIs) shortened: `x{8000}`.
fn squeeze(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(4096));
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let mut n = 1;
        while chars.peek() == Some(&c) {
            chars.next();
            n += 1;
        }
        if n > 20 {
            out.push_str(&format!("{c}{{{n}}}"));
        } else {
            out.extend(std::iter::repeat(c).take(n));
        }
    }
    out
}

pub(crate) fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn resolver_agrees_with_real_nginx() {
    if !support::require_root_and_nginx() {
        return;
    }
    let seed = env_u64("MD_DIFF_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            % 1_000_000_007
    });
    let scenarios = env_u64("MD_DIFF_SCENARIOS").unwrap_or(14) as usize;
    eprintln!("differential: seed {seed} (MD_DIFF_SEED={seed} replays it), {scenarios} scenarios");
    let mut rng = Rng(seed);
    let (mut total, mut agreed, mut upstream, mut unknown) = (0usize, 0usize, 0usize, 0usize);
    let mut unknown_why: std::collections::BTreeMap<String, usize> = Default::default();
    let mut failures = Vec::new();
    let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
    let started = std::time::Instant::now();
    for n in 0..scenarios {
        let treedir = tempfile::Builder::new()
            .prefix("md-diff-")
            .tempdir()
            .unwrap();
        support::open_ancestors(treedir.path());
        let t = treedir.path().join("t");
        std::fs::create_dir(&t).unwrap();
        std::fs::set_permissions(&t, std::fs::Permissions::from_mode(0o755)).unwrap();
        let tree = make_tree(&mut rng, &t);
        let (http, requests) = make_scenario(&mut rng, &t.display().to_string());
        let nginx = match Nginx::start("www-data", &http) {
            Ok(n) => n,
            Err(e) => {
                failures.push(format!(
                    "scenario {n}: nginx refused the config: {e}\n{http}"
                ));
                continue;
            }
        };
        let config = std::fs::read_to_string(nginx.conf_path()).unwrap();
        let scenario = Scenario {
            config,
            tree,
            requests: requests.clone(),
        };
        let args = Options {
            nginx_conf: Some(nginx.conf_path()),
            ..Default::default()
        };
        let mut site = Site::gather(&args, true).expect("the resolver loads the config");
        // nginx runs with `-p DIR`: relative paths (the default root `html`) start there.
        std::sync::Arc::make_mut(&mut site.nginx.config).prefix = nginx.dir.path().to_path_buf();
        let resolver = site.resolver();
        // The bulk path (`predict`, `predict_many`: no explanations, walks without display
        // strings, several threads) must reach the same answers as `resolve`, which nginx checks.
        let mut checked: Vec<(Request, Resolution)> = Vec::new();
        let mut log_len = std::fs::metadata(nginx.error_log())
            .map(|m| m.len())
            .unwrap_or(0);
        for (method, host, target) in &requests {
            let logged = nginx.requests_logged();
            let real = send(nginx.port, method, host, target);
            // The request's error-log lines are written before its access-log line.
            nginx.wait_for_requests_logged(logged + 1);
            let log = std::fs::read(nginx.error_log()).unwrap_or_default();
            let new_log = String::from_utf8_lossy(&log[log_len as usize..]).into_owned();
            log_len = log.len() as u64;
            let url = format!("http://{host}:{}{target}", nginx.port);
            let req = Request::from_url(&url)
                .unwrap()
                .with_method(method)
                .with_local_addr("127.0.0.1".parse().unwrap());
            let res = resolver.resolve(&req);
            checked.push((req.clone(), res.clone()));
            total += 1;
            *seen
                .entry(format!("{real} {}", res.handler.as_str()))
                .or_default() += 1;
            // A confident answer must be nginx's; otherwise the resolver must say why it cannot
            // know (an upstream decides, or `unknown` with its reason).
            let status_ok = match res.predicted_status {
                Some(p) => p == real,
                None if res.upstream.is_some() => {
                    upstream += 1;
                    true
                }
                None if res.unknown.as_deref().is_some_and(|w| !w.is_empty()) => {
                    unknown += 1;
                    *unknown_why
                        .entry(
                            res.unknown
                                .clone()
                                .unwrap_or_default()
                                .chars()
                                .take(60)
                                .collect(),
                        )
                        .or_default() += 1;
                    true
                }
                None => false,
            };
            // The error log is compared for confident answers (an unknown one makes no claim).
            let paths_ok = res.predicted_status.is_none()
                || !(real == 403 || real == 404)
                || same_paths(&logged_paths(&new_log), &predicted_paths(&res.log));
            if status_ok && paths_ok {
                agreed += 1;
            } else {
                let f = format!(
                    "scenario {n}, {method} {target} Host: {host}\n  nginx: {real}\n  resolver: {:?} ({}) handler {} path {:?}\n  reason: {}\n  steps: {:#?}\n  nginx log: {}\n  predicted log: {:?}\n",
                    res.predicted_status,
                    res.uri.as_deref().unwrap_or(""),
                    res.handler.as_str(),
                    res.path,
                    res.reason,
                    res.steps,
                    new_log.trim(),
                    res.log
                );
                let mut f = squeeze(&f);
                if failures
                    .iter()
                    .all(|x: &String| !x.starts_with(&format!("scenario {n},")))
                {
                    let _ = write!(f, "--- config ---\n{}\n--- tree ---\n", scenario.config);
                    for e in &scenario.tree {
                        let _ = writeln!(f, "  {} {}", e.path, e.what);
                    }
                    let _ = writeln!(f, "  (all requests: {:?})", scenario.requests);
                }
                failures.push(f);
            }
        }
        drop(nginx);
        let reqs: Vec<Request> = checked.iter().map(|(q, _)| q.clone()).collect();
        // Two threads even for a few requests (predict_many would keep them on one).
        let many = resolver.predict_on_threads(&reqs, 2);
        assert_eq!(many.len(), reqs.len(), "predict_many answers every request");
        for ((req, full), bulk) in checked.iter().zip(&many) {
            for (how, quick) in [
                ("predict", &resolver.predict(req)),
                ("predict_on_threads", bulk),
            ] {
                let same = |r: &Resolution| {
                    (
                        r.predicted_status,
                        r.handler.as_str().to_string(),
                        r.server,
                        r.location,
                        r.path.clone(),
                        r.redirect.clone(),
                        r.upstream.clone(),
                        r.uri.clone(),
                    )
                };
                if same(quick) != same(full) {
                    failures.push(format!(
                        "scenario {n}, {} {}: {how} differs from resolve:\n  resolve: {:?}\n  {how}: {:?}\n",
                        req.method,
                        req.url,
                        same(full),
                        same(quick)
                    ));
                }
            }
        }
    }
    let confident = total - upstream - unknown;
    eprintln!(
        "differential: {agreed}/{total} requests agree: {} of {confident} confident answers are nginx's, {upstream} left to an upstream, {unknown} unknown with a reason; {scenarios} scenarios, seed {seed}, {:.1}s",
        agreed - upstream - unknown,
        started.elapsed().as_secs_f64()
    );
    eprintln!("differential: unknown because: {unknown_why:?}");
    eprintln!("differential: outcomes (status handler: count): {seen:?}");
    assert!(total >= 300 || scenarios < 14, "too few requests: {total}");
    if !failures.is_empty() {
        if std::env::var_os("MD_DIFF_BRIEF").is_some() {
            for f in &failures {
                eprintln!("{}", f.lines().take(3).collect::<Vec<_>>().join(" | "));
            }
        }
        for f in failures
            .iter()
            .take(if std::env::var_os("MD_DIFF_BRIEF").is_some() {
                0
            } else {
                12
            })
        {
            eprintln!("{f}");
        }
        panic!(
            "{} of {total} requests disagree with nginx (seed {seed})",
            failures.len()
        );
    }
}

/// Regression (from the differential run): a true server-level `if` does not take the place of a
/// location (ngx_http_rewrite_if gives it no loc_conf), so nginx still picks `location /media/`
/// and opens its root's path; the resolver used to stay on the server's root.
#[test]
fn server_level_if_still_searches_locations() {
    if !support::require_root_and_nginx() {
        return;
    }
    let http =
        "  server {\n    listen 127.0.0.1:{PORT};\n    server_name a.test;\n    root {DIR}/srv;\n\
                if ($arg_s) { set $flag 1; }\n    if ($uri ~ \\.(gif|bmp)) { return 410; }\n\
                location /media/ { root {DIR}/other; }\n  }\n";
    let nginx = Nginx::start("www-data", http).expect("nginx starts");
    // The second `if` also checks that a regex ending in `)` keeps it (the parser already took the
    // condition's parentheses off).
    resolver_agrees_on(
        &nginx,
        &["/media/a.png?s=1", "/media/a.png", "/x.gif?s=1", "/x.png"],
    );
}

/// nginx's variable names are case-insensitive: a capitalised named group `(?<Name>...)` is read
/// as `$name`, `$FILE` reads `(?<file>...)`, `set $Base` is `$BASE`. The resolver kept the names
/// as written and found none of them (an unknown status where nginx serves the file).
#[test]
fn variable_names_are_case_insensitive() {
    if !support::require_root_and_nginx() {
        return;
    }
    let http = "  server {\n    listen 127.0.0.1:{PORT};\n    server_name a.test;\n\
                location ~ ^/cap/(?<Name>[a-z]+)$ { alias {DIR}/srv/$name.png; }\n\
                location ~ ^/up/(?<file>[a-z]+)$ { alias {DIR}/srv/$FILE.png; }\n\
                location /set/ { set $Base {DIR}/srv; alias $BASE/; }\n  }\n";
    let nginx = Nginx::start("www-data", http).expect("nginx starts");
    let srv = nginx.dir.path().join("srv");
    std::fs::create_dir_all(&srv).unwrap();
    std::fs::write(srv.join("a.png"), b"png").unwrap();
    support::open_ancestors(&srv.join("a.png"));
    resolver_agrees_on(
        &nginx,
        &[
            "/cap/a",
            "/cap/b",
            "/up/a",
            "/up/b",
            "/set/a.png",
            "/set/b.png",
        ],
    );
}

/// The resolver and the running `nginx` (server a.test) give each target the same status and
/// name the same paths in the error log.
fn resolver_agrees_on(nginx: &Nginx, targets: &[&str]) {
    let site = Site::gather(
        &Options {
            nginx_conf: Some(nginx.conf_path()),
            ..Default::default()
        },
        true,
    )
    .expect("the resolver loads the config");
    let resolver = site.resolver();
    for target in targets {
        let before = std::fs::metadata(nginx.error_log()).map_or(0, |m| m.len()) as usize;
        let logged = nginx.requests_logged();
        let real = send(nginx.port, "GET", "a.test", target);
        nginx.wait_for_requests_logged(logged + 1);
        let log = std::fs::read(nginx.error_log()).unwrap_or_default();
        let log = String::from_utf8_lossy(&log[before..]).into_owned();
        let url = format!("http://a.test:{}{target}", nginx.port);
        let req = Request::from_url(&url)
            .unwrap()
            .with_local_addr("127.0.0.1".parse().unwrap());
        let res = resolver.resolve(&req);
        assert_eq!(res.predicted_status, Some(real), "{target}: {res:#?}");
        assert_eq!(
            predicted_paths(&res.log),
            logged_paths(&log),
            "{target}: {res:#?}"
        );
    }
}

/// Regression (seeds 1488788277, 3088886699): an auth_request subrequest's failed open is in
/// the error log (with `subrequest: "/_auth/file"`); the resolver used its status and dropped
/// its log lines.
#[test]
fn an_auth_subrequests_log_lines_are_predicted() {
    if !support::require_root_and_nginx() {
        return;
    }
    let http = "  server {\n    listen 127.0.0.1:{PORT};\n    server_name a.test;\n\
                root {DIR}/srv;\n    location /ar/ { auth_request /_auth/file; }\n\
                location = /_auth/file { alias {DIR}/srv/closed.png; }\n  }\n";
    let nginx = Nginx::start("www-data", http).expect("nginx starts");
    let srv = nginx.dir.path().join("srv");
    std::fs::create_dir_all(srv.join("ar")).unwrap();
    std::fs::write(srv.join("ar/a.png"), b"png").unwrap();
    std::fs::write(srv.join("closed.png"), b"png").unwrap();
    support::open_ancestors(&srv.join("ar/a.png"));
    std::fs::set_permissions(
        srv.join("closed.png"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    resolver_agrees_on(&nginx, &["/ar/a.png", "/ar/missing.png"]);
}

/// Regression (seed 283280342): with `disable_symlinks on`, nginx tests a try_files or index
/// candidate by opening it (O_NONBLOCK, then fstat), so a unix socket fails there with ENXIO:
/// try_files logs it at crit and goes on to its next candidate; index answers 500. The
/// resolver took the socket's stat() as "exists" and answered the static module's 500.
#[test]
fn a_socket_tested_with_symlinks_checked_fails_to_open() {
    if !support::require_root_and_nginx() {
        return;
    }
    let http = "  server {\n    listen 127.0.0.1:{PORT};\n    server_name a.test;\n\
                disable_symlinks on;\n    root {DIR}/srv;\n\
                location /media/ { try_files $uri @fb; }\n    location /idx/ { index sock; }\n\
                location @fb { return 299; }\n  }\n";
    let nginx = Nginx::start("www-data", http).expect("nginx starts");
    let mut sockets = Vec::new();
    for dir in ["srv/media", "srv/idx"] {
        let dir = nginx.dir.path().join(dir);
        std::fs::create_dir_all(&dir).unwrap();
        sockets.push(std::os::unix::net::UnixListener::bind(dir.join("sock")).unwrap());
        support::open_ancestors(&dir.join("sock"));
    }
    resolver_agrees_on(&nginx, &["/media/sock", "/idx/"]);
}
