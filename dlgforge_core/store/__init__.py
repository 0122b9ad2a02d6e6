"""dlgforge_core.store"""
