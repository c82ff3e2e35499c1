"""The `flows` command: click commands only (the one package that imports click)."""
