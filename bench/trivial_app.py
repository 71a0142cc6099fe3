"""The ceiling for intake: a trivial FastAPI endpoint under the same uvicorn settings as the services
(gridloop/servicekit/serve.py): it parses the JSON body and answers 202, with no database and no Kafka."""

from __future__ import annotations

import sys
from typing import Any

import uvicorn
from fastapi import FastAPI, status

from gridloop.servicekit.serve import server_config


def make_app() -> FastAPI:
    app = FastAPI(title="trivial")

    @app.post("/v1/reports", status_code=status.HTTP_202_ACCEPTED)
    async def accept(body: dict[str, Any]) -> dict[str, str]:
        return {"status": "received"}

    return app


if __name__ == "__main__":
    uvicorn.Server(server_config(make_app, host="127.0.0.1", port=int(sys.argv[1]))).run()
