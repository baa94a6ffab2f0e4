"""Changing the library safely: shots, plans, the journal and lock, undo, XMP sidecars."""
