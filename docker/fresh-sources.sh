#!/bin/sh
# Make cargo see exactly the source files whose content changed since the last build in
# the shared target cache, whatever their mtimes say.
#
#   fresh-sources.sh prepare <manifest>   before `cargo build`, in the source root
#   fresh-sources.sh record  <manifest>   after it succeeded
#
# Why: cargo decides that a workspace crate is fresh when no input is newer than its last
# build. The target directory is a cache mount shared by every build on the engine, so a
# checkout whose files are older than that build (another clone made earlier, a clone
# that stamps the commit time) compiled against stale crates: a changed crates/http was
# taken as built, and the gateway failed to compile against the old one.
#
# prepare: every file gets one old mtime, then the files whose content differs from the
# manifest of the last successful build (or all files, when there is none) get the
# current time. record: the content just built becomes the manifest.
set -eu

mode=${1:?usage: fresh-sources.sh prepare|record <manifest>}
manifest=${2:?usage: fresh-sources.sh prepare|record <manifest>}
pending="$manifest.pending"

case "$mode" in
prepare)
    mkdir -p "$(dirname "$manifest")"
    find . -path ./target -prune -o -type f -print | LC_ALL=C sort \
        | xargs -r sha256sum | LC_ALL=C sort >"$pending"
    find . -path ./target -prune -o -type f -exec touch -m -d @1 {} +
    if [ -f "$manifest" ]; then
        # Lines only in the pending list: new files and files with new content.
        # "<64 hex digits><two spaces><path>": the path starts at column 67.
        LC_ALL=C comm -13 "$manifest" "$pending" | cut -c 67- >"$manifest.changed"
    else
        cut -c 67- "$pending" >"$manifest.changed"
    fi
    xargs -r touch -m <"$manifest.changed"
    echo "fresh-sources: $(wc -l <"$manifest.changed") of $(wc -l <"$pending") files changed since the last build"
    ;;
record)
    mv "$pending" "$manifest"
    ;;
*)
    echo "fresh-sources: unknown mode '$mode' (prepare or record)" >&2
    exit 2
    ;;
esac
