
_productiv_upload_completion() {
    local IFS=$'
'
    COMPREPLY=( $( env COMP_WORDS="${COMP_WORDS[*]}" \
                   COMP_CWORD=$COMP_CWORD \
                   _PRODUCTIV_UPLOAD_COMPLETE=complete_bash $1 ) )
    return 0
}

complete -o default -F _productiv_upload_completion productiv-upload

