#!/bin/bash
# Compose stays in charge (issue 14), with the real docker compose
# (COMPOSE=path to a docker-compose binary, else the CLI's `docker
# compose`; the engine matrix gives Debian sid's 2.40 against Docker 28):
# a regeneration keeps the container in its project (compose ps, up -d
# with no change, down -v behave); `up -d` with a new image is adopted as
# a new snapshot, and compose's passing name for the replacement
# ("<old id>_<name>") is never listed nor adopted; depends_on is the
# default lympho.after. Every wait is on what lymphd or compose report.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

compose_cmd=()
if [ -n "${COMPOSE:-}" ] && [ -x "$COMPOSE" ]; then
  compose_cmd=("$COMPOSE")
elif "${DOCKER:-docker}" compose version >/dev/null 2>&1; then
  compose_cmd=("${DOCKER:-docker}" compose)
else
  echo "SKIP: $LYT_TEST: no docker compose (COMPOSE= a docker-compose binary; the engine matrix gives one)"
  exit 77
fi
lyt_init

proj="${LYT_PFX}p"
db="$proj-db-1"
web="$proj-web-1"
file="$LYT_TMP/compose.yaml"
cat >"$file" <<'EOF'
services:
  db:
    image: ${IMG_DB}
    labels:
      lympho.enable: "true"
      lympho.ttl: "1h"
  web:
    image: ${IMG_WEB}
    depends_on: [db]
    labels:
      lympho.enable: "true"
      lympho.ttl: "1h"
EOF
export IMG_DB="$LYT_IMAGE" IMG_WEB="$LYT_IMAGE"
compose ()
{
  vsay "compose $*"
  DOCKER_HOST="$LYT_DOCKER_HOST" "${compose_cmd[@]}" -p "$proj" -f "$file" "$@"
}
listed () { ls_json | jq -r --arg p "$proj" '[.[] | select(.name | startswith($p)) | .name] | sort | join(" ")'; }
img_id () { "$DOCKER" image inspect -f '{{.Id}}' "$1" 2>/dev/null; }
# Names a follower of lymphd's events saw, one a line.
seen_names () { jq -r '.name // empty' "$LYT_TMP/events.json" 2>/dev/null | sort -u; }

case_begin setup
say "compose: $("${compose_cmd[@]}" version 2>&1 | head -n 1)"
lymphd_start || die "lymphd does not start"
"$LYMPHCTL" --socket "$LYT_SOCK" --json events --follow >"$LYT_TMP/events.json" 2>"$LYT_TMP/events.err" &
LYT_PIDS+=("$!")
wait_for "[ \"\$(ctl --json status 2>/dev/null | jq -r '.event_followers // empty')\" = 1 ]" 10 ||
  die "the follower did not attach"
compose up -d >"$LYT_TMP/up.log" 2>&1 || die "compose up: $(tail -n 3 "$LYT_TMP/up.log")"
wait_for "lymphd_idle $db && lymphd_idle $web" 30 || die "not adopted: $(listed)"
assert_eq "$db $web" "$(listed)" "both services protected, once each"
assert_eq '["db"]' "$(ls_field "$web" after | jq -c .)" "web is after db (compose depends_on)"
case_end

case_begin regeneration-stays-in-the-project
ctl regen "$web" >/dev/null || _afail "regen $web"
wait_for "lymphd_idle $web" 20 || _afail "$web not idle"
id=$(c_id "$web")
assert_eq 1 "$(c_gen "$web")" "$web regenerated"
assert_eq "$id" "$(compose ps -q web 2>/dev/null)" "compose ps: the new generation is the service's container"
assert_eq running "$(compose ps --format '{{.State}}' web 2>/dev/null)" "compose ps: running"
compose up -d >"$LYT_TMP/up2.log" 2>&1 || _afail "compose up -d: $(tail -n 3 "$LYT_TMP/up2.log")"
assert_eq "$id" "$(c_id "$web")" "up -d with no change recreates nothing"
assert_eq "$id" "$(ls_field "$web" id)" "lymphd holds the same container"
assert_eq "$db $web" "$(listed)" "listed once each"
assert_single "$web"
case_end

case_begin new-image-adopted-as-a-new-snapshot
# A second image: the first with one more label, committed.
tmpc="${LYT_PFX}mk"
dk run -d --name "$tmpc" "$LYT_IMAGE" >/dev/null || _afail "run $tmpc"
dk commit --change 'LABEL lyt.version=2' "$tmpc" "${LYT_PFX}img:2" >/dev/null || _afail "commit"
dk rm -f "$tmpc" >/dev/null
img2=$(img_id "${LYT_PFX}img:2")
old=$(c_id "$web")
IMG_WEB="${LYT_PFX}img:2" compose up -d >"$LYT_TMP/up3.log" 2>&1 || _afail "compose up -d with a new image: $(tail -n 3 "$LYT_TMP/up3.log")"
new=$(compose ps -q web 2>/dev/null)
assert_ne "$old" "$new" "compose recreated web"
wait_for "[ \"\$(ls_field $web id)\" = '$new' ] && lymphd_idle $web" 20 ||
  _afail "lymphd did not adopt the new container: $(ls_json | jq -c --arg n "$web" '.[] | select(.name == $n) | {id, state, replaced_by}')"
assert_eq "$img2" "$(ls_field "$web" image_id)" "the new snapshot has the new image"
assert_eq "$db $web" "$(listed)" "listed once each"
assert_eq null "$(ls_field "$web" replaced_by)" "no replacement pending"
assert_eq "" "$(seen_names | grep -E '^[0-9a-f]{12}_' | tr '\n' ' ')" \
  "compose's passing name was never adopted nor reported"
assert_eq "" "$(history_json | jq -r '.[] | select(.kind == "release" or .kind == "refuse") | .name' | grep -F "$proj" | tr '\n' ' ')" \
  "nothing released nor refused on the way"
assert_single "$web"
gen=$(c_gen "$web")
ctl regen "$web" >/dev/null || _afail "regen $web after the recreate"
wait_for "lymphd_idle $web" 20 || _afail "$web not idle"
assert_eq "$img2" "$("$DOCKER" inspect -f '{{.Image}}' "$web")" "its next generation runs the new image"
assert_eq "$(compose ps -q web 2>/dev/null)" "$(c_id "$web")" "and stays compose's"
case_end

case_begin down-lets-go
compose down -v >"$LYT_TMP/down.log" 2>&1 || _afail "compose down -v: $(tail -n 3 "$LYT_TMP/down.log")"
wait_for "[ -z \"\$(listed)\" ]" 20 || _afail "still listed: $(listed)"
assert_eq "" "$("$DOCKER" ps -aq --filter "label=com.docker.compose.project=$proj")" "no container of the project left"
assert_eq "" "$("$DOCKER" ps -aq --filter "name=$proj")" "none under its names either"
assert_true "lymphd still answers" ctl_alive
case_end

finish
