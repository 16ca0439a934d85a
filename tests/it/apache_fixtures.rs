//! Regression fixtures for the Apache resolver: each case is a disagreement the differential test
//! (tests/it/apache_differential.rs) found, or a failure shape of issue #14, written out small.
//! Every case is held to real Apache too: the expected status must be what a private Apache
//! answers, and what `apache::resolve` predicts.

use crate::apache_differential::{main_conf, Apache};
use crate::apache_loader::require_apache;
use crate::support;
use media_doctor::answer::{file_verdict, Answer};
use media_doctor::apache;
use media_doctor::nginx::resolve::Request;
use media_doctor::sysroot::SysRoot;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

/// Build `tree` under a fresh base (`{B}` in the config is the base), start Apache on `vhost`
/// (`{PORT}` replaced), and check every (host, target, status) against both.
fn case(name: &str, tree: impl Fn(&Path), vhost: &str, expect: &[(&str, u16)]) {
    let t = tempfile::tempdir().unwrap();
    let base = t.path();
    std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o755)).unwrap();
    tree(base);
    let port = support::free_port();
    let conf = base.join("apache2.conf");
    let text = format!(
        "{}{}",
        main_conf(base, port),
        vhost
            .replace("{B}", &base.display().to_string())
            .replace("{PORT}", &port.to_string())
    );
    std::fs::write(&conf, &text).unwrap();
    let apache = Apache::start(base, &conf, port).unwrap_or_else(|e| panic!("{name}: {e}"));
    let cfg = apache::load_files(&SysRoot::live(), &conf).unwrap();
    let root = SysRoot::live();
    let resolver = apache::resolve::Resolver::new(&cfg, &root);
    for (target, want) in expect {
        let real = apache.get("site.test", target);
        assert_eq!(
            real,
            Some(*want),
            "{name}: Apache answers {real:?} for {target}\n{text}"
        );
        let req = Request::for_path("site.test", port, target)
            .with_local_addr("127.0.0.1".parse().unwrap());
        let ours = resolver.resolve(&req);
        assert_eq!(
            ours.predicted_status,
            Some(*want),
            "{name}: predicted for {target}: {}\n{}",
            file_verdict(&ours),
            ours.steps.join("\n")
        );
        assert_eq!(ours.server_kind().as_str(), "apache");
    }
}

/// `AllowOverride` set by no section (a configuration without Debian's `<Directory />
/// AllowOverride None`): Apache 2.4 still reads the .htaccess, and allows nothing in it (a
/// `Require` there is 500), while a directory without one is served. Found by MD405's test of
/// an unreadable .htaccess; the model took it for None (200).
#[test]
fn allow_override_never_set_reads_htaccess_and_allows_nothing() {
    if !support::require(support::is_root(), "needs root (Apache's User)") || !require_apache() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let b = t.path();
    std::fs::set_permissions(b, std::fs::Permissions::from_mode(0o755)).unwrap();
    mkdir(&b.join("srv/media"), 0o755);
    file(&b.join("srv/media/a.jpg"), 0o644);
    mkdir(&b.join("srv/media/locked"), 0o755);
    file(&b.join("srv/media/locked/b.jpg"), 0o644);
    std::fs::write(b.join("srv/media/locked/.htaccess"), "Require all denied\n").unwrap();
    let port = support::free_port();
    // main_conf without its <Directory /> (which sets AllowOverride None).
    let main: String = main_conf(b, port)
        .split("<Directory />")
        .next()
        .unwrap()
        .to_string();
    let conf = b.join("apache2.conf");
    let text = format!(
        "{main}<VirtualHost *:{port}>\n ServerName site.test\n Alias /media/ {m}/\n \
         <Directory {m}/>\n  Require all granted\n </Directory>\n</VirtualHost>\n",
        m = b.join("srv/media").display()
    );
    std::fs::write(&conf, &text).unwrap();
    let apache = Apache::start(b, &conf, port).unwrap();
    let cfg = apache::load_files(&SysRoot::live(), &conf).unwrap();
    let root = SysRoot::live();
    let resolver = apache::resolve::Resolver::new(&cfg, &root);
    for (target, want) in [("/media/a.jpg", 200), ("/media/locked/b.jpg", 500)] {
        assert_eq!(
            apache.get("site.test", target),
            Some(want),
            "{target}\n{text}"
        );
        let req = Request::for_path("site.test", port, target)
            .with_local_addr("127.0.0.1".parse().unwrap());
        let ours = resolver.resolve(&req);
        assert_eq!(
            ours.predicted_status,
            Some(want),
            "{target}: {}\n{}",
            file_verdict(&ours),
            ours.steps.join("\n")
        );
    }
}

fn mkdir(p: &Path, mode: u32) {
    std::fs::create_dir_all(p).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn file(p: &Path, mode: u32) {
    std::fs::write(p, b"x").unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn fixtures_agree_with_apache() {
    if !support::require(support::is_root(), "needs root (Apache's User)") || !require_apache() {
        return;
    }
    // Found by the differential test (seed 3): a DirectoryIndex candidate is a sub-request for
    // its URL, translated again: `Alias /m/ DIR` (no slash on the path) sends /m/index.html to
    // DIRindex.html, so the directory has no index (403 without Indexes), though DIR/index.html
    // exists.
    case(
        "index through an alias without a slash",
        |b| {
            mkdir(&b.join("srv/www"), 0o711);
            file(&b.join("srv/www/index.html"), 0o644);
        },
        "<VirtualHost *:{PORT}>\n ServerName site.test\n Alias /m/ {B}/srv/www\n\
         <Directory {B}/srv>\n  Require all granted\n </Directory>\n</VirtualHost>\n",
        &[("/m/", 403), ("/m/index.html", 404), ("/m/../m/", 403)],
    );
    // Found by the differential test (seed 2): a directory reached through a symlink that the
    // worker may search but not read: the redirect and the index need no read on it.
    case(
        "directory through a symlink, search only",
        |b| {
            mkdir(&b.join("srv/media"), 0o711);
            file(&b.join("srv/media/index.html"), 0o644);
            symlink(b.join("srv/media"), b.join("srv/linkdir")).unwrap();
        },
        "<VirtualHost *:{PORT}>\n ServerName site.test\n Alias /static {B}/srv/linkdir\n\
         <Directory {B}/srv>\n  Require all granted\n </Directory>\n</VirtualHost>\n",
        &[
            ("/static", 301),
            ("/static/", 200),
            ("/static/index.html", 200),
        ],
    );
    // #14: the Alias target's <Directory> missing, or on another path: AH01630, 403.
    case(
        "Directory on another path",
        |b| {
            mkdir(&b.join("srv/media"), 0o755);
            file(&b.join("srv/media/a.jpg"), 0o644);
        },
        "<VirtualHost *:{PORT}>\n ServerName site.test\n Alias /media/ {B}/srv/media/\n\
         <Directory {B}/srv/uploads>\n  Require all granted\n </Directory>\n</VirtualHost>\n",
        &[("/media/a.jpg", 403), ("/media/missing.jpg", 403)],
    );
    // Found by the differential test (seed 4): a `Require` nested in a `<Files>` of a
    // .htaccess needs AuthConfig too (the last AllowOverride of the directory is Indexes): 500.
    // Where AllowOverride lets it in, the .htaccess decides; an unreadable one is 403.
    case(
        ".htaccess and AllowOverride",
        |b| {
            mkdir(&b.join("srv/uploads"), 0o755);
            file(&b.join("srv/uploads/a.jpg"), 0o644);
            std::fs::write(
                b.join("srv/uploads/.htaccess"),
                "<Files \"a.jpg\">\n  Require all denied\n</Files>\n",
            )
            .unwrap();
            mkdir(&b.join("srv/media"), 0o755);
            file(&b.join("srv/media/a.jpg"), 0o644);
            std::fs::write(b.join("srv/media/.htaccess"), "Require all denied\n").unwrap();
            mkdir(&b.join("srv/locked"), 0o755);
            file(&b.join("srv/locked/a.jpg"), 0o644);
            file(&b.join("srv/locked/.htaccess"), 0o600);
        },
        "<VirtualHost *:{PORT}>\n ServerName site.test\n Alias /u/ {B}/srv/uploads/\n\
         Alias /m/ {B}/srv/media/\n Alias /l/ {B}/srv/locked/\n\
         <Directory {B}/srv>\n  Require all granted\n  AllowOverride All\n </Directory>\n\
         <Directory {B}/srv/uploads>\n  AllowOverride AuthConfig Indexes\n </Directory>\n\
         <Directory {B}/srv/uploads/>\n  AllowOverride Indexes\n </Directory>\n</VirtualHost>\n",
        &[("/u/a.jpg", 500), ("/m/a.jpg", 403), ("/l/a.jpg", 403)],
    );
    // #14: the trailing slash of the Alias and of the URL.
    case(
        "alias slashes",
        |b| {
            mkdir(&b.join("srv/media"), 0o755);
            file(&b.join("srv/media/a.jpg"), 0o644);
        },
        "<VirtualHost *:{PORT}>\n ServerName site.test\n DocumentRoot {B}/srv/docroot\n\
         Alias /media/ {B}/srv/media/\n Alias /m {B}/srv/media\n\
         <Directory {B}/srv>\n  Require all granted\n </Directory>\n</VirtualHost>\n",
        &[
            ("/media/a.jpg", 200),
            ("/media", 404),
            ("/m/a.jpg", 200),
            ("/mx", 404),
            ("/media//a.jpg", 200),
        ],
    );
    // #14: listings, symlinks not followed, the worker unable to traverse a parent.
    case(
        "options and modes",
        |b| {
            mkdir(&b.join("srv/media/sub"), 0o755);
            mkdir(&b.join("srv/private"), 0o700);
            file(&b.join("srv/private/a.jpg"), 0o644);
            file(&b.join("srv/media/a.jpg"), 0o600);
            symlink(b.join("srv/media/a.jpg"), b.join("srv/media/l.jpg")).unwrap();
        },
        "<VirtualHost *:{PORT}>\n ServerName site.test\n Alias /media/ {B}/srv/media/\n\
         Alias /p/ {B}/srv/private/\n\
         <Directory {B}/srv>\n  Require all granted\n  Options -FollowSymLinks\n </Directory>\n\
         <Directory {B}/srv/media/sub>\n  Options +Indexes\n </Directory>\n</VirtualHost>\n",
        &[
            ("/media/", 403),
            ("/media/sub/", 200),
            ("/media/a.jpg", 403),
            ("/media/l.jpg", 403),
            ("/p/a.jpg", 403),
        ],
    );
}
