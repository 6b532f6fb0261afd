# lympho conformance — the containerd driver (sourced by conformance.sh;
# the interface is at the top of backend-docker.sh).
#
# A PRIVATE containerd under $CF_TMP/ctrd (own root, state, socket and
# config; never the one dockerd uses), driven by lymphd through the plugin
# contrib/runtimes/lympho-containerd in namespace lympho. Containers are made
# with ctr as a user would: id NAME, no name label, so that lymphd's first
# regeneration renames a container whose id stays NAME. be_ps reads ctr
# itself and names containers and ids the way the plugin documents (label
# io.lympho.containerd.name, else the id; ids ctr:ID but for lympho-<hex>).
# Needs root, containerd, ctr, python3 and /bin/busybox.
# shellcheck shell=bash
# shellcheck disable=SC2034 # BE_* and CF_OWN_ENGINE are read by conformance.sh

CF_CTRD=$CF_TMP/ctrd
CF_CTRD_SOCK=$CF_CTRD/c.sock
CF_CTRD_PID=
CF_PLUGIN=$LYT_SRCDIR/contrib/runtimes/lympho-containerd
CF_NS=lympho
# Plugin calls are a few ctr runs each; a hang is cut after this.
CF_PLUGIN_TIMEOUT_MS=${CF_PLUGIN_TIMEOUT_MS:-15000}
# How the plugin gives lymphd its events: stream (ctr events) or poll.
CF_CONTAINERD_EVENTS=${CF_CONTAINERD_EVENTS:-stream}

be_ctr () { ctr --address "$CF_CTRD_SOCK" --namespace "$CF_NS" "$@"; }

cf_ctrd_start ()
{
  CF_CTRD_PID=$("$LYT_SRCDIR/contrib/detach.sh" "$CF_CTRD/containerd.log" containerd --config "$CF_CTRD/config.toml" \
    --root "$CF_CTRD/root" --state "$CF_CTRD/state" --address "$CF_CTRD_SOCK")
  wait_for "ctr --address '$CF_CTRD_SOCK' version >/dev/null 2>&1" 30 || {
    echo "containerd does not answer; see $CF_CTRD/containerd.log" >&2
    return 1
  }
}

# Everything a stop of containerd leaves running: the shims of our
# containerd (they name its socket) and the containers under them.
cf_ctrd_leftovers ()
{
  local p
  for p in /proc/[0-9]*; do
    grep -qF -- "-address $CF_CTRD_SOCK " < <(tr '\0' ' ' 2>/dev/null <"$p/cmdline") && echo "${p#/proc/}"
  done
}

cf_ctrd_stop () # [kill-containers]
{
  local pids p
  if [ "${1:-}" = kill-containers ]; then
    # As at a power cut: the workloads and their shims die with it.
    pids=$(be_ctr tasks ls 2>/dev/null | awk 'NR > 1 && $2 > 0 { print $2 }')
    for p in $pids; do kill -9 "$p" 2>/dev/null; done
  fi
  if [ -n "$CF_CTRD_PID" ]; then
    kill -TERM "$CF_CTRD_PID" 2>/dev/null
    wait_for "! kill -0 $CF_CTRD_PID 2>/dev/null" 30 || kill -9 "$CF_CTRD_PID" 2>/dev/null
  fi
  CF_CTRD_PID=
  if [ "${1:-}" = kill-containers ]; then
    for p in $(cf_ctrd_leftovers); do kill -9 "$p" 2>/dev/null; done
  fi
}

be_up ()
{
  local c
  [ "$(id -u)" = 0 ] || { echo "containerd: needs root" >&2; return 1; }
  for c in containerd ctr python3; do
    command -v "$c" >/dev/null 2>&1 || { echo "containerd: $c missing" >&2; return 1; }
  done
  [ -x /bin/busybox ] || { echo "containerd: /bin/busybox missing (the test image is made of it)" >&2; return 1; }
  mkdir -p "$CF_CTRD" || return 1
  cat >"$CF_CTRD/config.toml" <<EOF
version = 2
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$CF_CTRD_SOCK"
[ttrpc]
  address = "$CF_CTRD_SOCK.ttrpc"
[debug]
  address = ""
EOF
  cf_ctrd_start || return 1
  BE_IMAGE=docker.io/library/cfbox:1
  if ! "$LYT_SRCDIR/contrib/runtimes/oci-busybox.sh" "$CF_CTRD/img.tar" "$BE_IMAGE" >&2 ||
    ! be_ctr image import "$CF_CTRD/img.tar" >/dev/null; then
    echo "containerd: cannot import the test image" >&2
    return 1
  fi
  # Ours alone: the engine-restart case may restart it.
  CF_OWN_ENGINE=1
  BE_LYMPHD_ARGS=(--runtime "exec:$CF_PLUGIN")
  BE_LYMPHD_ENV=("LYMPHO_CONTAINERD_ADDRESS=$CF_CTRD_SOCK" "LYMPHO_CONTAINERD_NAMESPACE=$CF_NS"
    "LYMPHO_PLUGIN_TIMEOUT_MS=$CF_PLUGIN_TIMEOUT_MS" "LYMPHO_CONTAINERD_EVENTS=$CF_CONTAINERD_EVENTS")
}

be_down ()
{
  local c
  if [ -n "$CF_CTRD_PID" ]; then
    for c in $(be_ctr containers ls -q 2>/dev/null); do
      be_ctr tasks delete --force "$c" >/dev/null 2>&1
      be_ctr containers delete "$c" >/dev/null 2>&1
    done
  fi
  cf_ctrd_stop kill-containers
  # Snapshots or rootfs still mounted would keep conformance.sh from
  # removing $CF_TMP.
  awk -v d="$CF_CTRD/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null
  done
  return 0
}

be_run ()
{
  local name=$1 l args=()
  shift
  for l in "$@"; do args+=(--label "$l"); done
  be_ctr containers create "${args[@]}" -- "$BE_IMAGE" "$name" \
    sh -c 'trap "exit 0" TERM; while :; do sleep 1; done' >/dev/null &&
    be_ctr tasks start -d --null-io "$name" >/dev/null
}

# The engine's view, read with ctr: ps (be_ps's lines) or rm NAME...
cf_view ()
{
  python3 - "$CF_CTRD_SOCK" "$CF_NS" "$@" <<'EOF'
import json, re, subprocess, sys
sock, ns, what, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
def ctr(*a):
    return subprocess.run(["ctr", "--address", sock, "--namespace", ns, *a], capture_output=True, text=True)
tasks = {}
for l in ctr("tasks", "ls").stdout.splitlines()[1:]:
    f = l.split()
    if len(f) >= 3:
        tasks[f[0]] = f[2].lower()
imgs = {}
for l in ctr("images", "ls").stdout.splitlines()[1:]:
    f = l.split()
    if len(f) >= 3:
        imgs[f[0]] = f[2]
out = []
for cid in ctr("containers", "ls", "-q").stdout.split():
    p = ctr("containers", "info", cid)
    if p.returncode != 0:
        continue
    i = json.loads(p.stdout)
    labels = i.get("Labels") or {}
    name = labels.get("io.lympho.containerd.name") or cid
    rid = cid if re.match(r"^lympho-[0-9a-f]{16}$", cid) else "ctr:" + cid
    st = tasks.get(cid)
    state = {"running": "running", "paused": "paused", "pausing": "paused", "created": "created",
             None: "exited" if labels.get("io.lympho.containerd.exited") else "created"}.get(st, "exited")
    image = labels.get("io.lympho.containerd.image") or imgs.get(i.get("Image", ""), i.get("Image", ""))
    if what == "ps":
        print("\t".join([name, rid, state, image, labels.get("lympho.generation", "-")]))
    elif what == "rm" and name in args:
        ctr("tasks", "delete", "--force", cid)
        ctr("containers", "delete", cid)
EOF
}

be_rm () { cf_view rm "$@"; }

be_ps () { cf_view ps; }

be_image_id ()
{
  be_ctr images ls 2>/dev/null | awk -v r="$1" 'NR > 1 && $1 == r { print $3 }'
}

be_engine_restart ()
{
  cf_ctrd_stop kill-containers
  [ -z "$(cf_ctrd_leftovers)" ] || return 1
  sleep 2
  cf_ctrd_start
}

be_fault_on ()
{
  BE_FAULT_LYMPHD_ARGS=(--runtime "exec:$CF_DIR/faulty-plugin")
  BE_FAULT_LYMPHD_ENV=("${BE_LYMPHD_ENV[@]}" "LYMPHO_FAULT_FILE=$CF_FAULT" "LYMPHO_FAULT_PLUGIN=$CF_PLUGIN")
}

# The injector is a wrapper lymphd runs per call: nothing to stop.
be_fault_off () { return 0; }
