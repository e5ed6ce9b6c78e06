"""The entry point of `productiv-upload` and `python -m productiv_upload`."""

import os
import sys

from productiv_upload import __version__


def main() -> None:
    # Scripts and packagers ask for the version often; answer without loading the CLI framework.
    if sys.argv[1:] == ["--version"]:
        print(f"productiv-upload {__version__}")
        return
    # Help too, from pages typer drew at build time, when they are what it would draw now.
    from productiv_upload.cli.static_help import print_saved_page

    if print_saved_page(sys.argv[1:], os.environ, sys.stdout):
        return
    from productiv_upload.cli.app import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
