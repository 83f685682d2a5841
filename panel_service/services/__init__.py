"""Use cases that take a session. They flush but never commit: the caller owns the transaction."""
