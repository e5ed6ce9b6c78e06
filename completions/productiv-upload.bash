# productiv-upload completion, generated from the command model by
# `python -m productiv_upload.cli.help.completion SHELL`: do not edit by hand.

_productiv_upload_spec() {
    case $1 in
        "")
            commands="push check history status sandbox watch config"
            flags="--version -h --help"
            values=""
            files=""
            dirs=""
            arguments="nothing" ;;
        "push")
            commands=""
            flags="-r --recursive -0 --null --allow-empty --sandbox --keep-sandbox --force --checksum --delete-after --dry-run --json -q --quiet --debug -h --help"
            values="--exclude --app-id --api-url --token-url --profile --storage-host --type -j --concurrency --batch-size --retries --timeout --journal-retention --wait-lock --limit-rate --max-age --min-age"
            files="--files-from --token-file --ca-bundle --report --log-file --metrics-file"
            dirs="--state-dir --move-to"
            arguments="files" ;;
        "check")
            commands=""
            flags="--debug -h --help"
            values="--app-id --api-url --token-url --profile --storage-host --timeout"
            files="--token-file --ca-bundle"
            dirs=""
            arguments="nothing" ;;
        "history")
            commands=""
            flags="--json -h --help"
            values="--app-id --since --limit"
            files=""
            dirs="--state-dir"
            arguments="nothing" ;;
        "status")
            commands=""
            flags="--json -h --help"
            values="--app-id"
            files=""
            dirs="--state-dir"
            arguments="nothing" ;;
        "sandbox")
            commands=""
            flags="-h --help"
            values="--host --port"
            files="--tls-cert --tls-key"
            dirs="--dir"
            arguments="nothing" ;;
        "watch")
            commands=""
            flags="-r --recursive --checksum --delete-after --json --debug -h --help"
            values="--exclude --min-age --batch-wait --retry-wait --poll --app-id --api-url --token-url --profile --storage-host --type -j --concurrency --retries --timeout --limit-rate --journal-retention --wait-lock"
            files="--token-file --ca-bundle --metrics-file"
            dirs="--state-dir --move-to"
            arguments="dirs" ;;
        "config")
            commands="show"
            flags="-h --help"
            values=""
            files=""
            dirs=""
            arguments="nothing" ;;
        "config show")
            commands=""
            flags="--json -h --help"
            values="--app-id --api-url --token-url --profile --storage-host"
            files="--token-file --ca-bundle"
            dirs="--state-dir"
            arguments="nothing" ;;
    esac
}

_productiv_upload() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev="" command="" i word
    [[ $COMP_CWORD -gt 0 ]] && prev=${COMP_WORDS[COMP_CWORD-1]}
    local commands flags values files dirs arguments
    _productiv_upload_spec ""
    # Find the command, skipping options and the values they take.
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if [[ " $values $files $dirs " == *" $word "* ]]; then
            ((i++))
        elif [[ $word != -* && " $commands " == *" $word "* ]]; then
            command="${command:+$command }$word"
            _productiv_upload_spec "$command"
        fi
    done
    # `--option=value`: bash splits the word at `=`.
    if [[ $cur == "=" ]]; then
        cur=""
    elif [[ $prev == "=" && $COMP_CWORD -gt 1 ]]; then
        prev=${COMP_WORDS[COMP_CWORD-2]}
    fi
    local IFS=$'\n'
    if [[ " $files " == *" $prev "* ]]; then
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -f -- "$cur"))
    elif [[ " $dirs " == *" $prev "* ]]; then
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -d -- "$cur"))
    elif [[ " $values " == *" $prev "* ]]; then
        COMPREPLY=()
    elif [[ $cur == -* ]]; then
        IFS=$' \t\n'
        COMPREPLY=($(compgen -W "$flags $values $files $dirs" -- "$cur"))
    elif [[ -n $commands ]]; then
        IFS=$' \t\n'
        COMPREPLY=($(compgen -W "$commands" -- "$cur"))
    elif [[ $arguments == files ]]; then
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -f -- "$cur"))
    else
        COMPREPLY=()
    fi
}

complete -F _productiv_upload productiv-upload
