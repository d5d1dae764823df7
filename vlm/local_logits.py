"""What kanjian adds to ``model.generate``'s loop: the stop flag and the grammar mask.

Both run once per generated token, beside tensors that live on the model's device (a GPU,
MPS or the CPU). Every tensor made here is made on the device of the tensor it is combined
with: a tensor created without ``device=`` lands on the CPU, and on a GPU that is either an
error ("Expected all tensors to be on the same device") or a hidden copy per token.
``tests/local/test_local_devices.py`` runs these against ``meta`` tensors to hold them to it.
"""

from __future__ import annotations

import threading
from typing import Any

import torch
from transformers import LogitsProcessor, StoppingCriteria

from kanjian.vlm.errors import BackendError

__all__ = ["GrammarMask", "StopFlag"]


class StopFlag(StoppingCriteria):
    """Ends generation at the next token once the event is set (cancellation, stop strings)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(
        self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any
    ) -> torch.BoolTensor:
        # On the ids' device: generate ORs this with its own criteria there.
        done = torch.full(
            (input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device
        )
        return done  # type: ignore[return-value]


class GrammarMask(LogitsProcessor):
    """Masks the scores to the tokens an xgrammar matcher allows next, on the scores' device.

    xgrammar's own ``contrib.hf.LogitsProcessor`` moves the scores to the CPU and back on
    anything but CUDA and allocates its bitmask wherever the default device is; this one keeps
    the host bitmask on the CPU (pinned on CUDA, so the copy is asynchronous), copies it to the
    scores' device and unpacks it there. One generation per instance: the matcher holds state.
    """

    def __init__(self, compiled: Any) -> None:
        import xgrammar

        self.matcher = xgrammar.GrammarMatcher(compiled)
        self.vocab_size = int(compiled.tokenizer_info.vocab_size)
        self._host: torch.Tensor | None = None
        self._shifts: torch.Tensor | None = None
        self._started = False

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[0] != 1:
            raise BackendError(
                f"Constrained decoding takes one sequence at a time, got a batch of "
                f"{input_ids.shape[0]}; send the requests one by one."
            )
        if self._started and not self.matcher.is_terminated():
            self._accept(int(input_ids[0, -1]))
        self._started = True
        if self.matcher.is_terminated():
            return scores
        allowed = self._allowed(scores.device)[:, : scores.shape[-1]]
        return scores.masked_fill(~allowed, float("-inf"))  # type: ignore[return-value]

    def _accept(self, token: int) -> None:
        if not self.matcher.accept_token(token):
            raise BackendError(
                f"The model produced token {token}, which the grammar does not allow; "
                "this is a bug in constrained decoding, please report it."
            )

    def _allowed(self, device: torch.device) -> torch.Tensor:
        """The matcher's bitmask as booleans, one per vocabulary entry, on ``device``."""
        if self._host is None or self._shifts is None:
            words = (self.vocab_size + 31) // 32
            pinned = device.type == "cuda"
            self._host = torch.empty((1, words), dtype=torch.int32, device="cpu", pin_memory=pinned)
            self._shifts = torch.arange(32, dtype=torch.int32, device=device)
        # Refilling the host buffer while the previous step's copy is in flight is safe: the
        # token read in ``_accept`` waited for that step's work, the copy included.
        self.matcher.fill_next_token_bitmask(self._host, 0)
        bits = self._host.to(device, non_blocking=True)
        return ((bits.unsqueeze(-1) >> self._shifts) & 1).flatten(1).bool()
