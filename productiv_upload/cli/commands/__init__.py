"""One module per command: what it does once typer has parsed its options (`app.py`)."""
