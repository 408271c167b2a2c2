"""CLI subcommands, one module each (see bmtrace.cli)."""
