#!/bin/sh
# Write an OCI image archive of a busybox root file system to $1, named $2
# (for `ctr image import`), without a registry or another engine: one
# uncompressed layer, its config and manifest, digests from sha256sum.
set -eu
out=$1 name=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/root/bin" "$tmp/root/tmp" "$tmp/root/proc" "$tmp/root/sys" "$tmp/root/dev" "$tmp/root/etc" \
	"$tmp/oci/blobs/sha256"
cp /bin/busybox "$tmp/root/bin/busybox"
for t in sh sleep cat echo ls ps httpd touch; do ln -s busybox "$tmp/root/bin/$t"; done
echo 'root:x:0:0:root:/:/bin/sh' >"$tmp/root/etc/passwd"
tar --sort=name --mtime=@0 --owner=0 --group=0 -C "$tmp/root" -cf "$tmp/layer.tar" .
sum() { sha256sum "$1" | cut -d' ' -f1; }
put() { d=$(sum "$1"); mv "$1" "$tmp/oci/blobs/sha256/$d"; echo "$d"; }
lsize=$(stat -c %s "$tmp/layer.tar")
ldig=$(put "$tmp/layer.tar")
printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["/bin/sleep","3600"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
	"$ldig" >"$tmp/config.json"
csize=$(stat -c %s "$tmp/config.json")
cdig=$(put "$tmp/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
	"$cdig" "$csize" "$ldig" "$lsize" >"$tmp/manifest.json"
msize=$(stat -c %s "$tmp/manifest.json")
mdig=$(put "$tmp/manifest.json")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
	"$mdig" "$msize" "$name" >"$tmp/oci/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$tmp/oci/oci-layout"
tar -C "$tmp/oci" -cf "$out" .
