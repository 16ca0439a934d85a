//! The per-server and per-directory configuration Apache merges for a request: the virtual
//! hosts with their addresses and names, the `mod_alias`/`mod_proxy`/`mod_wsgi` mappings, and
//! the configuration sections (`<Directory>`, `<DirectoryMatch>`, `<Files>`, `<FilesMatch>`,
//! `<Location>`, `<LocationMatch>`) with what each sets (`Require`, `Options`, `DirectoryIndex`,
//! `AllowOverride`).

use crate::apache::{Config, Directive, NodeId};
use std::net::IpAddr;

/// One `<VirtualHost>` (or the main server: `node` None).
#[derive(Debug, Clone)]
pub struct Server {
    pub node: Option<NodeId>,
    /// `(address, port)`: address None for `*`/`_default_`, port None for `*`.
    pub addrs: Vec<(Option<IpAddr>, Option<u16>)>,
    /// `ServerName` (host part, lowercase) and `ServerAlias` patterns.
    pub name: Option<String>,
    pub aliases: Vec<String>,
    pub document_root: Option<String>,
    /// mod_alias, mod_proxy, mod_wsgi mappings in order of appearance (this server's).
    pub maps: Vec<Map>,
    /// Sections directly in this server's context, in order of appearance.
    pub sections: Vec<Section>,
    /// Directives set at this server's level that act like a section's (`Options`,
    /// `DirectoryIndex`, `Require` outside any section): a section that applies everywhere.
    pub base: Section,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapKind {
    Alias,
    AliasMatch,
    ScriptAlias,
    ScriptAliasMatch,
    /// `Redirect [status] URL-path URL`: the status.
    Redirect(u16),
    RedirectMatch(u16),
    /// `ProxyPass path URL` (`!`: excluded).
    ProxyPass {
        excluded: bool,
    },
    ProxyPassMatch {
        excluded: bool,
    },
    WsgiScriptAlias,
    WsgiScriptAliasMatch,
}

#[derive(Debug, Clone)]
pub struct Map {
    pub kind: MapKind,
    pub from: String,
    /// The target (path, URL); None for a `Redirect gone` or `ProxyPass !`.
    pub to: Option<String>,
    pub node: NodeId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionKind {
    Directory,
    DirectoryMatch,
    Files,
    FilesMatch,
    Location,
    LocationMatch,
    /// The server's own level (outside sections).
    Server,
    /// A `.htaccess` file, read for its directory.
    Htaccess,
}

/// What one section sets.
#[derive(Debug, Clone)]
pub struct Section {
    pub kind: SectionKind,
    pub node: Option<NodeId>,
    /// The path or pattern (`/srv/media/` with Apache's trailing slash for a `<Directory>`).
    pub pattern: String,
    /// `Require` lines (AuthMerging Off: a later section with any replaces all earlier ones).
    pub require: Vec<Require>,
    pub options: Option<OptionsSet>,
    pub directory_index: Option<Vec<String>>,
    pub allow_override: Option<Overrides>,
    /// Order/Allow/Deny (mod_access_compat) lines: obsolete since 2.4.
    pub access_compat: Vec<NodeId>,
    /// `<Files>` sections nested in this `<Directory>`.
    pub nested_files: Vec<Section>,
    /// A handler set for these files (`SetHandler`, `AddHandler cgi-script`...), or a
    /// `ProxyPass URL` inside a `<Location>`.
    pub handler: Option<String>,
    /// Anything we do not model that decides access (`<RequireAll>`, `AuthType`...).
    pub unmodelled: Vec<String>,
}

impl Section {
    pub fn new(kind: SectionKind, node: Option<NodeId>, pattern: String) -> Section {
        Section {
            kind,
            node,
            pattern,
            require: Vec::new(),
            options: None,
            directory_index: None,
            allow_override: None,
            access_compat: Vec::new(),
            nested_files: Vec::new(),
            handler: None,
            unmodelled: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Require {
    All(bool),
    Ip {
        not: bool,
        nets: Vec<String>,
    },
    Local {
        not: bool,
    },
    /// `valid-user`, `user`, `group`: a login is asked for (401).
    Login,
    /// Anything else (`host`, `env`, `expr`...): the status cannot be told.
    Other(String),
}

/// `Options` as Apache stores it: absolute, or relative (`+X -Y`) to the inherited set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionsSet {
    pub add: u8,
    pub remove: u8,
    pub absolute: bool,
}

pub const OPT_INDEXES: u8 = 1;
pub const OPT_FOLLOW: u8 = 2;
pub const OPT_SYM_OWNER: u8 = 4;
pub const OPT_EXECCGI: u8 = 8;
pub const OPT_INCLUDES: u8 = 16;
pub const OPT_MULTIVIEWS: u8 = 32;
/// `Options All`: everything but MultiViews.
pub const OPT_ALL: u8 = OPT_INDEXES | OPT_FOLLOW | OPT_EXECCGI | OPT_INCLUDES;
/// 2.4's default: FollowSymLinks.
pub const OPT_DEFAULT: u8 = OPT_FOLLOW;

impl OptionsSet {
    pub fn parse(args: &[&str]) -> Option<OptionsSet> {
        let mut s = OptionsSet {
            add: 0,
            remove: 0,
            absolute: true,
        };
        for (i, a) in args.iter().enumerate() {
            let (sign, word) = match a.as_bytes().first() {
                Some(b'+') => (Some(true), &a[1..]),
                Some(b'-') => (Some(false), &a[1..]),
                _ => (None, *a),
            };
            if i == 0 {
                s.absolute = sign.is_none();
            }
            let bit = match word.to_ascii_lowercase().as_str() {
                "indexes" => OPT_INDEXES,
                "followsymlinks" => OPT_FOLLOW,
                "symlinksifownermatch" => OPT_SYM_OWNER,
                "execcgi" => OPT_EXECCGI,
                "includes" | "includesnoexec" => OPT_INCLUDES,
                "multiviews" => OPT_MULTIVIEWS,
                "all" => OPT_ALL,
                "none" => 0,
                _ => return None,
            };
            match sign {
                Some(false) => s.remove |= bit,
                _ => s.add |= bit,
            }
        }
        Some(s)
    }

    /// The options in effect after this set is merged over `inherited`.
    pub fn apply(&self, inherited: u8) -> u8 {
        if self.absolute {
            self.add
        } else {
            (inherited & !self.remove) | self.add
        }
    }
}

/// `AllowOverride` classes (None: .htaccess is not read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overrides {
    pub auth: bool,
    pub options: bool,
    pub indexes: bool,
    pub any: bool,
}

impl Overrides {
    pub const NONE: Overrides = Overrides {
        auth: false,
        options: false,
        indexes: false,
        any: false,
    };
    /// `AllowOverride` set by no section that applies: httpd 2.4 still opens the .htaccess (its
    /// `OR_UNSET` bit is not None), but no directive in it is allowed (500, "not allowed
    /// here"); an unreadable one is 403 (AH00529). Seen on a real Apache 2.4: Debian's
    /// apache2.conf sets `AllowOverride None` on `<Directory />`, a configuration of one's own
    /// may not.
    pub const UNSET: Overrides = Overrides {
        auth: false,
        options: false,
        indexes: false,
        any: true,
    };
    fn parse(args: &[&str]) -> Overrides {
        let mut o = Overrides::NONE;
        for a in args {
            let a = a.to_ascii_lowercase();
            let word = a.split('=').next().unwrap_or("");
            match word {
                "none" => {}
                "all" => {
                    o = Overrides {
                        auth: true,
                        options: true,
                        indexes: true,
                        any: true,
                    }
                }
                "authconfig" => o.auth = true,
                "options" => o.options = true,
                "indexes" => o.indexes = true,
                _ => {}
            }
            if word != "none" {
                o.any = true;
            }
        }
        o
    }
}

/// Directives a section sets, read into `sec`.
pub fn read_section_body<'c>(sec: &mut Section, items: impl Iterator<Item = Directive<'c>>) {
    for d in items {
        let args: Vec<&str> = d.args().collect();
        let name = d.name().to_ascii_lowercase();
        match name.as_str() {
            "require" => sec.require.push(parse_require(&args)),
            "options" => match OptionsSet::parse(&args) {
                Some(o) => {
                    // Two Options lines in one section combine as Apache's do: a relative
                    // one over the earlier.
                    sec.options = Some(match sec.options {
                        Some(prev) if !o.absolute => OptionsSet {
                            add: (prev.add & !o.remove) | o.add,
                            remove: (prev.remove & !o.add) | o.remove,
                            absolute: prev.absolute,
                        },
                        _ => o,
                    })
                }
                None => sec.unmodelled.push(format!("Options {}", args.join(" "))),
            },
            "directoryindex" => {
                sec.directory_index = Some(args.iter().map(|s| s.to_string()).collect())
            }
            "allowoverride" => sec.allow_override = Some(Overrides::parse(&args)),
            "order" | "allow" | "deny" | "satisfy" => sec.access_compat.push(d.id()),
            "sethandler" => sec.handler = args.first().map(|s| s.to_string()),
            "proxypass" if sec.kind == SectionKind::Location => {
                sec.handler = args.first().map(|u| format!("proxy:{u}"))
            }
            "authtype" | "authname" => sec.unmodelled.push(d.name().to_string()),
            "requireall" | "requireany" | "requirenone" if d.is_section() => {
                sec.unmodelled.push(format!("<{}>", d.name()))
            }
            "files" | "filesmatch" if d.is_section() => {
                let kind = files_kind(d);
                let mut inner = Section::new(kind, Some(d.id()), section_pattern(d));
                read_section_body(&mut inner, d.children());
                sec.nested_files.push(inner);
            }
            "if" | "elseif" | "else" if d.is_section() => {
                sec.unmodelled.push(format!("<{}>", d.name()))
            }
            _ => {}
        }
    }
}

fn files_kind(d: Directive<'_>) -> SectionKind {
    if d.is("FilesMatch") || d.arg(0) == Some("~") {
        SectionKind::FilesMatch
    } else {
        SectionKind::Files
    }
}

/// A section's pattern: its argument, or the one after `~`.
fn section_pattern(d: Directive<'_>) -> String {
    match d.arg(0) {
        Some("~") => d.arg(1).unwrap_or("").to_string(),
        Some(a) => a.to_string(),
        None => String::new(),
    }
}

fn parse_require(args: &[&str]) -> Require {
    let (not, rest) = match args.first() {
        Some(&"not") => (true, &args[1..]),
        _ => (false, args),
    };
    match rest.first().map(|s| s.to_ascii_lowercase()).as_deref() {
        Some("all") => match rest.get(1).map(|s| s.to_ascii_lowercase()).as_deref() {
            Some("granted") if !not => Require::All(true),
            Some("denied") if !not => Require::All(false),
            _ => Require::Other(args.join(" ")),
        },
        Some("ip") => Require::Ip {
            not,
            nets: rest[1..].iter().map(|s| s.to_string()).collect(),
        },
        Some("local") => Require::Local { not },
        Some("valid-user") | Some("user") | Some("group") => Require::Login,
        _ => Require::Other(args.join(" ")),
    }
}

/// Whether `ip` is in `net` as `Require ip` reads it: a full address, a CIDR, `a.b.c.d/mask`,
/// or a partial address (`10.1` = 10.1.0.0/16).
pub fn ip_matches(net: &str, ip: IpAddr) -> bool {
    if let Some((addr, bits)) = net.split_once('/') {
        let Ok(a) = addr.parse::<IpAddr>() else {
            return false;
        };
        let bits: u32 = match bits.parse() {
            Ok(b) => b,
            Err(_) => match bits.parse::<std::net::Ipv4Addr>() {
                Ok(m) => u32::from(m).count_ones(),
                Err(_) => return false,
            },
        };
        return match (a, ip) {
            (IpAddr::V4(a), IpAddr::V4(i)) => {
                let mask = if bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - bits.min(32))
                };
                u32::from(a) & mask == u32::from(i) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(i)) => {
                let mask = if bits == 0 {
                    0
                } else {
                    u128::MAX << (128 - bits.min(128))
                };
                u128::from(a) & mask == u128::from(i) & mask
            }
            _ => false,
        };
    }
    if let Ok(a) = net.parse::<IpAddr>() {
        return a == ip;
    }
    // A partial IPv4 address: whole octets.
    let IpAddr::V4(i) = ip else { return false };
    let octets = i.octets();
    let parts: Vec<&str> = net.trim_end_matches('.').split('.').collect();
    !parts.is_empty()
        && parts.len() <= 4
        && parts
            .iter()
            .zip(octets.iter())
            .all(|(p, o)| p.parse::<u8>().ok() == Some(*o))
}

fn parse_addr(a: &str) -> (Option<IpAddr>, Option<u16>) {
    let (host, port) = if let Some(rest) = a.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => (rest, None),
        }
    } else {
        match a.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (a, None),
        }
    };
    let ip = host.parse::<IpAddr>().ok();
    let port = match port {
        Some("*") | None => None,
        Some(p) => p.parse().ok(),
    };
    (ip, port)
}

/// The main server, and every virtual host with what choosing one needs (addresses, names):
/// the rest of a vhost is read when a request reaches it (`full_vhost`), so that one request
/// on a 10,000-vhost config does not read 10,000 vhosts' aliases and sections.
pub fn servers(cfg: &Config) -> (Server, Vec<Server>) {
    let mut main = empty_server(None);
    read_server(cfg, cfg.top(), &mut main);
    let mut vhosts = Vec::new();
    for v in cfg.virtual_hosts() {
        let mut s = empty_server(Some(v.id()));
        s.addrs = v.args().map(parse_addr).collect();
        for d in v.children() {
            if d.is("ServerName") || d.is("ServerAlias") {
                read_name(d, &mut s);
            }
        }
        vhosts.push(s);
    }
    (main, vhosts)
}

/// Everything of the virtual host `node`.
pub fn full_vhost(cfg: &Config, node: NodeId) -> Server {
    let v = cfg.directive(node);
    let mut s = empty_server(Some(node));
    s.addrs = v.args().map(parse_addr).collect();
    read_server(cfg, v.children(), &mut s);
    s
}

fn read_name(d: Directive<'_>, s: &mut Server) {
    let args: Vec<&str> = d.args().collect();
    if d.is("ServerAlias") {
        s.aliases
            .extend(args.iter().map(|a| a.to_ascii_lowercase()));
    } else if let Some(n) = args.first() {
        let n = n.split("://").last().unwrap_or(n);
        let host = match n.rsplit_once(':') {
            Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
            _ => n,
        };
        s.name = Some(host.to_ascii_lowercase());
    }
}

fn empty_server(node: Option<NodeId>) -> Server {
    Server {
        node,
        addrs: Vec::new(),
        name: None,
        aliases: Vec::new(),
        document_root: None,
        maps: Vec::new(),
        sections: Vec::new(),
        base: Section::new(SectionKind::Server, node, String::new()),
    }
}

fn redirect_status(word: &str) -> Option<u16> {
    match word.to_ascii_lowercase().as_str() {
        "permanent" => Some(301),
        "temp" => Some(302),
        "seeother" => Some(303),
        "gone" => Some(410),
        w => w.parse().ok().filter(|s| (300..=599).contains(s)),
    }
}

fn read_server<'c>(_cfg: &'c Config, items: impl Iterator<Item = Directive<'c>>, s: &mut Server) {
    let mut plain = Vec::new();
    for d in items {
        let args: Vec<&str> = d.args().collect();
        let lower = d.name().to_ascii_lowercase();
        if d.is_section() {
            let kind = match lower.as_str() {
                "directory" if args.first() == Some(&"~") => SectionKind::DirectoryMatch,
                "directory" => SectionKind::Directory,
                "directorymatch" => SectionKind::DirectoryMatch,
                "files" | "filesmatch" => files_kind(d),
                "location" if args.first() == Some(&"~") => SectionKind::LocationMatch,
                "location" => SectionKind::Location,
                "locationmatch" => SectionKind::LocationMatch,
                "virtualhost" => continue,
                _ => continue,
            };
            let mut pattern = section_pattern(d);
            if kind == SectionKind::Directory && !pattern.ends_with('/') {
                pattern.push('/');
            }
            let mut sec = Section::new(kind, Some(d.id()), pattern);
            read_section_body(&mut sec, d.children());
            // A `ProxyPass URL` in a <Location> maps like a server-level one.
            if kind == SectionKind::Location {
                if let Some(p) = d.children().find(|c| c.is("ProxyPass")) {
                    let to = p.arg(0).map(str::to_string);
                    s.maps.push(Map {
                        kind: MapKind::ProxyPass {
                            excluded: to.as_deref() == Some("!"),
                        },
                        from: sec.pattern.clone(),
                        to,
                        node: p.id(),
                    });
                }
            }
            s.sections.push(sec);
            continue;
        }
        let map = |kind: MapKind, from: Option<&&str>, to: Option<&&str>| {
            from.map(|f| Map {
                kind,
                from: f.to_string(),
                to: to.map(|t| t.to_string()),
                node: d.id(),
            })
        };
        let m = match lower.as_str() {
            "servername" | "serveralias" => {
                read_name(d, s);
                None
            }
            "documentroot" => {
                s.document_root = args.first().map(|a| a.to_string());
                None
            }
            "alias" => map(MapKind::Alias, args.first(), args.get(1)),
            "aliasmatch" => map(MapKind::AliasMatch, args.first(), args.get(1)),
            "scriptalias" => map(MapKind::ScriptAlias, args.first(), args.get(1)),
            "scriptaliasmatch" => map(MapKind::ScriptAliasMatch, args.first(), args.get(1)),
            "wsgiscriptalias" => map(MapKind::WsgiScriptAlias, args.first(), args.get(1)),
            "wsgiscriptaliasmatch" => map(MapKind::WsgiScriptAliasMatch, args.first(), args.get(1)),
            "redirect" | "redirectmatch" | "redirectpermanent" | "redirecttemp" => {
                let regex = lower == "redirectmatch";
                let (status, rest) = match lower.as_str() {
                    "redirectpermanent" => (301, &args[..]),
                    "redirecttemp" => (302, &args[..]),
                    _ => match args.first().and_then(|a| redirect_status(a)) {
                        Some(st) => (st, &args[1..]),
                        None => (302, &args[..]),
                    },
                };
                let kind = if regex {
                    MapKind::RedirectMatch(status)
                } else {
                    MapKind::Redirect(status)
                };
                map(kind, rest.first(), rest.get(1))
            }
            "proxypass" | "proxypassmatch" => {
                let excluded = args.get(1) == Some(&"!");
                let kind = if lower == "proxypass" {
                    MapKind::ProxyPass { excluded }
                } else {
                    MapKind::ProxyPassMatch { excluded }
                };
                map(kind, args.first(), args.get(1))
            }
            _ => {
                plain.push(d);
                None
            }
        };
        if let Some(m) = m {
            s.maps.push(m);
        }
    }
    read_section_body(&mut s.base, plain.into_iter());
}
