//! Site profiles: `/etc/media-doctor/NAME.toml` (under `--root`) for `--site NAME`, or
//! `./media-doctor.toml`. Every field is optional; command-line options win over the profile.
//!
//! ```toml
//! nginx_conf = "/etc/nginx/nginx.conf"   # or nginx_dump = "nginx-T.txt"
//! app = "/srv/shop"                      # project directory or settings/app file
//! framework = "django"                   # django | flask | auto
//! settings_module = "shop.settings.production"
//! unit = "shop.service"                  # the app server's systemd unit
//! url = "https://shop.example.com"       # public base URL for live checks
//! worker_user = "www-data"               # the nginx worker user (like --as-user)
//! app_user = "deploy"                    # the user the app runs as
//! samples = ["/media/products/a.jpg"]    # URLs of files known to exist
//! ignore = [                             # results accepted for this site, and why
//!   { id = "MD109", reason = "the /downloads/ listing is public on purpose" },
//! ]
//! ```

use crate::sysroot::SysRoot;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub nginx_conf: Option<PathBuf>,
    pub nginx_dump: Option<PathBuf>,
    pub app: Option<PathBuf>,
    pub framework: Option<String>,
    pub settings_module: Option<String>,
    pub unit: Option<String>,
    pub url: Option<String>,
    pub worker_user: Option<String>,
    pub app_user: Option<String>,
    #[serde(default)]
    pub samples: Vec<String>,
    /// Results accepted for this site (id, name or band, and a required reason): the checks
    /// still run and are shown with the reason, but never fail the run (checks::select::Accepted).
    #[serde(default)]
    pub ignore: Vec<IgnoreRule>,
    /// Where the profile was read from (a system path for /etc/media-doctor, else a host path).
    #[serde(skip_deserializing)]
    pub source: PathBuf,
}

/// A profile's `ignore = [{ id = "MD109", reason = "listing is wanted on /downloads/" }]` entry:
/// the check still runs and is shown, but its result is accepted and never fails the run.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IgnoreRule {
    /// A check id or name, or a band prefix (MD1) like `--ignore`.
    pub id: String,
    /// Why the finding is accepted. Required: an ignore nobody can explain is a bug waiting.
    pub reason: String,
}

impl Profile {
    /// The profile for `name` under `root`, else `./media-doctor.toml`; `Ok(None)` when neither
    /// exists. A profile that exists but cannot be read or parsed is an error (exit 2): running
    /// with half the user's intent would mislead.
    pub fn find(root: &SysRoot, name: Option<&str>) -> anyhow::Result<Option<Profile>> {
        if let Some(n) = name {
            let sys = Path::new("/etc/media-doctor").join(format!("{n}.toml"));
            let host = root.host_path(&root.real_path(&sys).unwrap_or_else(|_| sys.clone()));
            if host.is_file() {
                let mut p = Self::read(&host, &sys)?;
                // Relative paths in a system profile are relative to its directory.
                p.absolutize(Path::new("/etc/media-doctor"));
                return Ok(Some(p));
            }
        }
        let local = Path::new("media-doctor.toml");
        if local.is_file() {
            let abs = std::path::absolute(local)?;
            let mut p = Self::read(&abs, &abs)?;
            if let Some(dir) = abs.parent() {
                p.absolutize(dir);
            }
            return Ok(Some(p));
        }
        Ok(None)
    }

    fn read(host: &Path, shown: &Path) -> anyhow::Result<Profile> {
        let text = crate::input::read_to_string(host)
            .with_context(|| format!("cannot read profile {}", shown.display()))?;
        let mut p: Profile = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("profile {}: {}", shown.display(), e.message()))?;
        p.source = shown.to_path_buf();
        Ok(p)
    }

    fn absolutize(&mut self, base: &Path) {
        for p in [&mut self.nginx_conf, &mut self.nginx_dump, &mut self.app]
            .into_iter()
            .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_system_profile_and_rejects_typos() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("etc/media-doctor");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("shop.toml"),
            "app = \"/srv/shop\"\nframework = \"django\"\nnginx_conf = \"nginx.conf\"\nsamples = [\"/media/a.jpg\"]\n",
        )
        .unwrap();
        let root = SysRoot::new(tmp.path());
        let p = Profile::find(&root, Some("shop")).unwrap().unwrap();
        assert_eq!(p.app.as_deref(), Some(Path::new("/srv/shop")));
        assert_eq!(
            p.nginx_conf.as_deref(),
            Some(Path::new("/etc/media-doctor/nginx.conf"))
        );
        assert_eq!(p.source, Path::new("/etc/media-doctor/shop.toml"));
        assert_eq!(p.samples, vec!["/media/a.jpg"]);
        std::fs::write(dir.join("bad.toml"), "ap = \"/srv\"\n").unwrap();
        let err = Profile::find(&root, Some("bad")).unwrap_err().to_string();
        assert!(err.contains("unknown field"), "{err}");
    }
}
