"""Stand-ins for the forges' REST APIs: real HTTP servers on 127.0.0.1 that record
every request and check it (GitHub against its published OpenAPI description)."""
