"""Canonical model: the only shapes that cross a layer boundary."""
