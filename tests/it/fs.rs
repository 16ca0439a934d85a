//! fs: identities, access decisions and the namei walk on real trees with real owners, modes,
//! groups and ACLs, each verdict checked against the kernel as the user (setpriv, an independent
//! process, not media-doctor's own fork).

use crate::support::{is_root, open_ancestors, require};
use media_doctor::fs::{walk, Access, Identity, Outcome};
use media_doctor::sysroot::SysRoot;
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
    sh(
        "chown",
        &["-h", &format!("{user}:{group}"), p.to_str().unwrap()],
    );
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
    pub fn create(members: &[&str]) -> TestGroup {
        let name = format!("mdt{}", std::process::id() % 100000);
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
    let group = TestGroup::create(&["www-data"]);
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
