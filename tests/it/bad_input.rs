//! Bad input for the nginx loader: never a panic, never a hang, always a located message.
//!
//! Property tests throw random bytes, token soup, truncated and unbalanced configs at the lexer,
//! parser and loader (through `load_dump`, which runs all of them without touching the disk);
//! the other tests build real trees: symlink loops, include cycles, non-UTF-8 file names and
//! contents, NUL bytes, 100,000 nested blocks. The 50 MB file and the glob over 10,000 files are
//! benchmarks with bounds on a release build: scripts/bench-stress.sh.

use media_doctor::nginx::lexer::{cook, Lexer, Tok};
use media_doctor::nginx::{self, Config};
use media_doctor::sysroot::SysRoot;
use proptest::prelude::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// Load `text` as the single file of an nginx -T dump.
fn load_text(text: &[u8]) -> Config {
    let mut dump = b"# configuration file /etc/nginx/nginx.conf:\n".to_vec();
    dump.extend_from_slice(text);
    dump.push(b'\n');
    nginx::load_dump(&SysRoot::live(), &dump, "-").expect("a dump with a header always loads")
}

/// Every diagnostic points inside the text: a line that exists, a column from 1.
fn assert_located(cfg: &Config, text: &[u8]) {
    let lines = text.iter().filter(|&&c| c == b'\n').count() as u32 + 2;
    for d in &cfg.diagnostics {
        assert!(
            d.line >= 1 && d.line <= lines && d.column >= 1,
            "{d} is not inside the {lines}-line text"
        );
        assert!(!d.message.is_empty());
        assert_eq!(d.file, Path::new("/etc/nginx/nginx.conf"));
    }
}

/// Pieces nginx's tokenizer treats specially, to make the random inputs interesting.
fn soup() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"{".to_vec()),
        Just(b"}".to_vec()),
        Just(b";".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"'".to_vec()),
        Just(b"\\".to_vec()),
        Just(b"$".to_vec()),
        Just(b"${".to_vec()),
        Just(b"#".to_vec()),
        Just(b"\n".to_vec()),
        Just(b" ".to_vec()),
        Just(b"(".to_vec()),
        Just(b")".to_vec()),
        Just(b"\0".to_vec()),
        Just(b"\xff\xfe".to_vec()),
        Just(b"server".to_vec()),
        Just(b"location".to_vec()),
        Just(b"if".to_vec()),
        Just(b"include".to_vec()),
        Just(b"http".to_vec()),
        Just(b"content_by_lua_block".to_vec()),
        Just(b"[[".to_vec()),
        Just(b"]]".to_vec()),
        Just(b"--".to_vec()),
        "[a-z/._*]{1,8}".prop_map(|s| s.into_bytes()),
    ];
    prop::collection::vec(piece, 0..200).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let cfg = load_text(&bytes);
        assert_located(&cfg, &bytes);
    }

    #[test]
    fn token_soup_never_panics(text in soup()) {
        let cfg = load_text(&text);
        assert_located(&cfg, &text);
        // The tree is walkable: children() terminates and every handle reads.
        let mut stack: Vec<_> = cfg.top().collect();
        let mut seen = 0;
        while let Some(d) = stack.pop() {
            let _ = (d.name(), d.args().count(), d.line());
            seen += 1;
            stack.extend(d.children());
        }
        prop_assert!(seen <= cfg.directive_count());
    }

    #[test]
    fn a_truncated_config_is_reported_where_it_stops(cut in 0usize..SAMPLE.len()) {
        let text = &SAMPLE.as_bytes()[..cut];
        let cfg = load_text(text);
        assert_located(&cfg, text);
        // Cut anywhere inside `http { ... }`, the block is left open.
        let inside = SAMPLE.find("http {").unwrap() + 6..=SAMPLE.rfind('}').unwrap();
        if inside.contains(&cut) {
            prop_assert!(cfg.has_fatal_errors(), "{:?}", cfg.diagnostics);
        }
    }

    #[test]
    fn unbalanced_braces_are_reported(opens in 0usize..50, closes in 0usize..50) {
        let text = format!("{}{}", "a {".repeat(opens), "}".repeat(closes));
        let cfg = load_text(text.as_bytes());
        assert_located(&cfg, text.as_bytes());
        prop_assert_eq!(cfg.has_fatal_errors(), opens != closes);
    }

    /// Quoting with nginx's escapes and then cooking gives the text back: a quoted argument
    /// holds exactly what was written, whatever it is.
    #[test]
    fn quoted_arguments_round_trip(s in "\\PC*") {
        let quoted = format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let mut lexer = Lexer::new(&quoted);
        let t = lexer.next_token();
        let Tok::Word { span, cooked, quoted: true } = t.tok else {
            panic!("not one quoted word: {t:?}");
        };
        let got = cooked.unwrap_or_else(|| quoted[span].to_string());
        prop_assert_eq!(got, s.clone());
        prop_assert_eq!(cook(&s.replace('\\', "\\\\")).unwrap_or_else(|| s.clone()), s);
    }
}

const SAMPLE: &str = r#"user www-data;
events { worker_connections 1024; }
http {
    include mime.types;
    log_format main '$remote_addr "$request" ${status}x';
    server {
        listen 80;
        server_name example.com;
        location /media/ { alias /srv/media/; }
        location ~ "^/img/[0-9]{4}/" { root /srv; }
        if ($http_user_agent ~ "bot") { return 403; }
        content_by_lua_block { ngx.say("}") -- }
        }
    }
}
"#;

#[test]
fn deep_nesting_is_bounded_and_fast() {
    let t = Instant::now();
    let depth = 100_000;
    let text = format!("{}{}", "location / {\n".repeat(depth), "}\n".repeat(depth));
    let cfg = load_text(text.as_bytes());
    assert!(t.elapsed() < Duration::from_secs(20));
    let e: Vec<String> = cfg.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(e.iter().any(|m| m.contains("nested more than")), "{e:?}");
    // Unclosed, too: one located error at the end, no overflow.
    let cfg = load_text("a {".repeat(depth).as_bytes());
    assert!(cfg
        .diagnostics
        .iter()
        .any(|d| d.message == "unexpected end of file, expecting \"}\""));
}

#[test]
fn nul_and_non_utf8_bytes_are_located() {
    let text = b"http {\n  root /srv/M\xf6lln;\n  set $a \"x\0y\";\n}\n";
    let cfg = load_text(text);
    assert_located(&cfg, text);
    let warn: Vec<_> = cfg.diagnostics.iter().filter(|d| !d.fatal).collect();
    assert_eq!(warn.len(), 1, "{:?}", cfg.diagnostics);
    assert_eq!((warn[0].line, warn[0].column), (2, 14));
    assert!(warn[0].message.contains("will not match the disk"));
    let http = cfg.top().next().unwrap();
    let args: Vec<Vec<&str>> = http.children().map(|d| d.args().collect()).collect();
    assert_eq!(args, [vec!["/srv/M\u{fffd}lln"], vec!["$a", "x\0y"]]);
}

fn write(dir: &Path, rel: &str, text: &[u8]) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[test]
fn symlink_loops_cycles_and_directories_in_includes() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "etc/nginx/nginx.conf",
        b"events {}\nhttp {\n include sites/*;\n include conf.d;\n include a.conf;\n}\n",
    );
    std::fs::create_dir_all(t.path().join("etc/nginx/sites")).unwrap();
    std::fs::create_dir_all(t.path().join("etc/nginx/conf.d")).unwrap();
    // x -> y -> x, inside the root, with absolute targets (resolved in the root, not the host).
    std::os::unix::fs::symlink("/etc/nginx/sites/y", t.path().join("etc/nginx/sites/x")).unwrap();
    std::os::unix::fs::symlink("/etc/nginx/sites/x", t.path().join("etc/nginx/sites/y")).unwrap();
    write(t.path(), "etc/nginx/a.conf", b"include b.conf;\n");
    write(t.path(), "etc/nginx/b.conf", b"include a.conf;\n");
    let start = Instant::now();
    let cfg =
        nginx::load_files(&SysRoot::new(t.path()), Path::new("/etc/nginx/nginx.conf")).unwrap();
    assert!(start.elapsed() < Duration::from_secs(10));
    let e: Vec<String> = cfg.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(e.len(), 4, "{e:?}");
    assert!(
        e[0].starts_with("/etc/nginx/nginx.conf:3:2: open() \"/etc/nginx/sites/x\" failed (40: "),
        "{e:?}"
    );
    assert!(
        e[1].starts_with("/etc/nginx/nginx.conf:3:2: open() \"/etc/nginx/sites/y\" failed (40: "),
        "{e:?}"
    );
    assert!(
        e[2].starts_with("/etc/nginx/nginx.conf:4:2: \"/etc/nginx/conf.d\" is not a regular file"),
        "{e:?}"
    );
    assert_eq!(
        e[3],
        "/etc/nginx/b.conf:1:1: include cycle: /etc/nginx/a.conf -> /etc/nginx/b.conf -> /etc/nginx/a.conf: this include is not followed"
    );
}

#[test]
fn non_utf8_file_names_are_read_and_shown() {
    use std::os::unix::ffi::OsStrExt;
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "etc/nginx/nginx.conf",
        b"events {}\nhttp { include sites/*; include \"M\xf6lln.conf\"; }\n",
    );
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.conf");
    std::fs::create_dir_all(t.path().join("etc/nginx/sites")).unwrap();
    std::fs::write(
        t.path().join("etc/nginx/sites").join(name),
        "server { listen 80; }\n",
    )
    .unwrap();
    std::fs::write(
        t.path()
            .join("etc/nginx")
            .join(std::ffi::OsStr::from_bytes(b"M\xf6lln.conf")),
        "",
    )
    .unwrap();
    let cfg =
        nginx::load_files(&SysRoot::new(t.path()), Path::new("/etc/nginx/nginx.conf")).unwrap();
    // The glob found the file by its bytes.
    assert_eq!(cfg.servers().len(), 1);
    assert_eq!(
        cfg.servers()[0].file().as_os_str().as_bytes(),
        b"/etc/nginx/sites/caf\xe9.conf"
    );
    // The include written in Latin-1 inside the config cannot be matched: said twice, located.
    let e: Vec<String> = cfg.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e.iter()
            .any(|e| e.contains("not UTF-8") && e.starts_with("/etc/nginx/nginx.conf:2:35:")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|e| e.contains("M\u{fffd}lln.conf\" failed (2: No such file")),
        "{e:?}"
    );
}
