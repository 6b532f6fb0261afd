#!/bin/bash
# The lossless snapshot: a regenerated container is the container the user
# made. The engine's own inspect of the original and of each regeneration,
# at the engine's newest API version, must agree on every field except
# those listed here (identity and runtime fields, paths the engine makes,
# what it assigns dynamically, lympho's own labels):
#
#   Id, Created, State, RestartCount, ExecIDs, SizeRw, SizeRootFs,
#   ResolvConfPath, HostnamePath, HostsPath, LogPath, GraphDriver,
#   NetworkSettings: SandboxID, SandboxKey, the top-level endpoint fields
#     (EndpointID, IPAddress, IPPrefixLen, Gateway, MacAddress,
#     GlobalIPv6Address, GlobalIPv6PrefixLen, IPv6Gateway, LinkLocal*,
#     SecondaryIP*), and per network EndpointID, IPAddress/GlobalIPv6Address
#     where the user gave none (IPAMConfig), and MacAddress but on the
#     primary network with a static one (Config.MacAddress): the engine's
#     inspect does not tell a MAC address given for another network from
#     one it assigned, so none is carried there (lymphd(8), ENGINES)
#   labels lympho.generation, lympho.name, lympho.txn
#   the container's own id or short id wherever it appears (the default
#     hostname, its DNS names, Podman's HOSTNAME=<short id>) compares as
#     "<ID>"
#   on Podman, Config.Env compares as a set: its inspect lists the
#     environment in no fixed order
#   an anonymous volume is attached again by its name, so that its data
#     stays: HostConfig.Binds (-v /dst) or HostConfig.Mounts (--mount
#     without a source) name it, and the engine gives its mount the Mode
#     of a named one
#
# Lists whose order the engine does not keep (Mounts) compare sorted.
# Covered: env, cmd/entrypoint, user, workdir, ports, named, anonymous and
# bind volumes, tmpfs (both kinds), two networks with aliases and a static
# address and a static MAC address, healthcheck (start period; start
# interval from API 1.44),
# restart policy, capabilities, ulimits, log options, dns and extra hosts,
# sysctls, memory/cpu/pids limits, init, read-only root, security options,
# stop signal and timeout, annotations (API 1.43), hostname and domain
# name, oom score, shm size, extra groups; and the image reference the
# user gave, kept while it names the pinned image, the pin once it moved.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
lyt_init

sock=${LYT_DOCKER_HOST#unix://}
# Podman's Docker-compatible service is given its containers by the docker
# CLI, as the users of that service do: what is compared is what the
# Docker API made, with every option below spelled the Docker way (Podman's
# own CLI spells some otherwise, or not at all). runc needs explicit
# ulimits to start anything on these machines (../shared/ENGINE.md).
version=$(curl -s --max-time 5 --unix-socket "$sock" http://engine/version)
podman=no
if printf '%s' "$version" | jq -e '.Components[]? | select(.Name == "Podman Engine")' >/dev/null; then
  podman=yes
  cli=$(command -v docker || true)
  [ -x /usr/bin/docker ] && cli=/usr/bin/docker
  [ -n "$cli" ] || die "Podman: the docker CLI gives the containers (docker.io)"
  printf '#!/bin/sh\nDOCKER_API_VERSION= exec %q -H %q "$@"\n' "$cli" "$LYT_DOCKER_HOST" >"$LYT_TMP/docker"
  chmod 755 "$LYT_TMP/docker"
  DOCKER=$LYT_TMP/docker
fi
lim=() lim_swap=()
[ "$podman" = yes ] && lim=(--ulimit nproc=1024:1024) lim_swap=(--ulimit nofile=1024:1024 "${lim[@]}")
# The engine's newest API version: inspect there shows every field it has.
api=$(curl -s -D - -o /dev/null --max-time 5 --unix-socket "$sock" http://engine/_ping |
  tr -d '\r' | awk -F': ' 'tolower($1) == "api-version" { print $2 }')
[ -n "$api" ] || die "the engine did not say its API version"
ver_lt () { awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, "."); split(b, y, "."); exit !(x[1] * 1000 + x[2] < y[1] * 1000 + y[2]) }'; }
api_ge () { ! ver_lt "$api" "$1"; }
say "engine $("$DOCKER" version -f '{{.Server.Version}}' 2>/dev/null), inspect at API $api"
inspect () { curl -sf --max-time 10 --unix-socket "$sock" "http://engine/v$api/containers/$1/json"; }
run_help=$("$DOCKER" run --help 2>/dev/null)
cli_has () { grep -q -- "$1" <<<"$run_help"; }

# What must agree: the engine's inspect with the fields above removed and
# the container's own id replaced.
norm () # INSPECT_JSON
{
  printf '%s' "$1" | jq -S --arg podman "$podman" '
    .Id as $id | ($id[0:12]) as $sid
    | del(.Id, .Created, .State, .RestartCount, .ExecIDs, .SizeRw, .SizeRootFs,
          .ResolvConfPath, .HostnamePath, .HostsPath, .LogPath, .GraphDriver)
    | .Config.Labels |= with_entries(select(.key | IN("lympho.generation", "lympho.name", "lympho.txn") | not))
    | def anon: type == "string" and test("^[0-9a-f]{64}$");
      .HostConfig.Binds |= ((. // []) | map(select(split(":")[0] | anon | not)) | if . == [] then null else . end)
    | .HostConfig.Mounts |= (if . == null then . else map(if (.Source | anon) then del(.Source) else . end) end)
    | .Mounts |= (sort_by(.Destination) | map(if (.Name | anon) then .Mode = "" else . end))
    | .NetworkSettings |= del(.SandboxID, .SandboxKey, .EndpointID, .IPAddress, .IPPrefixLen, .Gateway,
          .MacAddress, .GlobalIPv6Address, .GlobalIPv6PrefixLen, .IPv6Gateway, .LinkLocalIPv6Address,
          .LinkLocalIPv6PrefixLen, .SecondaryIPAddresses, .SecondaryIPv6Addresses)
    | (.Config.MacAddress // "") as $mac | .HostConfig.NetworkMode as $primary
    | .NetworkSettings.Networks |= (. // {} | with_entries(.key as $k | .value |= (
        del(.EndpointID)
        | if ((.IPAMConfig.IPv4Address // "") == "") then del(.IPAddress) else . end
        | if ((.IPAMConfig.IPv6Address // "") == "") then del(.GlobalIPv6Address) else . end
        | if $mac == "" or $k != $primary then del(.MacAddress) else . end)))
    | if $podman == "yes" then .Config.Env |= (. // [] | sort) else . end
    | walk(if type == "string" then (gsub($id; "<ID>") | gsub($sid; "<ID>")) else . end)'
}

# The paths where two normalised inspects differ, with both values.
diff_fields () # A B
{
  jq -rn --argjson a "$1" --argjson b "$2" '
    [($a | paths(scalars)), ($b | paths(scalars))] | unique[] as $p
    | ($a | getpath($p)) as $x | ($b | getpath($p)) as $y
    | select($x != $y)
    | "\($p | map(tostring) | join(".")): \($x | tojson) -> \($y | tojson)"'
}

# The same container as the user made it, compared to what runs now
# (FIELD: one more left out, asserted apart).
assert_same () # NAME ORIGINAL_NORM WHAT [FIELD]
{
  local now d orig=$2
  now=$(norm "$(inspect "$1")")
  if [ -n "${4:-}" ]; then
    now=$(printf '%s' "$now" | jq -S "del(.$4)")
    orig=$(printf '%s' "$orig" | jq -S "del(.$4)")
  fi
  d=$(diff_fields "$orig" "$now")
  if [ -z "$d" ] && [ -n "$now" ]; then
    ok "$3: the engine's inspect agrees on every compared field"
  else
    _afail "$3: the engine's inspect differs: $(printf '%s' "$d" | head -40 | tr '\n' ';')"
  fi
}

# Config.Image names the pinned image: Docker shows the id it was created
# from, Podman a name the image has.
pin_named () # NAME WHAT
{
  local shown
  shown=$(c_json "$1" .Config.Image | jq -r .)
  if [ "$podman" = yes ]; then
    assert_eq "$pin" "$("$DOCKER" image inspect -f '{{.Id}}' "$shown" 2>/dev/null)" "$2 ($shown)"
  else
    assert_eq "$pin" "$shown" "$2"
  fi
}

regen () # NAME -> waits until lymphd reports it settled at the next generation
{
  local gen out
  gen=$(ls_field "$1" generation)
  out=$(ctl regen "$1" 2>&1) || { _afail "lymphctl regen $1: $out"; return 1; }
  wait_for "[ \"\$(ls_field '$1' generation)\" = $((gen + 1)) ] && lymphd_idle '$1'" 60 ||
    { _afail "$1 did not settle at generation $((gen + 1))"; return 1; }
}

# The image under a name of the user's own, as `docker ps` shows it.
ref="${LYT_PFX}app:1"
dk tag "$LYT_IMAGE" "$ref" || die "tag $ref"
pin=$("$DOCKER" image inspect -f '{{.Id}}' "$ref")

n1="${LYT_PFX}n1"
n2="${LYT_PFX}n2"
# A static address needs a subnet the user configured: the first free one.
for i in $(seq 1 50); do
  net3="10.$((RANDOM % 200 + 20)).$((RANDOM % 250))"
  "$DOCKER" network create --subnet "$net3.0/24" "$n1" >/dev/null 2>&1 && break
  net3=
done
[ -n "$net3" ] || die "network $n1 with a subnet of its own"
static_ip="$net3.200"
dk network create "$n2" >/dev/null || die "network $n2"
vol="${LYT_PFX}data"
dk volume create "$vol" >/dev/null || die "volume $vol"
bind="$LYT_TMP/bind"
mkdir -p "$bind"
port=$(free_port)

loop='trap "exit 0" TERM USR1; while :; do sleep 1; done'
full="${LYT_PFX}full"
args=(--name "$full" --label lympho.enable=true --label lympho.ttl=1h --label user.label=kept
  --hostname fid-host --domainname example.test
  -e A=1 -e "B=two words" --entrypoint /bin/sh --user 0:10 --workdir /tmp
  -p "127.0.0.1:$port:8080/tcp" --expose 9090
  -v "$vol:/data" -v /anon -v "$bind:/bind:ro" --mount type=volume,dst=/anon2
  --mount type=tmpfs,destination=/scratch,tmpfs-size=1048576 --tmpfs /run2:size=2m,mode=1777
  --network "$n1" --ip "$static_ip" --network-alias fid-a1 --network-alias fid-a2
  --mac-address "$(printf '02:42:ac:fd:%02x:%02x' $((RANDOM % 256)) $((RANDOM % 256)))"
  --health-cmd true --health-interval 30s --health-timeout 5s --health-retries 2 --health-start-period 7s
  --restart on-failure:3 --cap-add NET_ADMIN --cap-drop MKNOD
  --ulimit nofile=1024:2048 "${lim[@]}" --log-driver json-file --log-opt max-size=1m --log-opt max-file=2
  --dns 192.0.2.53 --dns-search example.test --dns-option ndots:2 --add-host db.example:192.0.2.10
  --sysctl net.ipv4.ip_unprivileged_port_start=0
  -m 64m --memory-reservation 32m --cpus 0.5 --cpu-shares 512 --pids-limit 100
  --init --read-only --security-opt no-new-privileges --stop-signal SIGUSR1 --stop-timeout 5
  --oom-score-adj 100 --shm-size 8m --group-add 20)
# Fields newer than API 1.41, where the engine has them. The engine's own
# CLI (the engine matrix runs it) knows them.
if api_ge 1.44; then
  cli_has --health-start-interval || die "the docker CLI has no --health-start-interval for API $api"
  args+=(--health-start-interval 2s)
fi
if api_ge 1.43; then
  cli_has --annotation || die "the docker CLI has no --annotation for API $api"
  args+=(--annotation org.example.fid=yes)
fi
if api_ge 1.45; then
  dk run --rm -v "$vol:/v" "$ref" mkdir -p /v/sub || die "a directory in $vol"
  args+=(--mount "type=volume,src=$vol,dst=/sub,volume-subpath=sub")
fi
dk create "${args[@]}" "$ref" -c "$loop" >/dev/null || die "create $full"
dk network connect --alias fid-b1 "$n2" "$full" || die "connect $full to $n2"
dk start "$full" >/dev/null || die "start $full"

# The swap path (hidden create, then publish with the aliases): two
# networks with aliases, nothing that forbids a swap.
swap="${LYT_PFX}swap"
dk create --name "$swap" --label lympho.enable=true --label lympho.ttl=1h --label lympho.strategy=swap \
  --network "$n1" --network-alias fid-s1 -e S=1 "${lim_swap[@]}" --health-cmd true --health-interval 30s \
  --tmpfs /scratch "$ref" sh -c "$loop" >/dev/null || die "create $swap"
dk network connect --alias fid-s2 "$n2" "$swap" || die "connect $swap to $n2"
dk start "$swap" >/dev/null || die "start $swap"

raw_full=$(inspect "$full")
orig_full=$(norm "$raw_full")
orig_swap=$(norm "$(inspect "$swap")")
[ -n "$orig_full" ] && [ -n "$orig_swap" ] || die "inspect the originals"
lymphd_start || die "lymphd does not start"
wait_for "in_ls '$full' && in_ls '$swap' && lymphd_idle '$full' && lymphd_idle '$swap'" 30 || die "adoption"

case_begin regen-replace
# The comparison covers the newer fields only if the original has them.
if api_ge 1.44; then
  assert_eq 2000000000 "$(printf '%s' "$raw_full" | jq .Config.Healthcheck.StartInterval)" "the original's start interval"
fi
if api_ge 1.43; then
  assert_eq yes "$(printf '%s' "$raw_full" | jq -r '.HostConfig.Annotations["org.example.fid"]')" "the original's annotation"
fi
assert_eq replace "$(ls_field "$full" effective_strategy)" "$full is regenerated by replace (host port, static address)"
regen "$full"
assert_same "$full" "$orig_full" "$full after one regeneration"
# The reference as the engine shows it (Podman names it in full:
# docker.io/library/...).
assert_eq "$(printf '%s' "$raw_full" | jq -r .Config.Image)" "$(c_json "$full" .Config.Image | jq -r .)" \
  "docker ps still shows the user's reference"
assert_eq "$pin" "$(c_json "$full" .Image | jq -r .)" "and runs the pinned image"
regen "$full"
assert_same "$full" "$orig_full" "$full after a second regeneration"
case_end

case_begin regen-swap
assert_eq swap "$(ls_field "$swap" effective_strategy)" "$swap is regenerated by swap"
regen "$swap"
assert_same "$swap" "$orig_swap" "$swap after a swap"
case_end

case_begin tag-moved
# The user's tag now names another image: the next generation runs the
# pinned one, and says so in Config.Image, as the engine does for an
# image whose tag moved away.
tmp="${LYT_PFX}mover"
dk create --name "$tmp" "$LYT_IMAGE" true >/dev/null || die "create $tmp"
dk commit -c 'LABEL lyt.moved=1' "$tmp" "$ref" >/dev/null || die "commit over $ref"
dk rm "$tmp" >/dev/null
moved=$("$DOCKER" image inspect -f '{{.Id}}' "$ref")
assert_ne "$pin" "$moved" "the tag moved"
regen "$full"
assert_eq "$pin" "$(c_json "$full" .Image | jq -r .)" "the pinned image runs"
pin_named "$full" "Config.Image names the pin, not the moved tag"
# What keeps the pin from a prune once nothing else names it.
assert_match "lympho-pin/$full:" "$("$DOCKER" image inspect -f '{{json .RepoTags}}' "$pin")" "the pin tag holds the image"
assert_same "$full" "$orig_full" "$full, image reference aside" Config.Image
case_end

case_begin tag-moves-during-create
# The reference names the pin when lymphd checks it, and another image by
# the time the engine creates from it: the container made from it is
# removed and the generation made from the pin; nothing else is left.
dk tag "$pin" "$ref" || die "tag $ref back to the pin"
dk rmi -f "$moved" >/dev/null 2>&1
tmp="${LYT_PFX}mover2"
dk create --name "$tmp" "$LYT_IMAGE" true >/dev/null || die "create $tmp"
other=$("$DOCKER" commit -c 'LABEL lyt.moved=2' "$tmp" | tr -d '[:space:]')
dk rm "$tmp" >/dev/null
[ -n "$other" ] || die "an image for the tag to move to"
other=sha256:${other#sha256:}
fe_sock=$LYT_TMP/faulty.sock
echo "tag-moves:$other" >"$LYT_TMP/fault"
python3 "$LYT_SRCDIR/tests/conformance/faulty-engine.py" --listen "$fe_sock" --engine "$sock" \
  --fault-file "$LYT_TMP/fault" >"$LYT_TMP/faulty.log" 2>&1 &
fe_pid=$!
LYT_PIDS+=("$fe_pid")
wait_for "[ -S '$fe_sock' ]" 10 || die "the faulty engine does not listen"
lymphd_stop
mark=$(wc -l <"$LYMPHD_LOG")
lymphd_start --docker-host "unix://$fe_sock" || die "lymphd behind the faulty engine"
wait_for "in_ls '$swap' && lymphd_idle '$swap'" 30 || die "adoption behind the faulty engine"
regen "$swap"
assert_match "moved to .* during the create; creating from the pinned image" \
  "$(tail -n +"$((mark + 1))" "$LYMPHD_LOG" | grep -m1 'during the create')" "lymphd saw the tag move"
assert_eq "$other" "$("$DOCKER" image inspect -f '{{.Id}}' "$ref")" "the tag did move"
assert_eq "$pin" "$(c_json "$swap" .Image | jq -r .)" "the pinned image runs"
pin_named "$swap" "and Config.Image names it"
assert_single "$swap"
assert_eq 0 "$("$DOCKER" ps -aq --filter "ancestor=$other" | grep -c .)" "no container of the moved image is left"
assert_same "$swap" "$orig_swap" "$swap, image reference aside" Config.Image
: >"$LYT_TMP/fault"
lymphd_stop
kill "$fe_pid" 2>/dev/null
wait "$fe_pid" 2>/dev/null
lymphd_start || die "lymphd again"
wait_for "in_ls '$full' && lymphd_idle '$full'" 30 || die "adoption again"
dk rmi -f "$other" >/dev/null 2>&1
case_end

case_begin pinned-below
# DOCKER_API_VERSION pinned below what the snapshot needs (at the lowest
# version the engine serves): the engine drops the newer fields silently
# at create, or refuses them, so lymphd says which.
min=$(printf '%s' "$version" | jq -r '.MinAPIVersion // empty')
pinv=1.41
[ -n "$min" ] && ! ver_lt "$min" 1.41 && pinv=$min
lost=()
api_ge 1.43 && ver_lt "$pinv" 1.43 && lost+=("HostConfig.Annotations (API 1.43)")
api_ge 1.44 && ver_lt "$pinv" 1.44 && lost+=("Healthcheck.StartInterval (API 1.44)")
subpath=0
api_ge 1.45 && ver_lt "$pinv" 1.45 && { lost+=("volume subpaths (API 1.45)"); subpath=1; }
want=$(printf '%s, ' "${lost[@]}")
want=${want%, }
say "pinned at $pinv (the engine serves from ${min:-?}); lost there: ${want:-nothing}"
lymphd_stop
mark=$(wc -l <"$LYMPHD_LOG")
LYT_LYMPHD_API_VERSION=$pinv lymphd_start || die "lymphd pinned at $pinv"
wait_for "in_ls '$full' && lymphd_idle '$full'" 30 || die "adoption at $pinv"
before=$(c_id "$full")
out=$(ctl regen "$full" 2>&1)
rc=$?
line=$(tail -n +"$((mark + 1))" "$LYMPHD_LOG" | grep -m1 'warn: .*does not know')
say "log: $line"
if [ -z "$want" ]; then
  assert_eq "" "$line" "no warn line: nothing is lost at $pinv"
else
  assert_true "one warn line names what API $pinv loses: $want" \
    sh -c 'case "$1" in *"API $2, spoken with this engine (DOCKER_API_VERSION), does not know $3:"*) true ;; *) false ;; esac' \
    _ "$line" "$pinv" "$want"
fi
if [ "$subpath" = 1 ]; then
  # A volume subpath is refused rather than dropped: the regeneration
  # fails with the engine's reason, and the running generation stays.
  assert_ne 0 "$rc" "the regeneration fails ($out)"
  assert_match 'Subpath' "$out" "with the engine's reason"
  assert_eq "$before" "$(c_id "$full")" "the running generation stays"
  assert_true "$full runs" c_running "$full"
  assert_single "$full"
else
  assert_eq 0 "$rc" "the regeneration succeeds ($out)"
fi
case_end

finish
