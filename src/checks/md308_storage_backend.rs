//! MD308 storage-backend: where uploads are stored: local disk (checked by the disk checks) or a
//! remote backend.
//! The page: checks/MD308.md.

use super::shared::app::*;
use super::{Band, Check, Context, Meta, Outcome};
use crate::app::{Framework, Setting};
use crate::report::Finding;

pub struct StorageBackend;

static STORAGE_BACKEND: Meta = Meta {
    id: "MD308",
    name: "storage-backend",
    band: Band::App,
    summary:
        "where uploads are stored: local disk (checked by the disk checks) or a remote backend",
    docs: include_str!("../../checks/MD308.md"),
};

impl Check for StorageBackend {
    fn meta(&self) -> &'static Meta {
        &STORAGE_BACKEND
    }

    fn run(&self, site: &Context<'_>) -> anyhow::Result<Outcome> {
        let app = match app_of(site) {
            Ok(a) => a,
            Err(o) => return Ok(o),
        };
        if let Setting::Unknown { expr, .. } = &app.media_storage {
            return Ok(Outcome::skip(format!(
                "the storage backend cannot be read statically ({expr}); see MD301"
            )));
        }
        let Some(backend) = &app.remote_media_storage else {
            return Ok(Outcome::pass(format!(
                "media are stored on local disk ({}); the disk checks apply",
                app.media_storage
                    .value()
                    .cloned()
                    .unwrap_or_else(|| match app.framework {
                        Framework::Django => "django.core.files.storage.FileSystemStorage".into(),
                        Framework::Flask => "the upload folder".into(),
                    })
            )));
        };
        // Remote media: nginx serving MEDIA_URL from a local directory serves stale leftovers.
        let mut findings = Vec::new();
        if let (Some(prefix), Some(_)) = (app.media_url_path(), site.apache()) {
            // Apache: where each of the site's virtual hosts opens a name under MEDIA_URL.
            for (dir, at) in super::shared::apache_app::served_from_disk(site, &prefix) {
                let mut f = Finding::warning(format!(
                    "uploads go to {backend}, but Apache serves MEDIA_URL {prefix} from {dir}: new uploads are not there"
                ))
                .evidence("storage", backend)
                .evidence("MEDIA_URL", app.media_url.describe());
                if let Some(at) = at {
                    f = f.at(at);
                }
                findings.push(f.fix(
                    "set MEDIA_URL in the settings to the URL the storage serves files from (its \
                     custom_domain, or the bucket's own URL), or drop the local Alias",
                    Vec::new(),
                ));
            }
        } else if let Some(prefix) = app.media_url_path() {
            let resolver = site.resolver();
            for s in served_in_servers(site, &resolver, &prefix) {
                if let Some(sv) = s.served {
                    findings.push(
                        Finding::warning(format!(
                            "uploads go to {backend}, but nginx serves MEDIA_URL {prefix} from {}: new uploads are not there",
                            sv.dir.display()
                        ))
                        .at(node_location(site, sv.location, s.server))
                        .evidence("storage", backend)
                        .evidence("MEDIA_URL", app.media_url.describe())
                        .fix(
                            "set MEDIA_URL in the settings to the URL the storage serves files from (its \
                             custom_domain, or the bucket's own URL), or drop the local location",
                            Vec::new(),
                        ),
                    );
                }
            }
        }
        let summary = format!(
            "media are stored remotely ({backend}): the disk checks for MEDIA_ROOT are skipped; MEDIA_URL {}",
            app.media_url.describe()
        );
        if findings.is_empty() {
            return Ok(Outcome::pass(summary));
        }
        Ok(Outcome::findings(findings))
    }
}
