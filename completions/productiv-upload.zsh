#compdef productiv-upload
# productiv-upload completion, generated from the command model by
# `python -m productiv_upload.cli.help.completion SHELL`: do not edit by hand.

_productiv_upload() {
    local curcontext=$curcontext state line
    _arguments -C \
        '--version[Show the version and exit]' \
        '(-h --help)-h[Show this message and exit]' \
        '(-h --help)--help[Show this message and exit]' \
        '1: :->command' \
        '*:: :->argument'
    case $state in
        command)
            local -a commands=(
                'push:Upload files to Productiv'\''s Batch Files Upload API'
                'check:Prove the credentials and the app work, before the first cron run'
                'history:List the uploads the journal recorded, oldest first'
                'status:Show each app'\''s last upload, last failure, files waiting to retry, and what runs now'
                'sandbox:Run the local sandbox (API, token endpoint and bucket) in the foreground'
                'watch:Upload files as they appear in folders, once each has settled; runs until stopped'
                'config:Inspect the resolved settings'
            )
            _describe command commands ;;
        argument)
            case $line[1] in
                push) _productiv_upload_push ;;
                check) _productiv_upload_check ;;
                history) _productiv_upload_history ;;
                status) _productiv_upload_status ;;
                sandbox) _productiv_upload_sandbox ;;
                watch) _productiv_upload_watch ;;
                config) _productiv_upload_config ;;
            esac ;;
    esac
}

_productiv_upload_push() {
    local curcontext=$curcontext state line
    _arguments -C \
        '(-r --recursive)-r[Upload every regular file below the directories given]' \
        '(-r --recursive)--recursive[Upload every regular file below the directories given]' \
        '--files-from[Read paths from FILE, one per line ('\''-'\'' for stdin)]:file:_files' \
        '(-0 --null)-0[--files-from is NUL-separated, as `find -print0` writes]' \
        '(-0 --null)--null[--files-from is NUL-separated, as `find -print0` writes]' \
        '*--exclude[Leave out matching files (repeatable; a pattern without / matches base names)]:value: ' \
        '--allow-empty[No matching files is not an error]' \
        '--app-id[Productiv app id (env PRODUCTIV_APP_ID)]:value: ' \
        '--api-url[API base URL (env PRODUCTIV_API_URL); http\:// for loopback hosts only]:value: ' \
        '--token-file[File holding an access token, readable by you alone (env PRODUCTIV_TOKEN_FILE)]:file:_files' \
        '--token-url[OAuth2 token URL for client credentials (env PRODUCTIV_TOKEN_URL)]:value: ' \
        '--ca-bundle[Trust exactly the PEM certificates in FILE, as for a TLS-inspecting proxy (env PRODUCTIV_CA_BUNDLE; ca_bundle in the config file; then REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, SSL_CERT_FILE)]:file:_files' \
        '--profile[Profile of the config file to use (env PRODUCTIV_PROFILE)]:value: ' \
        '*--storage-host[Host signed upload URLs may point to, such as *.amazonaws.com (repeatable; env PRODUCTIV_STORAGE_HOSTS, comma-separated)]:value: ' \
        '--type[Passed to the API as the `type` parameter (users, contracts...)]:value: ' \
        '--sandbox[Upload to a local sandbox started for this run]' \
        '--keep-sandbox[With --sandbox\: keep its folder of uploaded files (removed at the end otherwise)]' \
        '(-j --concurrency)-j[Parallel PUTs]:value: ' \
        '(-j --concurrency)--concurrency[Parallel PUTs]:value: ' \
        '--batch-size[File names per URL request]:value: ' \
        '--retries[Retries after faults (429, 5xx, timeouts, dropped connections)]:value: ' \
        '--timeout[Read timeout for every request; the connect timeout is at most 10 s]:value: ' \
        '--force[Upload again files the journal records as uploaded unchanged]' \
        '--checksum[Compare every file the journal knows by content (a read), not by stat() alone]' \
        '--state-dir[Where the journal and lock live (env PRODUCTIV_UPLOAD_STATE_DIR)]:directory:_files -/' \
        '--journal-retention[Keep the journal'\''s rows for files no longer in place (moved, deleted, replaced) this long; rows for files still in place are always kept]:value: ' \
        '--wait-lock[Wait up to SECONDS for another push or watch for the same app to finish]:value: ' \
        '--limit-rate[Total bandwidth cap across all transfers\: 10M is 10 MB/s, 500k, 8Mi]:value: ' \
        '--move-to[Move each file here once its upload is verified and recorded]:directory:_files -/' \
        '--delete-after[Delete each file once its upload is verified and recorded]' \
        '--dry-run[Show the batches and files that would be sent; contact nothing]' \
        '--json[Write the JSON report to stdout, and nothing else there]' \
        '--report[Also write the JSON report to FILE]:file:_files' \
        '--log-file[Append a plain, timestamped log of the run to FILE]:file:_files' \
        '(-q --quiet)-q[Print only failures and the final one-line summary]' \
        '(-q --quiet)--quiet[Print only failures and the final one-line summary]' \
        '--max-age[Warn about files modified longer ago than this\: Productiv only guarantees aggregating events pushed within 12 hours]:value: ' \
        '--min-age[Leave files modified less than SECONDS ago for a later run (status deferred)\: they may still be being written]:value: ' \
        '--metrics-file[Write Prometheus metrics here for node_exporter'\''s textfile collector (a .prom file; metrics_file in the config file)]:file:_files' \
        '--debug[Show a traceback when an error ends the run]' \
        '(-h --help)-h[Show this message and exit]' \
        '(-h --help)--help[Show this message and exit]' \
        '*:path:_files'
}

_productiv_upload_check() {
    local curcontext=$curcontext state line
    _arguments -C \
        '--app-id[Productiv app id (env PRODUCTIV_APP_ID)]:value: ' \
        '--api-url[API base URL (env PRODUCTIV_API_URL); http\:// for loopback hosts only]:value: ' \
        '--token-file[File holding an access token, readable by you alone (env PRODUCTIV_TOKEN_FILE)]:file:_files' \
        '--token-url[OAuth2 token URL for client credentials (env PRODUCTIV_TOKEN_URL)]:value: ' \
        '--ca-bundle[Trust exactly the PEM certificates in FILE, as for a TLS-inspecting proxy (env PRODUCTIV_CA_BUNDLE; ca_bundle in the config file; then REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, SSL_CERT_FILE)]:file:_files' \
        '--profile[Profile of the config file to use (env PRODUCTIV_PROFILE)]:value: ' \
        '*--storage-host[Host signed upload URLs may point to, such as *.amazonaws.com (repeatable; env PRODUCTIV_STORAGE_HOSTS, comma-separated)]:value: ' \
        '--timeout[Read timeout for every request; the connect timeout is at most 10 s]:value: ' \
        '--debug[Show a traceback when an error ends the run]' \
        '(-h --help)-h[Show this message and exit]' \
        '(-h --help)--help[Show this message and exit]'
}

_productiv_upload_history() {
    local curcontext=$curcontext state line
    _arguments -C \
        '--app-id[Only this app]:value: ' \
        '--since[Only uploads since then\: 24h, 7d, 30m, or an ISO date or time (UTC)]:value: ' \
        '--limit[Only the newest N uploads (still listed oldest first)]:value: ' \
        '--json[Write JSON to stdout, only that]' \
        '--state-dir[Where the journal and lock live (env PRODUCTIV_UPLOAD_STATE_DIR)]:directory:_files -/' \
        '(-h --help)-h[Show this message and exit]' \
        '(-h --help)--help[Show this message and exit]'
}

_productiv_upload_status() {
    local curcontext=$curcontext state line
    _arguments -C \
        '--app-id[Only this app]:value: ' \
        '--json[Write JSON to stdout, only that]' \
        '--state-dir[Where the journal and lock live (env PRODUCTIV_UPLOAD_STATE_DIR)]:directory:_files -/' \
        '(-h --help)-h[Show this message and exit]' \
        '(-h --help)--help[Show this message and exit]'
}

_productiv_upload_sandbox() {
    local curcontext=$curcontext state line
    _arguments -C \
        '--host[Loopback address to listen on\: 127.0.0.1, \:\:1 or localhost]:value: ' \
        '--port[Port on --host (0\: any free one)]:value: ' \
        '--dir[Where uploaded files are stored (default\: a new temporary folder)]:directory:_files -/' \
        '--tls-cert[Serve https\:// with this PEM certificate (chain), to rehearse TLS and proxies; needs --tls-key]:file:_files' \
        '--tls-key[The private key of --tls-cert]:file:_files' \
        '(-h --help)-h[Show this message and exit]' \
        '(-h --help)--help[Show this message and exit]'
}

_productiv_upload_watch() {
    local curcontext=$curcontext state line
    _arguments -C \
        '(-r --recursive)-r[Watch subfolders too]' \
        '(-r --recursive)--recursive[Watch subfolders too]' \
        '*--exclude[Leave out matching files (repeatable; a pattern without / matches base names)]:value: ' \
        '--min-age[Send a file once it has been unchanged this long]:value: ' \
        '--batch-wait[Wait at most this long to fill a batch of up to 100 names]:value: ' \
        '--retry-wait[First wait before a failed file is tried again (doubles, up to 1 h)]:value: ' \
        '--poll[Rescan every SECONDS instead of using OS events (network filesystems)]:value: ' \
        '--app-id[Productiv app id (env PRODUCTIV_APP_ID)]:value: ' \
        '--api-url[API base URL (env PRODUCTIV_API_URL); http\:// for loopback hosts only]:value: ' \
        '--token-file[File holding an access token, readable by you alone (env PRODUCTIV_TOKEN_FILE)]:file:_files' \
        '--token-url[OAuth2 token URL for client credentials (env PRODUCTIV_TOKEN_URL)]:value: ' \
        '--ca-bundle[Trust exactly the PEM certificates in FILE, as for a TLS-inspecting proxy (env PRODUCTIV_CA_BUNDLE; ca_bundle in the config file; then REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, SSL_CERT_FILE)]:file:_files' \
        '--profile[Profile of the config file to use (env PRODUCTIV_PROFILE)]:value: ' \
        '*--storage-host[Host signed upload URLs may point to, such as *.amazonaws.com (repeatable; env PRODUCTIV_STORAGE_HOSTS, comma-separated)]:value: ' \
        '--type[Passed to the API as the `type` parameter (users, contracts...)]:value: ' \
        '(-j --concurrency)-j[Parallel PUTs]:value: ' \
        '(-j --concurrency)--concurrency[Parallel PUTs]:value: ' \
        '--retries[Retries after faults (429, 5xx, timeouts, dropped connections)]:value: ' \
        '--timeout[Read timeout for every request; the connect timeout is at most 10 s]:value: ' \
        '--limit-rate[Total bandwidth cap across all transfers\: 10M is 10 MB/s, 500k, 8Mi]:value: ' \
        '--checksum[Compare every file the journal knows by content (a read), not by stat() alone]' \
        '--state-dir[Where the journal and lock live (env PRODUCTIV_UPLOAD_STATE_DIR)]:directory:_files -/' \
        '--journal-retention[Keep the journal'\''s rows for files no longer in place (moved, deleted, replaced) this long; rows for files still in place are always kept]:value: ' \
        '--wait-lock[Wait up to SECONDS for another push or watch for the same app to finish]:value: ' \
        '--move-to[Move each file here once its upload is verified and recorded]:directory:_files -/' \
        '--delete-after[Delete each file once its upload is verified and recorded]' \
        '--json[One JSON object per file, per line]' \
        '--metrics-file[Write Prometheus metrics here for node_exporter'\''s textfile collector (a .prom file; metrics_file in the config file)]:file:_files' \
        '--debug[Show a traceback when an error ends the run]' \
        '(-h --help)-h[Show this message and exit]' \
        '(-h --help)--help[Show this message and exit]'
}

_productiv_upload_config() {
    local curcontext=$curcontext state line
    _arguments -C \
        '(-h --help)-h[Show this message and exit]' \
        '(-h --help)--help[Show this message and exit]' \
        '1: :->command' \
        '*:: :->argument'
    case $state in
        command)
            local -a commands=(
                'show:Print the resolved settings and where each came from; secrets show as <hidden>'
            )
            _describe command commands ;;
        argument)
            case $line[1] in
                show) _productiv_upload_config_show ;;
            esac ;;
    esac
}

_productiv_upload_config_show() {
    local curcontext=$curcontext state line
    _arguments -C \
        '--app-id[Productiv app id (env PRODUCTIV_APP_ID)]:value: ' \
        '--api-url[API base URL (env PRODUCTIV_API_URL); http\:// for loopback hosts only]:value: ' \
        '--token-file[File holding an access token, readable by you alone (env PRODUCTIV_TOKEN_FILE)]:file:_files' \
        '--token-url[OAuth2 token URL for client credentials (env PRODUCTIV_TOKEN_URL)]:value: ' \
        '--ca-bundle[Trust exactly the PEM certificates in FILE, as for a TLS-inspecting proxy (env PRODUCTIV_CA_BUNDLE; ca_bundle in the config file; then REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, SSL_CERT_FILE)]:file:_files' \
        '--profile[Profile of the config file to use (env PRODUCTIV_PROFILE)]:value: ' \
        '*--storage-host[Host signed upload URLs may point to, such as *.amazonaws.com (repeatable; env PRODUCTIV_STORAGE_HOSTS, comma-separated)]:value: ' \
        '--state-dir[Where the journal and lock live (env PRODUCTIV_UPLOAD_STATE_DIR)]:directory:_files -/' \
        '--json[Write JSON to stdout, only that]' \
        '(-h --help)-h[Show this message and exit]' \
        '(-h --help)--help[Show this message and exit]'
}

_productiv_upload "$@"
