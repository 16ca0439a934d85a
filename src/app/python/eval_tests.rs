//! The evaluator on the idioms real settings files use.

use super::{Interp, Value};
use crate::app::env::Env;
use crate::sysroot::SysRoot;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new(files: &[(&str, &str)]) -> Tree {
        let dir = tempfile::tempdir().unwrap();
        for (p, text) in files {
            let host = dir.path().join(p.trim_start_matches('/'));
            std::fs::create_dir_all(host.parent().unwrap()).unwrap();
            std::fs::write(host, text).unwrap();
        }
        Tree { dir }
    }
    fn root(&self) -> SysRoot {
        SysRoot::new(self.dir.path())
    }
}

fn env(vars: &[(&str, &str)]) -> Env {
    let mut e = Env::default();
    e.push(
        "test",
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    );
    e
}

fn run(tree: &Tree, file: &str, vars: &[(&str, &str)]) -> BTreeMap<String, Value> {
    let root = tree.root();
    let mut i = Interp::new(
        &root,
        env(vars),
        vec![PathBuf::from("/srv/app")],
        PathBuf::from("/srv/app"),
    );
    let ns = i.load_file(Path::new(file)).unwrap();
    ns.vars
        .vars
        .iter()
        .map(|(k, b)| (k.clone(), b.value.clone()))
        .collect()
}

fn s(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        Value::Path(p) => p.display().to_string(),
        other => format!("{other:?}"),
    }
}

#[test]
fn django_startproject_paths() {
    let t = Tree::new(&[(
        "/srv/app/shop/settings.py",
        r#"
import os
from pathlib import Path
BASE_DIR = Path(__file__).resolve().parent.parent
OLD_BASE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEDIA_ROOT = BASE_DIR / "media"
STATIC_ROOT = os.path.join(OLD_BASE, 'staticfiles')
STATIC_URL = 'static/'
MEDIA_URL = f"/{'media'}/"
STATICFILES_DIRS = [BASE_DIR / "assets", ("vendor", os.path.join(OLD_BASE, "vendor"))]
DEBUG = False
ALLOWED_HOSTS = ["shop.example.com"] + ["www.shop.example.com"]
"#,
    )]);
    let v = run(&t, "/srv/app/shop/settings.py", &[]);
    assert_eq!(s(&v["BASE_DIR"]), "/srv/app");
    assert_eq!(s(&v["OLD_BASE"]), "/srv/app");
    assert_eq!(s(&v["MEDIA_ROOT"]), "/srv/app/media");
    assert_eq!(s(&v["STATIC_ROOT"]), "/srv/app/staticfiles");
    assert_eq!(s(&v["MEDIA_URL"]), "/media/");
    assert!(matches!(v["DEBUG"], Value::Bool(false)));
    match &v["ALLOWED_HOSTS"] {
        Value::List(l) => assert_eq!(l.len(), 2),
        other => panic!("{other:?}"),
    }
}

#[test]
fn environment_lookups_and_unknowns() {
    let t = Tree::new(&[(
        "/srv/app/s.py",
        r#"
import os
import environ
from decouple import config, Csv
env = environ.Env(DEBUG=(bool, False))
DEBUG = env("DEBUG")
MEDIA_ROOT = env("MEDIA_ROOT", default="/var/media")
STATIC_ROOT = env.str("STATIC_ROOT")
A = os.environ.get("A", "dflt")
B = os.getenv("B")
C = os.environ["MISSING"]
D = config("D", default="x")
E = config("E", cast=bool)
HOSTS = config("HOSTS", cast=Csv())
F = os.environ.get("DEBUG", "False") == "True"
G = os.environ.get("X", "0").lower() in ("1", "true")
root = environ.Path(__file__) - 2
H = root("media")
"#,
    )]);
    let v = run(
        &t,
        "/srv/app/s.py",
        &[
            ("DEBUG", "yes"),
            ("B", "bee"),
            ("E", "on"),
            ("HOSTS", "a.com, b.com"),
        ],
    );
    assert!(matches!(v["DEBUG"], Value::Bool(true)));
    assert_eq!(s(&v["MEDIA_ROOT"]), "/var/media");
    match &v["STATIC_ROOT"] {
        Value::Unknown { why, .. } => assert!(why.contains("STATIC_ROOT is not set"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(s(&v["A"]), "dflt");
    assert_eq!(s(&v["B"]), "bee");
    assert!(v["C"].is_unknown());
    assert_eq!(s(&v["D"]), "x");
    assert!(matches!(v["E"], Value::Bool(true)));
    assert!(matches!(&v["HOSTS"], Value::List(l) if l.len() == 2 && s(&l[1]) == "b.com"));
    assert!(matches!(v["F"], Value::Bool(false)));
    assert!(matches!(v["G"], Value::Bool(false)));
    assert_eq!(s(&v["H"]), "/srv/media");
}

#[test]
fn split_settings_with_star_imports_and_conditions() {
    let t = Tree::new(&[
        ("/srv/app/shop/__init__.py", ""),
        ("/srv/app/shop/settings/__init__.py", ""),
        (
            "/srv/app/shop/settings/base.py",
            "from pathlib import Path\nBASE_DIR = Path(__file__).resolve().parent.parent.parent\nMEDIA_ROOT = BASE_DIR / 'media'\nMEDIA_URL = '/media/'\nMIDDLEWARE = ['a']\n",
        ),
        (
            "/srv/app/shop/settings/production.py",
            "from .base import *\nimport os\nMEDIA_ROOT = os.environ.get('MEDIA_ROOT', MEDIA_ROOT)\nMIDDLEWARE.insert(0, 'whitenoise.middleware.WhiteNoiseMiddleware')\nif os.environ.get('USE_S3'):\n    MEDIA_URL = 'https://cdn/'\nelse:\n    pass\ntry:\n    from .local import *\nexcept ImportError:\n    LOCAL = False\n",
        ),
    ]);
    let v = run(&t, "/srv/app/shop/settings/production.py", &[]);
    assert_eq!(s(&v["MEDIA_ROOT"]), "/srv/app/media");
    assert_eq!(s(&v["MEDIA_URL"]), "/media/");
    assert!(matches!(v["LOCAL"], Value::Bool(false)));
    assert!(
        matches!(&v["MIDDLEWARE"], Value::List(l) if l.len() == 2 && s(&l[0]).starts_with("whitenoise"))
    );
    // An undecidable condition makes what it changes unknown, naming the condition.
    let t2 = Tree::new(&[(
        "/srv/app/s.py",
        "import sys\nMEDIA_URL = '/media/'\nif sys.argv[1] == 'x':\n    MEDIA_URL = '/m/'\nSTATIC_URL = '/static/'\n",
    )]);
    let v = run(&t2, "/srv/app/s.py", &[]);
    match &v["MEDIA_URL"] {
        Value::Unknown { why, .. } => assert!(why.contains("sys.argv[1] == 'x'"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(s(&v["STATIC_URL"]), "/static/");
}

#[test]
fn flask_factory_config_classes_and_routes() {
    let t = Tree::new(&[
        (
            "/srv/app/config.py",
            "import os\nbasedir = os.path.abspath(os.path.dirname(__file__))\nclass Config:\n    UPLOAD_FOLDER = os.path.join(basedir, 'uploads')\n    DEBUG = False\nclass DevelopmentConfig(Config):\n    DEBUG = True\nclass ProductionConfig(Config):\n    UPLOAD_FOLDER = os.environ.get('UPLOAD_FOLDER') or '/var/uploads'\nconfig = {'development': DevelopmentConfig, 'production': ProductionConfig, 'default': DevelopmentConfig}\n",
        ),
        (
            "/srv/app/shop/__init__.py",
            "import os\nfrom flask import Flask, send_from_directory\nfrom config import config\n\ndef create_app(config_name=None):\n    config_name = config_name or os.getenv('FLASK_CONFIG', 'default')\n    app = Flask(__name__, static_folder='assets', static_url_path='/assets')\n    app.config.from_object(config[config_name])\n    app.config.update(MAX_CONTENT_LENGTH=1024, MEDIA_URL='/files/')\n    from .views import bp\n    app.register_blueprint(bp, url_prefix='/files')\n    @app.route('/uploads/<path:name>')\n    def uploads(name):\n        return send_from_directory(app.config['UPLOAD_FOLDER'], name)\n    return app\n",
        ),
        (
            "/srv/app/shop/views.py",
            "from flask import Blueprint, current_app, send_from_directory\nbp = Blueprint('files', __name__)\n@bp.route('/<path:name>')\ndef get(name):\n    d = current_app.config['UPLOAD_FOLDER']\n    return send_from_directory(d, name)\n",
        ),
    ]);
    let root = t.root();
    let mut i = Interp::new(
        &root,
        env(&[("FLASK_CONFIG", "production")]),
        vec![PathBuf::from("/srv/app")],
        PathBuf::from("/srv/app"),
    );
    i.load_file(Path::new("/srv/app/shop/__init__.py")).unwrap();
    let app = i.eval_in_module(
        Path::new("/srv/app/shop/__init__.py"),
        "create_app()",
        "<target>",
    );
    let Value::Obj(id) = app else {
        panic!("{app:?}")
    };
    i.finish_routes();
    let cfg = i.flask_config(id);
    assert_eq!(s(&cfg["UPLOAD_FOLDER"].value), "/var/uploads");
    assert!(matches!(cfg["DEBUG"].value, Value::Bool(false)));
    assert_eq!(s(&cfg["MEDIA_URL"].value), "/files/");
    let routes: Vec<(String, String)> =
        i.served.iter().map(|r| (s(&r.prefix), s(&r.dir))).collect();
    assert!(
        routes.contains(&("/uploads/".into(), "/var/uploads".into())),
        "{routes:?}"
    );
    assert!(
        routes.contains(&("/files/".into(), "/var/uploads".into())),
        "{routes:?}"
    );
}

#[test]
fn bad_input_never_hangs_or_panics() {
    let t = Tree::new(&[
        ("/srv/app/a.py", "from b import *\nX = 1\n"),
        ("/srv/app/b.py", "from a import *\nY = X\n"),
        (
            "/srv/app/c.py",
            "def f(n):\n    return f(n)\nZ = f(1)\nW = (((((\nclass A(A): pass\n",
        ),
    ]);
    let v = run(&t, "/srv/app/a.py", &[]);
    assert!(matches!(v["X"], Value::Int(1)));
    let v = run(&t, "/srv/app/c.py", &[]);
    assert!(v["Z"].is_unknown());
}

#[test]
fn an_unset_variable_in_a_path_is_unknown_never_none() {
    // flask-on-docker's config: APP_FOLDER comes from an env_file that is not in the repository.
    let t = Tree::new(&[(
        "/srv/app/config.py",
        "import os\nMEDIA_FOLDER = f\"{os.getenv('APP_FOLDER')}/project/media\"\nDEBUG = os.getenv('DEBUG')\nSTATIC = f\"{os.getenv('APP_FOLDER', '/app')}/static\"\n",
    )]);
    let v = run(&t, "/srv/app/config.py", &[]);
    match &v["MEDIA_FOLDER"] {
        Value::Unknown { why, .. } => {
            assert!(why.contains("APP_FOLDER"), "{why}");
            assert!(why.contains("not in test"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    // Read alone, an unset variable is still None (`if os.getenv(...)` keeps working).
    assert!(matches!(v["DEBUG"], Value::None));
    assert_eq!(s(&v["STATIC"]), "/app/static");
    let v = run(&t, "/srv/app/config.py", &[("APP_FOLDER", "/home/app/web")]);
    assert_eq!(s(&v["MEDIA_FOLDER"]), "/home/app/web/project/media");
    // Through a name: `None://None/media/` never comes out.
    let t = Tree::new(&[(
        "/srv/app/s.py",
        "import os\nSCHEME = os.environ.get('SCHEME')\nHOST = os.getenv('CDN_HOST')\nMEDIA_URL = f'{SCHEME}://{HOST}/media/'\n",
    )]);
    match &run(&t, "/srv/app/s.py", &[])["MEDIA_URL"] {
        Value::Unknown { why, .. } => assert!(why.contains("SCHEME"), "{why}"),
        other => panic!("{other:?}"),
    }
}
