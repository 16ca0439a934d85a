//! Fuzz the Apache config loader: any bytes as apache2.conf, with a site file and envvars beside
//! it in memory (so includes, conditionals and variables run without the disk). Nothing may panic
//! or hang, every diagnostic must point inside a file that was read, and the tree must be walkable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use media_doctor::apache;
use std::collections::BTreeMap;
use std::path::PathBuf;

fuzz_target!(|data: &[u8]| {
    let mut files = BTreeMap::new();
    files.insert(PathBuf::from("/etc/apache2/apache2.conf"), data.to_vec());
    files.insert(
        PathBuf::from("/etc/apache2/envvars"),
        b"export APACHE_RUN_USER=www-data\n".to_vec(),
    );
    files.insert(
        PathBuf::from("/etc/apache2/sites-enabled/a.conf"),
        b"<VirtualHost *:80>\nServerName a\n</VirtualHost>\n".to_vec(),
    );
    files.insert(PathBuf::from("/etc/apache2/sites-enabled/b.conf"), data.to_vec());
    let Ok(cfg) = apache::load_memory(files, "/etc/apache2/apache2.conf".as_ref()) else {
        return;
    };
    let lines = data.iter().filter(|&&c| c == b'\n').count() as u32 + 3;
    for d in &cfg.diagnostics {
        assert!(d.line >= 1 && d.line <= lines, "{d}");
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
});
