"""The command line: one module per command group, options declared once (see options.py)."""
