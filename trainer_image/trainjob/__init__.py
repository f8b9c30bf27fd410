"""trainjob: the in-pod training library, the local runner and the CLI."""
