"""The entry point of `productiv-upload` and `python -m productiv_upload`."""

import sys

from productiv_upload import __version__


def main() -> None:
    # Scripts and packagers ask for the version often; answer without loading the CLI framework.
    if sys.argv[1:] == ["--version"]:
        print(f"productiv-upload {__version__}")
        return
    from productiv_upload.cli.app import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
