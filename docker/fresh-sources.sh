#!/bin/sh
# Make cargo see exactly the source files whose content changed since the last build in
# the shared target cache, whatever their mtimes say.
#
#   fresh-sources.sh prepare <own manifest> <last manifest>   before `cargo build`, in the source root
#   fresh-sources.sh record  <own manifest> <last manifest>   after it succeeded
#
# <own manifest>: the content the last successful build of this package (and profile) was
# made from; <last manifest>: the content of the last successful build of any package in
# that profile.
#
# Why: cargo decides that a workspace crate is fresh when no input is newer than its last
# build. The target directory is a cache mount shared by every build on the engine, so a
# checkout whose files are older than that build (another clone made earlier, a clone
# that stamps the commit time) compiled against stale crates: a changed crates/http was
# taken as built, and the gateway failed to compile against the old one.
#
# prepare: every file gets one old mtime, then the files whose content differs from either
# manifest (or all files, when one is missing) get the current time. Both are needed: with
# only the last build's, an edit to course-agent recorded by a gateway build in between
# would look built to the next course-agent build (skaffold dev builds one image at a
# time); with only the package's own, a shared crate compiled from another checkout's
# content since would look current. record: the content just built becomes both manifests.
set -eu

usage="usage: fresh-sources.sh prepare|record <own manifest> <last manifest>"
mode=${1:?$usage}
own=${2:?$usage}
last=${3:?$usage}
pending="$own.pending"

changed_since() {
    # Lines only in the pending list: new files and files with new content.
    # "<64 hex digits><two spaces><path>": the path starts at column 67.
    if [ -f "$1" ]; then
        LC_ALL=C comm -13 "$1" "$pending" | cut -c 67-
    else
        cut -c 67- "$pending"
    fi
}

case "$mode" in
prepare)
    mkdir -p "$(dirname "$own")" "$(dirname "$last")"
    find . -path ./target -prune -o -type f -print | LC_ALL=C sort \
        | xargs -r sha256sum | LC_ALL=C sort >"$pending"
    find . -path ./target -prune -o -type f -exec touch -m -d @1 {} +
    { changed_since "$own"; changed_since "$last"; } | LC_ALL=C sort -u >"$own.changed"
    xargs -r touch -m <"$own.changed"
    echo "fresh-sources: $(wc -l <"$own.changed") of $(wc -l <"$pending") files changed since the last build"
    ;;
record)
    cp "$pending" "$last"
    mv "$pending" "$own"
    ;;
*)
    echo "fresh-sources: unknown mode '$mode' (prepare or record)" >&2
    exit 2
    ;;
esac
