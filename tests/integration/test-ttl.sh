#!/bin/bash
# TTL regeneration keeps everything the user configured (name, env, published
# port, named and anonymous volume data, two networks with aliases,
# healthcheck) and throws away the writable layer.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
lyt_init

c="${LYT_PFX}web"
n1="${LYT_PFX}net1"
n2="${LYT_PFX}net2"
vol="${LYT_PFX}vol"
port=$(free_port) || die "no free port"

case_begin setup
dk network create "$n1" >/dev/null || die "network create $n1"
dk network create "$n2" >/dev/null || die "network create $n2"
dk volume create "$vol" >/dev/null || die "volume create"
dk create --name "$c" \
  --label lympho.enable=true --label lympho.ttl=6s --label lympho.jitter=0 \
  -e LYT_A=one -e "LYT_B=two words" \
  -p "127.0.0.1:$port:80" \
  -v "$vol:/data" -v /anon \
  --network "$n1" --network-alias alias1 \
  --health-cmd 'wget -qO- http://127.0.0.1/ >/dev/null || exit 1' \
  --health-interval 1s --health-timeout 2s --health-retries 3 \
  "$LYT_IMAGE" >/dev/null || die "create $c"
# API 1.41 takes one network at create; the second is connected before start.
dk network connect --alias alias2 "$n2" "$c" || die "network connect"
dk start "$c" >/dev/null || die "start $c"
wait_for "http_ok $port" 15 || die "$c does not answer on port $port"
dk exec "$c" sh -c 'echo named-data >/data/keep && echo anon-data >/anon/keep && echo planted >/planted' ||
  die "exec writes"

old_id=$(c_id "$c")
# The environment as a set, without HOSTNAME: Podman adds HOSTNAME=<short
# id> to Config.Env and orders it its own way; a new generation has its own.
env_set () { c_json "$1" .Config.Env | jq -c '[.[] | select(startswith("HOSTNAME=") | not)] | sort'; }
env0=$(env_set "$c")
hc0=$(c_json "$c" .Config.Healthcheck)
ports0=$(c_json "$c" .HostConfig.PortBindings)
image0=$(c_json "$c" .Image)
say "gen0 $old_id port $port"
lymphd_start || die "lymphd does not start"
wait_for "in_ls $c" 15
assert_eq "$c" "$(ls_field "$c" name)" "lymphd adopted $c at start-up (ls)"
assert_eq 0 "$(ls_field "$c" generation)" "ls generation of the original"
assert_eq 6 "$(ls_field "$c" ttl_s)" "ls ttl_s"
case_end

case_begin regenerates-on-ttl
t0=$(now_ms)
if wait_for '[ "$(c_id "$c")" != "$old_id" ] && c_running "$c" && [ -n "$(c_gen "$c")" ]' 30; then
  ok "regenerated after $(($(now_ms) - t0)) ms"
else
  _afail "no regeneration within 30 s (id still $(c_id "$c"))"
fi
# Stop once lymphd is done with it (the engine shows the new generation from
# its start on, before lymphd has verified and committed it), so nothing
# moves under the assertions below.
wait_for "lymphd_idle $c && [ \"\$(ls_field $c generation)\" = 1 ]" 30
lymphd_stop
assert_eq 0 "$LYMPHD_RC" "lymphd exits 0 on SIGTERM"
new_id=$(c_id "$c")
assert_ne "$old_id" "$new_id" "container id changed"
assert_eq 1 "$(c_gen "$c")" "label lympho.generation"
assert_single "$c"
case_end

case_begin keeps-config
assert_eq "$env0" "$(env_set "$c")" "env"
assert_eq "$hc0" "$(c_json "$c" .Config.Healthcheck)" "healthcheck config"
assert_eq "$ports0" "$(c_json "$c" .HostConfig.PortBindings)" "port bindings"
assert_eq "$image0" "$(c_json "$c" .Image)" "image id"
assert_eq true "$(c_label "$c" lympho.enable)" "label lympho.enable kept"
assert_eq 6s "$(c_label "$c" lympho.ttl)" "label lympho.ttl kept"
if wait_for "http_ok $port" 15; then ok "port $port answers HTTP"; else _afail "port $port does not answer: '$(http_get "$port")'"; fi
case_end

case_begin keeps-volumes
assert_eq named-data "$(dk exec "$c" cat /data/keep 2>&1)" "named volume data"
assert_eq "$vol" "$("$DOCKER" inspect -f '{{range .Mounts}}{{if eq .Destination "/data"}}{{.Name}}{{end}}{{end}}' "$c")" "named volume attached at /data"
assert_eq anon-data "$(dk exec "$c" cat /anon/keep 2>&1)" "anonymous volume data"
case_end

case_begin keeps-networks
nets=$("$DOCKER" inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}' "$c")
assert_match "(^| )$n1( |$)" "$nets" "attached to $n1 [$nets]"
assert_match "(^| )$n2( |$)" "$nets" "attached to $n2 [$nets]"
a1=$(c_json "$c" "(index .NetworkSettings.Networks \"$n1\").Aliases")
a2=$(c_json "$c" "(index .NetworkSettings.Networks \"$n2\").Aliases")
assert_match '"alias1"' "$a1" "alias1 on $n1 [$a1]"
assert_match '"alias2"' "$a2" "alias2 on $n2 [$a2]"
assert_eq lyt-ok "$(dk run --rm --network "$n1" "$LYT_IMAGE" wget -qO- http://alias1/ 2>&1)" "alias1 resolves and answers on $n1"
assert_eq lyt-ok "$(dk run --rm --network "$n2" "$LYT_IMAGE" wget -qO- http://alias2/ 2>&1)" "alias2 resolves and answers on $n2"
case_end

case_begin fresh-writable-layer
assert_true "planted file /planted is gone" sh -c "! '$DOCKER' exec '$c' test -e /planted"
case_end

# The TTL restarts after every regeneration, and the state dir carries the
# protection over a restart of lymphd: the next one comes ~6 s later.
case_begin ttl-repeats-after-restart
# Read before lymphd starts: generation 1 may already be older than its TTL
# (the assertions above take seconds) and be replaced at once.
id1=$(c_id "$c")
t0=$(now_ms)
lymphd_start || die "lymphd does not start again"
if wait_for '[ "$(c_id "$c")" != "$id1" ] && c_running "$c" && [ "$(c_gen "$c")" -ge 2 ]' 30; then
  ok "generation $(c_gen "$c") after $(($(now_ms) - t0)) ms"
else
  _afail "no generation 2 within 30 s (gen '$(c_gen "$c")', id $(c_id "$c"))"
fi
# While lymphd runs: on Podman without systemd it is lymphd that runs the
# healthchecks.
if wait_for '[ "$(c_health "$c")" = healthy ]' 20; then ok "new generation becomes healthy"; else _afail "health is '$(c_health "$c")'"; fi
lymphd_stop
assert_ge 2 "$(c_gen "$c")" "label lympho.generation"
assert_single "$c"
assert_eq named-data "$(dk exec "$c" cat /data/keep 2>&1)" "named volume data"
assert_eq anon-data "$(dk exec "$c" cat /anon/keep 2>&1)" "anonymous volume data"
case_end

finish
