"""Errors routes raise in the shape the OpenAPI schema promises."""

from __future__ import annotations

from fastapi import HTTPException, status


def unprocessable(message: str, *loc: str) -> HTTPException:
    """A 422 shaped like FastAPI's own validation error (the documented HTTPValidationError), so that clients parse
    one form whether pydantic or a route found the problem; `loc` names the part (`"query", "from"`)."""
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT, [{"loc": list(loc), "msg": message, "type": "value_error"}]
    )
