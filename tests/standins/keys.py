"""A throwaway RSA key pair for a GitHub App, made by the openssl command line tool."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class KeyPair:
    private_pem: str
    private_file: Path
    public_file: Path


def rsa_key_pair(directory: Path) -> KeyPair:
    """PKCS#1 ("BEGIN RSA PRIVATE KEY"), as GitHub hands out app keys."""
    directory.mkdir(parents=True, exist_ok=True)
    private, public = directory / "app.private-key.pem", directory / "app.public.pem"
    made = subprocess.run(["openssl", "genrsa", "-traditional", "-out", str(private), "2048"],
                          capture_output=True, check=False)
    if made.returncode != 0:  # OpenSSL 1.1 writes PKCS#1 by default and has no -traditional
        subprocess.run(["openssl", "genrsa", "-out", str(private), "2048"], capture_output=True,
                       check=True)
    subprocess.run(["openssl", "rsa", "-in", str(private), "-pubout", "-out", str(public)],
                   capture_output=True, check=True)
    return KeyPair(private.read_text(encoding="ascii"), private, public)
