"""Rewrite every file drawn from the command model, after a command or option changes:

    python -m productiv_upload.cli.help.generate

writes productiv_upload/cli/help/command_model.json (what `--help` prints from without typer) and,
in a checkout, completions/productiv-upload.{bash,zsh,fish}. Tests fail while any is stale.
"""

from __future__ import annotations

import os
import sys

from productiv_upload.cli.help import completion, model

# This file is productiv_upload/cli/help/generate.py in a checkout.
CHECKOUT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
COMPLETIONS = os.path.join(CHECKOUT, "completions")


def generated_files() -> dict[str, str]:
    """Each generated file's path and the text it should hold."""
    from productiv_upload.cli.app import app

    current = model.from_app(app)
    files = {model.SAVED: model.dumps(current)}
    if os.path.isdir(COMPLETIONS):  # an installed package has no completions/ beside it
        for shell, script in completion.SCRIPTS.items():
            files[os.path.join(COMPLETIONS, f"{model.PROG}.{shell}")] = script(current)
    return files


def main(argv: list[str]) -> int:
    if argv:
        print("usage: python -m productiv_upload.cli.help.generate", file=sys.stderr)
        return 2
    for path, text in generated_files().items():
        with open(path, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
        print(f"wrote {os.path.relpath(path)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
