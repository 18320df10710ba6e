#!/usr/bin/env bash
# make audit: the runtime dependencies (npm audit --omit=dev) against npm's advisory database;
# fails on a high or critical advisory. When the advisory endpoint cannot be reached (a registry
# mirror or proxy that only serves packages), it says so and exits 3: nothing was checked.
set -uo pipefail
out=$(npm audit --omit=dev --audit-level=high 2>&1)
status=$?
printf '%s\n' "$out"
if [ "$status" -ne 0 ] && grep -qE 'audit endpoint returned an error|ENOTFOUND|ECONNREFUSED|EAI_AGAIN|ETIMEDOUT' <<<"$out"; then
  echo "audit: npm's advisory endpoint could not be reached from here; no advisory was checked" >&2
  exit 3
fi
exit "$status"
