"""The Typer command line: the only layer that reads options, prints and exits."""
