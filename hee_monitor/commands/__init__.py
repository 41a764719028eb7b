"""One module per ``hee-monitor`` subcommand (group), registered in ``hee_monitor.cli.COMMANDS``."""
