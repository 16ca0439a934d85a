//! A report built by hand with every shape a renderer must handle: each status, findings with and
//! without a config location, paths, multi-line evidence and fixes, long lines to wrap, characters
//! the GitHub format must escape, a check the profile ignores.
//!
//! Its ids (MDx9x) are fictional on purpose and never registered, so these snapshots change only
//! when a renderer does, not when a check is added.

use media_doctor::checks::Band;
use media_doctor::report::{CheckResult, Finding, Location, Report, Status};

fn check(
    id: &'static str,
    name: &'static str,
    band: Band,
    status: Status,
    summary: &str,
    findings: Vec<Finding>,
) -> CheckResult {
    CheckResult {
        id,
        name,
        band,
        status,
        summary: summary.into(),
        findings,
        ignored: None,
    }
}

const RELOAD: &str = "sudo nginx -t && sudo systemctl reload nginx";
const CHMOD: &str = "sudo chmod o+x /home/deploy";

pub fn report() -> Report {
    let mut location = Location::new("/etc/nginx/sites-enabled/myapp", 12);
    location.column = Some(9);
    let alias = Finding::error("/media/a.jpg opens /srv/myapp/mediaa.jpg: alias lacks the trailing slash of its location")
        .at(location)
        .evidence("location", "/media/")
        .evidence("alias", "/srv/myapp/media")
        .fix(
            "add the trailing slash, so /media/a.jpg maps to /srv/myapp/media/a.jpg:\n    location /media/ {\n        alias /srv/myapp/media/;\n    }",
            vec![RELOAD.into()],
        );
    let listing = Finding::warning("autoindex on: anyone can list every uploaded file")
        .at(Location::new("/etc/nginx/sites-enabled/myapp", 14))
        .fix(
            "remove `autoindex on;` from the upload location",
            vec![RELOAD.into()],
        );
    let traverse = |path: &str, message: &str| {
        Finding::error(message)
            .evidence("path", path)
            .evidence("mode", "drwxr-x--- deploy deploy")
            .evidence("who", "www-data (uid 33), groups: www-data")
            .fix(
                "let others traverse the home directory (x only: they cannot list it)",
                vec![CHMOD.into()],
            )
    };
    let mut ignored = check(
        "MD498",
        "fictional-ignored",
        Band::Live,
        Status::Fail,
        "GET /media/private/ answers 403",
        vec![Finding::error("GET /media/private/ answers 403").evidence("status", 403)],
    );
    ignored.ignored = Some("private uploads are meant to be forbidden".into());

    let checks = vec![
        check(
            "MD190",
            "fictional-config-loads",
            Band::Nginx,
            Status::Pass,
            "3 files loaded from /etc/nginx/nginx.conf",
            vec![Finding::info("3 files loaded").evidence_lines(
                "files",
                [
                    "/etc/nginx/nginx.conf",
                    "/etc/nginx/mime.types",
                    "/etc/nginx/sites-enabled/myapp",
                ],
            )],
        ),
        check(
            "MD191",
            "fictional-alias-slash",
            Band::Nginx,
            Status::Fail,
            "",
            vec![alias],
        ),
        check(
            "MD192",
            "fictional-listing",
            Band::Nginx,
            Status::Warn,
            "autoindex on: anyone can list every uploaded file",
            vec![listing],
        ),
        check(
            "MD290",
            "fictional-traversal",
            Band::Filesystem,
            Status::Fail,
            "www-data cannot traverse /home/deploy (and 1 more)",
            vec![
                traverse(
                    "/home/deploy/apps/a-rather-long-project-directory-name/shared/media/uploads/2024",
                    "www-data cannot traverse /home/deploy: needs x for others, 100% of uploads, under a, b: c",
                ),
                traverse(
                    "/home/deploy/apps/myapp/static",
                    "www-data cannot traverse /home/deploy\r\nto reach the static files",
                ),
            ],
        ),
        check(
            "MD291",
            "fictional-skip",
            Band::Filesystem,
            Status::Skip,
            "not root: cannot read /home/deploy",
            vec![],
        ),
        check(
            "MD390",
            "fictional-broken-probe",
            Band::App,
            Status::Error,
            "the check could not run: permission denied reading /srv/myapp/settings.py",
            vec![],
        ),
        check(
            "MD391",
            "fictional-pass-with-evidence",
            Band::App,
            Status::Pass,
            "MEDIA_ROOT is the directory nginx serves for /media/",
            vec![Finding::info("aligned")
                .evidence("MEDIA_ROOT", "/srv/myapp/media")
                .evidence("nginx", "/srv/myapp/media (alias at /etc/nginx/sites-enabled/myapp:12)")],
        ),
        check("MD490", "fictional-live", Band::Live, Status::Skip, "--offline", vec![]),
        ignored,
    ];
    let mut report = Report::new(serde_json::json!({"name": "myapp", "root": "/"}), checks);
    // Snapshots must not change with the package version.
    report.tool.version = "0.0.0-test";
    // The fail check with an empty summary gets the runner's derived one, as in a real run.
    report.checks[1].summary = report.checks[1].findings[0].message.clone();
    report
}
