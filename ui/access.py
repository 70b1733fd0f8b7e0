"""Who gets in: sign-in through Streamlit's OIDC login when `.streamlit/secrets.toml` has an `[auth]` section.

Without that section the app is for local use: no sign-in, the server listens on this machine only
(`server.address = "127.0.0.1"`), and the Data page says so. A server listening beyond this machine
without sign-in refuses every page. With sign-in, nobody reaches any page or saved dataset before
signing in, and saved datasets record the e-mail address of whoever saved them. The README's
"Sharing and sign-in" section has a worked example of the configuration.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

import streamlit as st

LOCAL_USE_NOTE = (
    "This app runs for local use: no sign-in is configured, and it listens on this machine only, "
    "so nobody else on the network can open it."
)
OPEN_NETWORK_REFUSAL = (
    "This app is not shown: it listens on {address}, which other machines can reach, and no sign-in is "
    "configured, so anyone on the network could open it and the data it holds. To fix it, either configure "
    'sign-in (an `[auth]` section in `.streamlit/secrets.toml`, as the README\'s "Sharing and sign-in" '
    "section shows) or listen on this machine only: `make run`, or `--server.address 127.0.0.1`."
)
SIGNED_IN_NOTE = "Sign-in is required: only signed-in users reach the pages and saved datasets."


def sign_in_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all: local use
        return False


def providers() -> list[str]:
    """Named providers (`[auth.<name>]` sections); empty when `[auth]` itself names the one provider."""
    try:
        section = st.secrets["auth"]
    except Exception:
        return []
    return [name for name, value in section.items() if isinstance(value, Mapping)]


def signed_in() -> bool:
    return bool(getattr(st.user, "is_logged_in", False))


def signed_in_email() -> str | None:
    """Who is saving, recorded with a saved dataset; None for local use."""
    if not sign_in_configured() or not signed_in():
        return None
    return st.user.get("email") or st.user.get("sub")


def is_this_machine_only(address: str | None) -> bool:
    """Whether a server bound to `address` is reachable from this machine only; unset or empty means every interface."""
    address = (address or "").strip()
    if address.lower() == "localhost" or address.startswith("unix://"):
        return True
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:  # empty (every interface) or a host name that may resolve anywhere
        return False
    return (getattr(ip, "ipv4_mapped", None) or ip).is_loopback


def listen_address() -> str:
    """The address this server listens on, as the refusal names it."""
    return st.get_option("server.address") or "every network interface"


def refuse_open_network_without_sign_in() -> None:
    """Stops the run with one message when the server listens beyond this machine and nobody has to sign in.

    Local use without sign-in is safe only while no other machine can connect: otherwise anyone on the
    network could open the pages and any saved dataset whose link they see.
    """
    if sign_in_configured() or is_this_machine_only(st.get_option("server.address")):
        return
    st.error(OPEN_NETWORK_REFUSAL.format(address=listen_address()), icon=":material/block:")
    st.stop()


def require_sign_in() -> None:
    """Stops the run with a sign-in screen until the user has signed in (when sign-in is configured)."""
    if not sign_in_configured() or signed_in():
        return
    st.title("Isotretinoin outcomes")
    st.markdown("This dashboard is shared with a team. Please sign in to continue.")
    named = providers()
    if named:
        for name in named:
            st.button(
                f"Sign in with {name.replace('_', ' ').title()}", on_click=st.login, args=(name,), key=f"sign_in_{name}"
            )
    else:
        st.button("Sign in", on_click=st.login, key="sign_in", type="primary")
    st.stop()


def access_note() -> str:
    return SIGNED_IN_NOTE if sign_in_configured() else LOCAL_USE_NOTE


def sign_out_control() -> None:
    if sign_in_configured() and signed_in():
        st.sidebar.caption(f"Signed in as {st.user.get('email') or st.user.get('name') or 'you'}")
        st.sidebar.button("Sign out", on_click=st.logout, key="sign_out")
