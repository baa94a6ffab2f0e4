"""Pure judgements over scored rows: checks, signatures, groups, ranking and what to cull."""
