"""dlgforge_core.generation"""
