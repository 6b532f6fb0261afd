#!/bin/bash
# lympho — build the demo image locally (no registry is needed): a static
# busybox serving one page with httpd. The page names the container that
# serves it and when it started, so each regeneration shows as a new page.
#
# Usage: contrib/demo-image.sh [IMAGE]     (default lympho-demo:latest)
set -euo pipefail

image=${1:-lympho-demo:latest}
docker=/usr/bin/docker   # the engine's own client; a newer one may be first on PATH
busybox=/bin/busybox
# The list is read whole before it is searched: busybox writes it an applet
# at a time, and `busybox --list | grep -q` under pipefail fails whenever
# grep has found httpd and left before the last write (SIGPIPE, status 141).
applets=$("$busybox" --list 2>/dev/null || true)
if [ ! -x "$busybox" ] || ! grep -qx httpd <<<"$applets"; then
  echo "demo-image: $busybox with httpd is needed (Debian package busybox-static)" >&2
  exit 1
fi
if ldd "$busybox" >/dev/null 2>&1; then
  echo "demo-image: $busybox is dynamically linked; install busybox-static" >&2
  exit 1
fi

root=$(mktemp -d /tmp/lympho-demo-root.XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/bin "$root"/www "$root"/tmp "$root"/etc
cp "$busybox" "$root"/bin/busybox
for applet in $applets; do
  [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
chmod 1777 "$root"/tmp
echo 'root:x:0:0:root:/:/bin/sh' > "$root"/etc/passwd
echo 'root:x:0:' > "$root"/etc/group

# The page is written at start, so it belongs to this container's writable
# layer: a fresh generation writes its own.
cat > "$root"/start.sh <<'SCRIPT'
#!/bin/sh
cat > /www/index.html <<HTML
<!doctype html>
<title>lympho demo</title>
<h1>lympho demo</h1>
<p>Served by container <b>$(hostname)</b>, started $(date -u '+%Y-%m-%d %H:%M:%S UTC').</p>
<p>Protected by lymphd: this container is regenerated from a clean snapshot on its TTL.</p>
HTML
echo "demo: serving on port 80 as $(hostname)"
# As PID 1 httpd would ignore SIGTERM and every stop would wait for the
# engine's kill timeout; the shell ends it at once.
httpd -f -p 80 -h /www &
trap 'kill $!; exit 0' TERM INT
wait
SCRIPT
chmod 755 "$root"/start.sh

old_id=$("$docker" image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
tar -C "$root" --numeric-owner --owner=0 --group=0 -c . \
  | "$docker" import \
      -c 'CMD ["/bin/sh", "/start.sh"]' \
      -c 'EXPOSE 80' \
      -c 'WORKDIR /' \
      -c 'LABEL org.opencontainers.image.title=lympho-demo' \
      - "$image" >/dev/null
new_id=$("$docker" image inspect -f '{{.Id}}' "$image")
# Drop the previous build unless a container (or lymphd's pin) still uses it.
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
  "$docker" image rm "$old_id" >/dev/null 2>&1 || true
fi
echo "demo-image: $image ${new_id:7:12}"
