//! Parser conformance: every config under ../shared/corpus/ is loaded by media-doctor and
//! compared with the expected parses stored beside it (crossplane's output, and the expected
//! results transcribed from crossplane's own tests): directive names, arguments, lines, blocks,
//! and which files each `include` pulled in, file by file. Lexer cases are compared token by
//! token. Each file's status (failed or not) is compared too.
//!
//! Where crossplane and nginx disagree we follow nginx, and the comparison says so in exactly
//! two normalisations, both documented in docs/conformance.md:
//! - crossplane keeps backslash escapes as written; nginx cooks them (`\"` `\'` `\\` `\t` `\r`
//!   `\n`). The expected arguments are cooked the nginx way before comparing (not Lua bodies,
//!   which are raw on both sides);
//! - crossplane (without comments) still emits a `#` entry for a comment between arguments;
//!   such entries are dropped.
//!
//! Files that still differ are listed in `DOCUMENTED` with the reason; the test fails when any
//! other file differs, or when a listed file starts to agree (so the list stays true). It prints
//! the agreement figure: files and directives.

use media_doctor::nginx::lexer::{cook, Lexer, Tok};
use media_doctor::nginx::{self, Config, Directive};
use media_doctor::sysroot::SysRoot;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// One file we deliberately parse differently from the reference.
struct Differ {
    id: &'static str,
    why: &'static str,
    /// nginx itself rejects the file (checked with `nginx -t` when nginx is installed): we follow
    /// nginx's tokenizer where crossplane's differs.
    nginx_rejects: bool,
}

/// Regexes with an unquoted `{n}` quantifier: nginx reads the `{` as a block opening and then a
/// word such as `8,}\.(css|js)$` as a directive name (nginx keeps `}` inside a word; crossplane
/// splits it off). nginx -t fails (`unknown directive`, `pcre2_compile() failed`, or `directive
/// "rewrite" is not terminated by ";"`); crossplane accepts these files with a different tree.
const REGEX_BRACE: &str = "unquoted regex quantifier {n}: nginx rejects the file; crossplane splits the broken tail differently";

/// Every file we deliberately parse differently, and why (the same list is in docs/conformance.md).
const DOCUMENTED: &[Differ] = &[
    Differ {
        id: "crossplane/bad-args crossplane.json:nginx.conf",
        why: "`user;`: like nginx we report `invalid number of arguments in \"user\" directive`; crossplane also drops the directive from its tree, we keep it",
        nginx_rejects: true,
    },
    Differ {
        id: "crossplane/lua-block-tricky crossplane.json:nginx.conf",
        why: "`upstream content_by_lua_block { # stuff }`: like nginx's upstream module we report `no servers are inside upstream`; crossplane does not apply that rule",
        nginx_rejects: true,
    },
    Differ {
        id: "crossplane/lua-block-tricky expected.json#1:nginx.conf",
        why: "the same empty upstream as in lua-block-tricky's crossplane.json",
        nginx_rejects: true,
    },
    Differ {
        id: "crossplane/messy crossplane.json:nginx.conf",
        why: "`/abc/${uri} /abc/${uri}.html`: crossplane reads `${` up to the next `}` across the blank; nginx ends the word at the blank (two arguments), as we do",
        nginx_rejects: false,
    },
    Differ {
        id: "crossplane/messy expected.json#lex",
        why: "the same `${uri}` token as in messy's crossplane.json",
        nginx_rejects: false,
    },
    Differ {
        id: "crossplane/quote-behavior crossplane.json:nginx.conf",
        why: "`\"left\"-quote`: nginx requires a blank after a closing quote (`unexpected \"-\"`); crossplane accepts it. Same tree, different status",
        nginx_rejects: true,
    },
    Differ {
        id: "crossplane/spelling-mistake expected.json#0:nginx.conf",
        why: "crossplane's `strict` option drops unknown directives (`proxy_passs`); we keep it, with a warning that nginx refuses it unless a module provides it",
        nginx_rejects: false,
    },
    Differ {
        id: "nginx-lint-parser/0020_static_server crossplane.json:0020_static_server.conf",
        why: REGEX_BRACE,
        nginx_rejects: true,
    },
    Differ {
        id: "nginx-lint-parser/0021_regex_quantifiers crossplane.json:0021_regex_quantifiers.conf",
        why: REGEX_BRACE,
        nginx_rejects: true,
    },
    Differ {
        id: "nginx-lint-parser/0027_regex_modifiers crossplane.json:0027_regex_modifiers.conf",
        why: REGEX_BRACE,
        nginx_rejects: true,
    },
    Differ {
        id: "nginx-lint-parser/0028_regex_complex crossplane.json:0028_regex_complex.conf",
        why: REGEX_BRACE,
        nginx_rejects: true,
    },
    Differ {
        id: "nginx-lint-parser/0029_regex_rewrites crossplane.json:0029_regex_rewrites.conf",
        why: REGEX_BRACE,
        nginx_rejects: true,
    },
    Differ {
        id: "nginx-lint-parser/0030_regex_edge_cases crossplane.json:0030_regex_edge_cases.conf",
        why: REGEX_BRACE,
        nginx_rejects: true,
    },
    Differ {
        id: "nginx-lint-parser/0041_regex_capture_groups crossplane.json:0041_regex_capture_groups.conf",
        why: REGEX_BRACE,
        nginx_rejects: true,
    },
    Differ {
        id: "nginx-lint-parser/0043_regex_api_versioning crossplane.json:0043_regex_api_versioning.conf",
        why: REGEX_BRACE,
        nginx_rejects: true,
    },
    Differ {
        id: "nginx-lint-parser/0044_regex_locale crossplane.json:0044_regex_locale.conf",
        why: REGEX_BRACE,
        nginx_rejects: true,
    },
    Differ {
        id: "nginx-lint-parser/0048_regex_rewrite_advanced crossplane.json:0048_regex_rewrite_advanced.conf",
        why: REGEX_BRACE,
        nginx_rejects: true,
    },
    Differ {
        id: "nginx-lint-parser/0047_regex_security crossplane.json:0047_regex_security.conf",
        why: "two `location /` in one server (lines 15 and 53): like nginx we report `duplicate location \"/\"` at line 53; crossplane does not apply that rule. Same tree, different status",
        nginx_rejects: true,
    },
    Differ {
        id: "nginx-lint-parser/0049_regex_media_streaming crossplane.json:0049_regex_media_streaming.conf",
        why: REGEX_BRACE,
        nginx_rejects: true,
    },
    Differ {
        id: "nginx-lint-parser/0050_regex_microservices crossplane.json:0050_regex_microservices.conf",
        why: REGEX_BRACE,
        nginx_rejects: true,
    },
];

fn corpus_dir() -> Option<PathBuf> {
    // ../shared/corpus beside the checkout (main, CI); from a worktree one level further up.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .skip(1)
        .map(|d| d.join("shared/corpus"))
        .find(|d| d.is_dir())
}

#[derive(Default)]
struct Tally {
    files: usize,
    files_agree: usize,
    directives: usize,
    directives_agree: usize,
    tokens: usize,
    tokens_agree: usize,
    /// Items that differ: (id, first difference).
    differ: Vec<(String, String)>,
}

impl Tally {
    fn record(&mut self, id: String, directives: usize, agree: usize, diff: Option<String>) {
        self.files += 1;
        self.directives += directives;
        self.directives_agree += agree;
        match diff {
            None => self.files_agree += 1,
            Some(d) => self.differ.push((id, d)),
        }
    }
}

/// Options of an expected.json case that change crossplane's output.
#[derive(Default, Clone)]
struct Opts {
    single: bool,
    combine: bool,
    ignore: Vec<String>,
}

#[test]
fn corpus_agrees_with_the_expected_parses() {
    let Some(corpus) = corpus_dir() else {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "the corpus ../shared/corpus is missing"
        );
        crate::support::say_skipped("no ../shared/corpus beside the checkout");
        return;
    };
    let mut t = Tally::default();

    let cp = corpus.join("crossplane/configs");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&cp)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    for case in &cases {
        let name = format!("crossplane/{}", case.file_name().unwrap().to_string_lossy());
        // crossplane.json (default options) for nginx.conf, or X.crossplane.json for each X.conf.
        if case.join("crossplane.json").is_file() {
            let reference = read_json(&case.join("crossplane.json"));
            compare_parse(
                &mut t,
                &format!("{name} crossplane.json"),
                case,
                "nginx.conf",
                &reference,
                &Opts::default(),
            );
        }
        for e in std::fs::read_dir(case).unwrap() {
            let p = e.unwrap().path();
            let f = p.file_name().unwrap().to_string_lossy().to_string();
            if let Some(stem) = f.strip_suffix(".crossplane.json") {
                let reference = read_json(&p);
                compare_parse(
                    &mut t,
                    &format!("{name} {f}"),
                    case,
                    &format!("{stem}.conf"),
                    &reference,
                    &Opts::default(),
                );
            }
        }
        if case.join("expected.json").is_file() {
            let expected = read_json(&case.join("expected.json"));
            for (i, c) in expected["cases"].as_array().unwrap().iter().enumerate() {
                let file = c["file"].as_str().unwrap();
                let o = &c["options"];
                let opts = Opts {
                    single: o["single"].as_bool().unwrap_or(false),
                    combine: o["combine"].as_bool().unwrap_or(false),
                    ignore: o["ignore"]
                        .as_array()
                        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
                        .unwrap_or_default(),
                };
                if c["call"] == "crossplane.lex" {
                    compare_lex(
                        &mut t,
                        &format!("{name} expected.json#lex"),
                        &case.join(file),
                        c,
                    );
                } else {
                    compare_parse(
                        &mut t,
                        &format!("{name} expected.json#{i}"),
                        case,
                        file,
                        &c["expected"],
                        &opts,
                    );
                }
            }
        }
    }

    let lint = corpus.join("nginx-lint-parser");
    let mut confs: Vec<PathBuf> = std::fs::read_dir(lint.join("test_generated"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    confs.sort();
    for conf in &confs {
        let stem = conf.file_stem().unwrap().to_string_lossy().to_string();
        let reference = read_json(&lint.join(format!("crossplane-0.5.8/{stem}.json")));
        compare_parse(
            &mut t,
            &format!("nginx-lint-parser/{stem} crossplane.json"),
            &lint.join("test_generated"),
            &format!("{stem}.conf"),
            &reference,
            &Opts::default(),
        );
    }

    let documented = |id: &str| DOCUMENTED.iter().any(|d| d.id == id);
    let unexplained: Vec<&(String, String)> =
        t.differ.iter().filter(|(id, _)| !documented(id)).collect();
    let now_agree: Vec<&str> = DOCUMENTED
        .iter()
        .map(|d| d.id)
        .filter(|d| !t.differ.iter().any(|(id, _)| id == d))
        .collect();
    println!(
        "parser conformance: {}/{} files agree, {}/{} directives, {}/{} lexer tokens; {} documented differences",
        t.files_agree,
        t.files,
        t.directives_agree,
        t.directives,
        t.tokens_agree,
        t.tokens,
        t.differ.len()
    );
    for (id, d) in &t.differ {
        let why = DOCUMENTED
            .iter()
            .find(|x| x.id == id)
            .map_or("UNDOCUMENTED", |x| x.why);
        println!("  differs: {id}: {d}\n    why: {why}");
    }
    assert!(
        t.files > 80,
        "the corpus looks incomplete: {} files",
        t.files
    );
    assert!(
        unexplained.is_empty(),
        "undocumented differences: {unexplained:#?}"
    );
    assert!(
        now_agree.is_empty(),
        "documented differences that now agree (update DOCUMENTED and docs/conformance.md): {now_agree:?}"
    );
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// crossplane's argument as nginx would store it (see the module comment).
fn nginx_arg(directive: &str, arg: &str, last: bool) -> String {
    if last && directive.ends_with("_by_lua_block") {
        return arg.to_string();
    }
    cook(arg).unwrap_or_else(|| arg.to_string())
}

fn compare_parse(t: &mut Tally, id: &str, dir: &Path, entry: &str, reference: &Value, opts: &Opts) {
    let cfg = nginx::load_files(&SysRoot::live(), &dir.join(entry)).expect("entry loads");
    let rel = |p: &Path| {
        p.strip_prefix(dir)
            .unwrap_or(p)
            .to_string_lossy()
            .to_string()
    };
    let configs = reference["config"].as_array().unwrap();
    let files: Vec<String> = configs
        .iter()
        .map(|c| c["file"].as_str().unwrap().to_string())
        .collect();
    for c in configs {
        let file = c["file"].as_str().unwrap();
        let item = format!("{id}:{file}");
        let Some(fid) = cfg.files.iter().position(|f| rel(&f.path) == file) else {
            t.record(item, 0, 0, Some(format!("we did not load {file}")));
            continue;
        };
        let ours: Vec<Directive<'_>> = if opts.combine {
            cfg.file_top(fid as u32).collect()
        } else {
            cfg.file_raw_top(fid as u32).collect()
        };
        let theirs = c["parsed"].as_array().unwrap();
        let ctx = Cmp {
            cfg: &cfg,
            rel: &rel,
            files: &files,
            opts,
        };
        let (n, ok, mut diff) = ctx.block(&ours, theirs, file);
        let failed = cfg
            .diagnostics
            .iter()
            .any(|d| d.fatal && rel(&d.file) == file);
        let expect_failed = c["status"] == "failed";
        if diff.is_none() && failed != expect_failed {
            let ours: Vec<String> = cfg.diagnostics.iter().map(|d| d.to_string()).collect();
            diff = Some(format!(
                "status: crossplane {} ({}), we {} ({ours:?})",
                c["status"],
                c["errors"],
                if failed { "failed" } else { "ok" }
            ));
        }
        t.record(item, n, ok, diff);
    }
}

struct Cmp<'a, 'c> {
    cfg: &'c Config,
    rel: &'a dyn Fn(&Path) -> String,
    files: &'a [String],
    opts: &'a Opts,
}

impl<'c> Cmp<'_, 'c> {
    /// (directives compared, directives that agree, first difference) for one block.
    fn block(
        &self,
        ours: &[Directive<'c>],
        theirs: &[Value],
        file: &str,
    ) -> (usize, usize, Option<String>) {
        let ours: Vec<Directive<'c>> = ours
            .iter()
            .copied()
            .filter(|d| !self.opts.ignore.iter().any(|i| i == d.name()))
            .collect();
        let theirs: Vec<&Value> = theirs.iter().filter(|v| v["directive"] != "#").collect();
        let (mut n, mut ok, mut diff) = (0, 0, None);
        for i in 0..ours.len().max(theirs.len()) {
            n += 1;
            let (Some(d), Some(v)) = (ours.get(i), theirs.get(i)) else {
                diff.get_or_insert_with(|| {
                    format!(
                        "{file}: {} directives here, crossplane has {} (at {:?} / {:?})",
                        ours.len(),
                        theirs.len(),
                        ours.get(i),
                        theirs.get(i).map(|v| &v["directive"])
                    )
                });
                continue;
            };
            match self.directive(d, v) {
                Ok((kn, kok)) => {
                    n += kn;
                    ok += kok + 1;
                }
                Err((kn, kok, e)) => {
                    n += kn;
                    ok += kok;
                    diff.get_or_insert(e);
                }
            }
        }
        (n, ok, diff)
    }

    /// Ok((children compared, children agreeing)) when this directive agrees with its reference.
    #[allow(clippy::type_complexity)]
    fn directive(
        &self,
        d: &Directive<'c>,
        v: &Value,
    ) -> Result<(usize, usize), (usize, usize, String)> {
        let name = v["directive"].as_str().unwrap_or_default();
        let args: Vec<String> = v["args"]
            .as_array()
            .map(|a| {
                let n = a.len();
                a.iter()
                    .enumerate()
                    .map(|(i, s)| nginx_arg(name, s.as_str().unwrap_or_default(), i + 1 == n))
                    .collect()
            })
            .unwrap_or_default();
        let ours: Vec<&str> = d.args().collect();
        let file = (self.rel)(d.file());
        let mut problem = None;
        if d.name() != name || ours != args {
            problem = Some(format!(
                "{file}:{}: {} {ours:?} vs crossplane {name} {args:?}",
                d.line(),
                d.name()
            ));
        } else if Some(d.line() as u64) != v["line"].as_u64() {
            problem = Some(format!(
                "{file}: {name} at line {} vs crossplane {}",
                d.line(),
                v["line"]
            ));
        } else if self.opts.combine && v["file"].as_str() != Some(file.as_str()) {
            problem = Some(format!("{name}: file {file} vs crossplane {}", v["file"]));
        } else if d.has_block() != v.get("block").is_some() {
            problem = Some(format!(
                "{file}:{}: {name}: block {} vs crossplane {}",
                d.line(),
                d.has_block(),
                v.get("block").is_some()
            ));
        } else if let (Some(inc), false) = (v["includes"].as_array(), self.opts.combine) {
            let theirs: Vec<&str> = inc
                .iter()
                .filter_map(|i| self.files.get(i.as_u64()? as usize).map(|s| s.as_str()))
                .collect();
            let ours: Vec<String> = d
                .included_files()
                .iter()
                .map(|&f| (self.rel)(&self.cfg.files[f as usize].path))
                .collect();
            if ours != theirs {
                problem = Some(format!(
                    "{file}:{}: include links {ours:?} vs crossplane {theirs:?}",
                    d.line()
                ));
            }
        } else if self.opts.single && !d.included_files().is_empty() && d.is_include() {
            // crossplane's `single` does not follow includes; we always do. Nothing to compare.
        }
        let (kn, kok, kdiff) = match v["block"].as_array() {
            Some(block) => {
                let kids: Vec<Directive<'c>> = if self.opts.combine {
                    d.children().collect()
                } else {
                    d.raw_children().collect()
                };
                self.block(&kids, block, &file)
            }
            None => (0, 0, None),
        };
        match problem.or(kdiff) {
            None => Ok((kn, kok)),
            Some(p) => Err((kn, kok, p)),
        }
    }
}

/// Compare our token stream with a `crossplane.lex` case: (token[, line]) per entry. Comment
/// tokens are dropped on both sides (we do not keep comments); Lua bodies are followed by `;`
/// at the closing brace's line, as crossplane reports them.
fn compare_lex(t: &mut Tally, id: &str, file: &Path, case: &Value) {
    let bytes = std::fs::read(file).unwrap();
    let src = String::from_utf8_lossy(&bytes);
    let with_lines = case["token_fields"]
        .as_array()
        .is_some_and(|f| f.iter().any(|x| x == "line"));
    let mut ours: Vec<(String, u32)> = Vec::new();
    let mut lexer = Lexer::new(&src);
    loop {
        let tok = lexer.next_token();
        let line = tok.line;
        match tok.tok {
            Tok::Word { span, cooked, .. } => {
                ours.push((cooked.unwrap_or_else(|| src[span].to_string()), line))
            }
            Tok::Semicolon => ours.push((";".into(), line)),
            Tok::BlockStart => ours.push(("{".into(), line)),
            Tok::BlockEnd => ours.push(("}".into(), line)),
            Tok::LuaBody { span } => {
                let body = &src[span];
                let end = line + body.matches('\n').count() as u32;
                ours.push((body.to_string(), end));
                ours.push((";".into(), end));
            }
            Tok::Error(_) => {}
            Tok::Eof => break,
        }
    }
    let mut theirs: Vec<(String, u32)> = Vec::new();
    let mut at_start = true;
    let mut lua_statement = false;
    for e in case["expected"].as_array().unwrap() {
        let (tok, line) = match e {
            Value::Array(a) => (
                a[0].as_str().unwrap_or_default().to_string(),
                a.get(1).and_then(|l| l.as_u64()).unwrap_or(0) as u32,
            ),
            other => (other.as_str().unwrap_or_default().to_string(), 0),
        };
        if tok.starts_with('#') {
            continue;
        }
        if at_start {
            lua_statement = tok.ends_with("_by_lua_block");
        }
        at_start = matches!(tok.as_str(), ";" | "{" | "}");
        // A Lua statement is raw on both sides; every other token is cooked the nginx way.
        let tok = if lua_statement {
            tok
        } else {
            cook(&tok).unwrap_or(tok)
        };
        theirs.push((tok, line));
    }
    ours.retain(|(tok, _)| !tok.starts_with('#'));
    if !with_lines {
        for x in ours.iter_mut().chain(theirs.iter_mut()) {
            x.1 = 0;
        }
    }
    let n = ours.len().max(theirs.len());
    let agree = ours
        .iter()
        .zip(theirs.iter())
        .filter(|(a, b)| a == b)
        .count();
    let diff = ours
        .iter()
        .zip(theirs.iter())
        .position(|(a, b)| a != b)
        .map(|i| {
            format!(
                "token {i}: ours {:?} vs crossplane {:?}",
                ours[i], theirs[i]
            )
        })
        .or_else(|| {
            (ours.len() != theirs.len())
                .then(|| format!("{} tokens vs crossplane {}", ours.len(), theirs.len()))
        });
    t.tokens += n;
    t.tokens_agree += agree;
    t.record(id.to_string(), 0, 0, diff);
}

/// nginx itself as the oracle, on every entry file of the corpus: where `nginx -t` fails on
/// syntax (not on a regex, a user or a host it resolves later), we report the same message at
/// the same line; and every file docs/conformance.md says nginx rejects, it rejects.
#[test]
fn nginx_agrees_on_syntax_errors() {
    let Some(corpus) = corpus_dir() else {
        return; // corpus_agrees_with_the_expected_parses reports the missing corpus
    };
    let Some(nginx) = crate::support::nginx_binary() else {
        let _ = crate::support::require(false, "needs nginx (apt-get install nginx-light)");
        return;
    };
    let prefix = tempfile::tempdir().unwrap();
    std::fs::create_dir(prefix.path().join("logs")).unwrap();
    let mut entries: Vec<(String, PathBuf)> = Vec::new();
    for case in std::fs::read_dir(corpus.join("crossplane/configs")).unwrap() {
        let case = case.unwrap().path();
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        for e in std::fs::read_dir(&case).unwrap() {
            let p = e.unwrap().path();
            let f = p.file_name().unwrap().to_string_lossy().to_string();
            let is_entry = f == "nginx.conf" && case.join("crossplane.json").is_file()
                || f.ends_with(".conf")
                    && case.join(f.replace(".conf", ".crossplane.json")).is_file();
            if is_entry {
                entries.push((format!("crossplane/{name} :{f}"), p));
            }
        }
    }
    for e in std::fs::read_dir(corpus.join("nginx-lint-parser/test_generated")).unwrap() {
        let p = e.unwrap().path();
        let f = p.file_name().unwrap().to_string_lossy().to_string();
        let stem = f.trim_end_matches(".conf").to_string();
        entries.push((format!("nginx-lint-parser/{stem} :{f}"), p));
    }
    let mut syntax_checked = 0;
    for (key, path) in &entries {
        let out = std::process::Command::new(&nginx)
            .args(["-t", "-q", "-e", "stderr", "-p"])
            .arg(prefix.path())
            .arg("-c")
            .arg(path)
            .output()
            .unwrap();
        let (case, file) = key.split_once(" :").unwrap();
        let claimed = DOCUMENTED.iter().any(|d| {
            d.nginx_rejects && d.id.starts_with(case) && d.id.ends_with(&format!(":{file}"))
        });
        assert!(
            !(claimed && out.status.success()),
            "nginx accepts {}, which docs/conformance.md says it rejects",
            path.display()
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        let Some((_, first)) = stderr.lines().find_map(|l| l.split_once("[emerg] ")) else {
            continue;
        };
        let msg = first.split_once(": ").map_or(first, |m| m.1);
        let Some((msg, at)) = msg.rsplit_once(" in ") else {
            continue;
        };
        let line: u32 = at
            .rsplit(':')
            .next()
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        let syntax = [
            "unexpected",
            "unknown directive",
            "is not terminated",
            "has no opening",
            "invalid number of arguments",
            "is not allowed here",
        ];
        // A well-formed name nginx calls unknown is a module this nginx-light lacks (lua,
        // mail, stream...): we accept those by design.
        let module = msg
            .strip_prefix("unknown directive \"")
            .and_then(|n| n.strip_suffix('"'))
            .is_some_and(|n| n.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_'));
        if !syntax.iter().any(|k| msg.contains(k)) || module {
            continue;
        }
        syntax_checked += 1;
        let ours = nginx::load_files(&SysRoot::live(), path).unwrap();
        assert!(
            ours.diagnostics
                .iter()
                .any(|d| d.fatal && d.line == line && d.message == msg),
            "nginx says `{msg}` at line {line} of {}; we say {:?}",
            path.display(),
            ours.diagnostics
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
        );
    }
    println!(
        "nginx -t oracle: {} entry files, {syntax_checked} syntax errors reported as nginx does",
        entries.len()
    );
    assert!(
        syntax_checked >= 10,
        "expected the corpus's syntax errors: {syntax_checked}"
    );
}
