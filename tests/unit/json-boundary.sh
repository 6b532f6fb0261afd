#!/bin/sh
# One JSON boundary (docs/design.md): yajl's headers are included by
# shim/json.c, and by shim/proto.c for one constant tree, and by no other
# file of the tree; everyone else goes through lympho/json.h's opaque
# json_val and json_gen. Fails naming every other file that includes them.
set -u
src=${srcdir:-$(dirname "$0")/../..}
found=$(grep -rlE '#[[:space:]]*include[[:space:]]*<yajl/' "$src/shim" "$src/runtime" "$src/include" "$src/tests" \
          2>/dev/null | sed "s|^$src/||" | grep -vxE 'shim/json\.c|shim/proto\.c' | sort)
if [ -n "$found" ]; then
  echo "yajl included outside json.c and proto.c:"
  echo "$found"
  exit 1
fi
n=$(grep -rlE '#[[:space:]]*include[[:space:]]*<yajl/' "$src/shim" | wc -l)
# The check itself must see json.c: a wrong source folder finds nothing.
[ "$n" -ge 1 ] || { echo "json-boundary: no yajl include found under $src/shim: wrong source folder"; exit 1; }
echo "json-boundary: yajl is included by json.c and proto.c only"
