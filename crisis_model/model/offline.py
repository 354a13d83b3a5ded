"""Whether a download host can be reached: pretrained weights fail fast offline, with advice.

Without this check the Hugging Face client retries for ~45 s and torchvision for longer before
they give up; a closed TCP port answers at once.
"""

from __future__ import annotations

import os
import socket

HF_HOST = "huggingface.co"
TORCH_HOST = "download.pytorch.org"


def reachable(host: str, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to host:443 opens; False at once when offline (or HF_HUB_OFFLINE=1
    for the Hugging Face hub)."""
    if os.environ.get("HF_HUB_OFFLINE") == "1" and host == HF_HOST:
        return False
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False
