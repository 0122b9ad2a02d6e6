"""Dagster assets, checks, automation and the dlgforge CLI."""
