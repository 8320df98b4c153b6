"""Processor authoring: golden fixtures (record and replay) and the scaffold of a new processor.
"""
