"""``python -m dlgforge``: the same command line as ``dlgforge`` and ``python -m dlgforge_assets``."""
