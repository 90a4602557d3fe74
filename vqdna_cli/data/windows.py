"""Cutting sequences into pieces the model can take, and mapping results back.

Two kinds of piece:
- tokenizer chunks: the convolutional encoder sees `radius` bases on each side of a
  position, so a chunk carries that much context on each side and only its core is kept.
  Tokens are then the same as if the whole record had been encoded at once, whatever the
  chunk size.
- Transformer windows: at most `max_tokens` tokens; a longer record gets windows every
  `stride` tokens, the last one ending at the record's end.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chunk:
    record: int  # index of the record it belongs to
    start: int  # core start in the record (0-based)
    end: int  # core end (exclusive)
    context_start: int  # what is fed to the encoder: [context_start, context_end)
    context_end: int

    @property
    def core_offset(self) -> int:
        """Where the core starts inside the encoded piece."""
        return self.start - self.context_start

    @property
    def core(self) -> slice:
        """The core's tokens among those of the encoded piece."""
        return slice(self.core_offset, self.core_offset + self.end - self.start)

    @property
    def reverse_core(self) -> slice:
        """The core's tokens among those of the piece's reverse complement (the core of the
        reverse strand, read along it)."""
        offset = self.context_end - self.end
        return slice(offset, offset + self.end - self.start)


def context_chunk(record: int, start: int, end: int, length: int, radius: int) -> Chunk:
    """Bases [start, end) of a record of `length` as a chunk: with up to `radius` bases of
    context on each side."""
    return Chunk(record, start, end, max(0, start - radius), min(length, end + radius))


def tokenizer_chunks(record: int, length: int, chunk: int, radius: int) -> list[Chunk]:
    return [context_chunk(record, start, min(start + chunk, length), length, radius)
            for start in range(0, length, chunk)]


def transformer_windows(length: int, size: int, stride: int) -> list[tuple[int, int]]:
    """Half-open [start, end) windows covering [0, length): every `stride` tokens, at most
    `size` long; the last window is moved back to end exactly at `length` (when the record
    is longer than one window) so that no window is a short tail."""
    if length <= size:
        return [(0, length)]
    windows = []
    start = 0
    while True:
        if start + size >= length:
            windows.append((length - size, length))
            return windows
        windows.append((start, start + size))
        start += stride
