"""The entry point of `productiv-upload` and `python -m productiv_upload`."""

import os
import sys

from productiv_upload import __version__


def main() -> None:
    # Scripts and packagers ask for the version often; answer without loading the CLI framework.
    if sys.argv[1:] == ["--version"]:
        print(f"productiv-upload {__version__}")
        return
    # Help too, from the command model saved with the package: typer is a quarter of a second.
    from productiv_upload.cli.help.page import print_saved_help

    if print_saved_help(sys.argv[1:], os.environ, sys.stdout):
        return
    from productiv_upload.cli.app import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
