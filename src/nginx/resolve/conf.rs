//! The effective configuration of every block (http, server, location, `if`, `limit_except`),
//! merged from its parents the way each nginx module's `merge_loc_conf` does.
//!
//! What is inherited and what is not is the whole story of many media bugs: `root` and `alias`
//! are inherited *together with the alias length of the block that set them* (a regex location
//! nested in `location /media/ { alias ...; }` strips `/media/`); `try_files` and the rewrite
//! directives are never inherited; `allow`/`deny` and `error_page` are inherited only by blocks
//! that have none of their own; a content handler (`proxy_pass`) belongs to its block.

use crate::nginx::{Config, Directive, NodeId};

/// A set of node ids (server blocks), sorted: 4 bytes an id, found by binary search. A large
/// box's model and its http block each hold every server's id (a hash set of one big site's
/// 360,000 servers was ~7 bytes an id more, twice).
#[derive(Debug, Clone, Default)]
pub struct NodeSet(Box<[NodeId]>);

impl NodeSet {
    pub fn contains(&self, id: &NodeId) -> bool {
        self.0.binary_search(id).is_ok()
    }
}

impl FromIterator<NodeId> for NodeSet {
    fn from_iter<I: IntoIterator<Item = NodeId>>(ids: I) -> NodeSet {
        let mut ids: Vec<NodeId> = ids.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        NodeSet(ids.into_boxed_slice())
    }
}
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

pub type BlockIdx = usize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    Http,
    Server,
    Location,
    If,
    LimitExcept,
}

/// How `alias` cuts the URI: by the length of the location that set it, or (in a regex
/// location) not at all: the alias is the whole path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AliasKind {
    /// `root`: the whole URI is appended.
    Root,
    /// `alias` in a prefix/exact location: the first `len` bytes of the URI are replaced (a
    /// `u32`, like the lengths of the config's words).
    Prefix(u32),
    /// `alias` in a regex location: the (evaluated) alias is the path.
    Regex,
}

/// A block's `root`/`alias`, in 12 bytes: one in each block, and a 360,000-server config has
/// 720,000 blocks (`Option`s and the `AliasKind` enum, 8 bytes each, made it 32; a `bool` of
/// its own, 16).
#[derive(Debug, Clone)]
pub struct Root {
    /// The value as nginx stores it (`Blocks::root_value`), when it is not the directive's
    /// argument as written: its index in `Blocks::texts`, shared by the blocks that inherit it.
    /// `Block::NONE`: the argument of `at` as written (an absolute path without a trailing `/`
    /// to drop, or an `alias`): read from the config, not copied (a site of many servers has an
    /// `alias` in each, ~48 bytes of copy a server).
    text: u32,
    /// The `root`/`alias` directive, `Block::NONE` for the compiled-in default `html` (`at()`).
    at: u32,
    /// Below `SCRIPTED`, how the value cuts the URI (`alias()`): `ROOT`, `REGEX`, or the length
    /// of a `Prefix`; the `SCRIPTED` bit: the value has variables (`scripted()`).
    alias: u32,
}

const _: () = assert!(std::mem::size_of::<Root>() == 12);

impl Root {
    /// `alias` of `AliasKind::Root` and `AliasKind::Regex`; any other value is the length of an
    /// `AliasKind::Prefix`, a location's name (a word of the config). A name longer than
    /// `LONGEST` is cut to it: no URI that long gets to a location (414 first).
    const ROOT: u32 = Root::SCRIPTED - 1;
    const REGEX: u32 = Root::SCRIPTED - 2;
    const LONGEST: u32 = Root::SCRIPTED - 3;
    const SCRIPTED: u32 = 1 << 31;

    fn new(text: u32, at: u32, alias: u32, scripted: bool) -> Root {
        debug_assert!(alias <= Root::ROOT);
        Root {
            text,
            at,
            alias: alias.min(Root::ROOT) | if scripted { Root::SCRIPTED } else { 0 },
        }
    }

    /// The `root`/`alias` directive (None for the compiled-in default `html`).
    pub fn at(&self) -> Option<NodeId> {
        (self.at != Block::NONE).then_some(self.at)
    }

    /// How the value cuts the URI.
    pub fn alias(&self) -> AliasKind {
        match self.alias & !Root::SCRIPTED {
            Root::ROOT => AliasKind::Root,
            Root::REGEX => AliasKind::Regex,
            len => AliasKind::Prefix(len),
        }
    }

    /// Has variables (or is a regex alias): evaluated per request, then made absolute.
    pub fn scripted(&self) -> bool {
        self.alias & Root::SCRIPTED != 0
    }
}

/// A content handler set by a directive (`proxy_pass`, `fastcgi_pass`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// The directive name: `proxy_pass`, `fastcgi_pass`, `uwsgi_pass`, ...
    pub directive: String,
    /// Its argument (the upstream), empty for handlers without one (`empty_gif`).
    pub target: String,
    pub at: NodeId,
}

/// Handler directives and whether a location ending in `/` then 301-redirects the slash-less URI.
pub const PASS_DIRECTIVES: &[&str] = &[
    "proxy_pass",
    "fastcgi_pass",
    "uwsgi_pass",
    "scgi_pass",
    "grpc_pass",
    "memcached_pass",
];
/// Other directives that install a content handler (the answer is not a static file).
const OTHER_HANDLERS: &[&str] = &[
    "empty_gif",
    "stub_status",
    "content_by_lua",
    "content_by_lua_block",
    "content_by_lua_file",
    "perl",
    "js_content",
    "echo",
    "mp4",
    "flv",
    "hls",
    "f4f",
];

/// When a directive the model does not follow acts on a request, and so makes its answer
/// unknown from that point on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// In the rewrite or access phase: every request that reaches it (Lua, njs, other auth).
    Access,
    /// A filter that can replace a 200 with an error (`image_filter` answers 415).
    Filter,
    /// The DAV module: PUT, DELETE, MKCOL, COPY and MOVE.
    Dav,
    /// `random_index`: a directory URI.
    Index,
}

/// Directives that can change the answer and that the model does not follow, with when they act.
/// Inherited by nested blocks, like the modules' own configuration; `NAME off` cancels.
pub const UNMODELLED: &[(&str, Stage)] = &[
    ("access_by_lua", Stage::Access),
    ("access_by_lua_block", Stage::Access),
    ("access_by_lua_file", Stage::Access),
    ("rewrite_by_lua", Stage::Access),
    ("rewrite_by_lua_block", Stage::Access),
    ("rewrite_by_lua_file", Stage::Access),
    ("auth_jwt", Stage::Access),
    ("auth_digest", Stage::Access),
    ("auth_pam", Stage::Access),
    ("auth_ldap", Stage::Access),
    ("auth_gss", Stage::Access),
    ("js_access", Stage::Access),
    ("perl_access", Stage::Access),
    ("image_filter", Stage::Filter),
    ("xslt_stylesheet", Stage::Filter),
    ("header_filter_by_lua", Stage::Filter),
    ("header_filter_by_lua_block", Stage::Filter),
    ("header_filter_by_lua_file", Stage::Filter),
    ("js_header_filter", Stage::Filter),
    ("dav_methods", Stage::Dav),
    ("random_index", Stage::Index),
];

/// A directive of `UNMODELLED` in effect.
#[derive(Debug, Clone)]
pub struct Unmodelled {
    pub directive: String,
    pub stage: Stage,
    pub at: NodeId,
}

/// `gzip_static`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GzipStatic {
    Off,
    /// Only for clients that accept gzip (the modelled request does not say it does).
    On,
    /// Whatever the client accepts.
    Always,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessTarget {
    All,
    Net(IpAddr, u8),
    Unix,
    /// Could not be parsed: nginx -t would refuse it.
    Invalid(String),
}

#[derive(Debug, Clone)]
pub struct AccessRule {
    pub allow: bool,
    pub target: AccessTarget,
    pub at: NodeId,
}

impl AccessRule {
    pub fn matches(&self, client: IpAddr) -> bool {
        match &self.target {
            AccessTarget::All => true,
            AccessTarget::Unix | AccessTarget::Invalid(_) => false,
            AccessTarget::Net(net, bits) => ip_in(client, *net, *bits),
        }
    }
}

fn ip_in(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits.min(32) as u32)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits.min(128) as u32)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        // nginx matches IPv4-mapped IPv6 clients against IPv4 rules.
        (IpAddr::V6(a), IpAddr::V4(_)) => match a.to_ipv4_mapped() {
            Some(v4) => ip_in(IpAddr::V4(v4), net, bits),
            None => false,
        },
        _ => false,
    }
}

fn parse_access(arg: &str) -> AccessTarget {
    if arg == "all" {
        return AccessTarget::All;
    }
    if arg == "unix:" {
        return AccessTarget::Unix;
    }
    let (addr, bits) = match arg.split_once('/') {
        Some((a, b)) => (a, b.parse::<u8>().ok()),
        None => (arg, None),
    };
    match addr.parse::<IpAddr>() {
        Ok(ip) => {
            let max = if ip.is_ipv4() { 32 } else { 128 };
            match bits {
                Some(b) if b <= max => AccessTarget::Net(ip, b),
                None => AccessTarget::Net(ip, max),
                _ => AccessTarget::Invalid(arg.to_string()),
            }
        }
        Err(_) => AccessTarget::Invalid(arg.to_string()),
    }
}

/// `error_page CODE... [=[NEW]] TARGET`.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    pub codes: Vec<u16>,
    /// -1: keep the original code; 0: `=` (the redirected request's own status); N: `=N`.
    pub overwrite: i32,
    pub target: String,
    pub at: NodeId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symlinks {
    Off,
    On,
    IfNotOwner,
}

/// A block's merged configuration: its `root`/`alias`, which most blocks that set anything set,
/// and the rest (`ConfRest`), shared between a block and its parent while the block changes
/// none of it (a server of `listen`, `server_name` and locations shares the http block's; a
/// location that sets only `alias` shares its server's). A 360,000-server config has 720,000
/// blocks: a copy of the whole configuration each was 90 MB.
#[derive(Debug, Clone)]
pub struct Conf {
    pub root: Root,
    /// Not configuration: of a server block, its locations' level in `Locations` (`Block::NONE`
    /// until they are built, and in every other block). Kept in what is else the padding of
    /// `Conf` (a `Root` of 12 bytes before an 8-byte pointer), so a block is 32 bytes, not 40.
    locs: u32,
    rest: Arc<ConfRest>,
}

const _: () = assert!(std::mem::size_of::<Conf>() == 24);

impl std::ops::Deref for Conf {
    type Target = ConfRest;
    fn deref(&self) -> &ConfRest {
        &self.rest
    }
}

impl Conf {
    /// The rest of the configuration, to change: copied first when it is shared.
    fn rest(&mut self) -> &mut ConfRest {
        Arc::make_mut(&mut self.rest)
    }
}

/// Everything of `Conf` but the root (see `Conf`).
#[derive(Debug, Clone)]
pub struct ConfRest {
    pub index: Arc<Vec<String>>,
    pub autoindex: bool,
    /// `try_files` of this very block (never inherited).
    pub try_files: Option<NodeId>,
    /// The content handler this block installs (inherited only by `limit_except`).
    pub handler: Option<Upstream>,
    pub access: Arc<Vec<AccessRule>>,
    /// `auth_basic` realm and where it was set (None: off).
    pub auth_basic: Option<(String, NodeId)>,
    pub satisfy_any: bool,
    pub internal: bool,
    pub error_pages: Arc<Vec<ErrorPage>>,
    pub recursive_error_pages: bool,
    pub disable_symlinks: Symlinks,
    /// `disable_symlinks ... from=VALUE` (unevaluated).
    pub disable_symlinks_from: Option<String>,
    pub log_not_found: bool,
    /// `limit_except METHODS { ... }` of this block: the methods it lets through, and the block
    /// that applies to every other method.
    pub limit_except: Option<(Vec<String>, BlockIdx)>,
    /// `merge_slashes` (server level).
    pub merge_slashes: bool,
    /// The unmodelled directives in effect (see `UNMODELLED`).
    pub unmodelled: Arc<Vec<Unmodelled>>,
    /// `auth_request URI` (None: off) and where it was set.
    pub auth_request: Option<(String, NodeId)>,
    /// `valid_referers`: whether `none` is listed (a request without Referer is valid), and
    /// where it was set.
    pub valid_referers: Option<(bool, NodeId)>,
    pub gzip_static: GzipStatic,
    pub gzip_vary: bool,
    /// The size of one `large_client_header_buffers` buffer: a request line longer than it
    /// gets 414 (server level; the socket's default server decides).
    pub large_header_buffer: usize,
    /// `add_header NAME VALUE` in effect: a block with any `add_header` of its own inherits none.
    pub add_headers: Arc<Vec<(String, String)>>,
}

#[derive(Debug, Clone)]
pub struct Block {
    /// The block's directive, `NONE` for none: a site of 360,000 servers has 720,000 blocks,
    /// and each byte of a block is 0.7 MB (an `Option<u32>` is 8 bytes).
    at: u32,
    /// The enclosing block (`NO_PARENT` for none) below `KIND_SHIFT`, the block's kind above
    /// (`kind()`): a byte of its own made a block 40 bytes. Block indexes stay below 2^29 (as
    /// many blocks would be 16 GiB).
    up_kind: u32,
    /// Its configuration (which also keeps a server block's locations' level: `locations()`).
    pub conf: Conf,
}

// One per server and per location of the config, held for the run (see `Root`).
const _: () = assert!(std::mem::size_of::<Block>() == 32);

impl Block {
    /// `at` (and `Conf::locs`) of none (node ids and levels stay under it).
    const NONE: u32 = u32::MAX;
    const KIND_SHIFT: u32 = 29;
    const NO_PARENT: u32 = (1 << Block::KIND_SHIFT) - 1;
    /// The kinds, by their number in `up_kind`.
    const KINDS: [BlockKind; 5] = [
        BlockKind::Http,
        BlockKind::Server,
        BlockKind::Location,
        BlockKind::If,
        BlockKind::LimitExcept,
    ];

    fn new(at: Option<NodeId>, parent: Option<BlockIdx>, kind: BlockKind, conf: &Conf) -> Block {
        let up = parent.map_or(Block::NO_PARENT, |p| p as u32);
        debug_assert!(up <= Block::NO_PARENT);
        let kind = Block::KINDS.iter().position(|&k| k == kind).unwrap_or(0) as u32;
        Block {
            at: at.unwrap_or(Block::NONE),
            up_kind: up.min(Block::NO_PARENT) | kind << Block::KIND_SHIFT,
            conf: Conf {
                locs: Block::NONE,
                ..conf.clone()
            },
        }
    }

    /// The block's directive (None: the http block of a fragment, the implicit top level).
    pub fn node(&self) -> Option<NodeId> {
        (self.at != Block::NONE).then_some(self.at)
    }

    /// The enclosing block (None: the http block, or a fragment's top level).
    pub fn parent(&self) -> Option<BlockIdx> {
        let up = self.up_kind & Block::NO_PARENT;
        (up != Block::NO_PARENT).then_some(up as BlockIdx)
    }

    pub fn kind(&self) -> BlockKind {
        Block::KINDS[(self.up_kind >> Block::KIND_SHIFT) as usize]
    }

    /// Of a server block: the index of its locations' level in `Locations`, once built.
    pub fn locations(&self) -> Option<usize> {
        (self.conf.locs != Block::NONE).then_some(self.conf.locs as usize)
    }
}

#[derive(Debug, Default, Clone)]
pub struct Blocks {
    pub blocks: Vec<Block>,
    /// The blocks that have a node, by node (`of`): their indexes sorted by (node, index).
    /// 4 bytes a block, where a hash table held ~13 (720,000 blocks in a 360,000-server
    /// config); made once the blocks are all in (`index`).
    by_node: Box<[u32]>,
    /// The values of the roots that are not their directive's argument as written (`Root`).
    texts: Vec<Box<str>>,
    /// Each block gets its own copy of the whole configuration (the construction before
    /// `Conf` shared it): the tests' reference.
    copy_all: bool,
}

impl Blocks {
    pub fn of(&self, node: NodeId) -> Option<BlockIdx> {
        // A node given twice (a file included in two blocks) finds its last block.
        let end = self
            .by_node
            .partition_point(|&b| self.blocks[b as usize].at <= node);
        let b = *self.by_node[..end].last()? as BlockIdx;
        (self.blocks[b].at == node).then_some(b)
    }

    /// Sort the blocks by node for `of`, once they are all in. In config order but for the
    /// files included among them (and the servers `with_servers` adds), they are mostly in
    /// order already.
    fn index(&mut self) {
        let mut by_node: Vec<u32> = (0..self.blocks.len() as u32)
            .filter(|&b| self.blocks[b as usize].at != Block::NONE)
            .collect();
        by_node.sort_unstable_by_key(|&b| (self.blocks[b as usize].at, b));
        self.by_node = by_node.into_boxed_slice();
    }
    pub fn get(&self, b: BlockIdx) -> &Block {
        &self.blocks[b]
    }

    /// The value of `root` (of one of these blocks) as nginx stores it: made absolute against
    /// the prefix when it is a plain path, one trailing `/` dropped for `root`. Still contains
    /// the variables when `scripted`. `cfg` is the config the blocks were built from.
    pub fn root_value<'a>(&'a self, root: &Root, cfg: &'a Config) -> &'a str {
        match (root.text, root.at()) {
            (Block::NONE, Some(at)) => cfg.directive(at).arg(0).unwrap_or_default(),
            (Block::NONE, None) => "",
            // `make_root` keeps no text only for a directive that has an argument.
            (text, _) => &self.texts[text as usize],
        }
    }

    /// Record where `Locations` keeps the locations of server block `b` (None: nowhere yet).
    pub(super) fn set_locations(&mut self, b: BlockIdx, level: Option<usize>) {
        self.blocks[b].conf.locs = level.map_or(Block::NONE, |l| l as u32);
    }

    /// Build every block under the `http` context (or the fragment's top level); of the server
    /// blocks, only those in `only` when it is given.
    /// Returns the http block's index.
    pub fn build(
        cfg: &Config,
        http: Option<Directive<'_>>,
        prefix: &Path,
        only: Option<&NodeSet>,
    ) -> (Blocks, BlockIdx) {
        let children: Vec<Directive<'_>> = match http {
            Some(h) => h.children().collect(),
            None => cfg.top().collect(),
        };
        Blocks::build_over(http, &children, prefix, only, false)
    }

    /// `build` with every block's configuration a copy of its own (nothing shared): what
    /// `build` made before `Conf` shared it, kept as the tests' reference.
    #[cfg(test)]
    pub fn build_copying(cfg: &Config, http: Option<Directive<'_>>, prefix: &Path) -> Blocks {
        let children: Vec<Directive<'_>> = match http {
            Some(h) => h.children().collect(),
            None => cfg.top().collect(),
        };
        Blocks::build_over(http, &children, prefix, None, true).0
    }

    /// `build` over the http block's `children` (includes expanded), walked once by the caller.
    fn build_over(
        http: Option<Directive<'_>>,
        children: &[Directive<'_>],
        prefix: &Path,
        only: Option<&NodeSet>,
        copy_all: bool,
    ) -> (Blocks, BlockIdx) {
        let mut blocks = Blocks {
            copy_all,
            texts: vec![join_prefix(prefix, "html").into()],
            ..Blocks::default()
        };
        let default_root = Root::new(0, Block::NONE, Root::ROOT, false);
        let base = ConfRest {
            index: Arc::new(vec!["index.html".to_string()]),
            autoindex: false,
            try_files: None,
            handler: None,
            access: Arc::new(Vec::new()),
            auth_basic: None,
            satisfy_any: false,
            internal: false,
            error_pages: Arc::new(Vec::new()),
            recursive_error_pages: false,
            disable_symlinks: Symlinks::Off,
            disable_symlinks_from: None,
            log_not_found: true,
            limit_except: None,
            merge_slashes: true,
            add_headers: Arc::new(Vec::new()),
            unmodelled: Arc::new(Vec::new()),
            auth_request: None,
            valid_referers: None,
            gzip_static: GzipStatic::Off,
            gzip_vary: false,
            large_header_buffer: 8192,
        };
        let base = Conf {
            root: default_root,
            locs: Block::NONE,
            rest: Arc::new(base),
        };
        let idx = blocks.add(
            children,
            None,
            &base,
            BlockKind::Http,
            http.map(|h| h.id()),
            Vec::new(),
            false,
            prefix,
            only,
        );
        blocks.index();
        (blocks, idx)
    }

    /// The `http` block alone (no server block), and the server blocks that are its direct
    /// children (through includes): what the models of one config share. A model of some
    /// servers starts from a copy of it (`with_servers`) instead of walking the http context,
    /// which holds every server, again for each site.
    /// `children` are the http block's (the fragment's top level), includes expanded.
    pub fn http_only(
        http: Option<Directive<'_>>,
        children: &[Directive<'_>],
        prefix: &Path,
    ) -> (Blocks, BlockIdx, NodeSet) {
        let (blocks, idx) =
            Blocks::build_over(http, children, prefix, Some(&NodeSet::default()), false);
        let servers = children
            .iter()
            .filter(|d| d.is("server") && d.has_block())
            .map(|d| d.id())
            .collect();
        (blocks, idx, servers)
    }

    /// `http_only`'s blocks with `servers` (direct children of the http block, each once) built
    /// under it, as `build` builds them.
    pub fn with_servers(
        &self,
        http: BlockIdx,
        cfg: &Config,
        servers: &[NodeId],
        prefix: &Path,
    ) -> Blocks {
        let mut blocks = self.clone();
        let inherited = blocks.blocks[http].conf.clone();
        for &s in servers {
            let grand: Vec<Directive<'_>> = cfg.directive(s).children().collect();
            blocks.add(
                &grand,
                Some(http),
                &inherited,
                BlockKind::Server,
                Some(s),
                Vec::new(),
                false,
                prefix,
                None,
            );
        }
        blocks.index();
        blocks
    }

    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        children: &[Directive<'_>],
        parent: Option<BlockIdx>,
        inherited: &Conf,
        kind: BlockKind,
        node: Option<NodeId>,
        name: Vec<u8>,
        regex: bool,
        prefix: &Path,
        only: Option<&NodeSet>,
    ) -> BlockIdx {
        let mut conf = inherited.clone();
        if self.copy_all {
            conf.rest = Arc::new((*conf.rest).clone());
        }
        // Never inherited (the rest is copied only when something of it changes):
        if conf.try_files.is_some() {
            conf.rest().try_files = None;
        }
        if conf.limit_except.is_some() {
            conf.rest().limit_except = None;
        }
        if kind != BlockKind::LimitExcept && conf.handler.is_some() {
            conf.rest().handler = None;
        }
        let mut own_access: Vec<AccessRule> = Vec::new();
        let mut own_pages: Vec<ErrorPage> = Vec::new();
        let mut own_headers: Vec<(String, String)> = Vec::new();
        for d in children {
            match d.name() {
                "root" | "alias" => {
                    if let Some(v) = d.arg(0) {
                        // The http block's is read by the models of an edited copy too
                        // (`Shared` is the unedited copy's): its text is kept.
                        let keep = kind == BlockKind::Http;
                        let (root, text) = make_root(d, v, &name, regex, prefix, keep);
                        conf.root = root;
                        if let Some(text) = text {
                            conf.root.text = self.texts.len() as u32;
                            self.texts.push(text.into());
                        }
                    }
                }
                "index" => conf.rest().index = Arc::new(d.args().map(str::to_string).collect()),
                "autoindex" => conf.rest().autoindex = d.arg(0) == Some("on"),
                "try_files" => conf.rest().try_files = Some(d.id()),
                "allow" | "deny" => {
                    if let Some(a) = d.arg(0) {
                        own_access.push(AccessRule {
                            allow: d.is("allow"),
                            target: parse_access(a),
                            at: d.id(),
                        });
                    }
                }
                "auth_basic" => {
                    conf.rest().auth_basic = match d.arg(0) {
                        Some("off") | None => None,
                        Some(realm) => Some((realm.to_string(), d.id())),
                    }
                }
                "satisfy" => conf.rest().satisfy_any = d.arg(0) == Some("any"),
                "internal" => conf.rest().internal = true,
                "error_page" => {
                    if let Some(p) = parse_error_page(d) {
                        own_pages.push(p);
                    }
                }
                "recursive_error_pages" => {
                    conf.rest().recursive_error_pages = d.arg(0) == Some("on")
                }
                "disable_symlinks" => {
                    conf.rest().disable_symlinks = match d.arg(0) {
                        Some("on") => Symlinks::On,
                        Some("if_not_owner") => Symlinks::IfNotOwner,
                        _ => Symlinks::Off,
                    };
                    conf.rest().disable_symlinks_from = d
                        .args()
                        .skip(1)
                        .find_map(|a| a.strip_prefix("from="))
                        .map(str::to_string);
                }
                "log_not_found" => conf.rest().log_not_found = d.arg(0) != Some("off"),
                "merge_slashes" => conf.rest().merge_slashes = d.arg(0) != Some("off"),
                "add_header" => {
                    if let (Some(n), Some(v)) = (d.arg(0), d.arg(1)) {
                        own_headers.push((n.to_string(), v.to_string()));
                    }
                }
                "auth_request" => {
                    conf.rest().auth_request = match d.arg(0) {
                        Some("off") | None => None,
                        Some(uri) => Some((uri.to_string(), d.id())),
                    }
                }
                "valid_referers" => {
                    conf.rest().valid_referers = Some((d.args().any(|a| a == "none"), d.id()));
                }
                "gzip_static" => {
                    conf.rest().gzip_static = match d.arg(0) {
                        Some("on") => GzipStatic::On,
                        Some("always") => GzipStatic::Always,
                        _ => GzipStatic::Off,
                    }
                }
                "gzip_vary" => conf.rest().gzip_vary = d.arg(0) == Some("on"),
                "large_client_header_buffers" => {
                    if let Some(size) = d.arg(1).and_then(parse_size) {
                        conf.rest().large_header_buffer = size;
                    }
                }
                n if UNMODELLED.iter().any(|(u, _)| *u == n) => {
                    let stage = UNMODELLED
                        .iter()
                        .find(|(u, _)| *u == n)
                        .map_or(Stage::Access, |(_, s)| *s);
                    let mut list: Vec<Unmodelled> = conf
                        .unmodelled
                        .iter()
                        .filter(|u| u.directive != n)
                        .cloned()
                        .collect();
                    if d.arg(0) != Some("off") {
                        list.push(Unmodelled {
                            directive: n.to_string(),
                            stage,
                            at: d.id(),
                        });
                    }
                    conf.rest().unmodelled = Arc::new(list);
                }
                n if PASS_DIRECTIVES.contains(&n) || OTHER_HANDLERS.contains(&n) => {
                    conf.rest().handler = Some(Upstream {
                        directive: n.to_string(),
                        target: d.arg(0).unwrap_or("").to_string(),
                        at: d.id(),
                    });
                }
                _ => {}
            }
        }
        if !own_access.is_empty() {
            conf.rest().access = Arc::new(own_access);
        }
        if !own_pages.is_empty() {
            conf.rest().error_pages = Arc::new(own_pages);
        }
        if !own_headers.is_empty() {
            conf.rest().add_headers = Arc::new(own_headers);
        }
        let me = self.blocks.len();
        self.blocks.push(Block::new(node, parent, kind, &conf));
        for d in children {
            let (kind, child_name, child_regex) = match d.name() {
                "server" if kind == BlockKind::Http && d.has_block() => {
                    if only.is_some_and(|o| !o.contains(&d.id())) {
                        continue;
                    }
                    (BlockKind::Server, Vec::new(), false)
                }
                "location" if d.has_block() => {
                    let (m, n) = location_modifier(d);
                    let is_regex = m == "~" || m == "~*";
                    (BlockKind::Location, n.as_bytes().to_vec(), is_regex)
                }
                "if" if d.has_block() => (BlockKind::If, name.clone(), regex),
                "limit_except" if d.has_block() => (BlockKind::LimitExcept, name.clone(), regex),
                _ => continue,
            };
            let grand: Vec<Directive<'_>> = d.children().collect();
            let child = self.add(
                &grand,
                Some(me),
                &conf,
                kind,
                Some(d.id()),
                child_name,
                child_regex,
                prefix,
                only,
            );
            if kind == BlockKind::LimitExcept {
                let methods: Vec<String> = d.args().map(|m| m.to_ascii_uppercase()).collect();
                self.blocks[me].conf.rest().limit_except = Some((methods, child));
            }
        }
        me
    }
}

/// `location [=|~|~*|^~] name` and the glued forms `=/x`, `~re`, `~*re`, `@name`:
/// (modifier, name).
pub fn location_modifier<'c>(d: &Directive<'c>) -> (&'c str, &'c str) {
    let a0 = d.arg(0).unwrap_or("");
    if d.arg_count() >= 2 {
        return (a0, d.arg(1).unwrap_or(""));
    }
    if let Some(rest) = a0.strip_prefix("~*") {
        ("~*", rest)
    } else if let Some(rest) = a0.strip_prefix('~') {
        ("~", rest)
    } else if let Some(rest) = a0.strip_prefix("^~") {
        ("^~", rest)
    } else if let Some(rest) = a0.strip_prefix('=') {
        ("=", rest)
    } else {
        ("", a0)
    }
}

/// A size as nginx writes it (`8k`, `1m`, `512`): ngx_parse_size.
fn parse_size(v: &str) -> Option<usize> {
    let (num, mult) = match v.as_bytes().last()? {
        b'k' | b'K' => (&v[..v.len() - 1], 1024),
        b'm' | b'M' => (&v[..v.len() - 1], 1024 * 1024),
        _ => (v, 1),
    };
    num.parse::<usize>().ok()?.checked_mul(mult)
}

/// nginx's `ngx_conf_full_name(prefix)`: relative paths are taken from the prefix.
pub fn join_prefix(prefix: &Path, value: &str) -> String {
    if value.starts_with('/') {
        return value.to_string();
    }
    let p = prefix.display().to_string();
    if p.ends_with('/') {
        format!("{p}{value}")
    } else {
        format!("{p}/{value}")
    }
}

/// The root `d` sets, and its value when the root keeps one (`Root::text`, not set here).
/// `keep_text`: the value is kept even when it is the argument as written.
fn make_root(
    d: &Directive<'_>,
    v: &str,
    loc_name: &[u8],
    regex: bool,
    prefix: &Path,
    keep_text: bool,
) -> (Root, Option<String>) {
    let is_alias = d.is("alias");
    let mut value = v.to_string();
    if !is_alias && !value.is_empty() && value.ends_with('/') {
        value.pop();
    }
    let has_vars = value.contains('$');
    // `root /` is absolute even once its slash is dropped (nginx tests the first byte of the
    // value as written): it maps /etc/passwd to /etc/passwd, not under the prefix.
    if !value.starts_with('$') && !v.starts_with('/') {
        value = join_prefix(prefix, &value);
    }
    let alias = if !is_alias {
        Root::ROOT
    } else if regex {
        Root::REGEX
    } else {
        // Below `Root::REGEX`: the name is a word of the config.
        u32::try_from(loc_name.len()).map_or(Root::LONGEST, |l| l.min(Root::LONGEST))
    };
    let root = Root::new(Block::NONE, d.id(), alias, has_vars || alias == Root::REGEX);
    (root, (keep_text || value != v).then_some(value))
}

fn parse_error_page(d: &Directive<'_>) -> Option<ErrorPage> {
    let args: Vec<&str> = d.args().collect();
    if args.len() < 2 {
        return None;
    }
    let target = args[args.len() - 1].to_string();
    let (overwrite, codes_end) = match args[args.len() - 2].strip_prefix('=') {
        Some("") => (0, args.len() - 2),
        Some(n) => (n.parse().ok()?, args.len() - 2),
        None => (-1, args.len() - 1),
    };
    let codes = args[..codes_end]
        .iter()
        .filter_map(|c| c.parse::<u16>().ok())
        .collect();
    Some(ErrorPage {
        codes,
        overwrite,
        target,
        at: d.id(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_rules() {
        let r = |s| AccessRule {
            allow: true,
            target: parse_access(s),
            at: 0,
        };
        let c: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(r("all").matches(c));
        assert!(r("127.0.0.0/8").matches(c));
        assert!(r("127.0.0.1").matches(c));
        assert!(!r("10.0.0.0/8").matches(c));
        assert!(!r("::1").matches(c));
        assert!(r("0.0.0.0/0").matches(c));
    }

    /// Each way a root cuts the URI survives its packing in `Root::alias`, and each value
    /// reads back: kept (made absolute, slash dropped, the http block's) or the argument.
    #[test]
    fn roots_pack_and_read_back() {
        let dump = "# configuration file /etc/nginx/nginx.conf:\nevents {}\nhttp { root html/; \
                    server { location / { alias /srv/a/; } location = /x { alias /srv/x; } \
                    location ~ ^/r/(.*)$ { alias /srv/r/$1; } location /rel/ { root rel/; } \
                    location /long/name/ { root /abs; } } }\n";
        let cfg =
            crate::nginx::load_dump(&crate::sysroot::SysRoot::live(), dump.as_bytes(), "test")
                .unwrap();
        let http = cfg.top().find(|d| d.is("http"));
        let (blocks, _) = Blocks::build(&cfg, http, Path::new("/p"), None);
        let roots: Vec<(BlockKind, AliasKind, &str, bool)> = (blocks.blocks.iter())
            .map(|b| {
                let r = &b.conf.root;
                (
                    b.kind(),
                    r.alias(),
                    blocks.root_value(r, &cfg),
                    r.scripted(),
                )
            })
            .collect();
        use AliasKind::{Prefix, Regex};
        use BlockKind::{Http, Location, Server};
        assert_eq!(
            roots,
            [
                (Http, AliasKind::Root, "/p/html", false),
                (Server, AliasKind::Root, "/p/html", false),
                (Location, Prefix(1), "/srv/a/", false),
                (Location, Prefix(2), "/srv/x", false),
                (Location, Regex, "/srv/r/$1", true),
                (Location, AliasKind::Root, "/p/rel", false),
                (Location, AliasKind::Root, "/abs", false),
            ]
        );
        // The values that are the argument as written are read from the config.
        assert_eq!(blocks.texts.len(), 3, "{:?}", blocks.texts);
        let prefix = |len, scripted| Root::new(Block::NONE, Block::NONE, len, scripted);
        assert_eq!(prefix(0, false).alias(), Prefix(0));
        assert_eq!(prefix(Root::LONGEST, false).alias(), Prefix(Root::LONGEST));
        assert!(!prefix(Root::LONGEST, false).scripted());
        assert_eq!(prefix(Root::LONGEST, true).alias(), Prefix(Root::LONGEST));
        assert!(prefix(Root::LONGEST, true).scripted());
        assert_eq!(prefix(Root::REGEX, true).alias(), Regex);
    }

    /// `of` finds every node's block, the last one for a node in two blocks (a file included
    /// in two servers), and none for a directive that is not a block.
    #[test]
    fn blocks_are_found_by_node() {
        let dump = "# configuration file /etc/nginx/nginx.conf:\nevents {}\nhttp { \
                    server { include /etc/nginx/s.conf; location /a/ { if ($x) { } } } \
                    server { listen 81; include /etc/nginx/s.conf; limit_except GET { } } }\n\
                    # configuration file /etc/nginx/s.conf:\nlocation /s/ { location /s/t/ { } }\n";
        let cfg =
            crate::nginx::load_dump(&crate::sysroot::SysRoot::live(), dump.as_bytes(), "test")
                .unwrap();
        let http = cfg.top().find(|d| d.is("http"));
        let (blocks, _) = Blocks::build(&cfg, http, Path::new("/p"), None);
        let mut found = 0;
        for node in 0..cfg.directive_count() as NodeId + 2 {
            let last = (blocks.blocks.iter()).rposition(|b| b.node() == Some(node));
            assert_eq!(blocks.of(node), last, "node {node}");
            found += usize::from(last.is_some());
        }
        // http, 2 servers, /a/, if, limit_except, and /s/ and /s/t/ once or in each server.
        assert!(found >= 8, "{found} blocks found");
    }

    #[test]
    fn prefix_join() {
        assert_eq!(
            join_prefix(Path::new("/usr/share/nginx"), "html"),
            "/usr/share/nginx/html"
        );
        assert_eq!(join_prefix(Path::new("/p/"), "x"), "/p/x");
        assert_eq!(join_prefix(Path::new("/p/"), "/abs"), "/abs");
    }
}
