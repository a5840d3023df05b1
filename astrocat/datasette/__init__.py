"""datasette"""
