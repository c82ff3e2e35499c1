"""Git access for the runner: repository files, checkouts, history refs."""
