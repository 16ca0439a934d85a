//! The Apache resolver against real Apache httpd 2.4: generated scenarios (a config with random
//! virtual hosts, aliases, directory sections and options; a file tree with real owners, modes
//! and symlinks; a batch of URLs), each request sent to a private Apache on 127.0.0.1 (its own
//! ServerRoot, PidFile, ErrorLog, an unprivileged port; started as root with `User www-data`,
//! stopped at the end) and predicted by `apache::resolve`. Statuses must agree on >= 99% of at
//! least 500 requests.
//!
//! Seeded and reproducible: the seed is printed; `MD_APACHE_SEED=N` replays a run,
//! `MD_APACHE_SCENARIOS=N` sets how many scenarios. A disagreement prints the scenario (config,
//! tree, request) so it can become a fixture (tests/it/apache_fixtures.rs).

use crate::apache_loader::{apache_binary, require_apache};
use crate::support;
use media_doctor::apache;
use media_doctor::nginx::resolve::Request;
use media_doctor::sysroot::SysRoot;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// SplitMix64.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// A private Apache: ServerRoot `dir`, stopped (its own process, by pid) on drop.
pub struct Apache {
    child: Option<Child>,
    pub port: u16,
}

impl Apache {
    /// Start `conf` in the foreground (as a child) and wait until it accepts connections.
    pub fn start(dir: &Path, conf: &Path, port: u16) -> Result<Apache, String> {
        let bin = apache_binary().ok_or("no apache2")?;
        let child = Command::new(bin)
            .args([
                "-d",
                &dir.display().to_string(),
                "-f",
                &conf.display().to_string(),
            ])
            .args(["-D", "FOREGROUND"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let mut a = Apache {
            child: Some(child),
            port,
        };
        // Apache binds its port before it writes its PidFile: a test that looks for the
        // master (MD507) must not start in between.
        let pid_file = std::fs::read_to_string(conf).ok().and_then(|text| {
            let line = text
                .lines()
                .find(|l| l.trim_start().starts_with("PidFile"))?;
            let named = line.split_whitespace().nth(1)?.trim_matches('"');
            Some(dir.join(named))
        });
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                && pid_file.as_ref().map_or(true, |p| {
                    std::fs::read_to_string(p).is_ok_and(|t| t.trim().parse::<u32>().is_ok())
                })
            {
                return Ok(a);
            }
            if let Some(c) = a.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    let mut err = String::new();
                    if let Some(mut e) = c.stderr.take() {
                        let _ = e.read_to_string(&mut err);
                    }
                    a.child = None;
                    return Err(format!("apache2 exited ({status}): {err}"));
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err("apache2 did not start listening in 15 s".into())
    }

    /// `GET target` with this Host: the status.
    pub fn get(&self, host: &str, target: &str) -> Option<u16> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        write!(
            s,
            "GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        let text = String::from_utf8_lossy(&buf);
        text.split_whitespace().nth(1)?.parse().ok()
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // The parent (our child) stops its own workers on SIGTERM.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The modules every scenario loads (what the resolver models).
pub const MODULES: &[&str] = &[
    "mpm_event",
    "authz_core",
    "authz_host",
    "alias",
    "dir",
    "autoindex",
    "mime",
];

/// The main config's head: ServerRoot, its own pid and logs, User, the modules, Debian's
/// `<Directory />` and `.ht*` rules.
pub fn main_conf(dir: &Path, port: u16) -> String {
    let mut c = format!(
        "ServerRoot {d}\nPidFile {d}/apache.pid\nErrorLog {d}/error.log\nLogLevel info\n\
         ServerName localhost\nUser www-data\nGroup www-data\nListen 127.0.0.1:{port}\n\
         DefaultRuntimeDir {d}\nMutex file:{d} default\n",
        d = dir.display()
    );
    for m in MODULES {
        writeln!(
            c,
            "LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so"
        )
        .unwrap();
    }
    c.push_str(
        "TypesConfig /etc/mime.types\n\
         <Directory />\n  Options FollowSymLinks\n  AllowOverride None\n  Require all denied\n</Directory>\n\
         <FilesMatch \"^\\.ht\">\n  Require all denied\n</FilesMatch>\n",
    );
    c
}

const OWNERS: &[(&str, u32, u32)] = &[
    ("root", 0, 0),
    ("www-data", 33, 33),
    ("nobody", 65534, 65534),
];
const DIR_MODES: &[u32] = &[0o755, 0o755, 0o755, 0o755, 0o755, 0o711, 0o700, 0o750];
const FILE_MODES: &[u32] = &[0o644, 0o644, 0o644, 0o644, 0o644, 0o600, 0o640];
const DIRS: &[&str] = &["media", "static", "uploads", "www", "img", "docs"];
const FILES: &[&str] = &[
    "a.jpg",
    "b.txt",
    "index.html",
    "c d.png",
    ".htpasswd",
    "x.py",
];

struct Scenario {
    conf: String,
    tree: Vec<String>,
    /// (host, target)
    urls: Vec<(String, String)>,
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

/// A random tree under `base/srv` and a config over it.
fn generate(rng: &mut Rng, base: &Path, port: u16) -> Scenario {
    let srv = base.join("srv");
    std::fs::create_dir_all(&srv).unwrap();
    let mut tree = Vec::new();
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();
    for d in DIRS {
        if !rng.chance(92) {
            continue;
        }
        let p = srv.join(d);
        std::fs::create_dir_all(&p).unwrap();
        dirs.push(p.clone());
        if rng.chance(40) {
            let sub = p.join("sub");
            std::fs::create_dir_all(&sub).unwrap();
            dirs.push(sub);
        }
    }
    for d in dirs.clone() {
        for f in FILES {
            if rng.chance(75) {
                let p = d.join(f);
                std::fs::write(&p, b"x").unwrap();
                files.push(p);
            }
        }
    }
    // Symlinks: to a directory, to a file, dangling.
    let mut links = Vec::new();
    if rng.chance(70) && !dirs.is_empty() {
        let target = rng.pick(&dirs).clone();
        let l = srv.join("linkdir");
        symlink(&target, &l).unwrap();
        links.push((l, target));
    }
    if rng.chance(60) && !files.is_empty() {
        let target = rng.pick(&files).clone();
        let l = target.parent().unwrap().join("link.jpg");
        if !l.exists() {
            symlink(&target, &l).unwrap();
            links.push((l, target));
        }
    }
    if rng.chance(30) && !dirs.is_empty() {
        let l = rng.pick(&dirs).join("dangling.jpg");
        symlink("/nonexistent/x.jpg", &l).unwrap();
        links.push((l, PathBuf::from("/nonexistent/x.jpg")));
    }
    // .htaccess files: read only where AllowOverride lets them in.
    for d in dirs.clone() {
        if !rng.chance(30) {
            continue;
        }
        let body = rng.pick(&[
            "Require all denied\n",
            "Require all granted\n",
            "Options +Indexes\n",
            "Options -Indexes\n",
            "DirectoryIndex b.txt\n",
            "<Files \"a.jpg\">\n  Require all denied\n</Files>\n",
            "Require ip 10.0.0.0/8\n",
        ]);
        let p = d.join(".htaccess");
        std::fs::write(&p, body).unwrap();
        let mode = if rng.chance(15) { 0o600 } else { 0o644 };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        tree.push(format!("{mode:o} 0:0 {}: {}", p.display(), body.trim()));
    }
    for d in &dirs {
        let mode = *rng.pick(DIR_MODES);
        let (_, uid, gid) = *rng.pick(OWNERS);
        chown(d, uid, gid);
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode)).unwrap();
        tree.push(format!("{:o} {uid}:{gid} {}/", mode, d.display()));
    }
    for f in &files {
        let mode = *rng.pick(FILE_MODES);
        let (_, uid, gid) = *rng.pick(OWNERS);
        chown(f, uid, gid);
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(mode)).unwrap();
        tree.push(format!("{:o} {uid}:{gid} {}", mode, f.display()));
    }
    for (l, t) in &links {
        let (_, uid, gid) = *rng.pick(OWNERS);
        chown(l, uid, gid);
        tree.push(format!("{} -> {} (owner {uid})", l.display(), t.display()));
    }

    let s = srv.display().to_string();
    let mut conf = main_conf(base, port);
    if rng.chance(50) {
        conf.push_str("DirectoryIndex index.html index.htm\n");
    }
    let nv = 1 + rng.below(3);
    let mut hosts = Vec::new();
    let mut per_host: Vec<Vec<String>> = Vec::new();
    for v in 0..nv {
        let host = format!("h{v}.test");
        hosts.push(host.clone());
        let mut prefixes: Vec<String> = vec!["/".into()];
        let addr = if rng.chance(70) {
            format!("*:{port}")
        } else {
            format!("127.0.0.1:{port}")
        };
        writeln!(
            conf,
            "<VirtualHost {addr}>\n  ServerName {host}\n  ServerAlias www.{host} *.w{v}.test"
        )
        .unwrap();
        let docroot = rng.pick(DIRS);
        writeln!(conf, "  DocumentRoot {s}/{docroot}").unwrap();
        for _ in 0..rng.below(4) {
            let d = rng.pick(DIRS);
            let url = rng.pick(&["/media", "/static", "/files", "/m"]);
            let url_slash = rng.chance(60);
            let path_slash = rng.chance(60);
            let target = if rng.chance(15) {
                format!("{s}/linkdir")
            } else {
                format!("{s}/{d}")
            };
            writeln!(
                conf,
                "  Alias {url}{} {target}{}",
                if url_slash { "/" } else { "" },
                if path_slash { "/" } else { "" }
            )
            .unwrap();
            prefixes.push(format!("{url}/"));
            prefixes.push(url.to_string());
        }
        if rng.chance(30) {
            let d = rng.pick(DIRS);
            writeln!(conf, "  AliasMatch \"^/thumbs/(.*)$\" \"{s}/{d}/$1\"").unwrap();
            prefixes.push("/thumbs/".into());
        }
        if rng.chance(25) {
            writeln!(conf, "  Redirect permanent /old http://{host}/new").unwrap();
            prefixes.push("/old/".into());
        }
        // Directory sections: on the tree's directories, granted or denied, with options.
        for _ in 0..rng.below(5) {
            let d = rng.pick(DIRS);
            let sub = if rng.chance(20) { "/sub" } else { "" };
            let slash = if rng.chance(50) { "/" } else { "" };
            let opts = rng.pick(&[
                "",
                "  Options Indexes\n",
                "  Options -Indexes\n",
                "  Options +Indexes -FollowSymLinks\n",
                "  Options None\n",
                "  Options SymLinksIfOwnerMatch\n",
                "  Options +Indexes +FollowSymLinks\n",
            ]);
            let req = rng.pick(&[
                "  Require all granted\n",
                "  Require all granted\n",
                "  Require all granted\n",
                "  Require all granted\n",
                "  Require all denied\n",
                "  Require ip 10.0.0.0/8\n",
                "  Require local\n",
                "",
            ]);
            let index = if rng.chance(20) {
                "  DirectoryIndex b.txt\n"
            } else {
                ""
            };
            let over = if rng.chance(40) {
                *rng.pick(&[
                    "  AllowOverride All\n",
                    "  AllowOverride None\n",
                    "  AllowOverride AuthConfig\n",
                    "  AllowOverride Options\n",
                    "  AllowOverride Indexes\n",
                    "  AllowOverride AuthConfig Indexes\n",
                ])
            } else {
                ""
            };
            writeln!(
                conf,
                "  <Directory {s}/{d}{sub}{slash}>\n{opts}{req}{index}{over}  </Directory>"
            )
            .unwrap();
        }
        if rng.chance(90) {
            writeln!(
                conf,
                "  <Directory {s}>\n    Require all granted\n{}  </Directory>",
                if rng.chance(30) {
                    "    AllowOverride All\n"
                } else {
                    ""
                }
            )
            .unwrap();
        }
        if rng.chance(20) {
            writeln!(
                conf,
                "  <Directory {s}/*/sub>\n    Require all denied\n  </Directory>"
            )
            .unwrap();
        }
        if rng.chance(25) {
            writeln!(
                conf,
                "  <FilesMatch \"\\.(py|txt)$\">\n    Require all denied\n  </FilesMatch>"
            )
            .unwrap();
        }
        if rng.chance(20) {
            writeln!(
                conf,
                "  <Files \"a.jpg\">\n    Require all denied\n  </Files>"
            )
            .unwrap();
        }
        if rng.chance(25) {
            let loc = rng.pick(&["/media", "/static/", "/m"]);
            let req = rng.pick(&["Require all denied", "Require all granted"]);
            writeln!(conf, "  <Location {loc}>\n    {req}\n  </Location>").unwrap();
        }
        conf.push_str("</VirtualHost>\n");
        per_host.push(prefixes);
    }
    // URLs: prefixes × names, directories with and without slash, odd forms.
    let mut urls = Vec::new();
    let mut names: Vec<String> = FILES.iter().map(|f| f.replace(' ', "%20")).collect();
    names.extend(["a.jpg", "b.txt", "index.html", "a.jpg", "b.txt"].map(String::from));
    names.extend(
        [
            "",
            "sub",
            "sub/",
            "sub/a.jpg",
            "missing.jpg",
            "link.jpg",
            "dangling.jpg",
            "a.jpg/extra",
        ]
        .map(String::from),
    );
    names.extend(DIRS.iter().map(|d| d.to_string()));
    names.extend(DIRS.iter().map(|d| format!("{d}/")));
    for _ in 0..60 {
        let v = rng.below(hosts.len());
        let mut host = hosts[v].clone();
        if rng.chance(10) {
            host = "unknown.test".into();
        } else if rng.chance(10) {
            host = format!("www.{host}");
        }
        let prefix = if rng.chance(30) {
            format!("/{}/", rng.pick(DIRS))
        } else {
            rng.pick(&per_host[v]).clone()
        };
        let name = rng.pick(&names).clone();
        let mut target = if prefix.ends_with('/') || name.is_empty() {
            format!("{prefix}{name}")
        } else {
            format!("{prefix}/{name}")
        };
        match rng.below(30) {
            0 => target = target.replacen('/', "//", 1),
            1 => target = format!("/x/..{target}"),
            2 => target = target.replace('a', "%61"),
            3 => target = format!("{target}?q=1"),
            4 => target = target.replace("/", "%2F").replacen("%2F", "/", 1),
            _ => {}
        }
        urls.push((host, target));
    }
    Scenario { conf, tree, urls }
}

#[test]
fn statuses_agree_with_real_apache() {
    if !support::require(support::is_root(), "needs root (chown, and Apache's User)")
        || !require_apache()
    {
        return;
    }
    let seed = std::env::var("MD_APACHE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0xA9AC_4E14u64);
    let scenarios: usize = std::env::var("MD_APACHE_SCENARIOS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    eprintln!("apache differential: seed {seed}, {scenarios} scenarios (MD_APACHE_SEED to replay)");
    let mut rng = Rng(seed);
    let (mut total, mut compared, mut agree) = (0usize, 0usize, 0usize);
    let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
    let mut report = String::new();
    for n in 0..scenarios {
        let t = tempfile::tempdir().unwrap();
        let base = t.path();
        std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o755)).unwrap();
        let port = support::free_port();
        let sc = generate(&mut rng, base, port);
        let conf = base.join("apache2.conf");
        std::fs::write(&conf, &sc.conf).unwrap();
        let apache = match Apache::start(base, &conf, port) {
            Ok(a) => a,
            Err(e) => panic!("scenario {n}: {e}\n{}", sc.conf),
        };
        let cfg = apache::load_files(&SysRoot::live(), &conf).unwrap();
        assert!(cfg.first_error().is_none(), "{:?}", cfg.diagnostics);
        let root = SysRoot::live();
        let resolver = apache::resolve::Resolver::new(&cfg, &root);
        let mut bad = String::new();
        for (host, target) in &sc.urls {
            total += 1;
            let real = apache.get(host, target);
            let req =
                Request::for_path(host, port, target).with_local_addr("127.0.0.1".parse().unwrap());
            let ours = resolver.resolve(&req);
            let Some(predicted) = ours.predicted_status else {
                continue;
            };
            let Some(real) = real else { continue };
            compared += 1;
            if std::env::var("MD_APACHE_VERBOSE").is_ok() {
                eprintln!("{real} {host}{target}: {}", ours.reason);
            }
            *by_status.entry(real).or_default() += 1;
            if predicted == real {
                agree += 1;
            } else {
                writeln!(
                    bad,
                    "  {host} {target}: apache {real}, predicted {predicted} ({})\n    {}",
                    ours.reason,
                    ours.steps.join("\n    ")
                )
                .unwrap();
            }
        }
        drop(apache);
        if !bad.is_empty() {
            writeln!(
                report,
                "scenario {n} (seed {seed}):\n{}\ntree:\n  {}\n{bad}",
                sc.conf,
                sc.tree.join("\n  ")
            )
            .unwrap();
        }
    }
    eprintln!("apache differential: {agree}/{compared} statuses agree ({total} requests, seed {seed}); Apache's statuses: {by_status:?}");
    // A run that only ever sees one answer proves nothing.
    assert!(by_status.len() >= 4, "too little variety: {by_status:?}");
    assert!(
        compared >= 500,
        "only {compared} of {total} requests could be compared"
    );
    assert!(
        agree * 100 >= compared * 99,
        "{agree}/{compared} agree (seed {seed}):\n{report}"
    );
    if !report.is_empty() {
        eprintln!("{report}");
    }
}
