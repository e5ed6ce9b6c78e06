"""`python -m productiv_upload` runs the same command as `productiv-upload`."""

from productiv_upload.cli import main

if __name__ == "__main__":
    main()
