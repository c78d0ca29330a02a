"""Command line interface: ``wavescope <command> ...``."""
