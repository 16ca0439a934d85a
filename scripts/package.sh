#!/usr/bin/env bash
# Builds what a server without Rust installs, into dist/:
#
#   media-doctor_VERSION-1_amd64.deb                        the .deb (cargo-deb)
#   media-doctor-VERSION-x86_64-unknown-linux-musl.tar.gz   the same files for any x86_64 Linux
#   SHA256SUMS
#
# Both hold one static musl binary (no glibc version to match: it runs on any Debian, Ubuntu,
# RHEL or Alpine), its man pages and its bash/zsh/fish completions, generated here by the binary
# itself so they always match it.
#
# Needs: the rust target (rustup target add x86_64-unknown-linux-musl), musl-gcc for the C in
# pcre2, ring and tree-sitter (apt-get install musl-tools), and cargo-deb (cargo install
# cargo-deb --version 3.8.0 --locked). .ci/run and .github/workflows/release.yml install them.
#
# Usage: scripts/package.sh [--deb-only]     (--deb-only: skip the tarball, as CI does)
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=x86_64-unknown-linux-musl
DIST=dist
ASSETS=target/assets # named in Cargo.toml's [package.metadata.deb] assets
deb_only=false
case "${1:-}" in
    --deb-only) deb_only=true ;;
    "") ;;
    *) echo "usage: $0 [--deb-only]" >&2; exit 2 ;;
esac

need() {
    command -v "$1" >/dev/null || { echo "package.sh: $1 not found: $2" >&2; exit 2; }
}
need musl-gcc "apt-get install musl-tools"
need cargo-deb "cargo install cargo-deb --version 3.8.0 --locked"
rustup target list --installed 2>/dev/null | grep -qx "$TARGET" \
    || { echo "package.sh: rustup target add $TARGET" >&2; exit 2; }

# Seconds since the script started, for the closing line.
started=$SECONDS
step() { echo "== $* ($((SECONDS - started)) s)" >&2; }

step "cargo build --release --target $TARGET"
# cc-rs would look for x86_64-linux-musl-gcc; Debian names the wrapper musl-gcc.
export CC_x86_64_unknown_linux_musl=musl-gcc
cargo build --release --locked --target "$TARGET"
target_dir=$(cargo metadata --no-deps --format-version 1 | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="$target_dir/$TARGET/release/media-doctor"
# A dynamic executable names its loader (PT_INTERP); a static one, even static-pie, does not.
if readelf -l "$bin" | grep -q 'program interpreter'; then
    echo "package.sh: $bin is dynamically linked; expected a static binary" >&2
    exit 1
fi

step "man pages and completions"
rm -rf "$ASSETS"
mkdir -p "$ASSETS/man" "$ASSETS/completions"
"$bin" man >"$ASSETS/man/media-doctor.1"
# One page per command, as the SUBCOMMANDS section of media-doctor(1) names them.
for cmd in $("$bin" man | sed -n 's/^media\\-doctor\\-\(.*\)(1)$/\1/p' | sed 's/\\-/-/g'); do
    "$bin" man "$cmd" >"$ASSETS/man/media-doctor-$cmd.1"
done
"$bin" completions bash >"$ASSETS/completions/media-doctor"
"$bin" completions zsh >"$ASSETS/completions/_media-doctor"
"$bin" completions fish >"$ASSETS/completions/media-doctor.fish"

version=$("$bin" --version | awk '{print $2}')
rm -rf "$DIST"
mkdir -p "$DIST"

step "cargo deb"
cargo deb --no-build --strip --target "$TARGET" --output "$DIST/"

if ! $deb_only; then
    step "tarball"
    name="media-doctor-$version-$TARGET"
    stage="$target_dir/package/$name"
    rm -rf "$stage"
    mkdir -p "$stage"
    cp "$bin" "$stage/"
    strip "$stage/media-doctor"
    cp -r "$ASSETS/man" "$ASSETS/completions" "$stage/"
    cp README.md CHANGELOG.md LICENSE-MIT LICENSE-APACHE "$stage/"
    tar -C "$(dirname "$stage")" --owner=0 --group=0 -czf "$DIST/$name.tar.gz" "$name"
fi

(cd "$DIST" && shopt -s nullglob && sha256sum -- *.deb *.tar.gz >SHA256SUMS)
step "done"
ls -l "$DIST" >&2
