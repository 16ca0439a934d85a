//! fs: identities, access decisions and the namei walk on real trees with real owners, modes,
//! groups and ACLs, each verdict checked against the kernel as the user (setpriv, an independent
//! process, not media-doctor's own fork).

use crate::support::{is_root, open_ancestors, require};
use media_doctor::fs::{walk, Access, Identity, Outcome};
use media_doctor::sysroot::SysRoot;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn sh(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().expect(cmd);
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

pub fn chown(p: &Path, user: &str, group: &str) {
    let out = Command::new("chown")
        .arg("-h")
        .arg(format!("{user}:{group}"))
        .arg(p)
        .output()
        .expect("chown");
    assert!(out.status.success(), "chown {}", p.display());
}

pub fn mkdir(p: &Path, mode: u32, user: &str, group: &str) {
    std::fs::create_dir_all(p).unwrap();
    chmod(p, mode);
    chown(p, user, group);
}

pub fn file(p: &Path, mode: u32, user: &str, group: &str) {
    std::fs::write(p, b"x").unwrap();
    chmod(p, mode);
    chown(p, user, group);
}

/// The kernel's answer as `who`, from a separate process (util-linux setpriv + coreutils test).
pub fn kernel_allows(who: &Identity, path: &Path, want: Access) -> bool {
    let groups: Vec<String> = who.groups.iter().map(|g| g.to_string()).collect();
    let flag = if want == Access::READ {
        "-r"
    } else if want == Access::EXEC {
        "-x"
    } else {
        "-w"
    };
    Command::new("setpriv")
        .arg(format!("--reuid={}", who.uid))
        .arg(format!("--regid={}", who.gid))
        .arg(format!("--groups={}", groups.join(",")))
        .args(["--", "/usr/bin/test", flag])
        .arg(path)
        .status()
        .expect("setpriv")
        .success()
}

/// A group containing www-data, created for the test and removed on drop.
pub struct TestGroup {
    pub name: String,
}

impl TestGroup {
    /// `tag` keeps the names of tests running in parallel apart.
    pub fn create(tag: &str, members: &[&str]) -> TestGroup {
        let name = format!("mdt{tag}{}", std::process::id() % 100000);
        let _ = Command::new("groupdel").arg(&name).output();
        sh("groupadd", &[&name]);
        let g = TestGroup { name };
        for m in members {
            sh("gpasswd", &["-a", m, &g.name]);
        }
        g
    }
}

impl Drop for TestGroup {
    fn drop(&mut self) {
        let _ = Command::new("groupdel").arg(&self.name).output();
    }
}

fn live_tree() -> tempfile::TempDir {
    let t = tempfile::Builder::new().prefix("md-fs-").tempdir().unwrap();
    chmod(t.path(), 0o755);
    open_ancestors(t.path());
    t
}

struct Case {
    path: PathBuf,
    want: Access,
    expect: &'static str,
}

#[test]
fn walk_verdicts_match_the_kernel_as_www_data() {
    if !require(is_root(), "needs root (chown, groupadd, setfacl, setpriv)") {
        return;
    }
    let group = TestGroup::create("w", &["www-data"]);
    let g = group.name.as_str();
    let t = live_tree();
    let d = t.path();
    mkdir(&d.join("pub"), 0o755, "root", "root");
    file(&d.join("pub/a.txt"), 0o644, "root", "root");
    mkdir(&d.join("private"), 0o700, "root", "root");
    file(&d.join("private/f"), 0o644, "root", "root");
    mkdir(&d.join("grp"), 0o750, "root", g);
    file(&d.join("grp/f"), 0o640, "root", g);
    mkdir(&d.join("grp2"), 0o750, "root", "root");
    file(&d.join("grp2/f"), 0o644, "root", "root");
    mkdir(&d.join("tr"), 0o711, "nobody", "nogroup");
    file(&d.join("tr/secret"), 0o600, "nobody", "nogroup");
    file(&d.join("tr/open"), 0o644, "nobody", "nogroup");
    mkdir(&d.join("own"), 0o700, "www-data", "www-data");
    file(&d.join("own/nobits"), 0o044, "www-data", "www-data");
    mkdir(&d.join("acl"), 0o700, "root", "root");
    file(&d.join("acl/f"), 0o600, "root", "root");
    sh(
        "setfacl",
        &["-m", "u:www-data:rx", d.join("acl").to_str().unwrap()],
    );
    sh(
        "setfacl",
        &["-m", "u:www-data:r", d.join("acl/f").to_str().unwrap()],
    );
    mkdir(&d.join("aclmask"), 0o700, "root", "root");
    file(&d.join("aclmask/f"), 0o644, "root", "root");
    sh(
        "setfacl",
        &["-m", "u:www-data:rx", d.join("aclmask").to_str().unwrap()],
    );
    sh(
        "setfacl",
        &["-m", "m::r", d.join("aclmask").to_str().unwrap()],
    );
    mkdir(&d.join("d1/d2/d3"), 0o755, "root", "root");
    file(&d.join("d1/d2/d3/f"), 0o644, "root", "root");
    chmod(&d.join("d1/d2"), 0o000);
    symlink("b", d.join("loop_a")).unwrap();
    symlink("loop_a", d.join("b")).unwrap();
    symlink("pub/a.txt", d.join("rel_link")).unwrap();
    symlink(d.join("pub"), d.join("abs_link")).unwrap();

    let cases = [
        ("pub/a.txt", Access::READ, "found"),
        ("pub", Access::EXEC, "found"),
        ("private/f", Access::READ, "denied"),
        ("grp/f", Access::READ, "found"),
        ("grp2/f", Access::READ, "denied"),
        ("tr/secret", Access::READ, "denied"),
        ("tr/open", Access::READ, "found"),
        ("own/nobits", Access::READ, "denied"),
        ("acl/f", Access::READ, "found"),
        ("aclmask/f", Access::READ, "denied"),
        ("d1/d2/d3/f", Access::READ, "denied"),
        ("loop_a/x", Access::READ, "loop"),
        ("rel_link", Access::READ, "found"),
        ("abs_link/a.txt", Access::READ, "found"),
        ("pub/missing", Access::READ, "missing"),
        ("pub/a.txt/x", Access::READ, "notdir"),
        ("private/../pub/a.txt", Access::READ, "denied"),
        ("pub/../grp/f", Access::READ, "found"),
    ]
    .map(|(p, want, expect)| Case {
        path: d.join(p),
        want,
        expect,
    });

    let root = SysRoot::live();
    let www = Identity::lookup(&root, "www-data").unwrap();
    assert!(
        www.groups.contains(
            &nix::unistd::Group::from_name(g)
                .unwrap()
                .unwrap()
                .gid
                .as_raw()
        ),
        "www-data should be in {g}: {www:?}"
    );
    for c in &cases {
        let w = walk(&root, &c.path, &www, c.want);
        let kind = match &w.outcome {
            Outcome::Found { .. } => "found",
            Outcome::Denied { .. } => "denied",
            Outcome::Missing { .. } => "missing",
            Outcome::NotADirectory { .. } => "notdir",
            Outcome::SymlinkLoop { .. } => "loop",
            Outcome::CannotVerify { .. } => "cannot",
        };
        assert_eq!(kind, c.expect, "{}:\n{}", c.path.display(), w.render());
        let kernel = kernel_allows(&www, &c.path, c.want);
        assert_eq!(
            w.outcome.is_found(),
            kernel,
            "metadata and kernel disagree on {}:\n{}",
            c.path.display(),
            w.render()
        );
        assert!(
            w.disagreements().is_empty(),
            "{}: {:?}",
            c.path.display(),
            w.disagreements()
        );
        assert!(
            matches!(
                w.verification,
                media_doctor::fs::walk::Verification::Kernel { .. }
            ),
            "live root walks are verified: {:?}",
            w.verification
        );
    }

    // The failing component is the first one, named with its owner and mode.
    let w = walk(&root, &d.join("d1/d2/d3/f"), &www, Access::READ);
    let fail = w.failing_step().unwrap();
    assert_eq!(fail.path, d.join("d1/d2"));
    assert_eq!(fail.mode, "d---------");
    assert_eq!((fail.owner.as_str(), fail.group.as_str()), ("root", "root"));
    assert!(
        w.render().contains("d--------- root root d2"),
        "{}",
        w.render()
    );
    // Steps after the failure are still shown (as namei does), the loop is not fatal.
    assert_eq!(w.steps.last().unwrap().name, "f");
    let acl = walk(&root, &d.join("acl/f"), &www, Access::READ);
    assert!(
        acl.steps.iter().any(|s| s
            .acl
            .as_deref()
            .is_some_and(|a| a.contains("user:www-data:r-x"))),
        "{}",
        acl.render()
    );

    // Root: the 0000 directory is passable, exec on a file without any x bit is not.
    let r = Identity::root();
    assert!(walk(&root, &d.join("d1/d2/d3/f"), &r, Access::READ)
        .outcome
        .is_found());
    assert!(!walk(&root, &d.join("pub/a.txt"), &r, Access::EXEC)
        .outcome
        .is_found());
    // nobody (the compiled default) owns tr/: reads its secret.
    let nobody = Identity::lookup(&root, "nobody").unwrap();
    for p in ["tr/secret", "own/nobits", "grp/f"] {
        let w = walk(&root, &d.join(p), &nobody, Access::READ);
        assert_eq!(
            w.outcome.is_found(),
            kernel_allows(&nobody, &d.join(p), Access::READ),
            "{}",
            w.render()
        );
        assert!(w.disagreements().is_empty());
    }
}

/// A fixture root: users come from its etc/passwd and etc/group, absolute symlinks stay inside.
#[test]
fn walks_under_a_root_use_its_users_and_keep_symlinks_inside() {
    if !require(is_root(), "needs root (chown to ids of the fixture)") {
        return;
    }
    let t = live_tree();
    let d = t.path();
    std::fs::create_dir_all(d.join("etc")).unwrap();
    std::fs::write(
        d.join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\nweb:x:5001:5001::/:/bin/false\ndeploy:x:5002:5002::/home/deploy:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        d.join("etc/group"),
        "root:x:0:\nweb:x:5001:\ndeploy:x:5002:web\n",
    )
    .unwrap();
    let home = d.join("home/deploy");
    std::fs::create_dir_all(home.join("app/media")).unwrap();
    chmod(&d.join("home"), 0o755);
    std::fs::write(home.join("app/media/a.png"), b"png").unwrap();
    sh("chown", &["-R", "5002:5002", home.to_str().unwrap()]);
    chmod(&home, 0o750);
    // Absolute symlink: inside the root it means <root>/home/deploy/app, not the host's.
    std::fs::create_dir_all(d.join("srv")).unwrap();
    symlink("/home/deploy/app", d.join("srv/current")).unwrap();

    let root = SysRoot::new(d);
    let web = Identity::lookup(&root, "web").unwrap();
    assert_eq!(web.groups, vec![5001, 5002]);
    let w = walk(
        &root,
        Path::new("/srv/current/media/a.png"),
        &web,
        Access::READ,
    );
    assert!(w.outcome.is_found(), "{}", w.render());
    assert_eq!(
        w.resolved.as_deref(),
        Some(Path::new("/home/deploy/app/media/a.png"))
    );
    assert!(w.render().contains("current -> /home/deploy/app"));
    assert!(w
        .steps
        .iter()
        .any(|s| s.owner == "deploy" && s.group == "deploy"));
    // The fixture's own user database names the owners; the host's is never consulted.
    assert!(matches!(
        w.verification,
        media_doctor::fs::walk::Verification::NotVerified { .. }
    ));
    // Without the group membership: denied at /home/deploy, with both fixes offered.
    std::fs::write(
        d.join("etc/group"),
        "root:x:0:\nweb:x:5001:\ndeploy:x:5002:\n",
    )
    .unwrap();
    let web = Identity::lookup(&root, "web").unwrap();
    let w = walk(
        &root,
        Path::new("/srv/current/media/a.png"),
        &web,
        Access::READ,
    );
    assert_eq!(
        w.outcome,
        Outcome::Denied {
            at: PathBuf::from("/home/deploy"),
            needs: Access::EXEC
        },
        "{}",
        w.render()
    );
    let fixes =
        media_doctor::fs::walk::grant_commands(w.failing_step().unwrap(), &web, |g| g.to_string());
    assert_eq!(
        fixes,
        vec![
            "sudo setfacl -m u:web:x /home/deploy".to_string(),
            "sudo chmod o+x /home/deploy".to_string()
        ]
    );
    // `..` cannot climb out of the root.
    let w = walk(&root, Path::new("/../../etc/passwd"), &web, Access::READ);
    assert!(w.outcome.is_found(), "{}", w.render());
    assert_eq!(w.resolved.as_deref(), Some(Path::new("/etc/passwd")));
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect()
}

/// The tree scan against the generator's ground truth, with 1 and 2 threads.
#[test]
fn scan_agrees_with_the_generated_manifest() {
    if !require(is_root(), "needs root (the generator chowns to www-data)") {
        return;
    }
    let Some(bench) = crate::support::bench_dir() else {
        let _ = require(false, "needs ../shared/bench/gen_tree.py");
        return;
    };
    let t = live_tree();
    let tree = t.path().join("tree");
    let manifest = t.path().join("manifest.json");
    sh(
        "python3",
        &[
            bench.join("gen_tree.py").to_str().unwrap(),
            "--files",
            "4000",
            "--seed",
            "3",
            "--out",
            tree.to_str().unwrap(),
            "--manifest",
            manifest.to_str().unwrap(),
        ],
    );
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let list = |k: &str, who: &str| -> Vec<PathBuf> {
        m[k][who]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| tree.join(p.as_str().unwrap()))
            .collect()
    };
    let bad_dirs = list("dirs_0700_paths", "root");
    let bad_files = list("files_0600_paths", "root");
    let hidden = |p: &Path| bad_dirs.iter().any(|d| p.starts_with(d));
    let own_mode: Vec<&PathBuf> = bad_files.iter().filter(|f| !hidden(f)).collect();
    let expected_unreadable =
        own_mode.len() as u64 + m["files_under_root_0700_dirs"].as_u64().unwrap();

    let root = SysRoot::live();
    let www = Identity::lookup(&root, "www-data").unwrap();
    for threads in [1, 2] {
        let opts = media_doctor::fs::scan::Options {
            threads,
            examples: 100_000,
            ..Default::default()
        };
        let s = media_doctor::fs::scan::scan(&root, &tree, &www, &opts);
        assert_eq!(s.files, m["files"].as_u64().unwrap());
        assert_eq!(s.dirs, m["dirs"].as_u64().unwrap());
        assert_eq!(s.files_unreadable, expected_unreadable, "threads={threads}");
        assert_eq!(s.dirs_untraversable, bad_dirs.len() as u64);
        let mut got: Vec<&PathBuf> = s.unreadable_examples.iter().map(|e| &e.path).collect();
        got.sort();
        assert_eq!(got, own_mode, "threads={threads}");
        let got_dirs: Vec<PathBuf> = s
            .untraversable_examples
            .iter()
            .map(|e| e.path.clone())
            .collect();
        assert_eq!(got_dirs, bad_dirs);
        assert!(
            s.verified && s.disagreements.is_empty(),
            "{:?}",
            s.disagreements
        );
        assert!(s.sample_file.is_some());
    }
}

/// The scan's verdicts on the hard cases, each checked against the kernel as www-data.
#[test]
fn scan_verdicts_match_the_kernel() {
    if !require(is_root(), "needs root (chown, groupadd, setfacl, setpriv)") {
        return;
    }
    let group = TestGroup::create("s", &["www-data"]);
    let g = group.name.as_str();
    let t = live_tree();
    let d = t.path().join("media");
    mkdir(&d, 0o755, "root", "root");
    file(&d.join("a.txt"), 0o644, "root", "root");
    file(&d.join("secret"), 0o600, "root", "root");
    file(&d.join("own"), 0o600, "www-data", "www-data");
    file(&d.join("nobits"), 0o044, "www-data", "www-data");
    mkdir(&d.join("grp"), 0o750, "root", g);
    file(&d.join("grp/f"), 0o640, "root", g);
    mkdir(&d.join("mid/deep"), 0o755, "root", "root");
    file(&d.join("mid/deep/f"), 0o644, "root", "root");
    file(&d.join("mid/g"), 0o644, "root", "root");
    chmod(&d.join("mid"), 0o000);
    mkdir(&d.join("acl"), 0o700, "root", "root");
    file(&d.join("acl/f"), 0o600, "root", "root");
    sh(
        "setfacl",
        &["-m", "u:www-data:rx", d.join("acl").to_str().unwrap()],
    );
    sh(
        "setfacl",
        &["-m", "u:www-data:r", d.join("acl/f").to_str().unwrap()],
    );
    // A default ACL that shuts www-data out of new files, whose modes still say 0644.
    mkdir(&d.join("dacl"), 0o755, "root", "root");
    sh(
        "setfacl",
        &[
            "-d",
            "-m",
            "u:www-data:---",
            d.join("dacl").to_str().unwrap(),
        ],
    );
    file(&d.join("dacl/f"), 0o644, "root", "root");
    mkdir(&d.join("tr"), 0o711, "nobody", "nogroup");
    file(&d.join("tr/s"), 0o600, "nobody", "nogroup");
    file(&d.join("tr/o"), 0o644, "nobody", "nogroup");
    symlink("loop_b", d.join("loop_a")).unwrap();
    symlink("loop_a", d.join("loop_b")).unwrap();
    symlink("nothere", d.join("dangling")).unwrap();
    symlink("a.txt", d.join("link_ok")).unwrap();
    symlink("secret", d.join("link_secret")).unwrap();
    let latin1 = d.join(std::ffi::OsStr::from_bytes(b"caf\xe9.jpg"));
    file(&latin1, 0o644, "root", "root");

    let root = SysRoot::live();
    let www = Identity::lookup(&root, "www-data").unwrap();
    let opts = media_doctor::fs::scan::Options {
        examples: 1000,
        ..Default::default()
    };
    let s = media_doctor::fs::scan::scan(&root, &d, &www, &opts);

    // Every regular file, and every symlink to one, against the kernel.
    let mut denied = Vec::new();
    for f in files_under(&d) {
        if !kernel_allows(&www, &f, Access::READ) {
            denied.push(f);
        }
    }
    for l in ["link_ok", "link_secret"] {
        if !kernel_allows(&www, &d.join(l), Access::READ) {
            denied.push(d.join(l));
        }
    }
    assert_eq!(
        s.files_unreadable,
        denied.len() as u64,
        "kernel: {denied:?}\nscan: {s:#?}"
    );
    assert_eq!(s.files_hidden, 2);
    let mut examples: Vec<PathBuf> = s
        .unreadable_examples
        .iter()
        .map(|e| e.path.clone())
        .collect();
    examples.sort();
    let mut visible: Vec<PathBuf> = denied
        .into_iter()
        .filter(|p| !p.starts_with(d.join("mid")))
        .collect();
    visible.sort();
    assert_eq!(examples, visible);
    assert!(examples.contains(&d.join("dacl/f")), "default ACL honoured");
    assert!(!examples.contains(&d.join("acl/f")), "ACL grant honoured");
    assert_eq!(s.dirs_untraversable, 1);
    assert_eq!(s.untraversable_examples[0].path, d.join("mid"));
    assert!(!kernel_allows(&www, &d.join("mid"), Access::EXEC));
    assert_eq!(s.symlink_loops, vec![d.join("loop_a"), d.join("loop_b")]);
    assert_eq!(s.symlinks_dangling, vec![d.join("dangling")]);
    assert_eq!(s.non_utf8_names, 1);
    assert!(s.disagreements.is_empty(), "{:?}", s.disagreements);
    // One command per class, each touching only the entries that lack the bit.
    let cmds = s.fix_commands(&www, &|_, id| id.to_string());
    let q = d.display();
    assert!(cmds.contains(&format!(
        "sudo find {q} -type d ! -perm -o=x -exec chmod o+x {{}} +"
    )));
    assert!(cmds.contains(&format!(
        "sudo find {q} -type f ! -perm -o=r -exec chmod o+r {{}} +"
    )));
    assert!(
        cmds.iter().any(|c| c.contains("-user 33 ! -perm -u=r")),
        "{cmds:?}"
    );
    assert!(cmds
        .iter()
        .all(|c| !c.contains("777") && !c.contains("chmod -R")));
}

/// A --root fixture site: the checks read its nginx.conf, its users, its tree.
fn fixture_site(t: &Path) {
    std::fs::create_dir_all(t.join("etc/nginx")).unwrap();
    std::fs::write(
        t.join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\nwww-data:x:33:33::/var/www:/bin/false\n\
         deploy:x:5002:5002::/home/deploy:/bin/sh\ngunicorn:x:5003:5003::/:/bin/false\n",
    )
    .unwrap();
    std::fs::write(
        t.join("etc/group"),
        "root:x:0:\nwww-data:x:33:\ndeploy:x:5002:\ngunicorn:x:5003:\n",
    )
    .unwrap();
    std::fs::write(
        t.join("etc/nginx/nginx.conf"),
        "user www-data;\nevents {}\nhttp {\n  server {\n    listen 80;\n    server_name myapp.example;\n\
         \x20   location /media/ { alias /home/deploy/app/media/; }\n\
         \x20   location /static/ { alias /srv/static/; disable_symlinks on; }\n  }\n}\n",
    )
    .unwrap();
    let media = t.join("home/deploy/app/media");
    std::fs::create_dir_all(media.join("uploads")).unwrap();
    std::fs::write(media.join("uploads/a.jpg"), b"jpg").unwrap();
    sh(
        "chown",
        &["-R", "5002:5002", t.join("home/deploy").to_str().unwrap()],
    );
    chmod(&t.join("home"), 0o755);
    chmod(&t.join("home/deploy"), 0o700);
    std::fs::create_dir_all(t.join("srv/releases/1/static")).unwrap();
    std::fs::write(t.join("srv/releases/1/static/app.css"), b"css").unwrap();
    file(
        &t.join("srv/releases/1/static/private.css"),
        0o600,
        "root",
        "root",
    );
    symlink("releases/1/static", t.join("srv/static")).unwrap();
}

fn check_json(root: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "check",
        "--root",
        root.to_str().unwrap(),
        "--offline",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = crate::run::media_doctor(&args);
    assert!(out.code == 0 || out.code == 1, "{}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

fn check<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no {id}"))
}

fn evidence<'a>(finding: &'a serde_json::Value, label: &str) -> Option<&'a str> {
    finding["evidence"]
        .as_array()?
        .iter()
        .find(|e| e["label"] == label)?["value"]
        .as_str()
}

#[test]
fn filesystem_checks_on_a_fixture_root() {
    if !require(is_root(), "needs root (chown to the fixture's users)") {
        return;
    }
    let t = live_tree();
    fixture_site(t.path());
    let report = check_json(t.path(), &[]);
    assert_eq!(report["site"]["worker"]["user"], "www-data");
    assert_eq!(report["site"]["worker"]["source"]["kind"], "directive");

    // MD202: /home/deploy (0700) blocks the worker; both minimal fixes are offered: the one
    // that widens least as the command (commands are pasted in order, all of them), the other
    // as an alternative in the text.
    let md202 = check(&report, "MD202");
    assert_eq!(md202["status"], "fail", "{md202:#}");
    let f = &md202["findings"][0];
    assert_eq!(evidence(f, "denied at"), Some("/home/deploy"));
    assert!(evidence(f, "walk").unwrap().contains("drwx------ deploy"));
    assert_eq!(
        f["remediation"]["commands"],
        serde_json::json!(["sudo setfacl -m u:www-data:x /home/deploy"])
    );
    assert!(
        f["remediation"]["text"]
            .as_str()
            .unwrap()
            .ends_with("\n    or instead: sudo chmod o+x /home/deploy"),
        "{f:#}"
    );
    // MD203: the counts CI reads; the scan covers the files under the blocked parent too.
    let md203 = check(&report, "MD203");
    assert_eq!(md203["status"], "fail", "{md203:#}");
    let f = md203["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| evidence(f, "files_unreadable").is_some())
        .unwrap();
    assert_eq!(evidence(f, "files_unreadable"), Some("1"));
    assert_eq!(evidence(f, "dirs_untraversable"), Some("0"));
    assert!(evidence(f, "files")
        .unwrap()
        .contains("/srv/static/private.css"));
    // MD207: disable_symlinks on, and /srv/static is a symlink.
    let md207 = check(&report, "MD207");
    assert_eq!(md207["status"], "fail", "{md207:#}");
    assert!(md207["summary"]
        .as_str()
        .unwrap()
        .contains("/srv/static is a symlink"));
    // MD201 passes: both aliases exist (through the symlink).
    assert_eq!(check(&report, "MD201")["status"], "pass");
    // Checks that need the app say so.
    assert_eq!(check(&report, "MD204")["summary"], "no app settings found");

    // The fix works: after o+x, MD202 passes; --as-user changes who is asked.
    chmod(&t.path().join("home/deploy"), 0o701);
    let report = check_json(t.path(), &[]);
    assert_eq!(check(&report, "MD202")["status"], "pass");
    chmod(&t.path().join("home/deploy"), 0o700);
    let report = check_json(t.path(), &["--as-user", "deploy"]);
    assert_eq!(report["site"]["worker"]["source"]["kind"], "as-user");
    assert_eq!(check(&report, "MD202")["status"], "pass");
    // An unknown user is a bad argument: exit 2, naming it (was a run with MD202 skipped).
    let root = t.path().to_str().unwrap();
    let o = crate::run::media_doctor(&["check", "--root", root, "--offline", "--as-user", "ghost"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("--as-user ghost: no user \"ghost\""),
        "{}",
        o.stderr
    );
}

/// A Django project under a --root, found through a profile that names its user.
fn app_site(t: &Path, media_root: &str, static_root: &str) {
    fixture_site(t);
    // Serve the app's media and static dirs instead of the ones fixture_site made.
    std::fs::write(
        t.join("etc/nginx/nginx.conf"),
        format!(
            "user www-data;\nevents {{}}\nhttp {{\n  server {{\n    listen 80;\n    server_name myapp.example;\n\
             \x20   location /media/ {{ alias {media_root}/; }}\n\
             \x20   location /static/ {{ alias {static_root}/; }}\n  }}\n}}\n"
        ),
    )
    .unwrap();
    let app = t.join("srv/myapp");
    std::fs::create_dir_all(app.join("myapp")).unwrap();
    std::fs::create_dir_all(app.join("assets/css")).unwrap();
    std::fs::write(
        app.join("manage.py"),
        "import os, sys\nos.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", \"myapp.settings\")\n\
         from django.core.management import execute_from_command_line\nexecute_from_command_line(sys.argv)\n",
    )
    .unwrap();
    std::fs::write(app.join("myapp/__init__.py"), "").unwrap();
    std::fs::write(
        app.join("myapp/settings.py"),
        format!(
            "MEDIA_URL = \"/media/\"\nMEDIA_ROOT = \"{media_root}\"\nSTATIC_URL = \"/static/\"\n\
             STATIC_ROOT = \"{static_root}\"\nSTATICFILES_DIRS = [\"/srv/myapp/assets\"]\nDEBUG = False\n"
        ),
    )
    .unwrap();
    std::fs::write(app.join("assets/css/site.css"), "body{}").unwrap();
    std::fs::create_dir_all(t.join("etc/media-doctor")).unwrap();
    std::fs::write(
        t.join("etc/media-doctor/myapp.toml"),
        "app = \"/srv/myapp\"\nframework = \"django\"\napp_user = \"gunicorn\"\n\
         samples = [\"https://myapp.example/media/uploads/a.jpg\"]\n",
    )
    .unwrap();
    for d in [media_root, static_root] {
        std::fs::create_dir_all(t.join(d.trim_start_matches('/'))).unwrap();
    }
    open_ancestors(&t.join("srv/myapp/x"));
}

#[test]
fn app_checks_on_a_fixture_django_site() {
    if !require(is_root(), "needs root (chown to the fixture's users)") {
        return;
    }
    let t = live_tree();
    let d = t.path();
    app_site(d, "/srv/myapp/media", "/srv/myapp/staticfiles");
    let media = d.join("srv/myapp/media");
    std::fs::create_dir_all(media.join("uploads")).unwrap();
    std::fs::write(media.join("uploads/a.jpg"), b"jpg").unwrap();
    let run = || check_json(d, &["--site", "myapp"]);

    let report = run();
    assert!(
        report["site"]["app"].is_object() || check(&report, "MD204")["status"] != "skip",
        "the app should be found: {:#}",
        report["site"]
    );
    // MD204: media made by root, the app runs as gunicorn: uploads fail.
    let md204 = check(&report, "MD204");
    assert_eq!(md204["status"], "fail", "{md204:#}");
    let msg = md204["findings"][0]["message"].as_str().unwrap();
    assert!(msg.contains("gunicorn (the app's user)"), "{msg}");
    assert!(
        md204["findings"][0]["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["label"] == "app user" && e["value"] == "gunicorn (the profile's app_user)"),
        "{md204:#}"
    );
    assert!(msg.contains("lacks w on /srv/myapp/media"), "{msg}");
    assert_eq!(
        md204["findings"][0]["remediation"]["commands"][0],
        "sudo chown -R gunicorn:gunicorn /srv/myapp/media"
    );
    // MD205: STATIC_ROOT exists but is empty.
    let md205 = check(&report, "MD205");
    assert_eq!(md205["status"], "fail", "{md205:#}");
    assert!(md205["summary"].as_str().unwrap().contains("is empty"));
    // MD206, MD209: a shared, separate media directory.
    assert_eq!(
        check(&report, "MD206")["status"],
        "pass",
        "{:#}",
        check(&report, "MD206")
    );
    assert_eq!(check(&report, "MD209")["status"], "pass");
    // MD210: the profile's sample URL is the file that is there.
    let md210 = check(&report, "MD210");
    assert_eq!(md210["status"], "pass", "{md210:#}");

    // Fixed: media belongs to the app, except one upload directory made by root.
    sh("chown", &["-R", "5003:5003", media.to_str().unwrap()]);
    std::fs::create_dir_all(media.join("uploads/2024")).unwrap();
    let report = run();
    let md204 = check(&report, "MD204");
    assert_eq!(md204["status"], "fail", "{md204:#}");
    assert_eq!(
        evidence(&md204["findings"][0], "dirs_unwritable"),
        Some("1")
    );
    assert!(evidence(&md204["findings"][0], "directories")
        .unwrap()
        .contains("/srv/myapp/media/uploads/2024"));
    sh("chown", &["-R", "5003:5003", media.to_str().unwrap()]);
    // collectstatic ran; then a source changed after it.
    let collected = d.join("srv/myapp/staticfiles/css");
    std::fs::create_dir_all(&collected).unwrap();
    std::fs::write(collected.join("site.css"), "body{}").unwrap();
    let report = run();
    assert_eq!(
        check(&report, "MD204")["status"],
        "pass",
        "{:#}",
        check(&report, "MD204")
    );
    assert_eq!(
        check(&report, "MD205")["status"],
        "pass",
        "{:#}",
        check(&report, "MD205")
    );
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(collected.join("site.css"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let md205 = run();
    let md205 = check(&md205, "MD205");
    assert_eq!(md205["status"], "fail");
    assert_eq!(evidence(&md205["findings"][0], "static_stale"), Some("1"));
    // A sample URL that is not there is a failure with the path nginx opens.
    std::fs::remove_file(media.join("uploads/a.jpg")).unwrap();
    let report = run();
    let md210 = check(&report, "MD210");
    assert_eq!(md210["status"], "fail", "{md210:#}");
    assert!(md210["summary"]
        .as_str()
        .unwrap()
        .contains("/srv/myapp/media/uploads/a.jpg: 404"));
}

#[test]
fn media_in_a_release_or_inside_static_is_flagged() {
    if !require(is_root(), "needs root (chown to the fixture's users)") {
        return;
    }
    let t = live_tree();
    let d = t.path();
    app_site(
        d,
        "/srv/myapp/current/media",
        "/srv/myapp/current/media/static",
    );
    // `current` -> releases/7, the deploy layout.
    let rel = d.join("srv/myapp/releases/7");
    std::fs::create_dir_all(&rel).unwrap();
    std::fs::remove_dir_all(d.join("srv/myapp/current")).unwrap();
    std::fs::rename(d.join("srv/myapp/current"), &rel).ok();
    std::fs::create_dir_all(rel.join("media/static")).unwrap();
    symlink("releases/7", d.join("srv/myapp/current")).unwrap();
    let report = check_json(d, &["--site", "myapp"]);
    let md206 = check(&report, "MD206");
    assert_eq!(md206["status"], "fail", "{md206:#}");
    assert!(md206["summary"]
        .as_str()
        .unwrap()
        .contains("inside the release directory /srv/myapp/releases/7"));
    let md209 = check(&report, "MD209");
    assert_eq!(md209["status"], "fail", "{md209:#}");
    assert!(md209["summary"]
        .as_str()
        .unwrap()
        .contains("STATIC_ROOT is inside MEDIA_ROOT"));
}

fn setfattr(p: &Path, name: &str, value: &str) {
    let out = Command::new("setfattr")
        .args(["-h", "-n", name, "-v", value])
        .arg(p)
        .output()
        .expect("setfattr");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn mac_policy_selinux_labels_and_apparmor_rules() {
    if !require(is_root(), "needs root (chown, security.* xattrs)") {
        return;
    }
    let t = live_tree();
    let d = t.path();
    fixture_site(d);
    let report = check_json(d, &[]);
    assert_eq!(check(&report, "MD208")["status"], "skip");

    // SELinux enforcing in the image; /srv/static's files were made by hand: var_t.
    std::fs::create_dir_all(d.join("sys/fs/selinux")).unwrap();
    std::fs::write(d.join("sys/fs/selinux/enforce"), "1").unwrap();
    let label = |p: &str, ty: &str| {
        setfattr(
            &d.join(p),
            "security.selinux",
            &format!("system_u:object_r:{ty}:s0"),
        )
    };
    for p in [
        "home/deploy/app/media",
        "home/deploy/app/media/uploads",
        "home/deploy/app/media/uploads/a.jpg",
        "srv/releases/1/static",
        "srv/releases/1/static/app.css",
        "srv/releases/1/static/private.css",
    ] {
        label(p, "httpd_sys_content_t");
    }
    label("srv/releases/1/static/app.css", "var_t");
    label("srv/releases/1/static/private.css", "var_t");
    let report = check_json(d, &[]);
    let md208 = check(&report, "MD208");
    assert_eq!(md208["status"], "fail", "{md208:#}");
    let f = &md208["findings"][0];
    assert!(
        f["message"].as_str().unwrap().contains("labelled var_t"),
        "{f:#}"
    );
    assert!(f["remediation"]["commands"][0]
        .as_str()
        .unwrap()
        .contains("semanage fcontext -a -t httpd_sys_content_t '/srv/static(/.*)?'"));
    label("srv/releases/1/static/app.css", "httpd_sys_content_t");
    label("srv/releases/1/static/private.css", "httpd_sys_content_t");
    let report = check_json(d, &[]);
    assert_eq!(
        check(&report, "MD208")["status"],
        "pass",
        "{:#}",
        check(&report, "MD208")
    );
    std::fs::write(d.join("sys/fs/selinux/enforce"), "0").unwrap();

    // AppArmor: an enforced nginx profile that only knows /var/www.
    std::fs::create_dir_all(d.join("sys/kernel/security/apparmor")).unwrap();
    std::fs::write(
        d.join("sys/kernel/security/apparmor/profiles"),
        "/usr/sbin/nginx (enforce)\nsnap.thing (complain)\n",
    )
    .unwrap();
    let aa = d.join("etc/apparmor.d");
    std::fs::create_dir_all(aa.join("tunables")).unwrap();
    std::fs::create_dir_all(aa.join("local")).unwrap();
    std::fs::write(
        aa.join("tunables/home"),
        "@{HOMEDIRS}=/home/\n@{HOME}=@{HOMEDIRS}/*/ /root/\n",
    )
    .unwrap();
    std::fs::write(aa.join("local/usr.sbin.nginx"), "").unwrap();
    let profile = |extra: &str| {
        std::fs::write(
            aa.join("usr.sbin.nginx"),
            format!(
                "#include <tunables/home>\n/usr/sbin/nginx flags=(attach_disconnected) {{\n  \
                 /var/www/** r,\n  /srv/** r,\n  deny /srv/static/private.css r,\n{extra}  \
                 #include <local/usr.sbin.nginx>\n}}\n"
            ),
        )
        .unwrap()
    };
    profile("");
    let report = check_json(d, &[]);
    let md208 = check(&report, "MD208");
    assert_eq!(md208["status"], "fail", "{md208:#}");
    let msgs: Vec<&str> = md208["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(msgs[0].contains("does not let nginx read /home/deploy/app/media"));
    profile("  @{HOME}app/media/** r,\n");
    let report = check_json(d, &[]);
    assert_eq!(
        check(&report, "MD208")["status"],
        "pass",
        "{:#}",
        check(&report, "MD208")
    );
}

/// MD204's question on the live system: decided from metadata, verified as the user with
/// access(W_OK|X_OK), and nothing is left behind.
#[test]
fn write_access_is_verified_as_the_user_without_writing() {
    if !require(is_root(), "needs root (chown, setresuid)") {
        return;
    }
    let t = live_tree();
    let media = t.path().join("media");
    mkdir(&media, 0o755, "nobody", "nogroup");
    let root = SysRoot::live();
    let create = Access::WRITE | Access::EXEC;
    let nobody = Identity::lookup(&root, "nobody").unwrap();
    let www = Identity::lookup(&root, "www-data").unwrap();
    let w = walk(&root, &media, &nobody, create);
    assert!(w.outcome.is_found(), "{}", w.render());
    assert!(matches!(
        w.verification,
        media_doctor::fs::walk::Verification::Kernel { errno: 0, .. }
    ));
    let w = walk(&root, &media, &www, create);
    assert_eq!(
        w.outcome,
        Outcome::Denied {
            at: media.clone(),
            needs: Access::WRITE
        }
    );
    assert!(matches!(
        w.verification,
        media_doctor::fs::walk::Verification::Kernel {
            errno: libc::EACCES,
            ..
        }
    ));
    assert!(w.disagreements().is_empty());
    assert!(!kernel_allows(&www, &media, Access::WRITE));
    assert_eq!(
        std::fs::read_dir(&media).unwrap().count(),
        0,
        "nothing written"
    );
}

/// A check of every site asks the kernel from a thread per user (`fs::for_every_site`), not a
/// child process per site: the same answer as the child for every probe (the user's
/// supplementary group, an ACL, no root capabilities), each question asked once however often
/// a batch repeats it, and the calling thread still root afterwards.
#[test]
fn probe_threads_answer_as_the_child_does() {
    use media_doctor::fs::as_user::{self, Op, Probe};
    if !require(
        is_root(),
        "needs root (chown, groupadd, setfacl, setresuid)",
    ) {
        return;
    }
    let group = TestGroup::create("pt", &["www-data"]);
    let g = group.name.as_str();
    let t = live_tree();
    let d = t.path();
    mkdir(&d.join("pub"), 0o755, "root", "root");
    file(&d.join("pub/a.txt"), 0o644, "root", "root");
    mkdir(&d.join("private"), 0o700, "root", "root");
    file(&d.join("private/f"), 0o644, "root", "root");
    mkdir(&d.join("grp"), 0o770, "root", g);
    file(&d.join("grp/f"), 0o640, "root", g);
    mkdir(&d.join("acl"), 0o700, "root", "root");
    file(&d.join("acl/f"), 0o600, "root", "root");
    sh(
        "setfacl",
        &["-m", "u:www-data:rx", d.join("acl").to_str().unwrap()],
    );
    sh(
        "setfacl",
        &["-m", "u:www-data:r", d.join("acl/f").to_str().unwrap()],
    );
    let paths = [
        "",
        "pub",
        "pub/a.txt",
        "private",
        "private/f",
        "grp",
        "grp/f",
    ];
    let paths = paths.iter().chain(&["acl/f", "missing", "pub/a.txt/x"]);
    let ops = [
        Op::Open,
        Op::Access(Access::EXEC),
        Op::Access(Access::WRITE | Access::EXEC),
    ];
    let mut probes: Vec<Probe> = Vec::new();
    for p in paths {
        for op in ops {
            probes.push(Probe {
                path: d.join(p),
                op,
            });
        }
    }
    // Every question twice, the second time after all the others.
    probes.extend(probes.clone());
    let root = SysRoot::live();
    let www = Identity::lookup(&root, "www-data").unwrap();
    let nobody = Identity::lookup(&root, "nobody").unwrap();
    let child = as_user::probe(&root, &www, &probes).unwrap();
    let child_nobody = as_user::probe(&root, &nobody, &probes).unwrap();
    let (thread, thread_nobody, again) = media_doctor::fs::for_every_site(|| {
        (
            as_user::probe(&root, &www, &probes).unwrap(),
            as_user::probe(&root, &nobody, &probes).unwrap(),
            as_user::probe(&root, &www, &probes[..3]).unwrap(),
        )
    });
    assert_eq!(thread, child, "www-data");
    assert_eq!(thread_nobody, child_nobody, "nobody");
    assert_eq!(again, child[..3]);
    let answer = |p: &str, op: Op| {
        let at = probes
            .iter()
            .position(|q| q.path == d.join(p) && q.op == op)
            .unwrap();
        thread[at]
    };
    // Through the group only the thread's supplementary groups give, and the ACL.
    assert_eq!(answer("grp/f", Op::Open), 0);
    assert_eq!(answer("acl/f", Op::Open), 0);
    assert_eq!(answer("private/f", Op::Open), libc::EACCES);
    assert_eq!(
        answer("pub", Op::Access(Access::WRITE | Access::EXEC)),
        libc::EACCES
    );
    assert_eq!(answer("grp", Op::Access(Access::WRITE | Access::EXEC)), 0);
    assert_eq!(answer("missing", Op::Open), libc::ENOENT);
    assert_eq!(answer("pub/a.txt/x", Op::Open), libc::ENOTDIR);
    assert!(kernel_allows(&www, &d.join("grp/f"), Access::READ));
    // This thread kept its credentials: it still reads what only root may.
    assert!(nix::unistd::geteuid().is_root());
    assert!(std::fs::read(d.join("private/f")).is_ok());
}

/// Not root, on the live system: a directory media-doctor itself cannot search is reported as
/// "cannot verify: run with sudo", never guessed (the worker could pass it through its group).
#[test]
fn not_root_cannot_verify_instead_of_guessing() {
    if !require(
        is_root(),
        "needs root (to set up the tree, then drop to nobody)",
    ) {
        return;
    }
    let t = live_tree();
    let d = t.path();
    // www-data gets in through the group; nobody (who runs media-doctor here) does not.
    mkdir(&d.join("srv/app"), 0o750, "root", "www-data");
    mkdir(&d.join("srv/app/media"), 0o755, "root", "root");
    chmod(&d.join("srv"), 0o755);
    let conf = d.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "user www-data;\nevents {{}}\nhttp {{ server {{ listen 127.0.0.1:1; \
             location /media/ {{ alias {}/srv/app/media/; }} }} }}\n",
            d.display()
        ),
    )
    .unwrap();
    chmod(&conf, 0o644);
    let out = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_media-doctor"))
        .args([
            "check",
            "--offline",
            "--format",
            "json",
            "--select",
            "MD2",
            "--nginx-conf",
        ])
        .arg(&conf)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let md202 = check(&report, "MD202");
    let msg = md202["findings"][0]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("not root: cannot stat") && msg.contains("run with sudo"),
        "{md202:#}"
    );
    assert_ne!(md202["status"], "pass");
    let md203 = check(&report, "MD203");
    assert_ne!(md203["status"], "pass", "{md203:#}");
}

/// MD210 below a regex image location: only files its regex takes are probed there (its root
/// also holds index.html, which another location answers), and a /media/ file the regex steals
/// is blamed on the regex location (MD105), not on slashes.
#[test]
fn probe_file_under_a_regex_location_probes_what_the_regex_serves() {
    if !require(is_root(), "needs root (chown to the fixture's users)") {
        return;
    }
    let t = live_tree();
    let d = t.path();
    fixture_site(d);
    chmod(&d.join("home/deploy"), 0o755);
    let html = d.join("srv/html");
    std::fs::create_dir_all(html.join("img")).unwrap();
    std::fs::write(html.join("index.html"), "hi").unwrap();
    std::fs::write(html.join("img/logo.png"), "png").unwrap();
    let conf = |media_modifier: &str| {
        format!(
            "user www-data;\nevents {{}}\nhttp {{\n  server {{\n    listen 80;\n    server_name myapp.example;\n\
             \x20   location / {{ proxy_pass http://127.0.0.1:8000; }}\n\
             \x20   location {media_modifier} /media/ {{ alias /home/deploy/app/media/; }}\n\
             \x20   location ~* \\.(png|jpg)$ {{ root /srv/html; expires 30d; }}\n  }}\n}}\n"
        )
    };
    std::fs::write(d.join("etc/nginx/nginx.conf"), conf("")).unwrap();
    let md210 = check(&check_json(d, &[]), "MD210").clone();
    assert_eq!(md210["status"], "fail", "{md210:#}");
    let failures: Vec<&serde_json::Value> = md210["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .collect();
    assert_eq!(failures.len(), 1, "only the stolen media file: {md210:#}");
    let f = failures[0];
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .starts_with("/media/uploads/a.jpg should serve"),
        "{f:#}"
    );
    assert!(
        evidence(f, "answered by")
            .unwrap()
            .starts_with("location ~* \\.(png|jpg)$"),
        "{f:#}"
    );
    assert!(
        f["remediation"]["text"].as_str().unwrap().contains("MD105"),
        "{f:#}"
    );
    // The regex location's own file is probed at a URL the regex takes, and passes.
    assert!(
        md210["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["message"] == "/img/logo.png -> /srv/html/img/logo.png: 200"),
        "{md210:#}"
    );

    std::fs::write(d.join("etc/nginx/nginx.conf"), conf("^~")).unwrap();
    let md210 = check(&check_json(d, &[]), "MD210").clone();
    assert_eq!(md210["status"], "pass", "{md210:#}");
}
