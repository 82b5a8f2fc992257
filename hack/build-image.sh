#!/usr/bin/env bash
# hack/build-image.sh NAME BINARY PORT... : builds the OCI image NAME:<version> from a release
# BINARY without a container daemon (umoci + skopeo), reproducibly (fixed timestamps, sorted
# content). Writes target/images/NAME-<version>.oci.tar (an OCI archive: `docker load`,
# `ctr import`, `kind load image-archive`, `skopeo copy oci-archive:...`) and
# NAME-<version>.docker.tar (a docker-archive, for older Docker engines).
set -euo pipefail
name="$1" binary="$2"; shift 2
ports=("$@")
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)"
out="${IMAGE_OUT:-$root/target/images}"
# The last commit's time, so a rebuild of the same tree gives the same digest.
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)}"
created="$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)"

if ! command -v umoci >/dev/null || ! command -v skopeo >/dev/null || ! command -v jq >/dev/null; then
  echo "[image] installing umoci, skopeo and jq (Debian packages)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq umoci skopeo jq >/dev/null
fi

work="$out/work/$name"
rm -rf "$work"
mkdir -p "$work" "$out"
layout="$work/oci" image="$work/oci:$version"
umoci init --layout "$layout"
umoci new --image "$image"
umoci unpack --image "$image" "$work/bundle" >/dev/null
"$root/hack/image-rootfs.sh" "$binary" "$work/bundle/rootfs"
umoci repack --image "$image" --history.created "$created" --history.author skiff \
  --history.created_by "hack/build-image.sh $name" "$work/bundle"
config=(--image "$image" --no-history --created "$created" --author skiff --os linux
  --architecture amd64 --config.user 65532:65532 --config.workingdir /
  --config.env PATH=/usr/local/bin:/usr/bin:/bin
  --config.env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
  --config.entrypoint "/usr/local/bin/$(basename "$binary")"
  --config.label "org.opencontainers.image.title=$name"
  --config.label "org.opencontainers.image.version=$version"
  --config.label "org.opencontainers.image.created=$created")
for port in "${ports[@]}"; do config+=(--config.exposedports "$port/tcp"); done
umoci config "${config[@]}"
umoci gc --layout "$layout"

oci_tar="$out/$name-$version.oci.tar" docker_tar="$out/$name-$version.docker.tar"
rm -f "$oci_tar" "$docker_tar"
# An OCI layout holding only this image, named NAME:VERSION, tarred with fixed metadata (skopeo's
# oci-archive would stamp the current time on the tar entries).
skopeo copy --quiet "oci:$layout:$version" "oci:$work/export:$name:$version"
# containerd (ctr import, kind load) names the image by this annotation.
jq -c --arg ref "docker.io/library/$name:$version" \
  '.manifests[0].annotations["io.containerd.image.name"] = $ref' "$work/export/index.json" \
  >"$work/index.json" && mv "$work/index.json" "$work/export/index.json"
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
  -cf "$oci_tar" -C "$work/export" oci-layout index.json blobs
skopeo copy --quiet "oci:$layout:$version" "docker-archive:$docker_tar:$name:$version"
echo "[image] $name:$version -> $oci_tar ($(du -h "$oci_tar" | cut -f1)), $docker_tar"
