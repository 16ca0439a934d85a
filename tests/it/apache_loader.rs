//! The Apache loader against real Apache httpd: file trees built on disk, read by the loader and
//! by `apache2 -t` (`-D DUMP_INCLUDES` for the files in reading order, `-S` for the virtual
//! hosts, the syntax error's file and line for broken configs). Needs the apache2 binary
//! (`apt-get install apache2`); under CI=true its absence fails the test.

use crate::support;
use media_doctor::apache;
use media_doctor::sysroot::SysRoot;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn apache_binary() -> Option<PathBuf> {
    ["/usr/sbin/apache2", "/usr/sbin/httpd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

#[must_use]
pub fn require_apache() -> bool {
    support::require(
        apache_binary().is_some(),
        "needs Apache httpd (apt-get install apache2)",
    )
}

/// `apache2 -t ARGS` on `conf` with `envvars` of its directory sourced first (as apache2ctl
/// does): (success, stdout + stderr).
pub fn apache_t(conf: &Path, extra: &[&str]) -> (bool, String) {
    let dir = conf.parent().unwrap();
    let bin = apache_binary().unwrap();
    let mut script = String::new();
    if dir.join("envvars").is_file() {
        script.push_str(". ./envvars && ");
    }
    script.push_str(&format!(
        "exec {} -t -d {} -f {} {}",
        bin.display(),
        dir.display(),
        conf.display(),
        extra.join(" ")
    ));
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .current_dir(dir)
        .output()
        .expect("run apache2 -t");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn modules(dir: &Path, names: &[&str]) {
    for m in names {
        write(
            dir,
            &format!("mods-enabled/{m}.load"),
            &format!("LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so\n"),
        );
    }
}

/// The Debian layout with every read-time feature the loader models.
fn debian_tree(dir: &Path, port: u16) {
    write(
        dir,
        "envvars",
        "unset HOME\nif [ \"${APACHE_CONFDIR##/etc/apache2-}\" != \"${APACHE_CONFDIR}\" ] ; then\n\
         \tSUFFIX=\"-${APACHE_CONFDIR##/etc/apache2-}\"\nelse\n\tSUFFIX=\nfi\n\
         export APACHE_RUN_USER=www-data\nexport APACHE_RUN_GROUP=www-data\n\
         export SITE_PORT=@PORT@\nexport APACHE_LOG_DIR=@DIR@/logs$SUFFIX\n"
            .replace("@PORT@", &port.to_string())
            .replace("@DIR@", &dir.display().to_string())
            .as_str(),
    );
    write(
        dir,
        "apache2.conf",
        &format!(
            "ServerRoot \"{d}\"\nServerName localhost\nPidFile {d}/run.pid\n\
             User ${{APACHE_RUN_USER}}\nGroup ${{APACHE_RUN_GROUP}}\n\
             ErrorLog ${{APACHE_LOG_DIR}}/error.log\n\
             IncludeOptional mods-enabled/*.load\nIncludeOptional mods-enabled/*.conf\n\
             Include ports.conf\n\
             # a comment with <VirtualHost> in it\n\
             Define APPS /srv/apps\nDefine WITH_EXTRA\n\
             <IfDefine WITH_EXTRA>\n  Include extra\n</IfDefine>\n\
             <IfDefine !WITH_EXTRA>\n  Include nonexistent.conf\n</IfDefine>\n\
             <IfModule mod_wsgi.c>\n  Include wsgi-only.conf\n  <IfModule nested>\n  </IfModule>\n</IfModule>\n\
             <IfModule alias_module>\n  <IfVersion >= 2.4>\n    IncludeOptional conf.d/*.conf\n  </IfVersion>\n</IfModule>\n\
             <IfFile ports.conf>\n  Define HAS_PORTS yes\n</IfFile>\n\
             IncludeOptional conf-enabled/*.conf\nIncludeOptional sites-enabled/*.conf\n\
             IncludeOptional nowhere/*.conf\n",
            d = dir.display()
        ),
    );
    modules(dir, &["alias", "dir", "mime", "authz_core", "mpm_event"]);
    write(
        dir,
        "mods-enabled/dir.conf",
        "<IfModule mod_dir.c>\n\tDirectoryIndex index.html \\\n\t\tindex.htm\n</IfModule>\n",
    );
    write(dir, "ports.conf", "Listen ${SITE_PORT}\n");
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    // A true conditional left open at the end of its file: Apache accepts it.
    write(
        dir,
        "conf-enabled/open.conf",
        "<IfModule version_module>\nServerTokens OS\n",
    );
    write(dir, "extra/b.conf", "# b\n");
    write(dir, "extra/a.conf", "# a\n");
    write(dir, "extra/sub/c.conf", "# c\n");
    write(
        dir,
        "extra/.dot",
        "# a dot file: a directory include reads it\n",
    );
    write(dir, "conf.d/z.conf", "AddDefaultCharset UTF-8\n");
    write(
        dir,
        "conf.d/.hidden.conf",
        "Invalid directive that is never read\n",
    );
    write(dir, "conf.d/a.conf", "ServerSignature Off\n");
    write(dir, "conf-enabled/security.conf", "ServerTokens OS\n");
    for (file, name, alias) in [
        ("sites-enabled/b.conf", "b.example", "www.b.example"),
        ("sites-enabled/a.conf", "a.example", "www.a.example"),
        ("sites-enabled/A2.conf", "c.example", "*.c.example"),
    ] {
        write(
            dir,
            file,
            &format!(
                "<VirtualHost *:${{SITE_PORT}}>\n  ServerName {name}\n  ServerAlias {alias}\n\
                 \x20 DocumentRoot \"${{APPS}}/{name}\"\n  Alias /media/ ${{APPS}}/{name}/media/\n\
                 \x20 <Directory ${{APPS}}/{name}/media/>\n    Require all granted\n  </Directory>\n\
                 </VirtualHost>\n"
            ),
        );
    }
    write(dir, "sites-enabled/skip.conf.disabled", "Broken <\n");
}

/// `apache2 -t -D DUMP_INCLUDES`: the files in reading order.
fn dump_includes(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix('(')?;
            let (_, path) = rest.split_once(") ")?;
            Some(PathBuf::from(path))
        })
        .collect()
}

/// `apache2 -S`: each name-based vhost's (name, file, line).
fn dump_vhosts(text: &str) -> Vec<(String, PathBuf, u32)> {
    let mut out = Vec::new();
    for l in text.lines() {
        let l = l.trim();
        let Some(i) = l.find("namevhost ") else {
            continue;
        };
        let rest = &l[i + "namevhost ".len()..];
        let Some((name, loc)) = rest.split_once(" (") else {
            continue;
        };
        let loc = loc.trim_end_matches(')');
        let Some((file, line)) = loc.rsplit_once(':') else {
            continue;
        };
        out.push((name.to_string(), PathBuf::from(file), line.parse().unwrap()));
    }
    out
}

#[test]
fn reads_the_files_apache_reads_in_its_order() {
    if !require_apache() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let port = support::free_port();
    debian_tree(dir, port);
    let conf = dir.join("apache2.conf");
    let (ok, apache) = apache_t(&conf, &["-D", "DUMP_INCLUDES"]);
    assert!(ok, "apache2 -t rejects the tree: {apache}");
    let cfg = apache::load_files(&SysRoot::live(), &conf).unwrap();
    assert!(cfg.first_error().is_none(), "{:?}", cfg.diagnostics);
    // The loader lists each file once in first-reading order, as Apache's dump does.
    let ours: Vec<PathBuf> = cfg.files.clone();
    let theirs = dump_includes(&apache);
    assert_eq!(ours, theirs, "apache2 -t -D DUMP_INCLUDES:\n{apache}");
    assert!(ours.contains(&dir.join("extra/.dot")));
    assert!(!ours.contains(&dir.join("conf.d/.hidden.conf")));

    // The variables: envvars (`$SUFFIX` empty outside its if), Define, in arguments.
    assert_eq!(cfg.variable("APACHE_RUN_USER"), Some("www-data"));
    assert_eq!(cfg.variable("APPS"), Some("/srv/apps"));
    assert_eq!(cfg.variable("HAS_PORTS"), Some("yes"));
    let errorlog = cfg.top().find(|d| d.is("ErrorLog")).unwrap();
    assert_eq!(
        errorlog.arg(0).unwrap(),
        format!("{}/logs/error.log", dir.display())
    );
    // A continued line is one directive.
    let index = cfg.all().find(|d| d.is("DirectoryIndex")).unwrap();
    assert_eq!(
        index.args().collect::<Vec<_>>(),
        ["index.html", "index.htm"]
    );
    assert_eq!(index.line(), 2);

    // The virtual hosts, where `apache2 -S` places them.
    let (ok, s) = apache_t(&conf, &["-S"]);
    assert!(ok, "{s}");
    let theirs = dump_vhosts(&s);
    let mut ours: Vec<(String, PathBuf, u32)> = cfg
        .virtual_hosts()
        .map(|v| {
            let name = v.last("ServerName").unwrap().arg(0).unwrap().to_string();
            (name, v.file().to_path_buf(), v.line())
        })
        .collect();
    let mut sorted_theirs = theirs.clone();
    sorted_theirs.sort();
    ours.sort();
    assert_eq!(ours, sorted_theirs, "apache2 -S:\n{s}");
    let vhost = cfg.virtual_hosts().next().unwrap();
    assert_eq!(vhost.arg(0), Some(format!("*:{port}").as_str()));
    let d = vhost.children().find(|d| d.is("Directory")).unwrap();
    assert!(d.is_section());
    assert_eq!(d.arg(0), Some("/srv/apps/c.example/media/"));
    assert_eq!(d.children().count(), 1);
}

/// Broken configs: our first error is where `apache2 -t` says the syntax error is.
#[test]
fn errors_are_where_apache2ctl_puts_them() {
    if !require_apache() {
        return;
    }
    let cases: &[(&str, &[(&str, &str)])] = &[
        (
            "unclosed",
            &[(
                "apache2.conf",
                "Listen 1\n<VirtualHost *:1>\n  ServerName x\n",
            )],
        ),
        (
            "mismatch",
            &[(
                "apache2.conf",
                "Listen 1\n<VirtualHost *:1>\n<Directory /x>\n</VirtualHost>\n",
            )],
        ),
        (
            "stray close",
            &[("apache2.conf", "Listen 1\n\n</Directory>\n")],
        ),
        (
            "stray close in an include",
            &[
                ("apache2.conf", "Listen 1\nInclude d/x.conf\n"),
                ("d/x.conf", "\n# c\n</Location>\n"),
            ],
        ),
        (
            "missing include",
            &[("apache2.conf", "Listen 1\n\nInclude nope.conf\n")],
        ),
        (
            "wildcard without match",
            &[
                ("apache2.conf", "Listen 1\nInclude d/*.conf\n"),
                ("d/x.txt", "\n"),
            ],
        ),
        (
            "missing directory",
            &[("apache2.conf", "Listen 1\nInclude nodir/*.conf\n")],
        ),
        (
            "unclosed false IfModule",
            &[(
                "apache2.conf",
                "Listen 1\n<IfModule nope>\n<Directory />\n</Directory>\n",
            )],
        ),
        (
            "closing without >",
            &[(
                "apache2.conf",
                "Listen 1\n<VirtualHost *:1>\n</VirtualHost foo>\n",
            )],
        ),
        (
            "wrong close in a false IfDefine",
            &[(
                "apache2.conf",
                "Listen 1\n<IfDefine NOPE>\n<Files x>\n</Location>\n</IfDefine>\n",
            )],
        ),
        (
            "error in a site file",
            &[
                ("apache2.conf", "Listen 1\nIncludeOptional sites/*.conf\n"),
                ("sites/a.conf", "<VirtualHost *:1>\n</VirtualHost>\n"),
                (
                    "sites/b.conf",
                    "<VirtualHost *:1>\n  <Location />\n</VirtualHost>\n",
                ),
            ],
        ),
    ];
    for (what, files) in cases {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path();
        for (rel, text) in *files {
            let text = if *rel == "apache2.conf" {
                format!(
                    "ServerRoot {}\nServerName localhost\nPidFile {}/pid\n\
                     LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so\n{text}",
                    dir.display(),
                    dir.display()
                )
            } else {
                text.to_string()
            };
            write(dir, rel, &text);
        }
        let conf = dir.join("apache2.conf");
        let (ok, apache) = apache_t(&conf, &[]);
        assert!(!ok, "{what}: apache2 -t accepts it:\n{apache}");
        assert!(apache.contains("Syntax error"), "{what}: {apache}");
        // The innermost "Syntax error on line N of FILE:".
        let marker = "Syntax error on line ";
        let at = apache.rfind(marker).expect(&apache);
        let rest = &apache[at + marker.len()..];
        let (line, rest) = rest.split_once(" of ").unwrap();
        let (file, message) = rest.split_once(": ").unwrap();
        let cfg = apache::load_files(&SysRoot::live(), &conf).unwrap();
        let ours = cfg
            .first_error()
            .unwrap_or_else(|| panic!("{what}: no error from the loader; apache2 -t: {apache}"));
        assert_eq!(
            (ours.file.as_path(), ours.line),
            (Path::new(file), line.parse::<u32>().unwrap()),
            "{what}: ours {ours}; apache2 -t: {apache}"
        );
        // The same words, short of the file:line Apache repeats in some messages.
        let message = message.lines().next().unwrap();
        let message = message
            .rsplit_once(": <")
            .map_or(message.to_string(), |(_, m)| format!("<{m}"));
        assert!(
            message.contains(&ours.message) || ours.message.contains(message.trim()),
            "{what}: ours {:?}, apache's {message:?}",
            ours.message
        );
    }
}

#[test]
fn an_include_loop_is_reported_not_followed() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    write(
        dir,
        "apache2.conf",
        &format!("ServerRoot {}\nInclude a.conf\n", dir.display()),
    );
    write(dir, "a.conf", "ServerTokens OS\nInclude b.conf\n");
    write(dir, "b.conf", "Include a.conf\nInclude apache2.conf\n");
    let cfg = apache::load_files(&SysRoot::live(), &dir.join("apache2.conf")).unwrap();
    let errors: Vec<String> = cfg.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].contains("b.conf:1: ") && errors[0].contains("a.conf includes itself"));
    assert_eq!(cfg.all().filter(|d| d.is("ServerTokens")).count(), 1);
}

/// Hostile inputs end in diagnostics, never a hang or a panic.
#[test]
fn hostile_includes_and_lines() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    nix::unistd::mkfifo(
        &dir.join("fifo.conf"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.conf")).unwrap();
    std::os::unix::fs::symlink("self", dir.join("self")).unwrap();
    let deep = "<Directory />\n".repeat(5000);
    write(dir, "deep/x.conf", &deep);
    write(
        dir,
        "long.conf",
        &format!("ServerTokens {}\\\n\\\n", "x".repeat(1 << 20)),
    );
    write(
        dir,
        "apache2.conf",
        &format!(
            "ServerRoot {}\nInclude fifo.conf\nInclude zero.conf\nIncludeOptional self/*.conf\n\
             Include deep\nInclude long.conf\nInclude \"[\"\nDefine\n<IfModule>\n</IfModule>\n\
             LoadModule x\n\"unterminated\n${{X\n</\n<\n<>\n",
            dir.display()
        ),
    );
    let start = std::time::Instant::now();
    let cfg = apache::load_files(&SysRoot::live(), &dir.join("apache2.conf")).unwrap();
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
    assert!(cfg.first_error().is_some());
    let text: String = cfg.diagnostics.iter().map(|d| format!("{d}\n")).collect();
    assert!(text.contains("zero.conf: not a regular file"), "{text}");
    assert!(text.contains("nested more than"), "{text}");
    let long = cfg.all().find(|d| d.is("ServerTokens")).unwrap();
    assert_eq!(long.arg(0).unwrap().len(), 1 << 20);
    // Over the input limit: refused from its size.
    assert!(apache::load_files(&SysRoot::live(), Path::new("/dev/zero")).is_err());
}

/// A bare `<VirtualHost>` file from a repository: read alone, its `<IfModule>`s taken as met,
/// and the RHEL layout (conf/httpd.conf, ServerRoot above it, conf.d).
#[test]
fn a_site_file_alone_and_the_rhel_layout() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    write(
        dir,
        "deploy/apache/site.conf",
        "<VirtualHost *:80>\n  ServerName shop.example\n  <IfModule mod_wsgi.c>\n    WSGIScriptAlias / /srv/shop/wsgi.py\n  </IfModule>\n  <IfModule !mod_wsgi.c>\n    ProxyPass / http://127.0.0.1:8000/\n  </IfModule>\n</VirtualHost>\n",
    );
    let cfg = apache::load_files(&SysRoot::live(), &dir.join("deploy/apache/site.conf")).unwrap();
    assert_eq!(cfg.kind, Some(apache::ConfigKind::Fragment));
    let names: Vec<&str> = cfg.all().map(|d| d.name()).collect();
    assert_eq!(names, ["VirtualHost", "ServerName", "WSGIScriptAlias"]);

    let root = dir.join("rhel");
    write(
        &root,
        "etc/httpd/conf/httpd.conf",
        "ServerRoot \"/etc/httpd\"\nListen 80\nInclude conf.modules.d/*.conf\nIncludeOptional conf.d/*.conf\n",
    );
    write(
        &root,
        "etc/httpd/conf.modules.d/00-base.conf",
        "LoadModule alias_module modules/mod_alias.so\n",
    );
    write(
        &root,
        "etc/httpd/conf.d/app.conf",
        "<IfModule mod_alias.c>\n<VirtualHost *:80>\nServerName app\n</VirtualHost>\n</IfModule>\n",
    );
    let sys = SysRoot::new(&root);
    let main = apache::find_main(&sys).unwrap();
    assert_eq!(main, Path::new("/etc/httpd/conf/httpd.conf"));
    let cfg = apache::load_files(&sys, &main).unwrap();
    assert!(cfg.diagnostics.is_empty(), "{:?}", cfg.diagnostics);
    assert_eq!(cfg.server_root, Path::new("/etc/httpd"));
    assert_eq!(cfg.virtual_hosts().count(), 1);
    assert!(cfg.has_module("mod_alias.c") && cfg.has_module("alias_module"));
}

/// The fuzz target's properties (fuzz/fuzz_targets/apache_config.rs) on generated inputs, so
/// that every test run holds them too: configs spliced from Apache's own tokens, cut and joined
/// at random places.
#[test]
fn spliced_configs_load_without_panic() {
    const PIECES: &[&str] = &[
        "<VirtualHost *:80>\n",
        "</VirtualHost>\n",
        "<IfModule !x>\n",
        "</IfModule>\n",
        "<IfDefine X>",
        "</IfDefine>",
        "Define X ${X}${X}\n",
        "Include sites-enabled/*.conf\n",
        "IncludeOptional /etc/apache2/*\n",
        "Include /etc/apache2/apache2.conf\n",
        "\\\n",
        "\"quoted \\\" arg\" '",
        "# comment\n",
        "<Directory \"/a b\">\n",
        "</Directory>\n",
        "Alias /media/ /srv/media/\n",
        "${",
        "}",
        "<",
        ">",
        "\r\n",
        "\t",
        "\u{e9}",
        "\\\\",
        "ServerRoot /etc\n",
        "LoadModule a_module m.so\n",
        "<IfVersion < 3>\n",
        "</IfVersion>\n",
        "<IfFile sites-enabled>\n",
        "</IfFile>\n",
        "UnDefine X\n",
    ];
    let mut seed = 0x5EED_u64;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    for _ in 0..3000 {
        let mut data = Vec::new();
        for _ in 0..next() % 40 {
            let piece = PIECES[next() % PIECES.len()].as_bytes();
            let cut = next() % (piece.len() + 1);
            data.extend_from_slice(if next() % 4 == 0 {
                &piece[..cut]
            } else {
                piece
            });
            if next() % 50 == 0 {
                data.push(0xff);
            }
        }
        let mut files = std::collections::BTreeMap::new();
        files.insert(PathBuf::from("/etc/apache2/apache2.conf"), data.clone());
        files.insert(
            PathBuf::from("/etc/apache2/sites-enabled/a.conf"),
            b"<VirtualHost *:80>\nServerName a\n</VirtualHost>\n".to_vec(),
        );
        files.insert(
            PathBuf::from("/etc/apache2/sites-enabled/b.conf"),
            data.clone(),
        );
        let cfg = apache::load_memory(files, Path::new("/etc/apache2/apache2.conf")).unwrap();
        let lines = data.iter().filter(|&&c| c == b'\n').count() as u32 + 3;
        for d in &cfg.diagnostics {
            assert!(
                d.line >= 1 && d.line <= lines,
                "{d} in {:?}",
                String::from_utf8_lossy(&data)
            );
            assert!(cfg.files.contains(&d.file), "{d}");
        }
        let mut stack: Vec<_> = cfg.top().collect();
        let mut seen = 0usize;
        while let Some(d) = stack.pop() {
            let _ = (d.name(), d.args().count(), d.line(), d.file());
            seen += 1;
            assert!(seen <= cfg.directive_count());
            stack.extend(d.children());
        }
    }
}
