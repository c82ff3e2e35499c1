"""The server's long-running loops: dispatcher, schedule ticker, pollers, event triggers."""
