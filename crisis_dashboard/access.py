"""Who is visiting and what they may do: a role from the server's configuration for the signed-in
e-mail (crisis_dashboard.server_config: viewer < reviewer < admin), or, without sign-in, the
laptop's single user.

    viewer     browse, analyse, export
    reviewer   + record reviews (as the signed-in identity, never a typed name)
    admin      + choose runs, data and collections under the roots, settle disagreements, retrain

Without [auth]: on loopback (a laptop) the visitor is an admin who types a reviewer name, as before;
served to the network, every page and the terminal say that anyone who reaches it may use it, and
it is a reviewer: the paths and retraining stay the operator's.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import streamlit as st

from crisis_dashboard import literal, sign_in
from crisis_dashboard.server_config import ROLES, ServerConfig, is_loopback

_warned: list[str] = []  # the terminal's warning, once per server process
OPEN_WARNING = (
    "This CrisisLens server has no sign-in ([auth] in .streamlit/secrets.toml) and is served beyond this machine "
    "(server.address {address!r}): anyone who reaches it can read the data and record reviews under any name. "
    "Configure sign-in, or bind it to 127.0.0.1."
)


@dataclass(frozen=True)
class Visitor:
    email: str  # the signed-in identity, recorded with each review ("" without sign-in)
    role: str | None  # None: signed in, but no role on this server
    signed_in: bool
    team: bool  # sign-in on, or served to the network: no server path typed in the browser is used

    def may(self, role: str) -> bool:
        return self.role is not None and ROLES.index(self.role) >= ROLES.index(role)


def server_address() -> str:
    return str(st.get_option("server.address") or "")


def current_visitor(config: ServerConfig) -> Visitor:
    """This session's visitor (routing shows the sign-in before, for a signed-out one)."""
    if sign_in.auth_configured():
        email = str(st.user.get("email") or "")
        # roles are given by e-mail: an address the provider says is not verified (anyone may have typed
        # it at sign-up, e.g. an admin's) gives none; a provider that does not say is taken at its word
        verified = st.user.get("email_verified") is not False
        return Visitor(email, config.role_of(email) if verified else None, True, team=True)
    address = server_address()
    if is_loopback(address):
        return Visitor("", "admin", False, team=False)
    if address not in _warned:
        _warned.append(address)
        # the operator's terminal, at the first page served
        print("WARNING: " + OPEN_WARNING.format(address=address), file=sys.stderr, flush=True)
    return Visitor("", "reviewer", False, team=True)


def banner(visitor: Visitor) -> None:
    """On every page: the open server's warning; the refusal of a signed-in account without a role."""
    if not visitor.signed_in and visitor.team:
        st.error(OPEN_WARNING.format(address=server_address()), icon=":material/public:")
    if visitor.signed_in and visitor.role is None:
        st.error(
            f"The account {literal.inline(visitor.email) or '(no e-mail given by the provider)'} has no role on this "
            "server. Ask its operator to add it under [roles], or sign in with another account."
        )
        sign_in.sign_out_button()
        st.stop()


def sidebar(visitor: Visitor) -> None:
    """Who is signed in (or that nobody is), with the sign-out."""
    with st.sidebar:
        if visitor.signed_in:
            st.markdown(f"Signed in as **{literal.inline(visitor.email)}** ({visitor.role})")
            sign_in.sign_out_button()
        else:
            st.caption(
                "Nobody is signed in: this server has no sign-in, so a review carries the name typed on the "
                "Review page."
            )
