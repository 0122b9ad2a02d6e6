"""dlgforge core: config, LLM client, knowledge base, generation engine, judge, store, export.

This package never imports Dagster; everything here runs and tests with plain Python.
"""

__version__ = "0.1.0"
