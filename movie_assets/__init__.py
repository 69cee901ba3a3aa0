"""Dagster assets of the movie build system. The Definitions object is in definitions.py."""
