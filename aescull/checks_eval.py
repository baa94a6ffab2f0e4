"""Moved to `python -m evaluation.checks_eval` (source checkout only); this alias goes in the next release."""

from aescull._moved import run_moved

if __name__ == "__main__":
    run_moved("aescull.checks_eval", "evaluation.checks_eval")
