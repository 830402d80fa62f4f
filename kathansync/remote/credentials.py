"""Where the API is and who we are to it: the default URL, variable names and Credentials.

No httpx here: `validate` imports this module and must stay fast and offline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from kathansync.errors import ConfigError

DEFAULT_API_URL = "https://api.staging.kathan.tech"  # the base URL in the seed
API_KEY_ENV, USER_ID_ENV, API_URL_ENV = "KATHAN_API_KEY", "KATHAN_USER_ID", "KATHAN_API_URL"


@dataclass(frozen=True, repr=False)
class Credentials:
    """The API key and user id sent with every request."""

    api_key: str
    user_id: str

    def __repr__(self) -> str:
        return f"Credentials(api_key='[secure]', user_id={self.user_id!r})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Credentials:
        """Read both variables; a missing or unusable one is a ConfigError naming it."""
        values = {name: environ.get(name, "").strip() for name in (API_KEY_ENV, USER_ID_ENV)}
        missing = [name for name, value in values.items() if not value]
        if missing:
            variables = " and ".join(missing)
            plural = "s" if len(missing) > 1 else ""
            raise ConfigError(
                f"missing environment variable{plural} {variables}: set "
                f"{'them' if plural else 'it'} to your Kathan API credentials"
                " (nothing was sent)"
            )
        for name, value in values.items():
            # httpx would fail later with an encoding error that quotes the value: fail here.
            if not value.isascii() or not value.isprintable():
                raise ConfigError(f"{name} contains characters that cannot be sent in a header")
        return cls(api_key=values[API_KEY_ENV], user_id=values[USER_ID_ENV])


def check_api_url(url: str) -> str:
    """`url` when it is http(s)://host[:port][/path], without credentials, query or fragment.

    A `user:password@` would be printed in the `Kathan API:` line, saved in plan files and sent
    as Basic auth instead of the Bearer key: refused, and the message never repeats it.
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a bad port raises here, not in the middle of a run
    except ValueError:
        raise ConfigError("API URL is not a valid http(s) URL (see --api-url)") from None
    if parts.username is not None or parts.password is not None:
        host = parts.hostname or "the host"
        raise ConfigError(
            f"API URL must not contain credentials (user:password@{host}): remove them and "
            f"set {API_KEY_ENV} and {USER_ID_ENV} instead"
        )
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        # `?token=...` would be printed in the `Kathan API:` line and saved in plan files, and
        # every request path is appended to the URL, so a query would end up in the middle.
        raise ConfigError(
            "API URL must not have a query (?...) or a fragment (#...): give the base URL,"
            f" http(s)://host[/path], and the key in {API_KEY_ENV}"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        shown = "" if "@" in url else f", got {url!r}"  # `user:pass@host` without a scheme
        raise ConfigError(f"API URL must be http(s)://host[/path]{shown}")
    return url
