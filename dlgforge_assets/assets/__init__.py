"""The software-defined assets, one module per stage of the data."""
