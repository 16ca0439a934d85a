//! The site's public base URL: `--url` (or the profile's `url`), else one built from the
//! server's `server_name` and whether it listens with `ssl`. Only a name that can be public is
//! used: no wildcard, regex, IP literal, `localhost`, or reserved test domain.

use reqwest::Url;

/// Where the public base URL came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `--url`.
    Flag,
    /// The profile's `url`.
    Profile,
    /// `server_name` + scheme.
    ServerName,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Flag => "--url",
            Source::Profile => "the profile's url",
            Source::ServerName => "server_name",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    pub url: Url,
    pub source: Source,
}

impl Base {
    /// The base joined with a URL path (`/media/a.jpg`), keeping a base path (`https://x/app`).
    pub fn join(&self, path: &str) -> Option<Url> {
        let mut u = self.url.clone();
        let base_path = u.path().trim_end_matches('/').to_string();
        u.set_path(&format!("{base_path}{path}"));
        u.set_query(None);
        Some(u)
    }
}

/// Parse and check a `--url` value: http or https, with a host.
pub fn parse_base(s: &str) -> Result<Url, String> {
    let url = Url::parse(s.trim()).map_err(|e| format!("{s:?} is not a URL: {e}"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!("{s:?}: only http:// and https:// URLs"));
    }
    if url.host_str().map_or(true, str::is_empty) {
        return Err(format!("{s:?}: the URL has no host"));
    }
    Ok(url)
}

/// Reserved or local names that never reach the public site.
const NOT_PUBLIC_SUFFIXES: &[&str] = &[
    ".localhost",
    ".local",
    ".test",
    ".invalid",
    ".example",
    ".internal",
    ".lan",
    ".home.arpa",
    ".localdomain",
];

/// A `server_name` entry usable as the public host, if it is one.
pub fn public_name(name: &str) -> Option<String> {
    let name = name.strip_prefix('.').unwrap_or(name).to_ascii_lowercase();
    let plain = !name.is_empty()
        && name.contains('.')
        && !name.contains(['*', '~', '$', ':', '/'])
        && name.parse::<std::net::IpAddr>().is_err()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    let reserved = name == "localhost"
        || NOT_PUBLIC_SUFFIXES
            .iter()
            .any(|s| name.ends_with(s) || name == s[1..]);
    (plain && !reserved).then_some(name)
}

/// `https://NAME` (or http) for the first public name of a server.
pub fn from_server_names<'a>(names: impl IntoIterator<Item = &'a str>, tls: bool) -> Option<Url> {
    let name = names.into_iter().find_map(public_name)?;
    let scheme = if tls { "https" } else { "http" };
    Url::parse(&format!("{scheme}://{name}/")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_names_make_a_base_url() {
        assert_eq!(public_name("example.com").as_deref(), Some("example.com"));
        assert_eq!(public_name(".example.com").as_deref(), Some("example.com"));
        for n in [
            "_",
            "",
            "localhost",
            "*.example.com",
            "www.example.*",
            "~^(.+)\\.example\\.com$",
            "site.test",
            "app.local",
            "10.0.0.1",
            "intranet",
            "$hostname",
        ] {
            assert_eq!(public_name(n), None, "{n}");
        }
        assert_eq!(
            from_server_names(["_", "www.example.org"], true)
                .unwrap()
                .as_str(),
            "https://www.example.org/"
        );
    }

    #[test]
    fn the_base_keeps_its_path() {
        let b = Base {
            url: parse_base("https://example.com/app/").unwrap(),
            source: Source::Flag,
        };
        assert_eq!(
            b.join("/media/a.jpg").unwrap().as_str(),
            "https://example.com/app/media/a.jpg"
        );
        assert!(parse_base("ftp://x").is_err());
        assert!(parse_base("example.com").is_err());
    }
}
