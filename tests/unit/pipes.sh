#!/bin/bash
# Under `set -o pipefail`, `WRITER | grep -q` fails now and then: grep
# leaves at its first match, and a writer that still has lines to write
# dies of SIGPIPE (status 141), so the pipeline is false although the
# line was there. busybox --list writes an applet at a time: the demo's
# image script refused busybox in about one run in a hundred that way.
# In the scripts that set pipefail (or source the integration library,
# which does), grep -q reads a here-string, a file or a process
# substitution, never a pipe. A line run by `sh -c` (dash: no pipefail)
# is left out. Fails naming each file and line.
set -u
src=${srcdir:-.}
status=0
n=0
while IFS= read -r -d '' f; do
  grep -qE 'set -[a-z]*o pipefail|integration/lib\.sh|\$here/lib\.sh|/lib\.sh"' "$f" || continue
  n=$((n + 1))
  while IFS= read -r hit; do
    echo "pipes: ${f#"$src"/}:$hit: grep -q fed by a pipe under pipefail"
    status=1
  done < <(grep -nE '\|[[:space:]]*grep[[:space:]]+(-[a-zA-Z]*q|--quiet)' "$f" | grep -vE "^[0-9]+:[[:space:]]*#|sh -c '" | cut -d: -f1)
done < <(find "$src/contrib" "$src/tests" "$src/bench" "$src/.ci" -type f \( -name '*.sh' -o -name run \) -print0 2>/dev/null | sort -z)
if [ $n -eq 0 ]; then
  echo "pipes: no script with pipefail found under $src (wrong srcdir?)"
  exit 1
fi
[ $status -eq 0 ] && echo "pipes: $n scripts with pipefail feed grep -q from no pipe"
exit $status
