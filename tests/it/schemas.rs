//! Real output against the schemas it claims: `--format json` against docs/report.schema.json
//! (and the example in docs/json-schema.md), `--format sarif` against the OASIS SARIF 2.1.0
//! schema (tests/data/). The validator is Python's jsonschema (`pip install jsonschema`); without
//! it these tests say so and return, and fail under CI=true.

use crate::run::{check_fixture, REPO};
use crate::sample;
use crate::support::require;
use media_doctor::render::{self, files::SourceFiles};
use std::path::Path;
use std::process::Command;

const VALIDATE: &str = r#"
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
instance = json.load(open(sys.argv[2]))
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
errors = sorted(cls(schema, format_checker=cls.FORMAT_CHECKER).iter_errors(instance), key=lambda e: list(e.absolute_path))
for e in errors[:20]:
    print(e.json_path, ":", e.message[:300])
sys.exit(1 if errors else 0)
"#;

fn have_jsonschema() -> bool {
    Command::new("python3")
        .args(["-c", "import jsonschema"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Validate `instance` against the schema at `schema` (relative to the repository).
fn validate(schema: &str, instance: &str, what: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("instance.json");
    std::fs::write(&file, instance).unwrap();
    let out = Command::new("python3")
        .args(["-c", VALIDATE])
        .arg(Path::new(REPO).join(schema))
        .arg(&file)
        .output()
        .expect("run python3");
    let hint = if schema == REPORT_SCHEMA {
        "\nA new field is welcome (extend, never rename): describe it in docs/report.schema.json \
         and in the table of docs/json-schema.md."
    } else {
        ""
    };
    assert!(
        out.status.success(),
        "{what} does not match {schema}:\n{}{}{hint}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn python_ready() -> bool {
    require(
        have_jsonschema(),
        "needs python3 with jsonschema (pip install jsonschema)",
    )
}

const REPORT_SCHEMA: &str = "docs/report.schema.json";
const SARIF_SCHEMA: &str = "tests/data/sarif-schema-2.1.0.json";

#[test]
fn json_output_matches_the_documented_schema() {
    if !python_ready() {
        return;
    }
    for site in ["healthy", "broken", "unloadable"] {
        let out = check_fixture(site, &["--format", "json"]);
        assert!(out.code <= 1, "{site}: {}", out.stderr);
        validate(
            REPORT_SCHEMA,
            &out.stdout,
            &format!("check --format json on {site}"),
        );
    }
    // Every site on its own (the demo has two sites: `sites[]`).
    let out = crate::run::media_doctor(&[
        "check",
        "--root",
        "fixtures/demo",
        "--offline",
        "--format",
        "json",
    ]);
    assert!(out.code <= 1, "every site: {}", out.stderr);
    assert!(out.stdout.contains("\"sites\""), "{}", out.stdout);
    validate(
        REPORT_SCHEMA,
        &out.stdout,
        "check --format json on every site",
    );
    let mut json = Vec::new();
    render::json::write(&mut json, &sample::report()).unwrap();
    validate(
        REPORT_SCHEMA,
        &String::from_utf8(json).unwrap(),
        "the sample report",
    );
}

#[test]
fn the_documented_example_matches_the_schema() {
    let doc = std::fs::read_to_string(Path::new(REPO).join("docs/json-schema.md")).unwrap();
    let start = doc.find("```json\n").expect("a ```json example") + "```json\n".len();
    let end = start + doc[start..].find("```").expect("the example's end");
    let example = &doc[start..end];
    serde_json::from_str::<serde_json::Value>(example).expect("the example is JSON");
    if !python_ready() {
        return;
    }
    validate(REPORT_SCHEMA, example, "the example in docs/json-schema.md");
}

#[test]
fn sarif_output_is_valid_sarif_2_1_0() {
    if !python_ready() {
        return;
    }
    for site in ["healthy", "broken", "unloadable"] {
        let out = check_fixture(site, &["--format", "sarif"]);
        assert!(out.code <= 1, "{site}: {}", out.stderr);
        validate(
            SARIF_SCHEMA,
            &out.stdout,
            &format!("check --format sarif on {site}"),
        );
    }
    let files = SourceFiles::new(
        media_doctor::sysroot::SysRoot::new("/work/repo/fixtures/img"),
        Some("/work/repo".into()),
    );
    let mut sarif = Vec::new();
    render::sarif::write(&mut sarif, &sample::report(), &files).unwrap();
    validate(
        SARIF_SCHEMA,
        &String::from_utf8(sarif).unwrap(),
        "SARIF of the sample report",
    );
}

const TRACE_SCHEMA: &str = "docs/trace.schema.json";

/// `trace --format json`, offline and with its live part (the demo's public name does not
/// resolve here: an answer with an error, a cause and a note), against docs/trace.schema.json.
#[test]
fn trace_json_matches_its_schema() {
    if !python_ready() {
        return;
    }
    for extra in [&["--offline"][..], &[][..]] {
        let mut args = vec![
            "trace",
            "--root",
            "fixtures/demo",
            "--site",
            "myapp",
            "--format",
            "json",
            "/media/a.jpg",
        ];
        args.extend_from_slice(extra);
        let out = crate::run::media_doctor(&args);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["live"].is_null(), !extra.is_empty(), "{v}");
        validate(TRACE_SCHEMA, &out.stdout, &format!("trace {extra:?}"));
    }
}

/// The schema check itself can fail: an invalid document is rejected (guards against a
/// validator that accepts anything).
#[test]
fn the_validator_rejects_a_wrong_report() {
    if !python_ready() {
        return;
    }
    let mut json = Vec::new();
    render::json::write(&mut json, &sample::report()).unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    v["checks"][0]["status"] = "maybe".into();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.json");
    std::fs::write(&file, v.to_string()).unwrap();
    let out = Command::new("python3")
        .args(["-c", VALIDATE])
        .arg(Path::new(REPO).join(REPORT_SCHEMA))
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("status"));
}
