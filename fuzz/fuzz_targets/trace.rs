//! Fuzz `trace`: a random nginx config (as an `nginx -T` dump) and a random URL, through what
//! `media-doctor trace --offline` does: load, the site, the resolver (`resolve` and `predict`,
//! which must agree), the trace and both of its renderings. Input: the URL on the first line,
//! the config after it. Files are looked up under an empty root, so the walk touches nothing of
//! this machine. Nothing may panic or hang, and
//! the text rendering must hold no raw control byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use media_doctor::nginx::resolve::{Request, MODEL_FAILURE};
use media_doctor::render;
use media_doctor::site::{Options, Site};
use std::sync::OnceLock;

fn empty_root() -> &'static std::path::Path {
    static ROOT: OnceLock<tempfile::TempDir> = OnceLock::new();
    ROOT.get_or_init(|| tempfile::tempdir().expect("tempdir")).path()
}

fuzz_target!(|data: &[u8]| {
    colored::control::set_override(false);
    let (url, config) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let url = String::from_utf8_lossy(url);
    let url = if url.contains("://") {
        url.into_owned()
    } else {
        format!("http://{url}")
    };
    let Ok(req) = Request::from_url(&url) else {
        return;
    };
    let Ok(dump_file) = tempfile::NamedTempFile::new() else {
        return;
    };
    let mut dump = b"# configuration file /etc/nginx/nginx.conf:\n".to_vec();
    dump.extend_from_slice(config);
    if std::fs::write(dump_file.path(), &dump).is_err() {
        return;
    }
    let opts = Options {
        nginx_dump: Some(dump_file.path().to_path_buf()),
        root: Some(empty_root().to_path_buf()),
        ..Default::default()
    };
    let Ok(site) = Site::gather(&opts, true) else {
        return;
    };
    if site.config().has_fatal_errors() {
        return; // trace refuses these (exit 2)
    }
    let resolver = site.resolver();
    let resolution = resolver.resolve(&req);
    // The resolver turns its own panics into an unknown answer (so `trace` never exits 101):
    // the fuzzer must still see them. Such a reason starts with the marker; one that only
    // holds it quotes the input (a URL path that spells the marker out is not a panic).
    assert!(
        !resolution.reason.starts_with(MODEL_FAILURE),
        "{}",
        resolution.reason
    );
    let quick = resolver.predict(&req);
    assert!(!quick.reason.starts_with(MODEL_FAILURE), "{}", quick.reason);
    assert_eq!(quick.predicted_status, resolution.predicted_status);
    let trace = render::trace::Trace::new(&resolver, &req, &resolution);
    let mut json = Vec::new();
    render::trace::write_json(&mut json, &trace).expect("trace JSON");
    serde_json::from_slice::<serde_json::Value>(&json).expect("whole JSON");
    let mut text = Vec::new();
    render::trace::write_text(&mut text, &trace, None).expect("trace text");
    let text = String::from_utf8(text).expect("UTF-8 text");
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "raw control byte in: {text:?}"
    );
});
