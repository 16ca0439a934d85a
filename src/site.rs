//! `Site`: what is known about the site under examination. `Site::gather` does only what every
//! command needs (the root, the profile, the nginx config, the site's server blocks); every other
//! facet (the worker user, the app, the nginx model, the served directories, what changed since
//! nginx loaded its config) is found on first use and cached, so `trace` of one URL pays for none
//! of the app search. Checks read it; they never re-parse or re-discover.

use crate::app::discover::{self, Hints};
use crate::app::running::{self, Upstream};
use crate::fnv::FnvMap;
use crate::fs::identity::{NamedUser, UserDirective};
use crate::nginx::resolve::served::ServedDirs;
use crate::nginx::resolve::{self, Resolver};
use crate::nginx::{self, Config, ConfigKind, Directive, NodeId};
use crate::profile::Profile;
use crate::sysroot::SysRoot;
use crate::system::loaded::{self, Stale};
use anyhow::{Context, Result};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// What the user asked about (the command line, converted by `cli`; the profile fills the gaps).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--site NAME`: a sites-enabled/conf.d file name, or a label of a server_name.
    pub site: Option<String>,
    pub nginx_conf: Option<PathBuf>,
    /// `--nginx-dump PATH|-`: an `nginx -T` dump instead of the files.
    pub nginx_dump: Option<PathBuf>,
    pub app: Option<PathBuf>,
    /// None: find out (Django or Flask).
    pub framework: Option<crate::app::Framework>,
    /// `--url BASE`: the public base URL.
    pub url: Option<String>,
    pub probe: Vec<String>,
    pub root: Option<PathBuf>,
    pub as_user: Option<String>,
    /// Evaluate the settings module with the app's own interpreter (`--eval`).
    pub eval: bool,
    /// `--max-config-bytes`: the size limit of every input file (None: fs::read's default).
    pub max_config_bytes: Option<u64>,
    /// `--input-timeout`: how long a pipe or FIFO may send nothing, in seconds (None: the
    /// default, `input::DEFAULT_IDLE_SECS`).
    pub input_timeout: Option<u64>,
    /// `--compose FILE`: the app runs with these compose files (merged in order).
    pub compose: Vec<PathBuf>,
    /// Apache httpd is the server judged, with this main config (or bare `<VirtualHost>` file):
    /// nginx's configuration is not read.
    pub apache_conf: Option<PathBuf>,
}

/// Where the nginx configuration came from.
#[derive(Debug, Clone)]
pub enum NginxSource {
    Files { entry: PathBuf },
    Dump { name: String },
}

#[derive(Debug)]
pub struct NginxSite {
    pub source: NginxSource,
    /// Shared by the sites of one box (`Site::for_site`): loaded once.
    pub config: Arc<Config>,
    /// The `server {}` blocks that belong to the site (all of them when no `--site` was given,
    /// or when none matched the name: then `matched_by` says so).
    pub servers: Vec<NodeId>,
    /// How `servers` was chosen, for the report ("file name sites-enabled/myapp", "server_name", ...).
    pub matched_by: String,
    /// When the entry is a template the nginx image renders at start (envsubst), the service
    /// whose environment it was rendered with: what nginx in that container reads.
    pub rendered_for: Option<String>,
}

#[derive(Debug)]
pub struct Site {
    pub root: SysRoot,
    pub name: Option<String>,
    pub offline: bool,
    pub options: Options,
    pub nginx: NginxSite,
    /// `--app` (or the profile's `app`) as a system path, checked when gathering.
    app_path: Option<PathBuf>,
    /// The app and what its discovery looked at, found on first use (`Site::app`).
    app: OnceLock<discover::Discovery>,
    /// The profile that was read (`/etc/media-doctor/NAME.toml` or `./media-doctor.toml`).
    pub profile: Option<Profile>,
    /// URLs of files known to exist (the profile's `samples`).
    pub samples: Vec<String>,
    /// The nginx worker user (`--as-user`, the `user` directive, or nginx's default) and its
    /// identity under the root (one per box: shared by its sites).
    worker: Arc<OnceLock<crate::fs::Worker>>,
    /// The resolver's indexes (location trees, server names) for the site's servers, built on
    /// first use.
    model: OnceLock<resolve::Model>,
    /// The same for every server of the config, built when a request leaves the site's servers
    /// (or when the site is every server: then `model` is it). Shared by the sites of a box.
    whole: Arc<OnceLock<resolve::Model>>,
    /// The indexes for the one request `trace` follows (`resolver_for`).
    request_model: OnceLock<resolve::Model>,
    /// What every model of the config shares (listen sockets, server names, the http block,
    /// maps): built once per box, for the models of all its sites.
    shared_model: Arc<OnceLock<Arc<resolve::Shared>>>,
    /// The directories the site's servers serve files from, found on first use.
    served: OnceLock<ServedDirs>,
    /// Config files changed since the running nginx loaded them, found on first use (one per
    /// box).
    stale: Arc<OnceLock<Option<Stale>>>,
    /// The compose project the app runs in, read on first use (see `containers`).
    containers: OnceLock<Result<crate::container::Containers, crate::container::NotContainers>>,
    /// Draw progress for long probes on stderr (text output on a terminal only; set by main).
    pub progress: bool,
    /// Tree scans made during this run, shared between the checks that need them.
    pub fs: crate::fs::scan::Cache,
    /// Where every server block of the config is (file, names, ports), indexed on first use
    /// (one per box).
    places: Arc<OnceLock<ServerPlaces>>,
    /// How many server blocks the config has (one per box; counted when the site's servers
    /// are chosen).
    server_count: Arc<OnceLock<usize>>,
    /// The members of every `upstream {}` group of the config, by name (one per box).
    upstream_groups: Arc<OnceLock<UpstreamGroups>>,
    /// The box's listening sockets and their processes, read on first need (one per box).
    listeners: Arc<OnceLock<Arc<running::Listeners>>>,
    /// Where the site's servers hand requests (`upstreams`), found on first use: several checks
    /// ask whether the site hands requests to an app.
    upstreams: OnceLock<Vec<Upstream>>,
    /// The directories app discovery looks in for every site by its name, listed once for the
    /// sites of a box (see `discover::Listings`; one per box).
    app_listings: Arc<discover::Listings>,
    /// The command that reloads nginx (`reload_command`: one per box, asked by several checks
    /// of each site).
    reload: Arc<OnceLock<String>>,
    /// One of the sites of a `check` over every site (`for_site`): the user named none.
    one_of_many: bool,
    /// What the checks compute once per box for all its sites (`per_box`).
    box_cache: Arc<BoxCache>,
    /// Set when Apache httpd is the server judged (`Options::apache_conf`): then `nginx` is an
    /// empty configuration and the MD5xx checks judge this one.
    pub apache: Option<Arc<crate::apache::site::ApacheSite>>,
    /// How the nginx judged was found in another mount namespace (a container) when nothing
    /// named a config and this machine has none: then `root` is its view.
    pub nginx_in_namespace: Option<String>,
}

/// Values computed once per box, by name (see `Site::per_box`).
type BoxCache =
    std::sync::Mutex<std::collections::HashMap<&'static str, Arc<dyn std::any::Any + Send + Sync>>>;

/// `upstream NAME { server ...; }` groups: the members of each, by name.
type UpstreamGroups = std::collections::HashMap<String, Vec<String>>;

/// Every server block of the config by file, name and port: what a config edit can affect is
/// found from these without walking the whole config again (the prover runs once per fix, and a
/// 10,000-site config has thousands of fixes).
#[derive(Debug, Default)]
pub struct ServerPlaces {
    /// `Config::servers()`, in config order.
    pub all: Vec<NodeId>,
    /// The servers (indexes into `all`) of each file that holds server blocks.
    pub by_file: FnvMap<nginx::FileId, Vec<usize>>,
    /// Each exact server_name as the hash of its lowercase form (`name_key`) and its server
    /// (index into `all`), sorted: a name's servers side by side, in config order, found by
    /// binary search (no string or vector per name: a 10,000-site box has 43,000 names; and no
    /// hash table, which held twice the room of this for the 360,000 names of one big site).
    /// `named` compares the names themselves.
    by_name: Box<[(u64, u32)]>,
    /// Servers with a wildcard or regex name: they may take a name another server gives up.
    pub wild: Vec<usize>,
    /// Per listen port: the servers marked `default_server`, else the first that listens there.
    pub defaults: FnvMap<u16, Vec<usize>>,
    /// The files that hold no server block (the main file's settings, snippets, maps), in order.
    pub serverless: Vec<nginx::FileId>,
    /// The server (index into `all`) around each block of a file with many servers, by file,
    /// indexed on first use (see `enclosing`).
    /// Each index is (block, server) sorted by block, searched by halves: a hash table held
    /// twice its room (the 720,000 blocks of one big site's file).
    enclosing: std::sync::Mutex<FnvMap<nginx::FileId, Enclosing>>,
    /// The sections of `serverless` files as the fix prover writes them into every copy of the
    /// config it loads: rendered once per box, not once per site with a fix.
    pub serverless_dump: OnceLock<String>,
}

/// A file's (block, server index) pairs, sorted by block (`ServerPlaces::enclosing`).
type Enclosing = Arc<[(NodeId, u32)]>;

impl ServerPlaces {
    /// Indexed from what the resolver read of every server (`resolve::Shared::servers`): the
    /// config is not walked again.
    pub fn of(cfg: &Config, servers: &[resolve::ServerInfo]) -> ServerPlaces {
        let mut p = ServerPlaces::default();
        p.all.reserve(servers.len());
        // A name a server: a box whose servers have more grows it once.
        let mut by_name: Vec<(u64, u32)> = Vec::with_capacity(servers.len());
        let mut first: FnvMap<u16, usize> = FnvMap::default();
        for (i, s) in servers.iter().enumerate() {
            p.all.push(s.id);
            p.by_file
                .entry(cfg.directive(s.id).file_id())
                .or_default()
                .push(i);
            let mut wild = false;
            for n in s.names(cfg) {
                if n.contains('*') || n.starts_with('~') || n.starts_with('.') {
                    wild = true;
                } else {
                    by_name.push((name_key(n), i as u32));
                }
            }
            let mut listens = false;
            for (port, default) in resolve::listen_ports(&cfg.directive(s.id)) {
                listens = true;
                first.entry(port).or_insert(i);
                if default {
                    p.defaults.entry(port).or_default().push(i);
                }
            }
            if !listens {
                first.entry(80).or_insert(i);
            }
            if wild {
                p.wild.push(i);
            }
        }
        for (port, i) in first {
            p.defaults.entry(port).or_insert_with(|| vec![i]);
        }
        // Pushed in config order, which the sort keeps among the servers of a name.
        crate::fnv::sort_by_hash(&mut by_name);
        p.by_name = by_name.into_boxed_slice();
        // Held for the run: no room left over from growing the list of a file of many servers
        // (a file of a few, one per site of a box of 10,000, is left as it is).
        for servers in p.by_file.values_mut() {
            if servers.len() >= 1024 {
                servers.shrink_to_fit();
            }
        }
        p.serverless = (0..cfg.files.len() as nginx::FileId)
            .filter(|f| !p.by_file.contains_key(f))
            .collect();
        p
    }
}

impl ServerPlaces {
    /// The servers (indexes into `all`, in config order) with the exact `server_name` `name`
    /// (any case); none for a wildcard or regex name.
    pub fn named<'a>(&'a self, cfg: &'a Config, name: &'a str) -> impl Iterator<Item = usize> + 'a {
        let key = name_key(name);
        let from = self.by_name.partition_point(|&(k, _)| k < key);
        self.by_name[from..]
            .iter()
            .take_while(move |&&(k, _)| k == key)
            .map(|&(_, server)| server as usize)
            .filter(move |&i| {
                cfg.directive(self.all[i])
                    .server_names()
                    .any(|n| n.eq_ignore_ascii_case(name))
            })
    }
}

/// The key of a server name in `ServerPlaces::by_name`: a hash of its lowercase form (ASCII
/// letters folded as nginx folds them), eight bytes at a time: a 10,000-site box has 43,000
/// names. Two names may share a key (`named` compares the names).
fn name_key(name: &str) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let mut h = name.len() as u64;
    for chunk in name.as_bytes().chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        // The high bit of each byte of `upper`: an ASCII byte from 'A' to 'Z' (no carry
        // crosses a byte: each sum stays under 0x100).
        let ascii = x & (0x7f * ONES);
        let from_a = ascii + (0x80 - u64::from(b'A')) * ONES;
        let past_z = ascii + (0x80 - u64::from(b'Z') - 1) * ONES;
        let upper = from_a & !past_z & !x & (0x80 * ONES);
        let lower = x | (upper >> 2);
        h = (h.rotate_left(23) ^ lower).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    h
}

impl ServerPlaces {
    /// The server (index into `all`) around `block` (the server itself, one of its locations or
    /// `if`s) when the block is written in that server's own file; None for a block of a snippet
    /// several servers include, or outside every server. Only the servers of the block's file
    /// are walked: a file of a few servers (a site's file) each time it is asked, a file of many
    /// (every server in nginx.conf) once, into an index kept for the box (the fix prover asks
    /// for each edit of each site).
    pub fn enclosing(&self, cfg: &Config, block: NodeId) -> Option<usize> {
        /// Up to this many servers in a file, walking them costs less than an index.
        const FEW: usize = 16;
        let file = cfg.directive(block).file_id();
        let servers = self.by_file.get(&file)?;
        if servers.len() <= FEW {
            let mut found = None;
            for &i in servers {
                own_blocks(cfg, self.all[i], |id| {
                    found = (id == block).then_some(i);
                    found.is_some()
                });
                if found.is_some() {
                    break;
                }
            }
            return found;
        }
        let index = {
            let mut all = self.enclosing.lock().unwrap_or_else(|e| e.into_inner());
            all.entry(file)
                .or_insert_with(|| {
                    // Sized for what it holds: eight entries a server were reserved, 90 MB for
                    // the 360,000 servers of one file (a server and its location: two).
                    let mut blocks = 0;
                    for &i in servers {
                        own_blocks(cfg, self.all[i], |_| {
                            blocks += 1;
                            false
                        });
                    }
                    let mut index = Vec::with_capacity(blocks);
                    for &i in servers {
                        own_blocks(cfg, self.all[i], |id| {
                            index.push((id, i as u32));
                            false
                        });
                    }
                    // A stable sort: of a block found under two servers, the first is kept.
                    index.sort_by_key(|&(id, _)| id);
                    index.dedup_by_key(|&mut (id, _)| id);
                    Arc::from(index)
                })
                .clone()
        };
        let at = index.binary_search_by_key(&block, |&(id, _)| id).ok()?;
        Some(index[at].1 as usize)
    }
}

/// Calls `f` with the server block `server` and each block below it written in the server's
/// own file, until `f` returns true. The walk does not enter a block of another file (a
/// snippet): a block of the server's file below it would need the snippet to include that file
/// again, an include cycle, which the loader does not link.
fn own_blocks(cfg: &Config, server: NodeId, mut f: impl FnMut(NodeId) -> bool) {
    let server = cfg.directive(server);
    let file = server.file_id();
    let mut stack = vec![server];
    while let Some(d) = stack.pop() {
        if f(d.id()) {
            return;
        }
        stack.extend(
            d.children()
                .filter(|c| c.has_block() && c.file_id() == file),
        );
    }
}

/// The names of a server block as written (every `server_name`'s arguments).
pub fn server_names_of<'c>(s: &Directive<'c>) -> impl Iterator<Item = &'c str> + 'c {
    s.server_names()
}

/// The port of a `listen` argument (the resolver's; the fix prover imports it from here).
pub use crate::nginx::resolve::listen_port;

/// nginx's compiled-in defaults on Debian, where media-doctor is most often run.
const DEFAULT_CONF: &str = "/etc/nginx/nginx.conf";
const DEFAULT_PREFIX: &str = "/usr/share/nginx";
/// How Debian's packaged nginx is checked and reloaded (where systemd runs the system). Checks
/// print it; `checks::fixes::settle` puts `Site::reload_command` in its place.
pub const DEFAULT_RELOAD: &str = "sudo nginx -t && sudo systemctl reload nginx";
/// How nginx is checked and reloaded where systemd does not run the system (a container, another
/// init): a HUP to the master of the default pid file.
pub const SIGNAL_RELOAD: &str = "sudo nginx -t && sudo nginx -s reload";

/// The reload of a packaged nginx no running master describes: `systemctl` where systemd runs
/// the system under `root` (`system::systemd_runs`), else the signal.
pub fn default_reload(root: &SysRoot) -> &'static str {
    if crate::system::systemd_runs(root) {
        DEFAULT_RELOAD
    } else {
        SIGNAL_RELOAD
    }
}

impl Site {
    /// Discover and load everything. An error here means the tool cannot run at all (exit 2).
    pub fn gather(args: &Options, offline: bool) -> Result<Site> {
        crate::input::set_max_bytes(
            args.max_config_bytes
                .unwrap_or(crate::input::DEFAULT_MAX_BYTES),
        );
        crate::input::set_idle_timeout(std::time::Duration::from_secs(
            args.input_timeout
                .unwrap_or(crate::input::DEFAULT_IDLE_SECS),
        ));
        let root = match &args.root {
            Some(dir) => {
                anyhow::ensure!(dir.is_dir(), "--root {}: not a directory", dir.display());
                SysRoot::new(dir)
            }
            None => SysRoot::live(),
        };
        let profile = Profile::find(&root, args.site.as_deref())?;
        let mut args = merge_profile(args, profile.as_ref());
        // No config named and none on this machine: nginx may run in a container. Its view
        // (/proc/PID/root, paths mapped through its mounts) is the root, its config the entry.
        let mut root = root;
        let mut nginx_in_namespace = None;
        if args.root.is_none()
            && args.nginx_conf.is_none()
            && args.nginx_dump.is_none()
            && args.apache_conf.is_none()
            && !root.is_file(Path::new(DEFAULT_CONF))
        {
            if let Some((view, conf, how)) = nginx_in_a_namespace(args.site.as_deref())? {
                root = view;
                args.nginx_conf = Some(conf);
                nginx_in_namespace = Some(how);
            }
        }
        let (nginx, apache) = match &args.apache_conf {
            Some(entry) => (
                no_nginx(),
                Some(Arc::new(crate::apache::site::ApacheSite::load(
                    &root,
                    entry,
                    args.site.as_deref(),
                )?)),
            ),
            None => (load_nginx(&root, &args)?, None),
        };
        let app_path = match &args.app {
            // An absolute path that is not a host path inside the root names a system path, even
            // when nothing is there (MD301 then says so).
            Some(p) if p.is_absolute() && (root.is_live() || root.system_path(p).is_none()) => {
                Some(p.clone())
            }
            Some(p) => Some(system_path_arg(&root, p, "--app")?),
            None => None,
        };
        let mut site = Site {
            root,
            name: args.site.clone(),
            offline,
            options: args.clone(),
            nginx,
            app_path,
            app: OnceLock::new(),
            samples: profile
                .as_ref()
                .map(|p| p.samples.clone())
                .unwrap_or_default(),
            profile,
            worker: Default::default(),
            model: OnceLock::new(),
            whole: Default::default(),
            request_model: OnceLock::new(),
            shared_model: Default::default(),
            served: OnceLock::new(),
            stale: Default::default(),
            containers: OnceLock::new(),
            progress: false,
            fs: Default::default(),
            places: Default::default(),
            server_count: Default::default(),
            upstream_groups: Default::default(),
            listeners: Default::default(),
            upstreams: OnceLock::new(),
            app_listings: Default::default(),
            reload: Default::default(),
            one_of_many: false,
            box_cache: Default::default(),
            apache,
            nginx_in_namespace,
        };
        match &site.apache {
            None => site.select_servers()?,
            Some(a) => site.check_apache_site(a)?,
        }
        Ok(site)
    }

    /// The nginx worker user (`--as-user`, the `user` directive, or nginx's default) and its
    /// identity under the root, found on first use.
    pub fn worker(&self) -> &crate::fs::Worker {
        self.worker.get_or_init(|| {
            crate::fs::Worker::resolve(
                &self.root,
                &user_directive(self.config()),
                self.options.as_user.as_deref(),
            )
        })
    }

    /// The app's settings, when an app was found: discovery runs on first use, starting from
    /// the site's own server blocks (see `find_app`).
    pub fn app(&self) -> Option<&crate::app::App> {
        self.app.get_or_init(|| self.find_app()).app.as_ref()
    }

    /// What app discovery looked at, in order (the reason when `app()` is `None`).
    pub fn app_search(&self) -> &[String] {
        &self.app.get_or_init(|| self.find_app()).tried
    }

    /// Candidate app directories this user could not read (see `Discovery::unreadable`).
    pub fn app_unreadable(&self) -> &[String] {
        &self.app.get_or_init(|| self.find_app()).unreadable
    }

    /// Whether the app facet was computed (a test and the benchmarks check that `trace` does not).
    pub fn app_searched(&self) -> bool {
        self.app.get().is_some()
    }

    /// Finds the app and reads its settings (see app::discover for the order): the one entry
    /// point of the app facet.
    fn find_app(&self) -> discover::Discovery {
        let app_path = self.app_path.clone();
        let from_profile = self
            .profile
            .as_ref()
            .is_some_and(|p| p.app.is_some() && p.app.as_ref() == self.options.app.as_ref());
        let framework = self.options.framework;
        let (dirs, dir_count) = match &self.apache {
            Some(a) => {
                let mut dirs = a.literal_dirs();
                let count = dirs.len();
                dirs.truncate(discover::MAX_SERVED_HINTS);
                (dirs, count)
            }
            None => self.literal_roots(discover::MAX_SERVED_HINTS),
        };
        let hints = Hints {
            app: app_path,
            app_from: match (&self.profile, from_profile) {
                (Some(p), true) => format!("the profile {}", p.source.display()),
                _ => "--app".into(),
            },
            framework,
            name: self.name.clone(),
            unit: self.profile.as_ref().and_then(|p| p.unit.clone()),
            settings_module: self
                .profile
                .as_ref()
                .and_then(|p| p.settings_module.clone()),
            app_user: self.profile.as_ref().and_then(|p| p.app_user.clone()),
            nginx_dirs: dirs,
            nginx_dir_count: dir_count,
            eval: self.options.eval,
            upstreams: self.upstreams(),
            config_given: self.options.nginx_conf.is_some() || self.options.nginx_dump.is_some(),
            listeners: Some(
                self.listeners
                    .get_or_init(|| Arc::new(running::Listeners::read(&self.root)))
                    .clone(),
            ),
            // One site of many: what every site's search reads is read once for them all.
            listings: self.one_of_many.then(|| self.app_listings.clone()),
        };
        let mut found = discover::discover(&self.root, &hints);
        if found.app.is_none() {
            if let Some(dir) = &hints.app {
                self.app_in_compose(dir, &hints, &mut found);
            }
        }
        // In a compose run the app is what its container runs: its settings read with the
        // container's environment (cookiecutter-django's env_file names the production settings;
        // manage.py's default, read on the host, names the local ones).
        if let Some(host) = &found.app {
            let containers = self.gather_containers(host);
            if let Ok(c) = &containers {
                found.app = Some(c.app.app.clone());
            }
            let _ = self.containers.set(containers);
        }
        found
    }

    /// `--app` names a compose project's directory and the app is deeper (flask-on-docker's
    /// `services/web`): look in the build contexts of its services.
    fn app_in_compose(&self, dir: &Path, hints: &Hints, found: &mut discover::Discovery) {
        let conf = match &self.nginx.source {
            NginxSource::Files { entry } => Some(entry.as_path()),
            NginxSource::Dump { .. } => None,
        };
        let compose: Vec<PathBuf> = self
            .options
            .compose
            .iter()
            .filter_map(|p| system_path_arg(&self.root, p, "--compose").ok())
            .collect();
        let Some(dep) = crate::container::mounts::Deployment::find(&self.root, &compose, dir, conf)
        else {
            return;
        };
        for (service, context) in dep.app_contexts() {
            let mut h = hints.clone();
            h.app = Some(context.clone());
            h.app_from = format!(
                "--app {}: the build context of compose service {service}",
                dir.display()
            );
            let more = discover::discover(&self.root, &h);
            found.tried.extend(more.tried);
            if more.app.is_some() {
                found.app = more.app;
                return;
            }
        }
    }

    /// The first `keep` directories the site's servers name in a literal `root`/`alias` (app
    /// discovery looks above them), and how many they name in all (each once).
    fn literal_roots(&self, keep: usize) -> (Vec<PathBuf>, usize) {
        let mut out: Vec<PathBuf> = Vec::new();
        // A set beside the list: a 10,000-site config has tens of thousands of roots.
        let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
        let mut stack: Vec<Directive<'_>> = self.servers().collect();
        while let Some(d) = stack.pop() {
            for c in d.children() {
                if (c.is("root") || c.is("alias")) && c.arg_count() == 1 {
                    let a = c.arg(0).unwrap_or("");
                    if a.starts_with('/') && !a.contains('$') && seen.insert(a) && out.len() < keep
                    {
                        out.push(PathBuf::from(a));
                    }
                }
                if c.has_block() {
                    stack.push(c);
                }
            }
        }
        (out, seen.len())
    }

    pub fn config(&self) -> &Config {
        &self.nginx.config
    }

    /// The `upstream {}` groups of the config (read on first use, once per box).
    fn upstream_groups(&self) -> &UpstreamGroups {
        self.upstream_groups
            .get_or_init(|| self.upstream_groups_named(|_| true))
    }

    /// The `upstream` groups of the config whose name `keep` accepts (a later group of the same
    /// name replaces an earlier one).
    fn upstream_groups_named(&self, keep: impl Fn(&str) -> bool) -> UpstreamGroups {
        let mut groups = UpstreamGroups::new();
        for d in self.upstream_blocks() {
            if let Some(name) = d.arg(0).filter(|n| keep(n)) {
                let members = d
                    .children()
                    .filter(|c| c.is("server"))
                    .filter_map(|c| c.arg(0).map(str::to_string))
                    .collect();
                groups.insert(name.to_string(), members);
            }
        }
        groups
    }

    /// Where the site's servers hand requests (proxy_pass, uwsgi_pass, ...), an upstream group
    /// read as its members. A check over every site indexes every group of the box once; one
    /// site reads only the groups it names (a 10,000-site box has a group per site).
    fn upstreams(&self) -> Vec<Upstream> {
        self.upstreams.get_or_init(|| self.find_upstreams()).clone()
    }

    fn find_upstreams(&self) -> Vec<Upstream> {
        let cfg = &self.nginx.config;
        let passes = pass_directives(cfg, &self.nginx.servers);
        if self.one_of_many || self.upstream_groups.get().is_some() {
            return upstreams(self.upstream_groups(), &passes);
        }
        let hosts: std::collections::HashSet<&str> = passes
            .iter()
            .map(|d| pass_host(d.arg(0).unwrap_or("")))
            .collect();
        let groups = match hosts.is_empty() {
            true => UpstreamGroups::new(),
            false => self.upstream_groups_named(|n| hosts.contains(n)),
        };
        upstreams(&groups, &passes)
    }

    /// The sites of this box, each a name and its server blocks: the servers of one file
    /// (`shop` for sites-enabled/shop or conf.d/shop.conf), or, for a server in the main file,
    /// its first server_name. In name order (the order `check` reports them in).
    pub fn sites(&self) -> Vec<(String, Vec<NodeId>)> {
        // Apache: its <VirtualHost> files (their ids are Apache's nodes).
        if let Some(a) = &self.apache {
            return a.sites();
        }
        let cfg = self.config();
        let main = cfg.main;
        let mut by_name: std::collections::BTreeMap<String, Vec<NodeId>> = Default::default();
        for s in cfg.servers() {
            let name = if s.file_id() != main {
                s.file()
                    .file_name()
                    .and_then(|f| f.to_str())
                    .map(|f| f.strip_suffix(".conf").unwrap_or(f).to_string())
            } else {
                server_names_of(&s)
                    .find(|n| !n.is_empty() && *n != "_" && !n.starts_with('~'))
                    .map(str::to_string)
            };
            let name = name.unwrap_or_else(|| format!("{}:{}", s.file().display(), s.line()));
            by_name.entry(name).or_default().push(s.id());
        }
        by_name.into_iter().collect()
    }

    /// The site `name` of this box, made of `servers`: it shares what is one per box (the
    /// loaded config, the worker user, the model of every server, what changed since nginx
    /// loaded its config); its app, model and served directories are its own, found from its
    /// own servers on first use.
    pub fn for_site(&self, name: &str, servers: Vec<NodeId>) -> Site {
        let mut options = self.options.clone();
        options.site = Some(name.to_string());
        Site {
            root: self.root.clone(),
            name: Some(name.to_string()),
            offline: self.offline,
            options,
            nginx: NginxSite {
                source: self.nginx.source.clone(),
                config: self.nginx.config.clone(),
                // On Apache the ids are its virtual hosts' (nginx has none here).
                servers: if self.apache.is_some() {
                    Vec::new()
                } else {
                    servers.clone()
                },
                matched_by: format!(
                    "the site {name} of this box (every site is checked on its own)"
                ),
                rendered_for: self.nginx.rendered_for.clone(),
            },
            app_path: self.app_path.clone(),
            app: OnceLock::new(),
            profile: self.profile.clone(),
            samples: self.samples.clone(),
            worker: self.worker.clone(),
            model: OnceLock::new(),
            whole: self.whole.clone(),
            request_model: OnceLock::new(),
            shared_model: self.shared_model.clone(),
            served: OnceLock::new(),
            stale: self.stale.clone(),
            containers: OnceLock::new(),
            progress: false,
            fs: Default::default(),
            places: self.places.clone(),
            server_count: self.server_count.clone(),
            upstream_groups: self.upstream_groups.clone(),
            listeners: self.listeners.clone(),
            upstreams: OnceLock::new(),
            app_listings: self.app_listings.clone(),
            reload: self.reload.clone(),
            one_of_many: true,
            box_cache: self.box_cache.clone(),
            apache: self
                .apache
                .as_ref()
                .map(|a| Arc::new(a.for_site(name, servers))),
            nginx_in_namespace: self.nginx_in_namespace.clone(),
        }
    }

    /// A value computed from the whole config once per box and shared by its sites (a check's
    /// index of every server, say): `key` names it, `make` computes it on first use. A check
    /// over each of 10,000 sites must not walk the whole config for each.
    pub fn per_box<T: std::any::Any + Send + Sync>(
        &self,
        key: &'static str,
        make: impl FnOnce() -> T,
    ) -> Arc<T> {
        let cached = self
            .box_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
            .and_then(|v| v.downcast::<T>().ok());
        if let Some(v) = cached {
            return v;
        }
        // Made without the lock held: `make` may ask for another value of the box.
        let v = Arc::new(make());
        self.box_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, v.clone());
        v
    }

    /// Whether this is one of the sites of a `check` over every site (`for_site`), which are
    /// checked on every core already.
    pub fn is_one_of_many(&self) -> bool {
        self.one_of_many
    }

    /// Whether the user named this site (`--site`), rather than `check` going over every site.
    pub fn named_by_user(&self) -> bool {
        self.name.is_some() && !self.one_of_many
    }

    /// Whether the site's server blocks hand requests to an app (proxy_pass, uwsgi_pass,
    /// fastcgi_pass, ...): a site that only serves files has no app to find.
    pub fn hands_to_app(&self) -> bool {
        !self.upstreams().is_empty()
    }

    /// Every server block of the config by file, name and port (indexed on first use).
    pub fn server_places(&self) -> &ServerPlaces {
        self.places
            .get_or_init(|| ServerPlaces::of(self.config(), self.shared_model().servers()))
    }

    /// The model of the site's servers, if it is built (None after `let_go_of_models`).
    pub fn built_model(&self) -> Option<&resolve::Model> {
        match self.is_every_server() {
            true => self.whole.get(),
            false => self.model.get(),
        }
    }

    /// A model of `servers` of the site (and the default servers of their sockets) made for the
    /// caller alone, let go with it (`resolver_over`): a check made again as the report is
    /// written on a site that let go of its model (MD110, `checks::Run`) models a chunk of
    /// servers at a time.
    pub fn model_of(&self, servers: &[NodeId]) -> resolve::Model {
        resolve::Model::for_servers(self.config(), self.shared_model().clone(), Some(servers))
    }

    /// The nginx model of the site's servers (its indexes built on first use, then shared).
    pub fn resolver(&self) -> Resolver<'_> {
        self.resolver_over(self.site_model())
    }

    /// A resolver for one request (`trace`): only the server that answers it is modelled (a
    /// request that leaves it, by an internal redirect to another server, widens the model).
    pub fn resolver_for(&self, req: &resolve::Request) -> Resolver<'_> {
        if let Some(m) = self.model.get() {
            return self.resolver_over(m);
        }
        let model = self.request_model.get_or_init(|| {
            resolve::Model::for_request_with(self.config(), self.shared_model().clone(), req)
        });
        self.resolver_over(model)
    }

    /// The site's resolver over `model` (`model_of`, or the site's own: `resolver`).
    pub fn resolver_over<'s>(&'s self, model: &'s resolve::Model) -> Resolver<'s> {
        Resolver::new(resolve::Inputs {
            config: self.config(),
            model,
            root: &self.root,
            worker: self.worker(),
            servers: &self.nginx.servers,
            whole: Some(self),
        })
    }

    /// The indexes of the site's own servers (of every server when the site is all of them).
    /// A site's model is built over what the box's models share (`shared_model`): one site of
    /// 10,000 indexes its own servers only, and the memory of a check over every site stays
    /// that of one site's model at a time.
    fn site_model(&self) -> &resolve::Model {
        if self.is_every_server() {
            return resolve::WholeModel::whole(self);
        }
        self.model.get_or_init(|| {
            resolve::Model::for_servers(
                self.config(),
                self.shared_model().clone(),
                Some(&self.nginx.servers),
            )
        })
    }

    /// What every model of the config shares, built on first use (once per box).
    fn shared_model(&self) -> &Arc<resolve::Shared> {
        self.shared_model
            .get_or_init(|| Arc::new(resolve::Shared::build(self.config())))
    }

    /// Whether the site is every server block of the config.
    fn is_every_server(&self) -> bool {
        // Counted once per box, not `Config::servers()` each time: that walks the whole config,
        // and the resolver is asked for many times per site (10,000 sites made it quadratic).
        // (Not the box's `ServerPlaces` either: indexing every server's names and ports for a
        // count was a tenth of `check --site` on a large box.)
        let count = *self
            .server_count
            .get_or_init(|| self.config().servers().len());
        self.nginx.servers.len() == count
    }

    /// The upstream groups, read from where nginx allows `upstream` (the http and stream
    /// blocks; a fragment's top level): never inside a server, where nginx refuses it.
    fn upstream_blocks(&self) -> Vec<Directive<'_>> {
        let mut out = Vec::new();
        // Depth first, in reading order, past every block but a server's.
        let mut stack = vec![self.config().top()];
        while let Some(run) = stack.last_mut() {
            let Some(d) = run.next() else {
                stack.pop();
                continue;
            };
            if !d.has_block() {
                continue;
            }
            if d.is("upstream") {
                out.push(d);
            } else if !d.is("server") {
                stack.push(d.children());
            }
        }
        out
    }

    /// The compose project the app runs in, when it runs in one: `--compose`, or a compose file
    /// beside `--app`. Off Docker (no compose file, or no `--app`: a server run) it is `Err`,
    /// and costs one directory listing at most.
    pub fn containers(
        &self,
    ) -> Result<&crate::container::Containers, &crate::container::NotContainers> {
        // Finding the app gathers the containers (the app is read as its container runs it):
        // first, so that the cell is filled outside its own initialisation.
        let app = self.app();
        self.containers
            .get_or_init(|| match app {
                Some(app) => self.gather_containers(app),
                None => Err(crate::container::NotContainers::NoCompose),
            })
            .as_ref()
    }

    /// The compose project of `app` (read on the host), for `containers`.
    fn gather_containers(
        &self,
        app: &crate::app::App,
    ) -> Result<crate::container::Containers, crate::container::NotContainers> {
        use crate::container::{Containers, NotContainers};
        if self.options.compose.is_empty() && self.options.app.is_none() {
            return Err(NotContainers::NoCompose);
        }
        let conf = match &self.nginx.source {
            NginxSource::Files { entry } => Some(entry.as_path()),
            NginxSource::Dump { .. } => None,
        };
        let compose: Vec<PathBuf> = self
            .options
            .compose
            .iter()
            .map(|p| system_path_arg(&self.root, p, "--compose").unwrap_or_else(|_| p.clone()))
            .collect();
        Containers::gather(&self.root, &compose, app, conf)
    }

    /// Every directory the site's servers serve files from (see `resolve::served`).
    pub fn served_dirs(&self) -> &ServedDirs {
        self.served.get_or_init(|| {
            if self.config().files.is_empty() {
                return ServedDirs::default();
            }
            resolve::served::served_dirs(&self.resolver())
        })
    }

    /// Lets go of what the checks read of the site's servers once every check's result is
    /// written: the models, the served directories, the server indexes, the tree scans and the
    /// values kept per box. Grouping the causes, the report's last step, reads only the report
    /// and its keys; one site of 360,000 servers held ~150 MB of these under it, at the run's
    /// peak. A cell shared with other sites (a box checked site by site) is left as it is.
    /// Asked again, each is made again.
    pub fn let_go_of_models(&mut self) {
        self.let_go_of_models_but_served_dirs();
        self.served.take();
    }

    /// `let_go_of_models` but for the served directories, which are not the model's (paths and
    /// node ids): made again they would need the model again (`served_dirs`). What the checks
    /// made again as the report is written read (`checks::run_made_again`).
    pub fn let_go_of_models_but_served_dirs(&mut self) {
        self.model.take();
        self.request_model.take();
        self.upstreams.take();
        self.fs = Default::default();
        if let Some(whole) = Arc::get_mut(&mut self.whole) {
            whole.take();
        }
        if let Some(shared) = Arc::get_mut(&mut self.shared_model) {
            shared.take();
        }
        if let Some(places) = Arc::get_mut(&mut self.places) {
            places.take();
        }
        if let Some(cache) = Arc::get_mut(&mut self.box_cache) {
            cache.get_mut().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }

    /// What the running nginx's config is compared with: the files media-doctor loaded. None
    /// for a dump, or when nothing was loaded.
    pub fn running_config_inputs(&self) -> Option<loaded::Inputs> {
        let NginxSource::Files { entry } = &self.nginx.source else {
            return None;
        };
        let cfg = self.config();
        if cfg.files.is_empty() {
            return None;
        }
        Some(loaded::Inputs {
            entry: entry.clone(),
            is_main: matches!(cfg.kind, Some(ConfigKind::Main)),
            files: cfg.files.iter().map(|f| f.path.clone()).collect(),
            pid_files: pid_files(cfg),
        })
    }

    /// The config files changed after the running nginx last loaded its config: `None` when
    /// that cannot be told (not the live system, not root, a dump, no master running).
    pub fn changed_since_load(&self) -> Option<Stale> {
        self.stale
            .get_or_init(|| {
                if !self.root.is_live() || !nix::unistd::geteuid().is_root() {
                    return None;
                }
                loaded::changed_since_load(&self.running_config_inputs()?)
            })
            .clone()
    }

    /// A repository checked in CI (the README's recipe: `--offline`, `--app DIR`, and an
    /// `--nginx-conf` inside DIR): its config and settings name directories that exist only on
    /// the server. The project directory, when this is one.
    pub fn repository(&self) -> Option<&Path> {
        if !self.offline || self.options.app.is_none() {
            return None;
        }
        let app = self.app()?;
        let NginxSource::Files { entry } = &self.nginx.source else {
            return None;
        };
        entry.starts_with(&app.dir).then_some(app.dir.as_path())
    }

    /// The command that checks and reloads the nginx running this config, for how it runs (its
    /// systemd unit, its container, or a HUP to that master). When no running master can be
    /// told (not the live system, not root, a dump): Debian's packaged way where systemd runs
    /// the system under the root, else `nginx -s reload` (`systemctl` fails without systemd).
    pub fn reload_command(&self) -> String {
        // Found once per box: several checks of each site ask for it, and each asked the
        // filesystem whether systemd runs (three stats a site on a 10,000-site box).
        self.reload
            .get_or_init(|| {
                if let Some(pid) = self.root.process() {
                    return loaded::reload_in_namespace(pid);
                }
                self.changed_since_load()
                    .and_then(|s| s.reload.into_iter().next())
                    .unwrap_or_else(|| default_reload(&self.root).to_string())
            })
            .clone()
    }

    /// The site's server blocks.
    pub fn servers(&self) -> impl Iterator<Item = Directive<'_>> + '_ {
        self.nginx
            .servers
            .iter()
            .map(|&id| self.nginx.config.directive(id))
    }

    /// The server blocks of the site `--site` names; an error (exit 2) when nothing on this
    /// box has that name.
    fn select_servers(&mut self) -> Result<()> {
        let cfg = &self.nginx.config;
        let all = cfg.servers();
        let _ = self.server_count.set(all.len());
        let Some(name) = self.name.as_deref() else {
            self.nginx.servers = all.iter().map(|d| d.id()).collect();
            self.nginx.matched_by = "all server blocks (no --site given)".into();
            return Ok(());
        };
        let by_file: Vec<NodeId> = all
            .iter()
            .filter(|d| file_names_site(d.file(), name))
            .map(|d| d.id())
            .collect();
        if !by_file.is_empty() {
            self.nginx.servers = by_file;
            self.nginx.matched_by = format!("file name matches {name:?}");
            return Ok(());
        }
        let by_server_name: Vec<NodeId> = all
            .iter()
            .filter(|d| d.server_names().any(|n| host_names_site(n, name)))
            .map(|d| d.id())
            .collect();
        if !by_server_name.is_empty() {
            self.nginx.servers = by_server_name;
            self.nginx.matched_by = format!("server_name matches {name:?}");
            return Ok(());
        }
        let available = self
            .available_dirs()
            .iter()
            .flat_map(|d| [d.join(name), d.join(format!("{name}.conf"))])
            .find(|p| self.root.is_file(p));
        match available {
            // A site that exists but is not enabled: none of the loaded servers is it (MD107
            // says so); judging the other sites' servers instead would mix sites.
            Some(p) => {
                self.nginx.servers = Vec::new();
                self.nginx.matched_by = format!(
                    "no loaded server block matches {name:?} ({} exists but is not included)",
                    p.display()
                );
            }
            // A profile names the site: it says which config and app; keep every server.
            None if self.profile.is_some() || all.is_empty() => {
                self.nginx.servers = all.iter().map(|d| d.id()).collect();
                self.nginx.matched_by =
                    format!("no server block matches {name:?}: all server blocks are examined");
            }
            None => {
                let names = site_names(cfg);
                let mut msg = format!("no site named {name}");
                match closest(name, &names) {
                    Some(near) => msg.push_str(&format!("; did you mean {near}? sites here: ")),
                    None => msg.push_str("; sites here: "),
                }
                msg.push_str(&names.join(", "));
                anyhow::bail!(msg);
            }
        }
        Ok(())
    }

    /// `--site NAME` on Apache, as on nginx: a name no `<VirtualHost>` Apache reads is (by its
    /// file or its ServerName/ServerAlias) is an error naming the sites there are, unless the
    /// site exists but is not enabled (a file in sites-available beside the entry: MD506 says
    /// so) or a profile names the site (it says which configuration and app).
    fn check_apache_site(&self, a: &crate::apache::site::ApacheSite) -> Result<()> {
        let Some(name) = self.name.as_deref().filter(|_| a.unmatched) else {
            return Ok(());
        };
        let available = a.entry.parent().map(|d| d.join("sites-available"));
        let exists = available.is_some_and(|d| {
            [d.join(name), d.join(format!("{name}.conf"))]
                .iter()
                .any(|p| self.root.is_file(p))
        });
        if exists || self.profile.is_some() || a.vhosts.is_empty() {
            return Ok(());
        }
        let names = a.site_names();
        let mut msg = format!("no site named {name}");
        match closest(name, &names) {
            Some(near) => msg.push_str(&format!("; did you mean {near}? sites here: ")),
            None => msg.push_str("; sites here: "),
        }
        msg.push_str(&names.join(", "));
        anyhow::bail!(msg)
    }

    /// Where a site that is not enabled would be: sites-available beside each sites-enabled the
    /// config reads from, the conf dir's, and Debian's.
    fn available_dirs(&self) -> Vec<PathBuf> {
        let cfg = &self.nginx.config;
        let mut dirs: Vec<PathBuf> = Vec::new();
        let mut push = |p: PathBuf| {
            if !dirs.contains(&p) {
                dirs.push(p);
            }
        };
        for f in &cfg.files {
            if let Some(parent) = f.path.parent() {
                if parent.file_name().is_some_and(|n| n == "sites-enabled") {
                    if let Some(up) = parent.parent() {
                        push(up.join("sites-available"));
                    }
                }
            }
        }
        push(cfg.conf_dir.join("sites-available"));
        push(PathBuf::from("/etc/nginx/sites-available"));
        push(PathBuf::from("/etc/nginx/conf.d"));
        dirs
    }

    /// The config files of the JSON `site` object: every file, or for one site of a run over
    /// every site, the main file and its servers' files (the others are other sites').
    fn files_json(&self) -> Vec<String> {
        use crate::text_safe::path;
        let cfg = &self.nginx.config;
        if !self.one_of_many {
            return cfg
                .files
                .iter()
                .map(|f| path(&f.path).into_owned())
                .collect();
        }
        let mut ids: Vec<nginx::FileId> = std::iter::once(cfg.main)
            .chain(self.servers().map(|s| s.file_id()))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.iter()
            .filter_map(|&i| cfg.files.get(i as usize))
            .map(|f| path(&f.path).into_owned())
            .collect()
    }

    /// The JSON `site` object of a run over every site of the box (`check` with no `--site`):
    /// where the config came from, its files, the sites and the worker user; each site's own
    /// object (servers, app) is in its entry of `sites[]`.
    pub fn box_json(&self, sites: &[(String, Vec<NodeId>)]) -> serde_json::Value {
        use crate::text_safe::path;
        let cfg = &self.nginx.config;
        let source = match &self.nginx.source {
            NginxSource::Files { entry } => json!({"kind": "files", "entry": path(entry)}),
            NginxSource::Dump { name } => json!({"kind": "dump", "name": name}),
        };
        let mut out = json!({
            "name": null,
            "profile": null,
            "root": path(self.root.dir()),
            "nginx": {
                "source": source,
                "kind": cfg.kind,
                "files": cfg.files.iter().map(|f| path(&f.path)).collect::<Vec<_>>(),
                "servers": [],
                "matched_by": format!("every site on its own ({} sites)", sites.len()),
            },
            "sites": sites.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            "worker": value_of(self.worker()),
        });
        // Only when Apache is judged, as in `to_json`.
        if let Some(a) = &self.apache {
            out["web_server"] = json!("apache");
            out["apache"] = a.box_json(sites.len());
        }
        out
    }

    /// The JSON `site` object: what was discovered, and from where. Paths go in as
    /// `text_safe::path` shows them: serde refuses a path that is not UTF-8, and `json!` would
    /// panic on it.
    pub fn to_json(&self) -> crate::report::SiteFacts {
        use crate::text_safe::path;
        let cfg = &self.nginx.config;
        let source = match &self.nginx.source {
            NginxSource::Files { entry } => match &self.nginx.rendered_for {
                Some(service) => json!({
                    "kind": "files",
                    "entry": path(entry),
                    "rendered_for": service,
                }),
                None => json!({"kind": "files", "entry": path(entry)}),
            },
            NginxSource::Dump { name } => json!({"kind": "dump", "name": name}),
        };
        // Kept compact, written in place of the empty list below (`report::SiteFacts`).
        // Each file named once, found by its id: a site of 20,000 servers in 20,000 files
        // searched every file named so far for each server.
        let mut servers = crate::report::ServerList::default();
        let mut named: crate::fnv::FnvMap<nginx::FileId, u32> = Default::default();
        for s in self.servers() {
            let file = *named
                .entry(s.file_id())
                .or_insert_with(|| servers.add_file(path(s.file()).into_owned()));
            servers.push(file, s.line(), s.server_names());
        }
        let mut out = json!({
            "name": self.name,
            "profile": self.profile.as_ref().map(|p| path(&p.source)),
            "app": value_of(&self.app()),
            "app_search": value_of(&self.app_search()),
            "root": path(self.root.dir()),
            "nginx": {
                "source": source,
                "kind": cfg.kind,
                "files": self.files_json(),
                "servers": [],
                "matched_by": self.nginx.matched_by,
            },
            "worker": value_of(self.worker()),
        });
        // Only when Apache is judged: nginx reports keep their shape.
        if let Some(a) = &self.apache {
            out["web_server"] = json!("apache");
            out["apache"] = a.to_json();
        }
        // Only for `--root /proc/PID/root` of another mount namespace: where its mounts are.
        if let Some(m) = self.root.mounts() {
            out["namespace"] = namespace_json(m);
            if let Some(how) = &self.nginx_in_namespace {
                out["namespace"]["found"] = json!(how);
            }
        }
        // Only when the app runs in a compose project: other reports keep their shape.
        match self.containers() {
            Ok(c) => out["containers"] = c.to_json(),
            Err(crate::container::NotContainers::NoAppService(why)) => {
                out["containers"] = json!({ "problem": why })
            }
            Err(crate::container::NotContainers::NoCompose) => {}
        }
        crate::report::SiteFacts {
            value: out,
            servers: Some(servers),
        }
    }
}

/// The mounts of the process whose view is judged (`--root /proc/PID/root`), each with the host
/// path behind it or why it is only inside (/proc, /sys and /dev are left out).
fn namespace_json(m: &crate::sysroot::mounts::Mounts) -> serde_json::Value {
    use crate::sysroot::mounts::Place;
    use crate::text_safe::path;
    let container = crate::system::container::of_pid(&SysRoot::live(), m.pid).map(|c| c.describe());
    let mut mounts = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for mount in m.inside.iter().rev() {
        let p = &mount.point;
        if ["/proc", "/sys", "/dev"].iter().any(|x| p.starts_with(x)) || !seen.insert(p.clone()) {
            continue;
        }
        mounts.push(match m.place(p) {
            Place::Host { path: h, .. } => {
                json!({"path": path(p), "fstype": mount.fstype, "host": path(&h)})
            }
            Place::Inside { why, .. } => {
                json!({"path": path(p), "fstype": mount.fstype, "inside": why})
            }
        });
    }
    mounts.reverse();
    json!({"pid": m.pid, "container": container, "mounts": mounts})
}

/// A part of the site facts as JSON; a part serde cannot write (a path that is not UTF-8 deep
/// inside) says so instead of ending the run.
fn value_of<T: serde::Serialize>(x: &T) -> serde_json::Value {
    serde_json::to_value(x).unwrap_or_else(|e| json!({ "unavailable": e.to_string() }))
}

impl resolve::WholeModel for Site {
    fn whole(&self) -> &resolve::Model {
        self.whole.get_or_init(|| {
            resolve::Model::for_servers(self.config(), self.shared_model().clone(), None)
        })
    }
}

/// What the config says about the worker user (the main context's `user`).
/// Every endpoint the server blocks hand requests to (`proxy_pass`, `uwsgi_pass`, ...; an
/// `upstream {}` group names each of its servers), in config order, without repeats: where app
/// discovery looks for the process that serves the site.
/// The pass directives (proxy_pass, uwsgi_pass, ...) of `servers`: server by server, each
/// server's in file and line order.
fn pass_directives<'c>(cfg: &'c Config, servers: &[NodeId]) -> Vec<Directive<'c>> {
    let mut out = Vec::new();
    for &s in servers {
        let mut stack: Vec<Directive<'_>> = vec![cfg.directive(s)];
        let mut found: Vec<Directive<'_>> = Vec::new();
        while let Some(d) = stack.pop() {
            for c in d.children() {
                if running::PASS_DIRECTIVES.iter().any(|p| c.is(p)) && c.arg_count() >= 1 {
                    found.push(c);
                }
                if c.has_block() {
                    stack.push(c);
                }
            }
        }
        found.sort_by(|a, b| (a.file(), a.line()).cmp(&(b.file(), b.line())));
        out.extend(found);
    }
    out
}

/// The host (or upstream group) a pass directive's argument names.
fn pass_host(arg: &str) -> &str {
    let host = arg.split_once("://").map_or(arg, |(_, r)| r);
    host.split('/').next().unwrap_or(host)
}

fn upstreams(groups: &UpstreamGroups, passes: &[Directive<'_>]) -> Vec<Upstream> {
    let mut out: Vec<Upstream> = Vec::new();
    for d in passes {
        let arg = d.arg(0).unwrap_or("");
        let targets: Vec<String> = match groups.get(pass_host(arg)) {
            Some(members) => members.clone(),
            None => vec![arg.to_string()],
        };
        for t in targets {
            for endpoint in running::endpoints_of(d.name(), &t) {
                if !out.iter().any(|u| u.endpoint == endpoint) {
                    out.push(Upstream {
                        endpoint,
                        named_by: format!("{} at {}", d.name(), d.location()),
                    });
                }
            }
        }
    }
    out
}

fn user_directive(config: &Config) -> UserDirective {
    // A config with no files (nothing loaded) has no main context to look in.
    let user = (!config.files.is_empty())
        .then(|| config.top().find(|d| d.is("user")))
        .flatten()
        .filter(|d| d.arg_count() >= 1)
        .map(|d| NamedUser {
            user: d.arg(0).unwrap_or_default().to_string(),
            group: d.arg(1).map(str::to_string),
            at: d.location(),
        });
    UserDirective {
        user,
        fragment: !matches!(config.kind, Some(ConfigKind::Main) | None),
    }
}

/// Where the running master's pid may be written: the `pid` directive (relative to the
/// prefix), else the usual defaults.
fn pid_files(cfg: &Config) -> Vec<PathBuf> {
    let directive = matches!(cfg.kind, Some(ConfigKind::Main))
        .then(|| cfg.top().find(|d| d.is("pid")))
        .flatten()
        .and_then(|d| d.arg(0).map(PathBuf::from));
    match directive {
        Some(p) if p.is_absolute() => vec![p],
        Some(p) => vec![cfg.prefix.join(p)],
        None => loaded::DEFAULT_PID_FILES
            .iter()
            .map(PathBuf::from)
            .chain([cfg.prefix.join("logs/nginx.pid")])
            .collect(),
    }
}

/// No nginx configuration: Apache is the server judged.
fn no_nginx() -> NginxSite {
    // One empty file, so that what walks the nginx tree finds nothing rather than no file.
    let mut config = nginx::load_dump(
        &SysRoot::live(),
        b"# configuration file /dev/null:\n",
        "(none)",
    )
    .unwrap_or_default();
    config.prefix = PathBuf::from(DEFAULT_PREFIX);
    NginxSite {
        source: NginxSource::Dump {
            name: "(none: Apache httpd is judged)".into(),
        },
        config: Arc::new(config),
        servers: Vec::new(),
        matched_by: "none: Apache httpd is judged".into(),
        rendered_for: None,
    }
}

/// The nginx master running in another mount namespace than this process (a container, or
/// `unshare -m`): its view as the root and its config (its `-c`, else the default path there),
/// and how it was found. Several: the one whose config has the site `--site` names; else the
/// run stops and lists them (never a guess among containers).
fn nginx_in_a_namespace(site: Option<&str>) -> Result<Option<(SysRoot, PathBuf, String)>> {
    let mut fits = Vec::new();
    let mut all = Vec::new();
    for m in crate::system::nginx_masters() {
        let view = SysRoot::of_process(m.pid);
        if view.mounts().is_none() {
            continue;
        }
        let a = m.master_args();
        let conf = match (a.conf, a.prefix) {
            (Some(c), Some(p)) if c.is_relative() => p.join(c),
            (Some(c), _) => c,
            (None, _) => PathBuf::from(DEFAULT_CONF),
        };
        let container = crate::system::container::of_pid(&SysRoot::live(), m.pid)
            .map(|c| format!(", {}", c.describe()))
            .unwrap_or_default();
        let how = format!(
            "nginx master pid {} runs in a mount namespace of its own{container} (config {}); nothing named a config and {DEFAULT_CONF} is not on this machine",
            m.pid,
            conf.display()
        );
        all.push(format!("pid {}{container}", m.pid));
        if let Some(name) = site {
            let Ok(cfg) = nginx::load_files(&view, &conf) else {
                continue;
            };
            let has = cfg.servers().iter().any(|s| {
                file_names_site(s.file(), name)
                    || s.server_names().any(|h| host_names_site(h, name))
            });
            if !has {
                continue;
            }
        }
        fits.push((view, conf, how));
    }
    match fits.len() {
        0 => Ok(None),
        1 => Ok(fits.pop()),
        n => anyhow::bail!(
            "{n} nginx masters run in mount namespaces of their own (containers), and {DEFAULT_CONF} is not on this machine: {}; name one with --root /proc/PID/root{}",
            all.join("; "),
            if site.is_some() { "" } else { " (or --site NAME: the one whose config has that site)" }
        ),
    }
}

fn load_nginx(root: &SysRoot, args: &Options) -> Result<NginxSite> {
    let mut rendered_for = None;
    let (source, mut config) = if let Some(dump) = &args.nginx_dump {
        // Bounded (crate::input): /dev/zero or an endless pipe is refused at the limit, a
        // FIFO with no writer reads as empty instead of hanging, and one whose writer sends
        // nothing (stdin too, unless a terminal) is given up after --input-timeout.
        let (name, bytes) = if dump.as_os_str() == "-" {
            let mut buf = Vec::new();
            // Its descriptor, unbuffered: what poll(2) says is ready is what read(2) gets.
            let stdin = std::os::fd::AsFd::as_fd(&std::io::stdin())
                .try_clone_to_owned()
                .context("reading the nginx -T dump from stdin")?;
            crate::input::read_stream(std::fs::File::from(stdin), &mut buf)
                .context("reading the nginx -T dump from stdin")?;
            ("-".to_string(), buf)
        } else {
            let bytes = crate::input::read(dump)
                .with_context(|| format!("cannot read --nginx-dump {}", dump.display()))?;
            (dump.display().to_string(), bytes)
        };
        let config = nginx::load_dump(root, &bytes, &name)?;
        (NginxSource::Dump { name }, config)
    } else {
        let entry = match &args.nginx_conf {
            Some(p) => system_path_arg(root, p, "--nginx-conf")?,
            None => PathBuf::from(DEFAULT_CONF),
        };
        // A template of the nginx image is read as its container will read it, rendered with
        // that service's environment (`listen ${NGINX_PORT};` is no syntax error there).
        let template = crate::container::mounts::nginx_template_env(root, &entry);
        let config = match &template {
            Some((_, env)) => nginx::load_files_prepared(root, &entry, |text| {
                crate::container::mounts::render_nginx_template(
                    &String::from_utf8_lossy(&text),
                    env,
                )
                .into_bytes()
            })?,
            None => nginx::load_files(root, &entry)?,
        };
        rendered_for = template.map(|(service, _)| service);
        (NginxSource::Files { entry }, config)
    };
    if config.prefix.as_os_str().is_empty() {
        config.prefix = PathBuf::from(DEFAULT_PREFIX);
    }
    Ok(NginxSite {
        source,
        config: Arc::new(config),
        servers: Vec::new(),
        matched_by: String::new(),
        rendered_for,
    })
}

/// A path option as a system path. Under --root, an absolute path that exists inside the root is
/// a system path (`--root img --nginx-conf /etc/nginx/nginx.conf`); otherwise it is a path on this
/// machine, which must then lie inside the root.
fn system_path_arg(root: &SysRoot, p: &Path, option: &str) -> Result<PathBuf> {
    if p.is_absolute() && !root.is_live() && root.exists(p) {
        return Ok(p.to_path_buf());
    }
    match root.system_path(&std::path::absolute(p)?) {
        Some(sys) => Ok(sys),
        None => anyhow::bail!(
            "{option} {} is outside --root {}",
            p.display(),
            root.dir().display()
        ),
    }
}

/// Command-line options win; the profile fills what they leave out.
fn merge_profile(args: &Options, profile: Option<&Profile>) -> Options {
    let mut a = args.clone();
    let Some(p) = profile else {
        return a;
    };
    if a.nginx_conf.is_none() && a.nginx_dump.is_none() {
        a.nginx_conf = p.nginx_conf.clone();
        a.nginx_dump = p.nginx_dump.clone();
    }
    a.app = a.app.or_else(|| p.app.clone());
    if a.framework.is_none() {
        a.framework = match p.framework.as_deref() {
            Some("django") => Some(crate::app::Framework::Django),
            Some("flask") => Some(crate::app::Framework::Flask),
            _ => None,
        };
    }
    a.url = a.url.or_else(|| p.url.clone());
    a.as_user = a.as_user.or_else(|| p.worker_user.clone());
    a
}

/// The names a site can be asked for by: the file of each server block (`shop` for
/// sites-enabled/shop or conf.d/shop.conf), or its first server_name when it sits in the main
/// file. Sorted, without repeats.
fn site_names(cfg: &Config) -> Vec<String> {
    let main = cfg.files.get(cfg.main as usize).map(|f| f.path.clone());
    let mut names: Vec<String> = cfg
        .servers()
        .iter()
        .filter_map(|d| {
            if Some(d.file()) != main.as_deref() {
                let f = d.file().file_name()?.to_str()?;
                return Some(f.strip_suffix(".conf").unwrap_or(f).to_string());
            }
            d.server_names()
                .find(|n| !n.is_empty() && *n != "_" && !n.starts_with('~'))
                .map(str::to_string)
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The name nearest to `name` (at most 2 edits, or one is a prefix of the other).
fn closest<'a>(name: &str, names: &'a [String]) -> Option<&'a str> {
    names
        .iter()
        .map(|n| (edit_distance(name, n), n))
        .filter(|(d, n)| *d <= 2 || n.starts_with(name) || name.starts_with(n.as_str()))
        .min()
        .map(|(_, n)| n.as_str())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// `sites-enabled/myapp`, `sites-enabled/myapp.conf`, `conf.d/myapp.conf` name the site `myapp`.
fn file_names_site(file: &Path, name: &str) -> bool {
    let Some(file_name) = file.file_name().and_then(|f| f.to_str()) else {
        return false;
    };
    file_name == name || file_name.strip_suffix(".conf") == Some(name)
}

/// `myapp`, `myapp.example.com` and `www.myapp.example.com` name the site `myapp`.
fn host_names_site(host: &str, name: &str) -> bool {
    host == name || host.split('.').any(|label| label == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_names() {
        assert!(file_names_site(
            Path::new("/etc/nginx/sites-enabled/myapp"),
            "myapp"
        ));
        assert!(file_names_site(
            Path::new("/etc/nginx/conf.d/myapp.conf"),
            "myapp"
        ));
        assert!(!file_names_site(
            Path::new("/etc/nginx/conf.d/myapp2.conf"),
            "myapp"
        ));
        assert!(host_names_site("www.myapp.example.com", "myapp"));
        assert!(!host_names_site("myapp2.example.com", "myapp"));
    }

    /// A box of 20 servers in nginx.conf itself (an index of their blocks) and a site file of
    /// two (walked), with a snippet both include, and `listen` lines nginx would reject.
    fn places_box() -> Config {
        let mut main = String::from("events {}\nhttp {\n    include /etc/nginx/sites-enabled/*;\n");
        for i in 0..20 {
            main.push_str(&format!(
                "    server {{ listen {}; server_name s{i}.example; location / {{ if ($x) {{ return 404; }} location /n/ {{ }} }} include /etc/nginx/snippets/s.conf; }}\n",
                ["80", "+8181", "default", "bad:xx default_server", "[::1]:443 ssl default_server"][i % 5],
            ));
        }
        main.push_str("    server { server_name none.example .dot.example; }\n    server { listen 81; listen 82 default; server_name ~^re BIG.example; }\n}\n");
        let dump = format!(
            "# configuration file /etc/nginx/nginx.conf:\n{main}\n# configuration file /etc/nginx/snippets/s.conf:\nlocation /snip/ {{ location /snip/in/ {{ }} }}\n\n# configuration file /etc/nginx/sites-enabled/one:\nserver {{ listen 8080; server_name one.example; location /m/ {{ }} include /etc/nginx/snippets/s.conf; }}\nserver {{ listen 8080 default_server; server_name two.example *.wild; }}\n"
        );
        let cfg = crate::nginx::load_dump(&SysRoot::live(), dump.as_bytes(), "test").unwrap();
        assert_eq!(cfg.servers().len(), 24);
        cfg
    }

    /// `ServerPlaces::of` reads the resolver's index of the servers instead of walking the
    /// config; this walk is what it read before, `listen` lines nginx rejects included.
    #[test]
    fn server_places_read_the_resolvers_index_as_the_config_reads() {
        let cfg = places_box();
        let p = ServerPlaces::of(&cfg, resolve::Shared::build(&cfg).servers());
        let (mut by_name, mut wild, mut defaults) =
            (FnvMap::default(), Vec::new(), FnvMap::default());
        let mut first: FnvMap<u16, usize> = FnvMap::default();
        for (i, s) in cfg.servers().iter().enumerate() {
            assert_eq!(p.all[i], s.id());
            let (mut is_wild, mut listens) = (false, false);
            for c in s.children() {
                if c.is("server_name") {
                    for n in c.args() {
                        if n.contains('*') || n.starts_with('~') || n.starts_with('.') {
                            is_wild = true;
                        } else {
                            by_name
                                .entry(n.to_ascii_lowercase())
                                .or_insert_with(Vec::new)
                                .push(i);
                        }
                    }
                } else if c.is("listen") {
                    listens = true;
                    let port = c.arg(0).map_or(80, listen_port);
                    first.entry(port).or_insert(i);
                    if c.args().any(|a| a == "default_server" || a == "default") {
                        defaults.entry(port).or_insert_with(Vec::new).push(i);
                    }
                }
            }
            if !listens {
                first.entry(80).or_insert(i);
            }
            if is_wild {
                wild.push(i);
            }
        }
        for (port, i) in first {
            defaults.entry(port).or_insert_with(|| vec![i]);
        }
        let sorted = |m: &FnvMap<u16, Vec<usize>>| {
            m.iter()
                .map(|(k, v)| (*k, v.clone()))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        assert_eq!(sorted(&p.defaults), sorted(&defaults));
        // The sites-enabled servers come first (the include opens http). The lines nginx
        // rejects count as the prover read them: `listen default;` and `listen bad:xx
        // default_server;` make default servers of port 80, which the resolver does not read.
        assert_eq!(p.defaults[&80], vec![4, 5, 9, 10, 14, 15, 19, 20]);
        assert_eq!(p.defaults[&8080], vec![1]);
        assert_eq!(p.defaults[&443], vec![6, 11, 16, 21]);
        let shared = resolve::Shared::build(&cfg);
        assert!(!shared.servers()[4].listens[0].default_server);
        assert!(shared.servers()[5].implicit_listen);
        for (n, v) in &by_name {
            assert_eq!(&p.named(&cfg, n).collect::<Vec<_>>(), v, "{n}");
            let upper = n.to_ascii_uppercase();
            assert_eq!(&p.named(&cfg, &upper).collect::<Vec<_>>(), v, "{upper}");
        }
        assert_eq!(p.named(&cfg, "big.example").collect::<Vec<_>>(), vec![23]);
        assert_eq!(p.named(&cfg, "s7.example").collect::<Vec<_>>(), vec![9]);
        // Wildcard and regex names are not names of `named`; nor is a name no server gives.
        for n in [
            "*.wild",
            ".dot.example",
            "dot.example",
            "~^re",
            "s7.exampl",
            "",
        ] {
            assert_eq!(p.named(&cfg, n).count(), 0, "{n}");
        }
        assert_eq!(p.wild, wild);
        assert_eq!(p.wild, vec![1, 22, 23]);
        assert_eq!(p.by_file.len(), 2);
        assert_eq!(p.serverless.len(), 1);
    }

    /// A name's key is its lowercase form's, whatever the case of its ASCII letters, and only
    /// theirs (bytes past ASCII are compared as they are, as nginx compares them).
    #[test]
    fn name_keys_fold_ascii_case_only() {
        let names = [
            "",
            "a",
            "Z",
            "@",
            "[",
            "`",
            "{",
            "example.com",
            "www.Example.COM",
            "ÉCOLE.fr",
            "a-very-long-name-of-more-than-eight-bytes.example.org",
            "xn--bcher-kva.example",
        ];
        for n in names {
            let lower = n.to_ascii_lowercase();
            assert_eq!(name_key(n), name_key(&lower), "{n}");
            assert_eq!(name_key(&n.to_ascii_uppercase()), name_key(&lower), "{n}");
        }
        let keys: std::collections::HashSet<u64> = names
            .iter()
            .map(|n| name_key(&n.to_ascii_lowercase()))
            .collect();
        assert_eq!(keys.len(), names.len());
        // Only letters fold: '@' and 'A' - 1, '[' and 'Z' + 1 are other bytes; so are É and é.
        assert_ne!(name_key("@"), name_key("`"));
        assert_ne!(name_key("["), name_key("{"));
        assert_ne!(name_key("É"), name_key("é"));
        assert_ne!(name_key("example.com"), name_key("example.co"));
        assert_ne!(name_key("abcdefgh"), name_key("abcdefgh\0"));
    }

    /// `enclosing` walks the servers of the block's file (an index for a file of many): the
    /// same answers as the index of every block of every server it replaced.
    #[test]
    fn enclosing_server_of_every_block() {
        let cfg = places_box();
        let p = ServerPlaces::of(&cfg, resolve::Shared::build(&cfg).servers());
        let mut every = std::collections::HashMap::new();
        for (i, &id) in p.all.iter().enumerate() {
            let server = cfg.directive(id);
            let mut stack = vec![server];
            while let Some(d) = stack.pop() {
                if d.file_id() == server.file_id() {
                    every.entry(d.id()).or_insert(i);
                }
                stack.extend(d.children().filter(|c| c.has_block()));
            }
        }
        let blocks: Vec<NodeId> = cfg
            .depth_first()
            .map(|(_, d)| d)
            .filter(|d| d.has_block())
            .map(|d| d.id())
            .collect();
        let mut found = 0;
        for &b in &blocks {
            assert_eq!(
                p.enclosing(&cfg, b),
                every.get(&b).copied(),
                "{:?}",
                cfg.directive(b)
            );
            found += usize::from(every.contains_key(&b));
        }
        // Every server and its four blocks of its own file; the http block and the
        // snippet's locations have none.
        assert_eq!(found, 20 * 4 + 2 + 2 + 1);
        assert!(blocks.len() > found);
        // Asked again: the index of nginx.conf answers.
        assert_eq!(p.enclosing(&cfg, p.all[19]), Some(19));
    }

    #[test]
    fn the_nearest_site_name() {
        let names = vec!["blog".to_string(), "myapp".into(), "shop".into()];
        assert_eq!(closest("myap", &names), Some("myapp"));
        assert_eq!(closest("shp", &names), Some("shop"));
        assert_eq!(closest("zzzzzz", &names), None);
    }
}
