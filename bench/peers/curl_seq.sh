#!/usr/bin/env bash
# Peer (a): the sequential loop Productiv's docs suggest. For each batch of 100 names, one curl
# GET for the signed URLs, then one `curl -X PUT -T file URL` per file, one after another.
# Every curl is a new process and a new TCP connection: keep-alive across invocations is not
# possible. Usage: curl_seq.sh DIR [MAX_FILES]   (env: PRODUCTIV_API_URL, _APP_ID, _ACCESS_TOKEN)
# File names are plain ASCII (the runner generates them), so the query needs no URL-encoding.
set -euo pipefail
cd "$1"
mapfile -t names < <(ls -1 | head -n "${2:-1000000000}")
endpoint="$PRODUCTIV_API_URL/services/push/v1/customer/apps/$PRODUCTIV_APP_ID/upload"

pairs() {  # JSON {name: url} on stdin -> "name<TAB>url" lines
    if command -v jq >/dev/null; then
        jq -r 'to_entries[] | "\(.key)\t\(.value)"'
    else
        python3 -c 'import json,sys; [print(f"{k}\t{v}") for k, v in json.load(sys.stdin).items()]'
    fi
}

for ((i = 0; i < ${#names[@]}; i += 100)); do
    query=$(printf 'filenames=%s&' "${names[@]:i:100}")
    curl -sSf -H "Authorization: Bearer $PRODUCTIV_ACCESS_TOKEN" \
        -H 'Content-Type: application/json' "$endpoint?${query%&}" |
        pairs | while IFS=$'\t' read -r name url; do
            curl -sSf -o /dev/null -X PUT -T "$name" "$url"
        done
done
