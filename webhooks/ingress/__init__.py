"""What comes in over HTTP: webhook reception, the durable inbox, auth and the route style."""
