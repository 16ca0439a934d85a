//! Containers: what a Compose project and its Dockerfiles say about where files live.
//!
//! `compose` reads the project (services, volumes, environment), `interpolate` does Compose's
//! `${VAR}` substitution, `dockerfile` reads each built image (stages, WORKDIR, COPY, USER, the
//! directories RUN creates and chowns; `dockerignore`: what the context never sends), and `mounts` maps a path in a container to its storage
//! (a named volume, a host directory, an anonymous volume, tmpfs or the image's own layer) and a
//! checkout path to the container path COPY put it at. Everything is read from files: no Docker
//! daemon is asked.

pub mod app;
pub mod compose;
pub mod dockerfile;
pub mod dockerignore;
pub mod interpolate;
pub mod judge;
pub mod mounts;
pub mod view;

pub use view::{Containers, NotContainers};
