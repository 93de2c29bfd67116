"""Named experiments: the papers' figures as functions and scripts."""
