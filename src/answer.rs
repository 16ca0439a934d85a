//! One answer for both servers (#14: checks about files, apps and live answers are written once).
//! The nginx model (`nginx::resolve::Resolution`) and the Apache model
//! (`apache::resolve::Resolution`) keep their own types, with the same fields; what a check reads
//! from an answer (the status, the file and its walk, the upstream, the redirect, the log lines,
//! the steps) it reads through `Answer`, whichever server produced it.

use crate::fs::walk::Walk;
use crate::nginx::resolve::Handler;
use std::path::Path;

/// Which server's model answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerKind {
    Nginx,
    Apache,
}

impl ServerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ServerKind::Nginx => "nginx",
            ServerKind::Apache => "apache",
        }
    }
}

/// What either model says about one request.
pub trait Answer {
    fn server_kind(&self) -> ServerKind;
    /// The decoded URI the server matched (None when it refused the request target).
    fn uri(&self) -> Option<&str>;
    fn handler(&self) -> &Handler;
    /// The file (or directory) the server opens, as it builds the path.
    fn path(&self) -> Option<&Path>;
    /// The status, when the config and the files decide it.
    fn predicted_status(&self) -> Option<u16>;
    fn reason(&self) -> &str;
    /// The walk of `path` as the server's worker user.
    fn walk(&self) -> Option<&Walk>;
    fn redirect(&self) -> Option<&str>;
    /// Where a request handed to an app goes (a proxy URL, a WSGI script).
    fn upstream(&self) -> Option<&str>;
    /// The server's error-log lines for this request.
    fn log(&self) -> &[String];
    fn steps(&self) -> &[String];
}

macro_rules! answer_fields {
    () => {
        fn uri(&self) -> Option<&str> {
            self.uri.as_deref()
        }
        fn handler(&self) -> &Handler {
            &self.handler
        }
        fn path(&self) -> Option<&Path> {
            self.path.as_deref()
        }
        fn predicted_status(&self) -> Option<u16> {
            self.predicted_status
        }
        fn reason(&self) -> &str {
            &self.reason
        }
        fn walk(&self) -> Option<&Walk> {
            self.walk.as_ref()
        }
        fn redirect(&self) -> Option<&str> {
            self.redirect.as_deref()
        }
        fn upstream(&self) -> Option<&str> {
            self.upstream.as_deref()
        }
        fn log(&self) -> &[String] {
            &self.log
        }
        fn steps(&self) -> &[String] {
            &self.steps
        }
    };
}

impl Answer for crate::nginx::resolve::Resolution {
    fn server_kind(&self) -> ServerKind {
        ServerKind::Nginx
    }
    answer_fields!();
}

impl Answer for crate::apache::resolve::Resolution {
    fn server_kind(&self) -> ServerKind {
        ServerKind::Apache
    }
    answer_fields!();
}

/// Why a file is not served, in words that hold for either server: from the walk when the
/// worker cannot reach or read it, else the model's reason. (The one explanation `trace` and the
/// file checks give, whichever server answered.)
pub fn file_verdict(a: &dyn Answer) -> String {
    let server = a.server_kind().as_str();
    match (a.predicted_status(), a.walk()) {
        (Some(200), _) => format!("{server} serves it"),
        (Some(st), Some(w)) if !w.outcome.is_found() => {
            format!("{server} answers {st}: {} ({})", a.reason(), w.outcome)
        }
        (Some(st), _) => format!("{server} answers {st}: {}", a.reason()),
        (None, _) => format!(
            "{server}: the status cannot be told offline: {}",
            a.reason()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_verdict_reads_either_server() {
        let nginx = crate::nginx::resolve::Resolution {
            uri: Some("/media/a.jpg".into()),
            server: None,
            server_choice: String::new(),
            location: None,
            handler: Handler::Static,
            path: Some("/srv/media/a.jpg".into()),
            final_path: None,
            predicted_status: Some(404),
            unknown: None,
            reason: "no such file".into(),
            walk: None,
            redirect: None,
            upstream: None,
            log: Vec::new(),
            steps: Vec::new(),
        };
        let apache = crate::apache::resolve::Resolution {
            uri: Some("/media/a.jpg".into()),
            vhost: None,
            server_choice: String::new(),
            mapping: None,
            handler: Handler::Static,
            path: Some("/srv/media/a.jpg".into()),
            predicted_status: Some(404),
            reason: "no such file".into(),
            walk: None,
            redirect: None,
            upstream: None,
            log: Vec::new(),
            steps: Vec::new(),
            is_file: false,
        };
        assert_eq!(file_verdict(&nginx), "nginx answers 404: no such file");
        assert_eq!(file_verdict(&apache), "apache answers 404: no such file");
        assert_eq!(nginx.path(), apache.path());
    }
}
