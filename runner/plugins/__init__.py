"""First-party plugin families, each an optional extra (`pip install 'gitflows[postgres]'`).

Every module here is registered as a `gitflows.plugins` entry point in pyproject.toml and
is the one module that imports its client library; without the extra it is not loaded
and a flow using its types fails validation with the install command.
"""
