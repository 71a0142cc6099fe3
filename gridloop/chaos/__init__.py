"""The chaos test: many reports through the real pipeline while services, the broker and PostgreSQL crash,
then a comparison of what went in with what came out (`gridloop chaos`, `make chaos`)."""
