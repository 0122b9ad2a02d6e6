"""Tests of the export, the gates, the training formats and the Hub push."""
