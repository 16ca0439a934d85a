//! Compose projects in the CI gate (`check --app DIR --nginx-conf DIR/.../nginx.conf --offline`),
//! on the fixtures of fixtures/compose (two public projects, each also broken one way): the
//! correct ones exit 0; each broken one (assembled from its variant.toml by
//! compose_variant::compose_project) adds exactly one finding to its project's, from the check
//! made for its cause, and that check is the first to fail. No Docker daemon is involved.

use crate::compose_variant::compose_project;
use crate::run::media_doctor;
use serde_json::Value;
use std::path::Path;

struct Run {
    code: i32,
    /// (id, status) of every check that failed or warned, in report order.
    flagged: Vec<(String, String)>,
    json: Value,
}

fn gate(name: &str, conf: &str, extra: &[&str]) -> Run {
    let project = compose_project(name);
    let dir = project.dir.to_str().unwrap();
    let conf = format!("{dir}/{conf}");
    let mut args = vec![
        "check",
        "--app",
        dir,
        "--nginx-conf",
        &conf,
        "--offline",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = media_doctor(&args);
    let json: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {}\n{}", out.stdout, out.stderr));
    let flagged = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| matches!(c["status"].as_str(), Some("fail" | "warn" | "error")))
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    Run {
        code: out.code,
        flagged,
        json,
    }
}

const DJANGO_CONF: &str = "nginx/nginx.conf";
const FLASK_CONF: &str = "services/nginx/nginx.conf";

/// A broken variant against its correct project: one new finding, `id`, and it comes first
/// among the failures (when it is an error).
fn broken_one_way(name: &str, conf: &str, base: &Run, id: &str, status: &str) {
    let run = gate(name, conf, &[]);
    let new: Vec<&(String, String)> = run
        .flagged
        .iter()
        .filter(|f| !base.flagged.contains(f))
        .collect();
    assert_eq!(
        new,
        vec![&(id.to_string(), status.to_string())],
        "{name}: what it adds to its project's report: {:?}",
        run.flagged
    );
    let first_fail = run
        .flagged
        .iter()
        .find(|(_, s)| s == "fail")
        .map(|(i, _)| i.as_str());
    if status == "fail" {
        assert_eq!(first_fail, Some(id), "{name}: {:?}", run.flagged);
        assert_eq!(run.code, 1, "{name}");
        let check = run.json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap();
        let f = &check["findings"][0];
        assert!(
            f["remediation"]["text"]
                .as_str()
                .is_some_and(|t| !t.is_empty()),
            "{name}: {f}"
        );
        assert!(f["location"]["file"].as_str().is_some(), "{name}: {f}");
    } else {
        assert_eq!(first_fail, None, "{name}: {:?}", run.flagged);
        assert_eq!(
            run.code, 0,
            "{name}: a warning does not fail the default gate"
        );
        let strict = gate(name, conf, &["--fail-on", "warning"]);
        assert_eq!(strict.code, 1, "{name} with --fail-on warning");
    }
}

#[test]
fn django_on_docker_passes_and_each_break_is_found_first() {
    let base = gate("django-on-docker", DJANGO_CONF, &[]);
    assert_eq!(base.code, 0, "{:?}", base.flagged);
    assert!(
        base.flagged.iter().all(|(_, s)| s != "fail"),
        "{:?}",
        base.flagged
    );
    let c = &base.json["site"]["containers"];
    assert_eq!(c["app_service"], "web", "{c}");
    assert_eq!(c["nginx_service"], "nginx", "{c}");
    assert_eq!(c["media_root"]["path"], "/home/app/web/mediafiles", "{c}");
    assert_eq!(
        c["media_root"]["storage"], "the named volume media_volume",
        "{c}"
    );
    assert!(
        c["files"][0]
            .as_str()
            .unwrap()
            .ends_with("docker-compose.prod.yml"),
        "{c}"
    );
    for (name, id, status) in [
        ("django-media-not-on-volume", "MD601", "fail"),
        ("django-nginx-without-media", "MD602", "fail"),
        ("django-alias-app-path", "MD603", "fail"),
        ("django-static-off-volume", "MD604", "fail"),
        ("django-media-owned-by-root", "MD605", "fail"),
        ("django-stale-static", "MD606", "warn"),
    ] {
        broken_one_way(name, DJANGO_CONF, &base, id, status);
    }
}

#[test]
fn flask_on_docker_passes_and_its_break_is_found_first() {
    let base = gate("flask-on-docker", FLASK_CONF, &[]);
    assert_eq!(base.code, 0, "{:?}", base.flagged);
    // Its static volume really does hide project/static from the image (a warning).
    assert!(
        base.flagged.contains(&("MD606".into(), "warn".into())),
        "{:?}",
        base.flagged
    );
    // UPLOAD_FOLDER comes from APP_FOLDER in the env_file: read, not "None".
    let c = &base.json["site"]["containers"];
    assert_eq!(
        c["media_root"]["path"], "/home/app/web/project/media",
        "{c}"
    );
    broken_one_way(
        "flask-nginx-without-media",
        FLASK_CONF,
        &base,
        "MD602",
        "fail",
    );
}

#[test]
fn the_existing_path_checks_judge_through_the_containers() {
    let run = gate("django-on-docker", DJANGO_CONF, &[]);
    let check = |id: &str| {
        run.json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()
            .clone()
    };
    // The same volume at the same path in two containers: aligned, by storage.
    assert_eq!(check("MD302")["status"], "pass");
    assert!(check("MD302")["summary"]
        .as_str()
        .unwrap()
        .contains("media_volume"));
    // Paths that exist only inside containers are not looked for on this machine.
    assert_eq!(check("MD201")["status"], "skip");
    assert_eq!(check("MD205")["status"], "skip");
    assert_eq!(check("MD206")["status"], "pass");
    // Nothing of this machine's /etc/nginx in a run about a repository.
    let files = run.json["site"]["nginx"]["files"].as_array().unwrap();
    assert!(
        files
            .iter()
            .all(|f| !f.as_str().unwrap().starts_with("/etc/nginx")),
        "{files:?}"
    );
    let md107 = check("MD107");
    assert!(
        !md107["summary"]
            .as_str()
            .unwrap_or("")
            .contains("/etc/nginx"),
        "{md107}"
    );
}

#[test]
fn compose_files_can_be_named() {
    // --compose picks the dev file: it has no nginx service and bind-mounts the checkout.
    let run = gate(
        "django-on-docker",
        DJANGO_CONF,
        &[
            "--compose",
            "fixtures/compose/django-on-docker/docker-compose.yml",
        ],
    );
    let c = &run.json["site"]["containers"];
    assert!(
        c["files"][0]
            .as_str()
            .unwrap()
            .ends_with("/docker-compose.yml"),
        "{c}"
    );
    assert_eq!(c["nginx_service"], Value::Null, "{c}");
    // MEDIA_ROOT through the bind mount ./app:/usr/src/app is a host directory.
    assert!(
        c["media_root"]["storage"]
            .as_str()
            .unwrap()
            .starts_with("the host directory"),
        "{c}"
    );
}

/// The official nginx image renders /etc/nginx/templates/*.template with the service's
/// environment when it starts. django-on-docker changed to that way (nginx from the image, its
/// config a template mounted there, the port and the media directory from `environment:`): the
/// gate reads the template as the container will, so it passes as the original does; and the
/// same template with the variable gone from the environment is what nginx would refuse.
#[test]
fn an_nginx_image_template_is_read_as_rendered_with_the_service_environment() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("django-on-docker");
    let status = std::process::Command::new("cp")
        .args(["-a", "fixtures/compose/django-on-docker"])
        .arg(&dir)
        .current_dir(crate::run::REPO)
        .status()
        .expect("cp");
    assert!(status.success());
    let compose = |environment: &str| {
        let prod = std::fs::read_to_string(dir.join("docker-compose.prod.yml")).unwrap();
        let prod = prod.replace(
            "  nginx:\n    build: ./nginx\n    volumes:\n",
            &format!(
                "  nginx:\n    image: nginx:1.25\n    environment:\n{environment}    volumes:\n      \
                 - ./nginx/templates:/etc/nginx/templates:ro\n"
            ),
        );
        assert!(prod.contains("nginx/templates"), "{prod}");
        std::fs::write(dir.join("docker-compose.prod.yml"), prod).unwrap();
    };
    let conf = std::fs::read_to_string(dir.join("nginx/nginx.conf")).unwrap();
    let template = conf
        .replace("listen 80;", "listen ${NGINX_PORT};")
        .replace("alias /home/app/web/mediafiles/;", "alias ${MEDIA_DIR}/;");
    assert_ne!(template, conf);
    std::fs::create_dir_all(dir.join("nginx/templates")).unwrap();
    let template_path = dir.join("nginx/templates/default.conf.template");
    std::fs::write(&template_path, template).unwrap();
    std::fs::remove_file(dir.join("nginx/nginx.conf")).unwrap();
    std::fs::remove_file(dir.join("nginx/Dockerfile")).unwrap();
    compose("      - NGINX_PORT=80\n      - MEDIA_DIR=/home/app/web/mediafiles\n");
    let gate = |what: &str| {
        let out = media_doctor(&[
            "check",
            "--app",
            dir.to_str().unwrap(),
            "--nginx-conf",
            template_path.to_str().unwrap(),
            "--offline",
            "--format",
            "json",
        ]);
        let json: Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}\n{}", out.stdout, out.stderr));
        (out.code, json)
    };
    let (code, json) = gate("rendered");
    assert_eq!(
        json["site"]["nginx"]["source"]["rendered_for"], "nginx",
        "{}",
        json["site"]["nginx"]
    );
    let md100 = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "MD100")
        .unwrap();
    assert_eq!(md100["status"], "pass", "{md100}");
    assert_eq!(code, 0, "{json}");

    // The URL maps through the rendered alias; with MEDIA_DIR gone from the environment,
    // envsubst leaves `${MEDIA_DIR}` (a variable nginx does not know): not that directory.
    let media_path = |what: &str| {
        let out = media_doctor(&[
            "trace",
            "--nginx-conf",
            template_path.to_str().unwrap(),
            "--offline",
            "--format",
            "json",
            "http://localhost/media/a.jpg",
        ]);
        let json: Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}\n{}", out.stdout, out.stderr));
        json["path"].clone()
    };
    assert_eq!(media_path("rendered"), "/home/app/web/mediafiles/a.jpg");
    std::fs::copy(
        Path::new(crate::run::REPO)
            .join("fixtures/compose/django-on-docker/docker-compose.prod.yml"),
        dir.join("docker-compose.prod.yml"),
    )
    .unwrap();
    compose("      - NGINX_PORT=80\n");
    assert_ne!(
        media_path("MEDIA_DIR unset"),
        "/home/app/web/mediafiles/a.jpg"
    );
}

/// A small Django project run by compose: the app (built here, as `app_user`) bind-mounts
/// ./media at /app/media; `services` is the rest of the compose file's services.
fn bind_project(
    app_user: &str,
    app_volumes: &str,
    services: &str,
    conf: &str,
) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let w = |p: &str, text: &str| {
        let p = t.path().join("proj").join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    w(
        "manage.py",
        "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')\n",
    );
    w("mysite/__init__.py", "");
    w(
        "mysite/settings.py",
        "from pathlib import Path\nBASE_DIR = Path(__file__).resolve().parent.parent\nDEBUG = False\nSTATIC_URL = '/static/'\nSTATIC_ROOT = BASE_DIR / 'staticfiles'\nMEDIA_URL = '/media/'\nMEDIA_ROOT = BASE_DIR / 'media'\n",
    );
    w(
        "Dockerfile",
        &format!("FROM python:3.12-slim\nWORKDIR /app\nCOPY . /app\nUSER {app_user}\nCMD [\"gunicorn\", \"mysite.wsgi\"]\n"),
    );
    w(
        "docker-compose.yml",
        &format!("services:\n  web:\n    build: .\n    volumes:\n{app_volumes}{services}volumes:\n  media_volume:\n"),
    );
    w("nginx/default.conf", conf);
    t
}

fn check_ids(dir: &Path, conf: &str) -> (i32, Value) {
    let out = media_doctor(&[
        "check",
        "--app",
        dir.to_str().unwrap(),
        "--nginx-conf",
        dir.join(conf).to_str().unwrap(),
        "--offline",
        "--format",
        "json",
    ]);
    let json: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", out.stdout, out.stderr));
    (out.code, json)
}

fn check_of<'a>(json: &'a Value, id: &str) -> &'a Value {
    json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap()
}

/// MD607 on real owners and modes: the host directory of a bind mount, walked as the uid the
/// container runs as (the host's names mean nothing inside). Needs root to chown.
#[test]
fn a_bind_mounted_host_directory_is_judged_as_the_containers_uid() {
    if !crate::support::require(
        crate::support::is_root(),
        "needs root to chown the bind-mounted directories",
    ) {
        return;
    }
    use std::os::unix::fs::{chown, PermissionsExt};
    let nginx = "  nginx:\n    image: nginx:1.25\n    volumes:\n      - ./nginx/default.conf:/etc/nginx/conf.d/default.conf:ro\n      - ./media:/srv/media:ro\n";
    let conf = "server {\n    listen 80;\n    location /media/ { alias /srv/media/; }\n    location / { proxy_pass http://web:8000; }\n}\n";
    let t = bind_project("1001", "      - ./media:/app/media\n", nginx, conf);
    let dir = t.path().join("proj");
    let media = dir.join("media");
    std::fs::create_dir(&media).unwrap();
    let set = |uid: u32, mode: u32| {
        chown(&media, Some(uid), Some(uid)).unwrap();
        std::fs::set_permissions(&media, std::fs::Permissions::from_mode(mode)).unwrap();
    };

    // Owned by uid 1000, the app runs as 1001: no upload can be written.
    set(1000, 0o755);
    let (code, json) = check_ids(&dir, "nginx/default.conf");
    let md607 = check_of(&json, "MD607");
    assert_eq!(md607["status"], "fail", "{md607}");
    let f = &md607["findings"][0];
    assert!(f["message"].as_str().unwrap().contains("uid 1001"), "{f}");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains(&*media.to_string_lossy()),
        "{f}"
    );
    assert_eq!(
        f["remediation"]["commands"][0],
        format!("sudo chown -R 1001:1001 {}", media.display()),
        "{f}"
    );
    assert_eq!(code, 1);

    // Owned by the app's uid, but 0700: nginx's workers (uid 101 in the nginx image) cannot read.
    set(1001, 0o700);
    let (_, json) = check_ids(&dir, "nginx/default.conf");
    let md607 = check_of(&json, "MD607");
    assert_eq!(md607["status"], "fail", "{md607}");
    let f = &md607["findings"][0];
    assert!(f["message"].as_str().unwrap().contains("uid 101,"), "{f}");
    assert!(
        f["message"].as_str().unwrap().contains("serve /media/"),
        "{f}"
    );

    // Both: pass.
    set(1001, 0o755);
    let (_, json) = check_ids(&dir, "nginx/default.conf");
    let md607 = check_of(&json, "MD607");
    assert_eq!(md607["status"], "pass", "{md607}");

    // collectstatic at start writes STATIC_ROOT, bind-mounted from a directory uid 1000 owns.
    let collects = "      - ./media:/app/media\n      - ./static:/app/staticfiles\n    command: sh -c \"python manage.py collectstatic --noinput && gunicorn mysite.wsgi\"\n";
    let t2 = bind_project("1001", collects, nginx, conf);
    let dir2 = t2.path().join("proj");
    for (d, uid) in [("media", 1001), ("static", 1000)] {
        std::fs::create_dir(dir2.join(d)).unwrap();
        chown(dir2.join(d), Some(uid), Some(uid)).unwrap();
    }
    let (_, json) = check_ids(&dir2, "nginx/default.conf");
    let md607 = check_of(&json, "MD607");
    assert_eq!(md607["status"], "fail", "{md607}");
    let f = &md607["findings"][0];
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("collect static files into"),
        "{f}"
    );

    // A directory Docker will create (owned by root) for a non-root app: a warning.
    std::fs::remove_dir(&media).unwrap();
    let (_, json) = check_ids(&dir, "nginx/default.conf");
    let md607 = check_of(&json, "MD607");
    assert_eq!(md607["status"], "warn", "{md607}");
    assert!(
        md607["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("owned by root"),
        "{md607}"
    );
}

/// MD607 for a container user known by name: `USER www-data` on a Debian-based image is uid 33
/// (base-passwd's static id), judged on the host directory's real owner; a user the Dockerfile
/// creates without a uid is not judged, and the reason names the line.
#[test]
fn a_named_container_user_is_judged_by_the_uid_its_image_gives_it() {
    if !crate::support::require(
        crate::support::is_root(),
        "needs root to chown the bind-mounted directory",
    ) {
        return;
    }
    use std::os::unix::fs::{chown, PermissionsExt};
    let t = bind_project(
        "www-data",
        "      - ./media:/app/media\n",
        "",
        "server {\n    listen 80;\n    location / { proxy_pass http://web:8000; }\n}\n",
    );
    let dir = t.path().join("proj");
    let media = dir.join("media");
    std::fs::create_dir(&media).unwrap();
    std::fs::set_permissions(&media, std::fs::Permissions::from_mode(0o755)).unwrap();

    chown(&media, Some(1000), Some(1000)).unwrap();
    let (_, json) = check_ids(&dir, "nginx/default.conf");
    let md607 = check_of(&json, "MD607");
    assert_eq!(md607["status"], "fail", "{md607}");
    let f = &md607["findings"][0];
    assert!(
        f["message"].as_str().unwrap().contains("(uid 33, gid 33)"),
        "{f}"
    );
    assert_eq!(
        f["remediation"]["commands"][0],
        format!("sudo chown -R 33:33 {}", media.display()),
        "{f}"
    );

    chown(&media, Some(33), Some(33)).unwrap();
    let (_, json) = check_ids(&dir, "nginx/default.conf");
    assert_eq!(check_of(&json, "MD607")["status"], "pass");

    // Created by the build without a uid: which one is the base image's business. Not judged.
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM python:3.12-slim\nWORKDIR /app\nCOPY . /app\nRUN useradd --create-home app\nUSER app\nCMD [\"gunicorn\", \"mysite.wsgi\"]\n",
    )
    .unwrap();
    let (_, json) = check_ids(&dir, "nginx/default.conf");
    let md607 = check_of(&json, "MD607");
    assert_eq!(md607["status"], "skip", "{md607}");
    let why = md607["summary"].as_str().unwrap();
    assert!(
        why.contains("uid is unknown") && why.contains("Dockerfile:4 creates without a uid"),
        "{why}"
    );
}

/// MD608: nginx on this machine (no nginx service) in front of an app container. It must open
/// the bind mount's source, not the container path; a named volume it cannot open at all.
#[test]
fn nginx_on_the_host_serves_the_bind_mounts_source() {
    let conf = |alias: &str| {
        format!("server {{\n    listen 80;\n    location /media/ {{ alias {alias}; }}\n    location / {{ proxy_pass http://127.0.0.1:8000; }}\n}}\n")
    };
    // The container's path.
    let t = bind_project(
        "root",
        "      - ./media:/app/media\n",
        "",
        &conf("/app/media/"),
    );
    let dir = t.path().join("proj");
    std::fs::create_dir(dir.join("media")).unwrap();
    let (code, json) = check_ids(&dir, "nginx/default.conf");
    let md608 = check_of(&json, "MD608");
    assert_eq!(md608["status"], "fail", "{md608}");
    let f = &md608["findings"][0];
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("the path inside the web container"),
        "{f}"
    );
    let host = dir.join("media");
    assert!(
        f["remediation"]["text"]
            .as_str()
            .unwrap()
            .contains(&format!("alias {}/;", host.display())),
        "{f}"
    );
    assert_eq!(code, 1);

    // The host directory: pass, and MD302 leaves it to MD608.
    let t = bind_project("root", "      - ./media:/app/media\n", "", "");
    let dir = t.path().join("proj");
    std::fs::create_dir(dir.join("media")).unwrap();
    std::fs::write(
        dir.join("nginx/default.conf"),
        conf(&format!("{}/", dir.join("media").display())),
    )
    .unwrap();
    let (_, json) = check_ids(&dir, "nginx/default.conf");
    assert_eq!(
        check_of(&json, "MD608")["status"],
        "pass",
        "{}",
        check_of(&json, "MD608")
    );

    // A named volume: out of nginx's reach.
    let t = bind_project(
        "root",
        "      - media_volume:/app/media\n",
        "",
        &conf("/app/media/"),
    );
    let dir = t.path().join("proj");
    let (_, json) = check_ids(&dir, "nginx/default.conf");
    let md608 = check_of(&json, "MD608");
    assert_eq!(md608["status"], "fail", "{md608}");
    assert!(
        md608["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("/var/lib/docker/volumes/proj_media_volume/_data"),
        "{md608}"
    );
}

const COOKIECUTTER_CONF: &str = "compose/production/nginx/default.conf";

/// cookiecutter-django's production setup (rendered, nginx serving media from the volume it
/// shares with the django service, WhiteNoise serving static files): the gate passes. The app
/// is read as its container runs it: the env_file's production settings, not the local ones
/// manage.py defaults to. The template's newest Dockerfile (chown no longer recursive) is
/// caught by MD605.
#[test]
fn cookiecutter_django_passes_and_its_newest_dockerfile_is_caught() {
    let base = gate("cookiecutter-django", COOKIECUTTER_CONF, &[]);
    assert_eq!(base.code, 0, "{:?}", base.flagged);
    let app = &base.json["site"]["app"];
    assert_eq!(
        app["settings_module"], "config.settings.production",
        "{app}"
    );
    let c = &base.json["site"]["containers"];
    assert_eq!(c["app_service"], "django", "{c}");
    assert_eq!(c["nginx_service"], "nginx", "{c}");
    assert_eq!(
        c["media_root"]["storage"], "the named volume production_django_media",
        "{c}"
    );
    for id in [
        "MD302", "MD303", "MD304", "MD601", "MD602", "MD603", "MD605",
    ] {
        let check = base.json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap();
        assert_eq!(check["status"], "pass", "{check}");
    }
    broken_one_way(
        "cookiecutter-django-media-root-owned",
        COOKIECUTTER_CONF,
        &base,
        "MD605",
        "fail",
    );
}

/// `.dockerignore` decides what COPY can put in the image: flask-on-docker's static volume hides
/// project/static of the image (MD606 warns); with project/static ignored, the image has nothing
/// there for the volume to hide.
#[test]
fn a_dockerignored_directory_is_not_in_the_image() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("flask-on-docker");
    let status = std::process::Command::new("cp")
        .args(["-a", "fixtures/compose/flask-on-docker"])
        .arg(&dir)
        .current_dir(crate::run::REPO)
        .status()
        .expect("cp");
    assert!(status.success());
    let md606 = |dir: &Path| {
        let (_, json) = check_ids(dir, FLASK_CONF);
        check_of(&json, "MD606").clone()
    };
    assert_eq!(md606(&dir)["status"], "warn");
    std::fs::write(
        dir.join("services/web/.dockerignore"),
        "# built at start, never from the checkout\nproject/static/\n",
    )
    .unwrap();
    let after = md606(&dir);
    assert_eq!(after["status"], "pass", "{after}");
}
