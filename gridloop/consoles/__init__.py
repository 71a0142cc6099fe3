"""Server-rendered consoles for the people who work cases (gridloop/consoles/kit.py; docs/consoles.md)."""
