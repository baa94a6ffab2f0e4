"""Moved to `python -m evaluation.groups_eval` (source checkout only); this alias goes in the next release."""

from aescull._moved import run_moved

if __name__ == "__main__":
    run_moved("aescull.groups_eval", "evaluation.groups_eval")
