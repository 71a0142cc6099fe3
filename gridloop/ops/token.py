"""`gridloop token issue | revoke`: credentials for workers, departments and operators.

    gridloop token issue --role worker --worker JN-W0001
    gridloop token issue --role department --department police
    gridloop token issue --role department --department police --name 赵志强   # a clerk's own credential
    gridloop token issue --role operator --operator 王芳 --hours 8
    gridloop token revoke <token id> --reason "phone lost"

The key comes from GRIDLOOP_AUTH_SIGNING_KEY (the development key when unset). `revoke` writes the token id into
every service's `revoked_tokens` (database URLs from each service's settings), refused from the next request on.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from datetime import timedelta

from sqlalchemy.ext.asyncio import create_async_engine

from gridloop.auth.api import revoke
from gridloop.auth.settings import AuthSettings
from gridloop.auth.tokens import ROLES, IssuedToken, TokenIssuer
from gridloop.ops.migrate import SERVICES, settings_for


def issue(
    settings: AuthSettings, *, role: str, subject: str, ttl: timedelta | None = None, name: str | None = None
) -> IssuedToken:
    return TokenIssuer(settings.signing_key.get_secret_value()).issue(
        role=role, subject=subject, ttl=ttl or settings.token_ttl(role), name=name
    )


async def revoke_everywhere(
    token_id: str, *, revoked_by: str, reason: str, urls: dict[str, str] | None = None
) -> dict[str, bool]:
    """Revoke in every service's database (URLs from each service's settings unless given); returns service ->
    newly revoked (False: it was already). Running services hear of it by LISTEN/NOTIFY at each commit."""
    urls = urls or {service: settings_for(service).database_url for service in SERVICES}
    done = {}
    for service, url in urls.items():
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                done[service] = await revoke(conn, token_id, revoked_by=revoked_by, reason=reason)
        finally:
            await engine.dispose()
    return done


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="gridloop token", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    issuing = commands.add_parser("issue", help="print a new credential")
    issuing.add_argument("--role", choices=ROLES, required=True)
    issuing.add_argument("--worker", help="the worker id (role worker), e.g. JN-W0001")
    issuing.add_argument("--department", help="police | finance | street_office (role department)")
    issuing.add_argument("--operator", help="the operator's name (role operator)")
    issuing.add_argument("--name", help="the clerk a department credential belongs to (recorded on each step)")
    issuing.add_argument("--days", type=float, help="validity in days (default: the configured one for the role)")
    issuing.add_argument("--hours", type=float, help="validity in hours")
    issuing.add_argument("--json", action="store_true", help="print token, id and expiry as JSON")
    revoking = commands.add_parser("revoke", help="refuse a credential on every service from now on")
    revoking.add_argument("token_id", help="the id printed when it was issued (the JWT's jti)")
    revoking.add_argument("--reason", default="")
    args = parser.parse_args(argv)
    settings = AuthSettings()

    if args.command == "revoke":
        done = asyncio.run(revoke_everywhere(args.token_id, revoked_by=f"cli:{getpass.getuser()}", reason=args.reason))
        for service, new in done.items():
            print(f"{service}: {'revoked' if new else 'already revoked'}")
        return 0

    subject = {"worker": args.worker, "department": args.department, "operator": args.operator}[args.role]
    if not subject:
        parser.error(f"--role {args.role} needs --{args.role}")
    ttl = timedelta(days=args.days) if args.days else timedelta(hours=args.hours) if args.hours else None
    try:
        issued = issue(settings, role=args.role, subject=subject, ttl=ttl, name=args.name)
    except ValueError as exc:
        parser.error(str(exc))
    if args.json:
        print(
            json.dumps(
                {"token": issued.token, "token_id": issued.token_id, "expires_at": issued.expires_at.isoformat()}
            )
        )
    else:
        print(issued.token)
        print(
            f"token id {issued.token_id}, {args.role} {subject}, expires {issued.expires_at:%Y-%m-%d %H:%M} UTC",
            file=sys.stderr,
        )
    return 0
