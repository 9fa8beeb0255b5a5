"""The pull: a local copy of the contracts in scope, their renewal quotes, lines and documents, and the
accounts, contacts and reps they point at, kept fresh within the org's API budget."""
