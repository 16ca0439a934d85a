//! Fuzz the nginx config lexer, parser and loader: any bytes, as the one file of an `nginx -T`
//! dump (which runs the whole loader without the disk). Nothing may panic or hang, every
//! diagnostic must point inside the input, and the tree must be walkable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use media_doctor::nginx;
use media_doctor::sysroot::SysRoot;

fuzz_target!(|data: &[u8]| {
    let mut dump = b"# configuration file /etc/nginx/nginx.conf:\n".to_vec();
    dump.extend_from_slice(data);
    let Ok(cfg) = nginx::load_dump(&SysRoot::live(), &dump, "fuzz") else {
        return;
    };
    let lines = data.iter().filter(|&&c| c == b'\n').count() as u32 + 2;
    for d in &cfg.diagnostics {
        assert!(d.line >= 1 && d.line <= lines && d.column >= 1, "{d}");
    }
    let mut stack: Vec<_> = cfg.top().collect();
    let mut seen = 0usize;
    while let Some(d) = stack.pop() {
        let _ = (d.name(), d.args().count(), d.line(), d.column());
        seen += 1;
        assert!(seen <= cfg.directive_count());
        stack.extend(d.children());
    }
});
