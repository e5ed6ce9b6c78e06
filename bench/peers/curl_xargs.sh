#!/usr/bin/env bash
# Peer (b): peer (a) with the PUTs run by `xargs -P N curl`. The GETs still run one after
# another, their name/URL pairs streaming into a single xargs, so PUTs never wait for a batch.
# Each PUT is still its own curl process and TCP connection (no keep-alive).
# Usage: curl_xargs.sh DIR CONCURRENCY [MAX_FILES]   (env as for curl_seq.sh)
set -euo pipefail
cd "$1"
mapfile -t names < <(ls -1 | head -n "${3:-1000000000}")
endpoint="$PRODUCTIV_API_URL/services/push/v1/customer/apps/$PRODUCTIV_APP_ID/upload"

pairs() {  # JSON {name: url} on stdin -> name and url on two lines each
    if command -v jq >/dev/null; then
        jq -r 'to_entries[] | .key, .value'
    else
        python3 -c 'import json,sys; [print(k, v, sep="\n") for k, v in json.load(sys.stdin).items()]'
    fi
}

for ((i = 0; i < ${#names[@]}; i += 100)); do
    query=$(printf 'filenames=%s&' "${names[@]:i:100}")
    curl -sSf -H "Authorization: Bearer $PRODUCTIV_ACCESS_TOKEN" \
        -H 'Content-Type: application/json' "$endpoint?${query%&}" | pairs
done | xargs -d '\n' -n 2 -P "$2" curl -sSf -o /dev/null -X PUT -T
