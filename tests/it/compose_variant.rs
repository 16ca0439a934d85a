// The compose fixtures: a few public projects (fixtures/compose/NAME with a SOURCE.md), and
// variants of them broken one way, each stored as only its change (fixtures/compose/NAME/
// variant.toml: the base, why, and find/replace edits; any other file in the variant's
// directory is laid over the base as is). A fix to a base is made once and every variant gets
// it. This file is shared by the integration tests (tests/it) and the unit tests of
// src/container (through include!), so it uses only std, toml and tempfile, and no inner
// attributes or doc comments.

/// A compose project to run on: a base in place, or a variant assembled in a temp dir.
pub struct ComposeProject {
    /// The project's directory (named as the fixture is, so the compose project name is too).
    pub dir: std::path::PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

/// The fixture NAME of fixtures/compose as a project directory. Panics (it is test support)
/// when a variant's edit does not find its text exactly once in the base.
pub fn compose_project(name: &str) -> ComposeProject {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/compose");
    let src = fixtures.join(name);
    let spec = src.join("variant.toml");
    if !spec.exists() {
        assert!(src.is_dir(), "no compose fixture {name}");
        return ComposeProject {
            dir: src,
            _tmp: None,
        };
    }
    let text = std::fs::read_to_string(&spec).unwrap();
    let table: toml::Table =
        toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", spec.display()));
    let base = table["base"].as_str().expect("variant.toml: base");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    copy_tree(&fixtures.join(base), &dir);
    copy_tree(&src, &dir);
    std::fs::remove_file(dir.join("variant.toml")).unwrap();
    let edits = table.get("edit").and_then(|e| e.as_array());
    for edit in edits.into_iter().flatten() {
        let field = |k: &str| {
            edit.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_else(|| panic!("{}: an edit without {k}", spec.display()))
        };
        let (file, find, replace) = (field("file"), field("find"), field("replace"));
        let path = dir.join(file);
        let before = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{name}: {file} of {base}: {e}"));
        assert_eq!(
            before.matches(find).count(),
            1,
            "{name}: the edit of {file} must find its text exactly once in {base}'s:\n{find}"
        );
        std::fs::write(&path, before.replacen(find, replace, 1)).unwrap();
    }
    ComposeProject {
        dir,
        _tmp: Some(tmp),
    }
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
