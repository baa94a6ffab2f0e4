"""Training and cross-validation of aescull's scorer: ``python -m training`` (see :mod:`training.__main__`).

Lives beside the runtime package, not in the wheel: it needs the labelled data and the
``[train]`` extra, and the shipped model needs neither.
"""
