
#compdef productiv-upload

_productiv_upload_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _PRODUCTIV_UPLOAD_COMPLETE=complete_zsh productiv-upload)
}

compdef _productiv_upload_completion productiv-upload

