#!/bin/bash
# Strategies: a swap-eligible container reached through a network alias
# serves every request while it is regenerated; replace with a published
# port works; swap asked for where a host port forbids it still regenerates
# (by replace), and auto picks swap where it is safe.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
lyt_init

net="${LYT_PFX}net"
sw="${LYT_PFX}sw"
auto="${LYT_PFX}auto"
rp="${LYT_PFX}rp"
swp="${LYT_PFX}swp"
cl="${LYT_PFX}client"
port1=$(free_port) || die "no free port"
port2=$(free_port) || die "no free port"
hc=(--health-cmd 'wget -qO- http://127.0.0.1/ >/dev/null || exit 1' --health-interval 1s --health-timeout 2s --health-retries 3)

# history_strategy NAME: strategy of the newest entry ("" when not given).
history_strategy () { history_json "$1" | jq -r '.[0].strategy // empty'; }

case_begin setup
dk network create "$net" >/dev/null || die "network create"
dk run -d --name "$sw" --label lympho.enable=true --label lympho.ttl=1h --label lympho.strategy=swap \
  --network "$net" --network-alias web "${hc[@]}" "$LYT_IMAGE" >/dev/null || die "run $sw"
dk run -d --name "$auto" --label lympho.enable=true --label lympho.ttl=1h \
  --network "$net" --network-alias autoweb "${hc[@]}" "$LYT_IMAGE" >/dev/null || die "run $auto"
dk run -d --name "$rp" --network "$LYT_NET" --label lympho.enable=true --label lympho.ttl=1h --label lympho.strategy=replace \
  -p "127.0.0.1:$port1:80" "$LYT_IMAGE" >/dev/null || die "run $rp"
dk run -d --name "$swp" --network "$LYT_NET" --label lympho.enable=true --label lympho.ttl=1h --label lympho.strategy=swap \
  -p "127.0.0.1:$port2:80" "${hc[@]}" "$LYT_IMAGE" >/dev/null || die "run $swp"
lymphd_start || die "lymphd does not start"
wait_for "in_ls $sw && in_ls $auto && in_ls $rp && in_ls $swp" 15 || die "not all adopted: $(ls_json)"
wait_for '[ "$(c_health "$sw")" = healthy ] && [ "$(c_health "$auto")" = healthy ]' 20 || die "not healthy"
ok "adopted and healthy"
case_end

# swap_no_failures NAME ALIAS: a client on the network requests ALIAS every
# 20 ms during `lymphctl regen NAME`; every request must succeed.
swap_no_failures ()
{
  local n=$1 alias=$2 id0 out rc before after total fails
  id0=$(c_id "$n")
  dk rm -f "$cl" >/dev/null 2>&1
  dk run -d --name "$cl" --network "$net" "$LYT_IMAGE" sh -c \
    "while :; do e=\$(timeout 3 wget -q -O /dev/null http://$alias/ 2>&1); rc=\$?; if [ \$rc = 0 ]; then echo ok; elif [ \$rc = 143 ]; then echo CUT; else echo \"FAIL \$e\"; fi; usleep 20000; done" \
    >/dev/null || die "run client"
  wait_for "[ \$(\"$DOCKER\" logs $cl 2>&1 | grep -c ok) -ge 10 ]" 15 || die "client gets no answers: $("$DOCKER" logs "$cl" 2>&1 | tail -3)"
  before=$("$DOCKER" logs "$cl" 2>&1 | grep -c .)
  out=$(ctl regen "$n" 2>&1)
  rc=$?
  after=$("$DOCKER" logs "$cl" 2>&1 | grep -c .)
  sleep 3
  total=$("$DOCKER" logs "$cl" 2>&1 | grep -c .)
  fails=$("$DOCKER" logs "$cl" 2>&1 | grep -c FAIL)
  cut=$("$DOCKER" logs "$cl" 2>&1 | grep -c CUT)
  dk rm -f "$cl" >/dev/null 2>&1
  assert_eq 0 "$rc" "lymphctl regen $n [$out]"
  assert_ne "$id0" "$(c_id "$n")" "$n has a new id"
  assert_eq 1 "$(c_gen "$n")" "$n lympho.generation"
  assert_single "$n"
  assert_ge 5 "$((after - before))" "requests made while the regeneration ran"
  # No request may find nobody serving (refused, reset, not found). Docker's
  # name resolution cannot drop an address without taking the interface with
  # it, so a request in flight to the old generation at the instant it leaves
  # the network can be cut: at most one such per regeneration (the benchmark
  # reports how often).
  assert_eq 0 "$fails" "failed requests to $alias out of $total"
  [ "$cut" -le 1 ] && ok "requests cut in flight: $cut (at most 1)" || _afail "requests cut in flight: $cut (more than 1)"
  assert_eq lyt-ok "$(dk run --rm --network "$net" "$LYT_IMAGE" wget -qO- "http://$alias/" 2>&1)" "$alias answers afterwards"
}

case_begin swap-via-alias-no-failures
swap_no_failures "$sw" web
s=$(history_strategy "$sw")
if [ -n "$s" ]; then assert_eq swap "$s" "history strategy"; else say "history gives no strategy"; fi
case_end

case_begin auto-picks-swap
swap_no_failures "$auto" autoweb
s=$(history_strategy "$auto")
if [ -n "$s" ]; then assert_eq swap "$s" "history strategy"; else say "history gives no strategy"; fi
case_end

case_begin replace-with-port
id0=$(c_id "$rp")
out=$(ctl regen "$rp" 2>&1)
assert_eq 0 $? "lymphctl regen $rp [$out]"
assert_ne "$id0" "$(c_id "$rp")" "new id"
assert_single "$rp"
if wait_for "http_ok $port1" 10; then ok "port $port1 answers"; else _afail "port $port1 does not answer"; fi
s=$(history_strategy "$rp")
if [ -n "$s" ]; then assert_eq replace "$s" "history strategy"; fi
case_end

case_begin swap-with-host-port-falls-back
id0=$(c_id "$swp")
out=$(ctl regen "$swp" 2>&1)
assert_eq 0 $? "lymphctl regen $swp [$out]"
assert_ne "$id0" "$(c_id "$swp")" "new id"
assert_single "$swp"
if wait_for "http_ok $port2" 10; then ok "port $port2 answers"; else _afail "port $port2 does not answer"; fi
s=$(history_strategy "$swp")
if [ -n "$s" ]; then assert_eq replace "$s" "history strategy (a host port forbids swap)"; fi
lymphd_stop
assert_eq 0 "$LYMPHD_RC" "lymphd exits 0 on SIGTERM"
case_end

finish
