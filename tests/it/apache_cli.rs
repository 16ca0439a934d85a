//! `trace` and `check` on an Apache box: the server is picked on its own (`--apache-conf`,
//! `--server`, else the configuration that exists under --root), and the trace names it.

use std::path::Path;
use std::process::Command;

fn write(p: &Path, text: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn run(args: &[&str]) -> (i32, serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_media-doctor"))
        .args(args)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A Debian box under --root: Apache's config, its envvars, a site whose Alias lacks the slash
/// its URL has (#14's first failure shape), and no nginx at all.
fn apache_box(root: &Path, alias_target: &str) {
    write(
        &root.join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\n",
    );
    write(&root.join("etc/group"), "root:x:0:\nwww-data:x:33:\n");
    write(
        &root.join("etc/apache2/envvars"),
        "export APACHE_RUN_USER=www-data\nexport APACHE_RUN_GROUP=www-data\n",
    );
    write(
        &root.join("etc/apache2/apache2.conf"),
        "User ${APACHE_RUN_USER}\nGroup ${APACHE_RUN_GROUP}\nInclude ports.conf\n\
         <Directory />\n  Require all denied\n</Directory>\nIncludeOptional sites-enabled/*.conf\n",
    );
    write(&root.join("etc/apache2/ports.conf"), "Listen 80\n");
    write(
        &root.join("etc/apache2/sites-enabled/shop.conf"),
        &format!(
            "<VirtualHost *:80>\n  ServerName shop.example\n  Alias /media/ {alias_target}\n\
             \x20 <Directory /srv/shop/media/>\n    Require all granted\n  </Directory>\n\
             \x20 WSGIScriptAlias / /srv/shop/app/wsgi.py\n</VirtualHost>\n"
        ),
    );
    write(&root.join("srv/shop/media/a.jpg"), "x");
}

#[test]
fn trace_picks_apache_and_names_it() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    apache_box(root, "/srv/shop/media");
    let r = root.to_str().unwrap();
    let url = "http://shop.example/media/a.jpg";
    // No nginx under the root, Apache's config exists: Apache is judged.
    let (code, j, err) = run(&["trace", url, "--root", r, "--offline", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(j["web_server"], "apache", "{j}");
    // The slash mismatch: /srv/shop/mediaa.jpg, outside every granted <Directory>: 403.
    assert_eq!(j["path"], "/srv/shop/mediaa.jpg", "{j}");
    assert_eq!(j["predicted_status"], 403, "{j}");
    assert_eq!(j["server"]["names"][0], "shop.example");
    assert_eq!(j["location"]["pattern"], "Alias /media/");
    // The app's URLs are handed to mod_wsgi: no status is guessed.
    let (_, j, _) = run(&[
        "trace",
        "/accounts/",
        "--root",
        r,
        "--offline",
        "--format",
        "json",
    ]);
    assert_eq!(j["url"], "http://shop.example/accounts/");
    assert_eq!(j["handler"], "wsgi", "{j}");
    assert_eq!(j["predicted_status"], serde_json::Value::Null);
    assert_eq!(j["upstream"], "/srv/shop/app/wsgi.py");

    // Fixed, the same file is served (and walked as www-data from envvars).
    apache_box(root, "/srv/shop/media/");
    let (_, j, _) = run(&["trace", url, "--root", r, "--offline", "--format", "json"]);
    assert_eq!(j["predicted_status"], 200, "{j}");
    assert_eq!(j["user"], "www-data");

    // Asked for nginx, it is nginx that is judged (and there is none here).
    let (code, _, err) = run(&["trace", url, "--root", r, "--offline", "--server", "nginx"]);
    assert_eq!(code, 2, "{err}");
    // `check` judges Apache too: the report names it, the Apache checks run, nginx's skip.
    let (code, j, err) = run(&["check", "--root", r, "--offline", "--format", "json"]);
    assert_eq!(code, 0, "{err}\n{j}");
    assert_eq!(j["site"]["web_server"], "apache", "{j}");
    let status = |j: &serde_json::Value, id: &str| {
        j["checks"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["id"] == id))
            .map(|c| c["status"].clone())
    };
    assert_eq!(status(&j, "MD501"), Some("pass".into()), "{j}");
    assert_eq!(status(&j, "MD101"), Some("skip".into()), "{j}");
    // The slash mismatch again: MD501 fails, exit 1.
    apache_box(root, "/srv/shop/media");
    let (code, j, err) = run(&["check", "--root", r, "--offline", "--format", "json"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(status(&j, "MD501"), Some("fail".into()), "{j}");
}

#[test]
fn trace_with_apache_conf_reads_a_bare_virtualhost() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let media = dir.join("media");
    write(&media.join("a.jpg"), "x");
    let site = dir.join("deploy/site.conf");
    write(
        &site,
        &format!(
            "<VirtualHost *:80>\n  ServerName shop.example\n  Alias /media/ {m}/\n  <Directory {m}>\n    Require all granted\n  </Directory>\n</VirtualHost>\n",
            m = media.display()
        ),
    );
    let (code, j, err) = run(&[
        "trace",
        "http://shop.example/media/a.jpg",
        "--apache-conf",
        site.to_str().unwrap(),
        "--offline",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(j["web_server"], "apache");
    assert_eq!(j["predicted_status"], 200, "{j}");
    // --apache-conf and --nginx-conf exclude each other.
    let (code, _, _) = run(&[
        "trace",
        "http://x/",
        "--apache-conf",
        "a",
        "--nginx-conf",
        "b",
    ]);
    assert_eq!(code, 2);
}

/// Two Apache sites and no --site: each is checked on its own, as on nginx (one line per site in
/// text, one entry per site in JSON). The shop's Alias lacks its slash (MD501), the blog is
/// right: the blog's findings stay clean, and no finding of one site names the other's file.
#[test]
fn every_apache_site_is_checked_on_its_own() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    apache_box(root, "/srv/shop/media");
    write(
        &root.join("etc/apache2/sites-enabled/blog.conf"),
        "<VirtualHost *:80>\n  ServerName blog.example\n  Alias /uploads/ /srv/blog/uploads/\n\
         \x20 <Directory /srv/blog/uploads/>\n    Require all granted\n  </Directory>\n</VirtualHost>\n",
    );
    write(&root.join("srv/blog/uploads/b.png"), "x");
    let r = root.to_str().unwrap();
    let (code, j, err) = run(&["check", "--root", r, "--offline", "--format", "json"]);
    assert_eq!(code, 1, "{err}\n{j}");
    assert_eq!(j["site"]["web_server"], "apache", "{}", j["site"]);
    assert_eq!(j["site"]["sites"], serde_json::json!(["blog", "shop"]));
    let sites = j["sites"].as_array().expect("sites[]");
    assert_eq!(sites.len(), 2, "{j}");
    for s in sites {
        let name = s["name"].as_str().unwrap();
        assert_eq!(s["site"]["web_server"], "apache", "{name}");
        let vhosts = s["site"]["apache"]["virtual_hosts"].as_array().unwrap();
        assert_eq!(vhosts.len(), 1, "{name}: {vhosts:?}");
        let other = if name == "shop" { "blog" } else { "shop" };
        // Its own files: the entry and its site's, not the other's.
        let files = s["site"]["apache"]["files"].to_string();
        assert!(
            files.contains("apache2.conf") && files.contains(&format!("sites-enabled/{name}.conf")),
            "{name}: {files}"
        );
        assert!(
            !files.contains(&format!("sites-enabled/{other}.conf")),
            "{name}: {files}"
        );
        let text = s["checks"].to_string();
        assert!(
            !text.contains(&format!("sites-enabled/{other}.conf")),
            "{name} names {other}: {text}"
        );
        let failing: Vec<&str> = s["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["status"] == "fail" || c["status"] == "warn")
            .filter_map(|c| c["id"].as_str())
            .collect();
        match name {
            "shop" => assert!(failing.contains(&"MD501"), "{failing:?}"),
            _ => assert_eq!(failing, Vec::<&str>::new(), "blog: {}", s["checks"]),
        }
    }
    // In text: the server judged, and one line per site.
    let out = Command::new(env!("CARGO_BIN_EXE_media-doctor"))
        .args(["check", "--root", r, "--offline"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("2 sites in Apache httpd (/etc/apache2/apache2.conf)"),
        "{text}"
    );
    assert!(text.contains("blog: ok"), "{text}");
    assert!(text.contains("shop: fails MD501"), "{text}");
}

/// MD507 under --root (not --offline): the files are the root's, the running Apache is not
/// this machine's. Its sites-enabled is dated after this machine's Apache would have loaded, and
/// this machine may run an Apache of its own: MD507 is skipped, never judged from either.
#[test]
fn md507_under_root_is_not_judged_from_this_machine() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    apache_box(root, "/srv/shop/media/");
    let r = root.to_str().unwrap();
    let (_, j, err) = run(&[
        "check", "--root", r, "--select", "MD507", "--format", "json",
    ]);
    let md507 = j["checks"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["id"] == "MD507"))
        .unwrap_or_else(|| panic!("{err}\n{j}"));
    assert_eq!(md507["status"], "skip", "{md507}");
    assert!(
        md507["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with("--root: ")),
        "{md507}"
    );
}
