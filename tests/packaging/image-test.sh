#!/usr/bin/env bash
# shellcheck disable=SC2015  # `[ a ] && [ b ] || fail` is intended: fail exits.
# Checks the image archives `make image` wrote under target/images: each is a valid OCI archive
# (and docker-archive) with one layer; its config runs as 65532:65532 with the right entrypoint
# and ports; the layer holds no shell, only root-owned files with the fixed timestamp; the
# binary runs (--version) from the unpacked rootfs as user 65532; and a rebuild is byte-identical.
# Run by `make image-test` (needs root for chroot, and the release binaries); arguments pick
# images (default: skiff-worker skiff-operator).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)"
images="$root/target/images"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "image-test: $*" >&2; exit 1; }

check_image() {
  local name="$1" port="$2" oci="$images/$1-$version.oci.tar" docker="$images/$1-$version.docker.tar"
  [ -f "$oci" ] && [ -f "$docker" ] || fail "$name: archives missing; run 'make image'"

  local config manifest
  config="$(skopeo inspect --config "oci-archive:$oci")"
  manifest="$(skopeo inspect --raw "oci-archive:$oci")"
  [ "$(tar -xOf "$oci" index.json | jq -r '.manifests[0].mediaType')" = application/vnd.oci.image.manifest.v1+json ] &&
    [ "$(jq -r .config.mediaType <<<"$manifest")" = application/vnd.oci.image.config.v1+json ] ||
    fail "$name: not an OCI image manifest"
  [ "$(jq '.layers | length' <<<"$manifest")" = 1 ] || fail "$name: expected one layer"
  [ "$(jq -r .config.User <<<"$config")" = 65532:65532 ] || fail "$name: user is not 65532:65532"
  [ "$(jq -c .config.Entrypoint <<<"$config")" = "[\"/usr/local/bin/$name\"]" ] ||
    fail "$name: entrypoint is $(jq -c .config.Entrypoint <<<"$config")"
  [ "$(jq -c '.config.ExposedPorts | keys' <<<"$config")" = "[\"$port/tcp\"]" ] ||
    fail "$name: exposed ports are $(jq -c .config.ExposedPorts <<<"$config")"
  jq -e '.config.Env | index("PATH=/usr/local/bin:/usr/bin:/bin")' <<<"$config" >/dev/null ||
    fail "$name: PATH does not reach /usr/local/bin (the operator runs the worker as 'skiff-worker')"
  jq -e '.config.Env | index("SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt")' <<<"$config" >/dev/null ||
    fail "$name: SSL_CERT_FILE does not name the CA bundle (librdkafka's OpenSSL would trust no CA)"
  [ "$(jq -r '"\(.os)/\(.architecture)"' <<<"$config")" = linux/amd64 ] || fail "$name: platform"
  skopeo inspect "docker-archive:$docker" >/dev/null || fail "$name: docker-archive unreadable"
  local ref
  ref="$(tar -xOf "$oci" index.json | jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]')"
  [ "$ref" = "$name:$version" ] || fail "$name: archive names the image '$ref'"

  # Unpack the layer and inspect it.
  local dir="$tmp/$name" layer
  mkdir -p "$dir/archive" "$dir/rootfs"
  tar -xf "$oci" -C "$dir/archive"
  layer="$(jq -r '.layers[0].digest' <<<"$manifest" | sed 's/^sha256://')"
  TZ=UTC tar -tvzf "$dir/archive/blobs/sha256/$layer" >"$dir/listing"
  tar -xzf "$dir/archive/blobs/sha256/$layer" -C "$dir/rootfs"
  [ ! -e "$dir/rootfs/bin/sh" ] && [ ! -e "$dir/rootfs/usr/bin/sh" ] || fail "$name: the image has a shell"
  grep -q "BEGIN CERTIFICATE" "$dir/rootfs/etc/ssl/certs/ca-certificates.crt" ||
    fail "$name: no CA bundle at /etc/ssl/certs/ca-certificates.crt"
  local foreign stamp
  foreign="$(awk '$2 != "root/root" && $2 != "0/0" {print $2, $NF}' "$dir/listing")"
  [ "$foreign" = "65532/65532 home/nonroot/" ] || fail "$name: unexpected owners: $foreign"
  stamp="$(TZ=UTC date -d "$(jq -r .created <<<"$config")" '+%Y-%m-%d %H:%M')"
  [ "$(awk '{print $4, $5}' "$dir/listing" | sort -u)" = "$stamp" ] ||
    fail "$name: layer timestamps are not all the image's creation time ($stamp)"
  local expected_libs
  expected_libs="$(ldd "$root/target/release/$name" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u)"
  for lib in $expected_libs; do [ -f "$dir/rootfs$lib" ] || fail "$name: $lib missing"; done
  local shipped
  shipped="$(cd "$dir/rootfs" && find . -name '*.so*' | sed 's|^\.||' | sort)"
  [ "$shipped" = "$expected_libs" ] || fail "$name: libraries differ from ldd:\n$shipped\nvs\n$expected_libs"

  # The binary runs from the rootfs, as the image's user.
  local out
  out="$(chroot --userspec=65532:65532 "$dir/rootfs" "/usr/local/bin/$name" --version)" ||
    fail "$name --version failed in the rootfs"
  [[ "$out" == *"$version"* ]] || fail "$name --version printed '$out'"
  echo "image-test: $name:$version ok ($out; $(wc -l <"$dir/listing") entries, $(du -h "$oci" | cut -f1))"
}

# Reproducible: the same binary and commit give byte-identical archives.
check_rebuild() {
  IMAGE_OUT="$tmp/rebuild" bash "$root/hack/build-image.sh" "$1" "$root/target/release/$1" "$2" >/dev/null
  for f in oci docker; do
    cmp -s "$images/$1-$version.$f.tar" "$tmp/rebuild/$1-$version.$f.tar" ||
      fail "$1: rebuilding gives a different $f archive"
  done
  echo "image-test: $1 rebuild is byte-identical"
}

declare -A ports=([skiff-worker]=8083 [skiff-operator]=8080)
for name in "${@:-skiff-worker skiff-operator}"; do
  for n in $name; do
    [ -n "${ports[$n]:-}" ] || fail "unknown image $n"
    check_image "$n" "${ports[$n]}"
    check_rebuild "$n" "${ports[$n]}"
  done
done
