"""Loading checkpoints without running code: `torch.load(weights_only=True)` and nothing else.

A checkpoint is a pickle, and a pickle can call any function while it is read. Every checkpoint the
project reads — a search or retrain `last.ckpt`, a `trained.pt`, and Lightning's own resume load
(`Trainer.fit(..., weights_only=True)`) — is unpickled by torch's restricted unpickler, which only builds
tensors, containers and plain values. The project's checkpoints hold nothing else (the search identity
is a dict of plain values), so no project type needs allow-listing (`torch.serialization.safe_globals`
would add one).
"""

import pickle
import re
from pathlib import Path

import torch

from micronas.errors import ConfigError


def load_checkpoint(path: Path, what: str | None = None) -> dict:
    """The checkpoint at `path`, read without running code; `what` names it in errors (default: the path,
    e.g. `ckpt_path=PATH` for a user's setting).

    A file that asks to call a function or build a foreign object is refused unread, with one sentence.
    """
    what = what or str(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"GLOBAL ([\w.]+)", str(error))
        if not found and "reduce" not in str(error):  # no call asked for: a damaged or foreign file
            raise ConfigError(f"{what} is not a readable checkpoint (UnpicklingError).") from None
        asked = f"the global {found.group(1)}" if found else "a call to a function"
        raise ConfigError(
            f"{what} asks to load {asked}, which a micronas checkpoint never holds; it was refused "
            f"unread, as loading it could run code: use a checkpoint that micronas wrote."
        ) from None
    except Exception as error:  # torch raises many types for a truncated or foreign file
        raise ConfigError(f"{what} is not a readable checkpoint ({type(error).__name__}).") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what} holds a {type(data).__name__}, not a checkpoint dictionary.")
    return data
