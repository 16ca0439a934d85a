//! Whether a process runs in a container, and which one: its cgroup (read through the sysroot,
//! so a fake /proc under `--root` answers too) names the engine and the container's id; on this
//! machine, `docker inspect` adds the compose project, service and files and the container's
//! mounts, when the docker CLI is installed and answers (it only reads). With them, a
//! container path maps to the host path behind it, and nginx reloads with
//! `docker compose exec SERVICE nginx -s reload`.

use super::loaded::Supervisor;
use crate::sysroot::SysRoot;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A container a process runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// `docker` or `podman`.
    pub engine: &'static str,
    /// The short id (12 hex digits).
    pub id: String,
    /// What `docker inspect` said, when it could be asked.
    pub inspected: Option<Inspected>,
}

/// The parts of `docker inspect` that matter here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inspected {
    /// `com.docker.compose.service`, when compose created the container.
    pub service: Option<String>,
    /// `com.docker.compose.project.working_dir`.
    pub working_dir: Option<PathBuf>,
    /// `com.docker.compose.project.config_files` (comma-separated paths).
    pub config_files: Vec<PathBuf>,
    /// Mounts: (host source, container destination).
    pub mounts: Vec<(PathBuf, String)>,
    /// The container's name (`Name`, without its `/`): Docker's DNS answers to it on the
    /// container's user-defined networks.
    pub name: Option<String>,
    /// Its network aliases (`NetworkSettings.Networks.NET.Aliases`), each with its network:
    /// Docker's DNS answers to them on that network.
    pub aliases: Vec<(String, String)>,
}

impl Inspected {
    /// How the container answers to the host name `host` on a network (its compose service, its
    /// name, a network alias: what Docker's DNS resolves), as (kind, in words); none of them.
    pub fn answers_to(&self, host: &str) -> Option<(&'static str, String)> {
        let is = |n: &str| n.eq_ignore_ascii_case(host);
        if self.service.as_deref().is_some_and(is) {
            return Some(("compose service", format!("compose service {host}")));
        }
        if self.name.as_deref().is_some_and(is) {
            return Some(("container name", format!("container name {host}")));
        }
        self.aliases.iter().find(|(a, _)| is(a)).map(|(a, net)| {
            (
                "network alias",
                format!("network alias {a} on network {net}"),
            )
        })
    }

    /// What names the container on a network was read (`compose service`, `container name`,
    /// `network aliases`), in words: "" when none.
    pub fn names_read(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.service.is_some() {
            out.push("compose service");
        }
        if self.name.is_some() {
            out.push("container name");
        }
        if !self.aliases.is_empty() {
            out.push("network aliases");
        }
        out
    }
}

/// The container process `pid` runs in, from /proc/PID/cgroup under `root`; inspected only on
/// the live system.
pub fn of_pid(root: &SysRoot, pid: i32) -> Option<Container> {
    let cgroup =
        std::fs::read_to_string(root.host_path(Path::new(&format!("/proc/{pid}/cgroup")))).ok()?;
    let Supervisor::Container { engine, id } = Supervisor::from_cgroup(&cgroup) else {
        return None;
    };
    let inspected = if root.is_live() {
        inspect(engine, &id)
    } else {
        None
    };
    Some(Container {
        engine,
        id,
        inspected,
    })
}

/// `ENGINE inspect ID`, when the CLI is on PATH and answers within 5 s.
fn inspect(engine: &str, id: &str) -> Option<Inspected> {
    let cli = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.join(engine))
        .find(|p| p.is_file())?;
    let out = super::run(
        &cli,
        &["inspect".as_ref(), id.as_ref()],
        Duration::from_secs(5),
    )
    .ok()
    .filter(|o| o.success)?;
    parse_inspect(&String::from_utf8_lossy(&out.stdout))
}

/// A docker container as its config on this machine's disk says (/var/lib/docker/containers/ID/
/// config.v2.json: its labels, name and network aliases, as `docker inspect` gives them), no
/// daemon asked. `id`: the full id (as a cgroup names it). Needs root.
pub fn inspected_on_disk(root: &SysRoot, id: &str) -> Option<Inspected> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let file = Path::new("/var/lib/docker/containers")
        .join(id)
        .join("config.v2.json");
    // The view of a process (nginx in a container): the machine's disk, not the container's.
    let file = if root.process().is_some() {
        file
    } else {
        root.host_path(&file)
    };
    parse_inspect(&std::fs::read_to_string(file).ok()?)
}

/// The output of `docker inspect ID` (a JSON array of one object).
pub fn parse_inspect(text: &str) -> Option<Inspected> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let c = v.as_array().and_then(|a| a.first()).unwrap_or(&v);
    let label = |k: &str| {
        c["Config"]["Labels"][k]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let mounts = c["Mounts"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .filter_map(|m| {
                    Some((
                        PathBuf::from(m["Source"].as_str()?),
                        m["Destination"].as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Inspected {
        service: label("com.docker.compose.service"),
        working_dir: label("com.docker.compose.project.working_dir").map(PathBuf::from),
        config_files: label("com.docker.compose.project.config_files")
            .map(|f| f.split(',').map(|p| PathBuf::from(p.trim())).collect())
            .unwrap_or_default(),
        mounts,
        name: c["Name"]
            .as_str()
            .map(|n| n.trim_start_matches('/'))
            .filter(|n| !n.is_empty())
            .map(str::to_string),
        aliases: c["NetworkSettings"]["Networks"]
            .as_object()
            .map(|nets| {
                nets.iter()
                    .flat_map(|(net, v)| {
                        v["Aliases"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|a| a.as_str())
                            .map(move |a| (a.to_string(), net.clone()))
                    })
                    .collect()
            })
            .unwrap_or_default(),
    })
}

impl Container {
    /// How to check and reload the nginx in this container: through compose when compose made
    /// it (`docker compose exec nginx nginx -s reload`, from the project's directory), else by
    /// the container's id.
    pub fn reload_nginx(&self) -> String {
        let compose = self.inspected.as_ref().and_then(|i| {
            let service = i.service.as_ref()?;
            let mut files = String::new();
            let defaults = [
                "compose.yaml",
                "compose.yml",
                "docker-compose.yml",
                "docker-compose.yaml",
            ];
            let only_default = i.config_files.len() == 1
                && i.config_files[0].parent() == i.working_dir.as_deref()
                && i.config_files[0]
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| defaults.contains(&n));
            if !only_default {
                for f in &i.config_files {
                    let shown = i
                        .working_dir
                        .as_deref()
                        .and_then(|d| f.strip_prefix(d).ok())
                        .unwrap_or(f);
                    files.push_str(&format!(" -f {}", shown.display()));
                }
            }
            let cd = i
                .working_dir
                .as_ref()
                .map(|d| format!("cd {} && ", d.display()))
                .unwrap_or_default();
            let dc = format!("sudo {} compose{files} exec {service}", self.engine);
            Some(format!("{cd}{dc} nginx -t && {dc} nginx -s reload"))
        });
        compose.unwrap_or_else(|| {
            format!(
                "sudo {e} exec {id} nginx -t && sudo {e} exec {id} nginx -s reload",
                e = self.engine,
                id = self.id
            )
        })
    }

    /// `docker container 0123456789ab (compose service web of /srv/shop)`.
    pub fn describe(&self) -> String {
        let mut s = format!("{} container {}", self.engine, self.id);
        if let Some(i) = &self.inspected {
            if let Some(svc) = &i.service {
                s.push_str(&format!(" (compose service {svc}"));
                if let Some(d) = &i.working_dir {
                    s.push_str(&format!(" of {}", d.display()));
                }
                s.push(')');
            }
        }
        s
    }

    /// The command that checks the compose project this container belongs to, when compose
    /// made it: its paths are judged through the project's mounts there.
    pub fn check_command(&self) -> Option<String> {
        let i = self.inspected.as_ref()?;
        i.service.as_ref()?;
        let dir = i.working_dir.as_ref()?;
        let mut cmd = format!("media-doctor check --app {}", dir.display());
        for f in &i.config_files {
            cmd.push_str(&format!(" --compose {}", f.display()));
        }
        Some(cmd)
    }

    /// The host path behind a path in the container (the deepest mount holding it), when
    /// the container was inspected and a mount holds it.
    pub fn host_path(&self, container_path: &str) -> Option<PathBuf> {
        let i = self.inspected.as_ref()?;
        i.mounts
            .iter()
            .filter_map(|(src, dst)| {
                let d = dst.trim_end_matches('/');
                let rel = if container_path == d || (d.is_empty() && container_path == "/") {
                    ""
                } else {
                    container_path.strip_prefix(d)?.strip_prefix('/')?
                };
                Some((d.len(), src, rel))
            })
            .max_by_key(|(len, _, _)| *len)
            .map(|(_, src, rel)| {
                if rel.is_empty() {
                    src.clone()
                } else {
                    src.join(rel)
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSPECT: &str = r#"[{"Id":"0123456789abcdef","Config":{"Labels":{
        "com.docker.compose.project":"shop",
        "com.docker.compose.service":"nginx",
        "com.docker.compose.project.working_dir":"/srv/shop",
        "com.docker.compose.project.config_files":"/srv/shop/docker-compose.yml,/srv/shop/docker-compose.prod.yml"}},
        "Mounts":[
          {"Type":"volume","Name":"shop_media","Source":"/var/lib/docker/volumes/shop_media/_data","Destination":"/srv/media","RW":false},
          {"Type":"bind","Source":"/srv/shop/nginx","Destination":"/etc/nginx/conf.d","RW":false}]}]"#;

    #[test]
    fn a_fake_proc_under_root_names_the_container() {
        let d = tempfile::tempdir().unwrap();
        let proc = d.path().join("proc/4242");
        std::fs::create_dir_all(&proc).unwrap();
        std::fs::write(
            proc.join("cgroup"),
            "0::/system.slice/docker-0123456789abcdef0123456789abcdef.scope\n",
        )
        .unwrap();
        let root = SysRoot::new(d.path());
        let c = of_pid(&root, 4242).expect("in a container");
        assert_eq!((c.engine, c.id.as_str()), ("docker", "0123456789ab"));
        // Not this machine: docker is not asked; the reload goes by the container's id.
        assert_eq!(c.inspected, None);
        assert_eq!(
            c.reload_nginx(),
            "sudo docker exec 0123456789ab nginx -t && sudo docker exec 0123456789ab nginx -s reload"
        );
        std::fs::write(proc.join("cgroup"), "0::/system.slice/nginx.service\n").unwrap();
        assert_eq!(of_pid(&root, 4242), None);
        assert_eq!(of_pid(&root, 1), None);
    }

    #[test]
    fn compose_labels_give_the_compose_reload_and_the_mounts_the_host_paths() {
        let c = Container {
            engine: "docker",
            id: "0123456789ab".into(),
            inspected: parse_inspect(INSPECT),
        };
        assert_eq!(
            c.reload_nginx(),
            "cd /srv/shop && sudo docker compose -f docker-compose.yml -f docker-compose.prod.yml exec nginx nginx -t && sudo docker compose -f docker-compose.yml -f docker-compose.prod.yml exec nginx nginx -s reload"
        );
        assert_eq!(
            c.host_path("/srv/media/a/b.jpg"),
            Some(PathBuf::from(
                "/var/lib/docker/volumes/shop_media/_data/a/b.jpg"
            ))
        );
        assert_eq!(
            c.host_path("/etc/nginx/conf.d"),
            Some(PathBuf::from("/srv/shop/nginx"))
        );
        assert_eq!(c.host_path("/srv/mediafiles"), None);
        assert_eq!(
            c.describe(),
            "docker container 0123456789ab (compose service nginx of /srv/shop)"
        );
        assert_eq!(
            c.check_command().unwrap(),
            "media-doctor check --app /srv/shop --compose /srv/shop/docker-compose.yml --compose /srv/shop/docker-compose.prod.yml"
        );
        // One default file: plain `docker compose`.
        let one = INSPECT.replace(",/srv/shop/docker-compose.prod.yml", "");
        let c = Container {
            inspected: parse_inspect(&one),
            ..c
        };
        assert_eq!(
            c.reload_nginx(),
            "cd /srv/shop && sudo docker compose exec nginx nginx -t && sudo docker compose exec nginx nginx -s reload"
        );
        assert_eq!(parse_inspect("not json"), None);
    }
}
