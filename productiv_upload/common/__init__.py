"""Plain helpers every layer may use: errors and exit codes, printable text, redaction."""
