"""Operator commands (`gridloop migrate | dlt | token | backup | restore | retention | alerts listen`): they build
what they need from settings and may use every layer; nothing in gridloop imports them. The layers below, each
importing only those before it: contracts → delivery → auth → servicekit → services."""
