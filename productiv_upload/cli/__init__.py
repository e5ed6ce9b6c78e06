"""The command line: a typer skin over the core. The only layer that imports typer or rich."""
