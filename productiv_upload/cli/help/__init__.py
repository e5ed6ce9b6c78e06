"""The command model and what is drawn from it, without typer where possible.

model.py           commands and options as data, saved in command_model.json
page.py            help pages and usage errors, drawn from the model
typer_classes.py   the command classes through which typer shows those pages and errors
completion.py      the static shell completion scripts
generate.py        rewrites the saved model and the scripts
"""
