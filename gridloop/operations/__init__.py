"""What operators run beside the services: the alert inbox, backups and restores, retention jobs."""
