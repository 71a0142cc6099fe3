"""Who may do what: operator-issued credentials, the audit log, residents' contact details sealed at rest."""

from gridloop.auth.tokens import InvalidCredentials, IssuedToken, Principal, TokenIssuer

__all__ = ["InvalidCredentials", "IssuedToken", "Principal", "TokenIssuer"]
