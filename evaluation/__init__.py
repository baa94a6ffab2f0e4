"""Measurements of the shipped model and the judges on data: agreement, grouping, checks (source checkout only)."""
