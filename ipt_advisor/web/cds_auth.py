"""Who may call the CDS Hooks endpoints.

* ``Authorization: Bearer <launch token>``: the token ``serve`` printed (a local EHR sandbox,
  the README's curl session);
* ``Authorization: Bearer <JWT>`` signed by a configured EHR client, as CDS Hooks 2.0 says:
  ES384 or RS384, ``iss`` on the allow-list, the key chosen by ``kid`` from that client's
  *pinned* JWKS (a ``jku`` header must name the pinned URL; keys are never fetched from where
  a token points), ``aud`` this endpoint's URL, ``exp``/``iat`` checked, ``jti`` used once.

Anything else is 401. The clients file (``serve --ehr-clients FILE``)::

    clients:
      - issuer: https://ehr.example.org
        jwks: ehr-keys.json            # the client's public keys (JWK Set), next to this file
        jku: https://ehr.example.org/.well-known/jwks.json   # optional pin
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from dataclasses import field
from ..core.precompiled_classes import dataclass
from pathlib import Path
from typing import Any

from ..core import yamlio
from ..core.errors import IptError, Problem

ALGORITHMS = ("ES384", "RS384")  # the two the specification names
LEEWAY = 30  # seconds of clock difference tolerated on exp / iat


class ClientsError(IptError):
    """The EHR clients file is unusable (``serve`` exits 1)."""


@dataclass
class Client:
    issuer: str
    keys: dict[str, Any]  # kid -> public key
    jku: str | None = None


@dataclass
class Authorizer:
    token: str
    clients: dict[str, Client] = field(default_factory=dict)
    _seen: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def allows(self, header: str | None, audience: str) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        credential = header[len("Bearer ") :].strip()
        if hmac.compare_digest(credential.encode(), self.token.encode()):
            return True
        return bool(self.clients) and credential.count(".") == 2 and self._jwt_ok(credential, audience)

    def _jwt_ok(self, credential: str, audience: str) -> bool:
        import jwt

        try:
            header = jwt.get_unverified_header(credential)
            claims = jwt.decode(credential, options={"verify_signature": False})
        except jwt.PyJWTError:
            return False
        client = self.clients.get(str(claims.get("iss")))
        if client is None or header.get("alg") not in ALGORITHMS or header.get("typ") != "JWT":
            return False
        if "jku" in header and header["jku"] != client.jku:
            return False  # a key location the client did not pin
        key = client.keys.get(str(header.get("kid")))
        if key is None:
            return False
        try:
            verified = jwt.decode(
                credential,
                key=key,
                algorithms=[header["alg"]],
                audience=audience,
                issuer=client.issuer,
                leeway=LEEWAY,
                options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]},
            )
        except jwt.PyJWTError:
            return False
        return self._first_use(str(verified["jti"]), float(verified["exp"]))

    def _first_use(self, jti: str, exp: float) -> bool:
        """A token is good once (replay protection), remembered until it expires."""
        now = time.time()
        with self._lock:
            for old in [k for k, until in self._seen.items() if until + LEEWAY < now]:
                del self._seen[old]
            if jti in self._seen:
                return False
            self._seen[jti] = exp
        return True


def load_clients(path: str) -> dict[str, Client]:
    """The clients file, every problem at once (``ClientsError``)."""
    import jwt

    source = path
    problems: list[Problem] = []
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ClientsError([Problem(source, None, "", f"cannot read: {exc.strerror or exc}")]) from None
    value, lines, problems = yamlio.load(raw, source)
    entries = value.get("clients") if isinstance(value, dict) else None
    if not problems and (not isinstance(entries, list) or not entries):
        problems.append(Problem(source, None, "clients", "must be a list of {issuer, jwks, jku?}"))
    out: dict[str, Client] = {}
    for i, entry in enumerate(entries if isinstance(entries, list) else ()):
        where, line = f"clients[{i}]", lines.line(("clients", i))
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("issuer"), str)
            or not isinstance(entry.get("jwks"), str)
            or set(entry) - {"issuer", "jwks", "jku"}
        ):
            problems.append(Problem(source, line, where, "needs issuer: and jwks: (text), and at most jku:"))
            continue
        keys: dict[str, Any] = {}
        try:
            jwks = json.loads((Path(path).parent / entry["jwks"]).read_text())
            for jwk in jwks["keys"]:
                keys[str(jwk["kid"])] = jwt.PyJWK(jwk).key
        except (OSError, ValueError, KeyError, TypeError, jwt.PyJWTError) as exc:
            problems.append(
                Problem(
                    source, line, f"{where}.jwks", f"not a readable JWK Set with a kid per key ({type(exc).__name__})"
                )
            )
            continue
        if not keys:
            problems.append(Problem(source, line, f"{where}.jwks", "holds no keys"))
            continue
        out[entry["issuer"]] = Client(entry["issuer"], keys, entry.get("jku"))
    if problems:
        raise ClientsError(problems)
    return out
