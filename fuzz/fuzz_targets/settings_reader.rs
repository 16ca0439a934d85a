//! Fuzz the settings reader: any text as a Django settings module, parsed by tree-sitter and run
//! by the safe interpreter (imports of sibling modules included: the text is also saved as
//! `base.py`). Nothing may panic, overflow the stack, or take unbounded time or memory; what it
//! cannot decide is `Unknown`. Deep nesting (`str(str(...))`, `((((...))))`) and long
//! attribute chains are what the interpreter's limits are for.
#![no_main]

use libfuzzer_sys::fuzz_target;
use media_doctor::app::env::Env;
use media_doctor::app::python::Interp;
use media_doctor::sysroot::SysRoot;
use std::path::{Path, PathBuf};

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let src = String::from_utf8_lossy(data);
    if std::fs::write(dir.path().join("settings.py"), src.as_bytes()).is_err()
        || std::fs::write(dir.path().join("base.py"), src.as_bytes()).is_err()
    {
        return;
    }
    let root = SysRoot::new(dir.path());
    let mut interp = Interp::new(&root, Env::default(), vec![PathBuf::from("/")], PathBuf::from("/"));
    if let Ok(ns) = interp.load_file(Path::new("/settings.py")) {
        for name in ["MEDIA_ROOT", "MEDIA_URL", "STATIC_ROOT", "STATIC_URL", "BASE_DIR"] {
            let _ = ns.vars.get(name).map(|b| format!("{b:?}"));
        }
    }
    let _ = interp.eval_in_module(Path::new("/settings.py"), "MEDIA_ROOT", "fuzz");
});
