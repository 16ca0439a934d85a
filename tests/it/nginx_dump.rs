//! `--nginx-dump`: an `nginx -T` dump gives the same tree as loading the files. Checked on the
//! 100-site config from ../shared/bench/gen_nginx.py, with the dump printed by the real nginx
//! (`nginx -T`) when it is installed, else the generator's byte-identical copy.

use media_doctor::nginx::{self, Config};
use media_doctor::sysroot::SysRoot;
use std::path::Path;
use std::process::Command;

/// Every directive, includes expanded, depth-first: `depth file:line name args {`.
fn flat(cfg: &Config) -> Vec<String> {
    cfg.depth_first()
        .map(|(depth, d)| {
            format!(
                "{depth} {}:{} {} {:?}{}",
                d.file().display(),
                d.line(),
                d.name(),
                d.args().collect::<Vec<_>>(),
                if d.has_block() { " {" } else { "" }
            )
        })
        .collect()
}

#[test]
fn a_dump_gives_the_same_tree_as_the_files() {
    let Some(bench) = crate::support::bench_dir() else {
        let _ = crate::support::require(false, "needs ../shared/bench/gen_nginx.py");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // The generator refuses an existing --out, so it writes into a fresh subdirectory.
    let dir = tmp.path().join("conf");
    let gen = Command::new("python3")
        .arg(bench.join("gen_nginx.py"))
        .args(["--sites", "100", "--out"])
        .arg(&dir)
        .output();
    let why = match &gen {
        Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
        Err(e) => e.to_string(),
    };
    if !crate::support::require(
        gen.as_ref().is_ok_and(|o| o.status.success()),
        &format!("needs python3 and openssl to run gen_nginx.py: {why}"),
    ) {
        return;
    }
    let conf = dir.join("nginx.conf");
    let dump = match crate::support::nginx_binary() {
        Some(nginx) => {
            let out = Command::new(nginx)
                .arg("-T")
                .arg("-q")
                .arg("-p")
                .arg(&dir)
                .arg("-c")
                .arg(&conf)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        }
        None => std::fs::read(dir.join("nginx-T.txt")).unwrap(),
    };
    let files = nginx::load_files(&SysRoot::live(), &conf).unwrap();
    let from_dump = nginx::load_dump(&SysRoot::live(), &dump, "nginx -T").unwrap();
    assert!(files.diagnostics.is_empty(), "{:?}", &files.diagnostics);
    assert!(
        from_dump.diagnostics.is_empty(),
        "{:?}",
        &from_dump.diagnostics
    );
    let (a, b) = (flat(&files), flat(&from_dump));
    assert!(a.len() > 6000, "{}", a.len());
    if let Some(i) = a.iter().zip(&b).position(|(x, y)| x != y) {
        panic!(
            "first difference at {i}: files {:?} vs dump {:?}",
            a[i], b[i]
        );
    }
    assert_eq!(a.len(), b.len());
    // The same files, each read once: nginx -T prints every file it read.
    let mut fa: Vec<&Path> = files.files.iter().map(|f| f.path.as_path()).collect();
    let mut fb: Vec<&Path> = from_dump.files.iter().map(|f| f.path.as_path()).collect();
    fa.sort();
    fb.sort();
    assert_eq!(fa, fb);
    assert_eq!(files.servers().len(), from_dump.servers().len());
}
