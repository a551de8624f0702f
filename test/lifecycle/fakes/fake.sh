#!/bin/bash
# A stand-in for kind, kubectl or docker, named by the link it runs as (see fake.mjs for what it
# answers). It asks the test's fake tools server on loopback port FAKE_TOOLS_SERVER for its answer,
# sending its name, the table, world and log files, its arguments and its stdin, each ended by a
# NUL; the answer is a bash snippet that prints what the tool prints and exits with its code.
# Bash builtins only: PATH may hold nothing else. Without a server it runs fake.mjs under node.
export LC_ALL=C
tool=${0##*/}
if [[ -z ${FAKE_TOOLS_SERVER:-} ]]; then
  exec node "${BASH_SOURCE[0]%/*}/fake.mjs" "$tool" "$@"
fi
input=''
[[ -t 0 ]] || IFS= read -r -d '' input
exec 3<>"/dev/tcp/127.0.0.1/$FAKE_TOOLS_SERVER" || exit 97
printf '%s\0' "$tool" "${FAKE_TOOLS_TABLE:-}" "${FAKE_TOOLS_WORLD:-}" "${FAKE_TOOLS_LOG:-}" "$#" "$@" "$input" >&3
IFS= read -r -d '' reply <&3
exec 3<&-
eval "$reply"
