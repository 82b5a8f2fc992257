#!/usr/bin/env bash
# hack/image-rootfs.sh BINARY ROOTFS: lays out a minimal runtime root filesystem for BINARY —
# the binary at /usr/local/bin, exactly the shared libraries `ldd` lists plus the loader, CA
# certificates, and passwd/group entries for the non-root user 65532 — with every timestamp set
# to SOURCE_DATE_EPOCH so the image is reproducible. Used by hack/build-image.sh and the
# Dockerfiles' build stage; no shell is needed in the result.
set -euo pipefail
binary="$1" rootfs="$2"
epoch="${SOURCE_DATE_EPOCH:-0}"
[ -x "$binary" ] || { echo "not an executable: $binary" >&2; exit 1; }

mkdir -p "$rootfs"/{usr/local/bin,etc/ssl/certs,tmp,home/nonroot}
install -m 0755 "$binary" "$rootfs/usr/local/bin/$(basename "$binary")"

# `ldd` lines: "libx.so.1 => /path/libx.so.1 (0x...)" and the loader "/lib64/ld-linux-x86-64.so.2 (0x...)".
ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u |
  while read -r lib; do
    mkdir -p "$rootfs$(dirname "$lib")"
    install -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
  done

printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
  >"$rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
# Kafka TLS and S3 over https trust the public CAs through this bundle (SSL_CERT_FILE).
[ -f /etc/ssl/certs/ca-certificates.crt ] || {
  echo "image-rootfs: /etc/ssl/certs/ca-certificates.crt is missing (install ca-certificates)" >&2
  exit 1
}
install -m 0644 /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
chmod 1777 "$rootfs/tmp"
chown 65532:65532 "$rootfs/home/nonroot" 2>/dev/null || true
find "$rootfs" -exec touch -h -d "@$epoch" {} +
