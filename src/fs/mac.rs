//! Mandatory access control: what SELinux or AppArmor adds on top of the mode bits.
//!
//! SELinux: whether it is enforcing (selinuxfs `enforce`, else the root's etc/selinux/config), and
//! the type in a file's `security.selinux` label, which must be one the httpd_t domain may read.
//! AppArmor: the loaded profiles (securityfs `profiles`), and for an nginx profile in enforce
//! mode, whether its rules (includes and `@{VAR}`s expanded) allow reading a path.

use crate::sysroot::SysRoot;
use std::collections::HashMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelinuxMode {
    Enforcing,
    Permissive,
    Disabled,
}

/// The state files read for every site of a box (`with_state_read_once`), by host path: the
/// text, or the errno it could not be read with. `None` outside one.
static STATE: std::sync::Mutex<Option<HashMap<PathBuf, Result<String, i32>>>> =
    std::sync::Mutex::new(None);

/// Runs `f` (the checks of every site of a box) with SELinux's and AppArmor's state files read
/// once for all the sites (each site read them again: two failed opens a site where neither
/// runs), taken as they were at the first look.
pub fn with_state_read_once<T>(f: impl FnOnce() -> T) -> T {
    /// Forgets the files when `f` returns or unwinds.
    struct End;
    impl Drop for End {
        fn drop(&mut self) {
            *state() = None;
        }
    }
    *state() = Some(HashMap::new());
    let _end = End;
    f()
}

fn state() -> std::sync::MutexGuard<'static, Option<HashMap<PathBuf, Result<String, i32>>>> {
    STATE.lock().unwrap_or_else(|p| p.into_inner())
}

/// A state file (`crate::input::read_to_string`), read once inside `with_state_read_once`. An
/// error without an errno (a file refused for its size, not UTF-8) is not kept: read again, it
/// is reported again.
fn read_state(host: &Path) -> std::io::Result<String> {
    if let Some(kept) = state().as_ref().and_then(|m| m.get(host)) {
        return kept.clone().map_err(std::io::Error::from_raw_os_error);
    }
    let r = crate::input::read_to_string(host);
    let kept = match &r {
        Ok(text) => Ok(text.clone()),
        Err(e) => match e.raw_os_error() {
            Some(errno) => Err(errno),
            None => return r,
        },
    };
    if let Some(m) = state().as_mut() {
        m.insert(host.to_path_buf(), kept);
    }
    r
}

/// SELinux's state, and where that was read.
pub fn selinux(root: &SysRoot) -> Option<(SelinuxMode, String)> {
    let enforce = root.host_path(Path::new("/sys/fs/selinux/enforce"));
    if let Ok(v) = read_state(&enforce) {
        let mode = if v.trim() == "1" {
            SelinuxMode::Enforcing
        } else {
            SelinuxMode::Permissive
        };
        return Some((mode, "/sys/fs/selinux/enforce".into()));
    }
    if root.is_live() {
        // No selinuxfs mounted: SELinux is not running, whatever the config file says.
        return None;
    }
    let config = read_state(&root.host_path(Path::new("/etc/selinux/config"))).ok()?;
    let value = config
        .lines()
        .filter_map(|l| l.trim().strip_prefix("SELINUX="))
        .next_back()?
        .trim()
        .to_ascii_lowercase();
    let mode = match value.as_str() {
        "enforcing" => SelinuxMode::Enforcing,
        "permissive" => SelinuxMode::Permissive,
        _ => SelinuxMode::Disabled,
    };
    Some((mode, "SELINUX= in /etc/selinux/config".into()))
}

/// File types the stock policy lets httpd_t read (booleans aside).
pub const HTTPD_READABLE: &[&str] = &[
    "httpd_sys_content_t",
    "httpd_sys_rw_content_t",
    "httpd_sys_ra_content_t",
    "httpd_sys_script_exec_t",
    "httpd_user_content_t",
    "httpd_user_rw_content_t",
    "httpd_user_ra_content_t",
    "httpd_cache_t",
    "public_content_t",
    "public_content_rw_t",
];

/// The SELinux label of a path (`system_u:object_r:httpd_sys_content_t:s0`), not following a
/// final symlink. `None` when it has none.
pub fn selinux_label(host_path: &Path) -> Option<String> {
    let cpath = CString::new(host_path.as_os_str().as_bytes()).ok()?;
    let name = CString::new("security.selinux").expect("static");
    let mut buf = vec![0u8; 256];
    // SAFETY: NUL-terminated strings, buf valid for its length.
    let n = unsafe {
        libc::lgetxattr(
            cpath.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n <= 0 {
        return None;
    }
    buf.truncate(n as usize);
    while buf.last() == Some(&0) {
        buf.pop();
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// The type field of a label.
pub fn label_type(label: &str) -> Option<&str> {
    label.split(':').nth(2)
}

/// A loaded AppArmor profile and its mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub mode: String,
}

/// The loaded AppArmor profiles, when AppArmor is enabled (securityfs readable).
pub fn apparmor_profiles(root: &SysRoot) -> Option<Vec<Profile>> {
    let text =
        read_state(&root.host_path(Path::new("/sys/kernel/security/apparmor/profiles"))).ok()?;
    Some(
        text.lines()
            .filter_map(|l| {
                let (name, mode) = l.rsplit_once(" (")?;
                Some(Profile {
                    name: name.trim().to_string(),
                    mode: mode.trim_end_matches(')').to_string(),
                })
            })
            .collect(),
    )
}

/// An nginx profile's file rules, read from the root's etc/apparmor.d.
#[derive(Debug, Default)]
pub struct Rules {
    /// (path glob as a regex, permissions, deny, the file it came from)
    rules: Vec<(pcre2::bytes::Regex, String, bool, String)>,
    /// Files of the profile that were read.
    pub files: Vec<PathBuf>,
}

impl Rules {
    /// Read the profile named `profile` (e.g. `/usr/sbin/nginx` or `nginx`) from etc/apparmor.d.
    pub fn load(root: &SysRoot, profile: &str) -> Option<Rules> {
        let dir = root.host_path(Path::new("/etc/apparmor.d"));
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        entries.sort();
        for file in entries {
            let text = crate::input::read_to_string(&file).unwrap_or_default();
            if let Some(body) = profile_body(&text, profile) {
                let mut vars = HashMap::new();
                let mut lines = Vec::new();
                let mut files = vec![file.clone()];
                // The profile file's own preamble (includes of tunables, variables).
                let preamble = &text[..text.find(body).unwrap_or(0)];
                expand(root, preamble, &mut vars, &mut lines, &mut files, 0);
                expand(root, body, &mut vars, &mut lines, &mut files, 0);
                let mut rules = Rules {
                    files: files.iter().filter_map(|f| root.system_path(f)).collect(),
                    ..Default::default()
                };
                for (line, from) in lines {
                    rules.add(&line, &vars, &from);
                }
                return Some(rules);
            }
        }
        None
    }

    fn add(&mut self, line: &str, vars: &HashMap<String, Vec<String>>, from: &str) {
        let line = line.trim().trim_end_matches(',').trim();
        let (deny, rest) = match line.strip_prefix("deny ") {
            Some(r) => (true, r.trim()),
            None => (false, line),
        };
        let rest = rest
            .strip_prefix("audit ")
            .or_else(|| rest.strip_prefix("owner "))
            .unwrap_or(rest)
            .trim();
        let rest = rest.strip_prefix("file ").unwrap_or(rest).trim();
        let mut parts = rest.split_whitespace();
        let (Some(path), Some(perms)) = (parts.next(), parts.next()) else {
            return;
        };
        if !(path.starts_with('/') || path.starts_with("@{")) {
            return;
        }
        for p in expand_vars(path, vars) {
            if let Ok(re) = pcre2::bytes::Regex::new(&glob_to_regex(&p)) {
                self.rules
                    .push((re, perms.to_string(), deny, from.to_string()));
            }
        }
    }

    /// Whether the rules allow reading `path` (deny rules win), with the rule that decided.
    pub fn allows_read(&self, path: &Path) -> (bool, Option<String>) {
        let p = path.as_os_str().as_bytes();
        let mut allowed = None;
        for (re, perms, deny, from) in &self.rules {
            if !perms.contains('r') || !re.is_match(p).unwrap_or(false) {
                continue;
            }
            if *deny {
                return (false, Some(format!("deny rule in {from}")));
            }
            allowed.get_or_insert_with(|| from.clone());
        }
        (allowed.is_some(), allowed)
    }
}

/// The `{ ... }` body of `profile NAME` / `NAME flags=(...) {` in a profile file.
fn profile_body<'t>(text: &'t str, profile: &str) -> Option<&'t str> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        let header = t.strip_prefix("profile ").unwrap_or(t);
        let first = header.split_whitespace().next().unwrap_or("");
        if t.ends_with('{')
            && (first == profile || header.split_whitespace().nth(1) == Some(profile))
        {
            let start = offset + line.len();
            // The body ends at the matching close brace.
            let mut depth = 1;
            let mut end = start;
            for (i, c) in text[start..].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = start + i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            return Some(&text[start..end]);
        }
        offset += line.len();
    }
    None
}

/// Collect rule lines and `@{VAR}=` definitions, following `include <...>` / `#include "..."`.
fn expand(
    root: &SysRoot,
    text: &str,
    vars: &mut HashMap<String, Vec<String>>,
    lines: &mut Vec<(String, String)>,
    files: &mut Vec<PathBuf>,
    depth: usize,
) {
    if depth > 16 {
        return;
    }
    for raw in text.lines() {
        let t = raw.trim();
        let inc = t
            .strip_prefix("#include")
            .or_else(|| t.strip_prefix("include if exists"))
            .or_else(|| t.strip_prefix("include"));
        if let Some(target) = inc {
            let target = target.trim();
            let name = target.trim_matches(|c| c == '<' || c == '>' || c == '"');
            let sys = if name.starts_with('/') {
                PathBuf::from(name)
            } else {
                Path::new("/etc/apparmor.d").join(name)
            };
            let host = root.host_path(&sys);
            let mut targets = vec![host.clone()];
            if host.is_dir() {
                targets = std::fs::read_dir(&host)
                    .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
                    .unwrap_or_default();
                targets.sort();
            }
            for f in targets {
                if files.contains(&f) {
                    continue;
                }
                if let Ok(inner) = crate::input::read_to_string(&f) {
                    files.push(f.clone());
                    expand(root, &inner, vars, lines, files, depth + 1);
                }
            }
            continue;
        }
        if t.starts_with('#') || t.is_empty() {
            continue;
        }
        // `@{VAR}=values` or `@{VAR}+=values` (a rule may also start with `@{VAR}`).
        let assignment = t
            .strip_prefix("@{")
            .and_then(|r| r.split_once('}'))
            .and_then(|(name, rest)| {
                let rest = rest.trim_start();
                match rest.strip_prefix("+=") {
                    Some(v) => Some((name, true, v)),
                    None => rest.strip_prefix('=').map(|v| (name, false, v)),
                }
            });
        if let Some((name, append, values)) = assignment {
            let vals: Vec<String> = values.split_whitespace().map(String::from).collect();
            let e = vars.entry(name.to_string()).or_default();
            if !append {
                e.clear();
            }
            e.extend(vals);
            continue;
        }
        let from = files
            .last()
            .and_then(|f| root.system_path(f))
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        lines.push((t.to_string(), from));
    }
}

/// Every expansion of `@{VAR}` references (values may refer to other variables).
fn expand_vars(path: &str, vars: &HashMap<String, Vec<String>>) -> Vec<String> {
    let mut out = vec![path.to_string()];
    for _ in 0..8 {
        let mut next = Vec::new();
        let mut changed = false;
        for p in &out {
            match p.find("@{") {
                Some(i) => {
                    let Some(j) = p[i..].find('}') else {
                        continue;
                    };
                    let name = &p[i + 2..i + j];
                    for v in vars.get(name).into_iter().flatten() {
                        next.push(format!("{}{}{}", &p[..i], v, &p[i + j + 1..]));
                    }
                    changed = true;
                }
                None => next.push(p.clone()),
            }
        }
        out = next;
        if !changed {
            break;
        }
    }
    out.retain(|p| !p.contains("@{"));
    out
}

/// An AppArmor path glob as an anchored regex: `**` any, `*` within a component, `?`, `[...]`,
/// `{a,b}`.
pub fn glob_to_regex(glob: &str) -> String {
    let mut re = String::from("^");
    let chars: Vec<char> = glob.chars().collect();
    let mut i = 0;
    let mut depth = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                re.push_str(".*");
                i += 1;
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '{' => {
                depth += 1;
                re.push_str("(?:");
            }
            '}' if depth > 0 => {
                depth -= 1;
                re.push(')');
            }
            ',' if depth > 0 => re.push('|'),
            '[' => {
                let end = chars[i..].iter().position(|&c| c == ']').map(|p| p + i);
                match end {
                    Some(e) => {
                        let class: String = chars[i + 1..e].iter().collect();
                        let class = class
                            .strip_prefix('^')
                            .map_or(class.clone(), |c| format!("^{c}"));
                        re.push('[');
                        re.push_str(&class);
                        re.push(']');
                        i = e;
                    }
                    None => re.push_str("\\["),
                }
            }
            // AppArmor collapses repeated slashes (`@{HOMEDIRS}/*` expands to `/home//*`).
            '/' if re.ends_with('/') => {}
            c if c.is_ascii_alphanumeric() || c == '/' || c == '_' || c == '-' => re.push(c),
            c => {
                re.push('\\');
                re.push(c);
            }
        }
        i += 1;
    }
    re.push('$');
    re
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(glob: &str, path: &str) -> bool {
        pcre2::bytes::Regex::new(&glob_to_regex(glob))
            .unwrap()
            .is_match(path.as_bytes())
            .unwrap()
    }

    #[test]
    fn apparmor_globs() {
        assert!(matches("/srv/media/**", "/srv/media/a/b.png"));
        assert!(!matches("/srv/media/*", "/srv/media/a/b.png"));
        assert!(matches("/srv/{media,static}/*", "/srv/static/x.css"));
        assert!(matches("/srv/media/*.[pj]ng", "/srv/media/x.png"));
        assert!(!matches("/srv/media/**", "/srv/mediax"));
        assert_eq!(
            label_type("system_u:object_r:httpd_sys_content_t:s0"),
            Some("httpd_sys_content_t")
        );
    }

    #[test]
    fn variables_expand() {
        let mut vars = HashMap::new();
        vars.insert("HOMEDIRS".to_string(), vec!["/home/".to_string()]);
        vars.insert(
            "HOME".to_string(),
            vec!["@{HOMEDIRS}/*/".to_string(), "/root/".to_string()],
        );
        let v = expand_vars("@{HOME}media/**", &vars);
        assert_eq!(v.len(), 2);
        assert!(v.iter().any(|g| matches(g, "/home/deploy/media/a.png")));
        assert!(v.iter().any(|g| matches(g, "/root/media/a.png")));
    }
}
