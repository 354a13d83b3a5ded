"""Sign-in with Streamlit's own `st.login` / `st.user` (OpenID Connect through Authlib), on when the
server's .streamlit/secrets.toml has an [auth] section. Only Streamlit is imported here: routing asks
before the pages' names are drawn, so a signed-out visitor sees the sign-in and nothing else."""

from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

AUTH_SECTION = "auth"


def auth_configured() -> bool:
    """Whether the server has sign-in ([auth] in its secrets)."""
    try:
        return AUTH_SECTION in st.secrets
    except StreamlitSecretNotFoundError:  # no secrets file at all: a laptop
        return False


def signed_out() -> bool:
    """Sign-in is on and this visitor has not signed in."""
    return auth_configured() and not st.user.is_logged_in


def show_sign_in() -> None:
    """The whole page for a signed-out visitor: what CrisisLens is, and the button to sign in."""
    st.markdown(
        "CrisisLens is shared by a team on this server: sign in to browse the model's answers, review "
        "them or run it. Your organisation's account decides what you may do here."
    )
    st.button("Sign in", type="primary", icon=":material/login:", on_click=st.login, key="sign-in")


def sign_out_button() -> None:
    st.button("Sign out", icon=":material/logout:", on_click=st.logout, key="sign-out")
