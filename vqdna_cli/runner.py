"""Running the model over records: HRQ tokens and Transformer vectors, a group at a time.

Flow: records -> (grouped a few Mb at a time) -> tokenizer chunks -> token-budget batches
-> HRQ tokens per record -> Transformer windows -> pooled / per-token vectors. One group's
token IDs and one batch's activations are in memory at a time. A record longer than a group
is a group of its own, held whole, unless it is taken a part at a time (`tokenize_records`;
`embed_records` given `part_bases`): memory then grows with the longest record's sequence
alone. Results come back in input order. What a task head reads of these vectors is
`head_features`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from vqdna_cli import runtime
from vqdna_cli.checkpoint import as_dict, head_fits_weights, load_head, load_model, model_hash
from vqdna_cli.data.alphabet import encode, reverse_complement_codes
from vqdna_cli.data.batching import budget_batches, pad
from vqdna_cli.data.windows import context_chunk, tokenizer_chunks, transformer_windows
from vqdna_cli.errors import ModelError, VqdnaWarning
from vqdna_cli.head_features import (
    code_frequencies, feature_inputs, features_of, head_feature_count, segment_means, strand_span, window_centers,
    window_frequencies,
)
from vqdna_cli.head_info import HeadInfo, HeadReads
from vqdna_cli.io.records import SequenceRecord
from vqdna_cli.model.heads import ClassificationHead, FeatureHead
from vqdna_cli.model.lora import add_lora
from vqdna_cli.model.vqdna import VQDNA
from vqdna_cli.train.head import LabelledFeatures
from vqdna_cli.window_request import WindowRequest

GROUP_BASES = 4_000_000  # records are processed a group of about this many bases at a time
# ... and of at most this many records: what a group holds per record (vectors, code
# frequencies) would otherwise grow with the number of short reads that fit in a group.
GROUP_RECORDS = 4096
CHUNK_BASES = 4096  # tokenizer core chunk length
PART_BASES = GROUP_BASES  # tokenize, embed: a record longer than this is run (and written) in parts


def default_weights_dir() -> Path:
    """$VQDNA_WEIGHTS, else the weights shipped with the package (wheel or source tree)."""
    if os.environ.get("VQDNA_WEIGHTS"):
        given = Path(os.environ["VQDNA_WEIGHTS"])
        if not given.is_dir():
            what = "is a file" if given.exists() else "does not exist"
            raise ModelError(f"$VQDNA_WEIGHTS {given} {what}: set it to a weights folder (the one that holds "
                             "config.json), or unset it for the shipped weights")
        return given
    package = Path(__file__).resolve().parent
    for candidate in (package / "weights" / "default", package.parent / "weights" / "default"):
        if (candidate / "config.json").is_file():
            return candidate
    raise ModelError("no shipped weights found (weights/default): reinstall vqdna or pass --model DIR")


@contextmanager
def naming_vqdna_weights(model_dir: Path | None, directory: Path):
    """A weights error in the folder $VQDNA_WEIGHTS gave (no --model) says so: the user may
    not remember setting it."""
    try:
        yield
    except ModelError as error:
        if model_dir or not os.environ.get("VQDNA_WEIGHTS"):
            raise
        raise ModelError(f"{error} ($VQDNA_WEIGHTS names {directory}: unset it for the shipped weights)") from None


@dataclass
class Runner:
    """A loaded model on its device, with what every output records about it."""

    model: VQDNA
    info: dict
    device: torch.device
    model_dir: Path
    precision: str = "fp32"  # of the Transformer on the CPU; the tokenizer always runs in fp32

    @classmethod
    def load(cls, model_dir: Path | None, device: str = "auto", precision: str = "fp32") -> "Runner":
        runtime.check_precision(precision)
        directory = Path(model_dir) if model_dir else default_weights_dir()
        with naming_vqdna_weights(model_dir, directory):
            model, info = load_model(directory)
        torch_device = runtime.pick_device(device)
        runtime.exact_fp32()
        runtime.reuse_freed_memory()
        return cls(model.to(torch_device).eval(), info, torch_device, directory, precision)

    @property
    def levels(self) -> int:
        return self.model.cfg.quantizer.levels

    @property
    def window(self) -> int:
        return self.model.cfg.transformer.max_tokens

    @property
    def layers(self) -> int:
        """Transformer blocks; `layer_outputs` numbers their outputs 0 (input) to this."""
        return len(self.model.transformer.blocks)

    def describe(self, transformer: bool = True, batch_tokens: int | None = None) -> dict:
        """Which model made an output, for its metadata; without `transformer` (tokens, which
        the Transformer does not touch), nothing of the Transformer's, so that tokens made on a
        GPU and on a CPU give the same file. `batch_tokens`: the bases per batch the run used,
        which can move the Transformer's results in their last digits."""
        from vqdna_cli import __version__

        made_by = {
            "vqdna_version": __version__,
            "model_sha256": self.info["sha256"]["model.safetensors"],
            "model_hash": model_hash(self.info),
            "model_dir": str(self.model_dir),
            "levels": self.levels,
            "codebook_sizes": list(self.model.cfg.quantizer.codebook_sizes),
            "tokens_per_base": 1,
        }
        if transformer:
            made_by["transformer_precision"] = runtime.transformer_precision(self.device, self.precision == "bf16")
            if batch_tokens is not None:
                made_by["batch_tokens"] = batch_tokens
        return made_by

    def attach_head(self, task: str) -> tuple[torch.nn.Module, HeadInfo]:
        """Load a task's LoRA adapters into the Transformer (in place) and return its head;
        the head takes `head_features(info, result)`."""
        tensors, info = load_head(self.model_dir, task)
        self._check_trained_on_this_model(task, info)
        provenance = as_dict(info.provenance)
        if provenance.get("complete") is False:
            done, planned = (as_dict(provenance.get(key)).get("steps") for key in ("metrics", "settings"))
            where = f" at step {done}" + (f" of {planned}" if planned is not None else "") if done is not None else ""
            warnings.warn(f"task head {task!r} is not fully trained: stopped by --max-minutes{where}; continue it "
                          "with `vqdna train finetune --resume` before trusting its answers", VqdnaWarning,
                          stacklevel=2)
        head_state = {k[len("head."):]: v for k, v in tensors.items() if k.startswith("head.")}
        outputs = head_state.get("fc2.weight", torch.empty(0, 0)).shape[0]
        if outputs != len(info.class_names):  # a table headed by other classes than its numbers
            raise ModelError(f"task head {task!r}: its head.json names {len(info.class_names)} classes, its weights "
                             f"give {outputs}: restore head.json or retrain the head")
        adapters = {k[len("transformer."):]: v for k, v in tensors.items() if k.startswith("transformer.")}
        if info.kind == "frozen":  # the shared model as it is, and an MLP over its features
            expected = head_feature_count(self.model.cfg, info.reads)
            if adapters or head_state.get("fc1.weight", torch.empty(0, 0)).shape[1:] != (expected,):
                raise ModelError(f"task head {task!r} does not fit the model in {self.model_dir}")
            try:
                head = FeatureHead.from_state(head_state)
            except (RuntimeError, KeyError):  # a tensor missing from, or extra in, its weights file
                raise ModelError(f"task head {task!r}: its weights file does not hold the head its head.json "
                                 "describes: restore it or retrain the head") from None
            return head.to(self.device).eval(), info
        if info.kind == "lora":
            add_lora(self.model.transformer, info.lora_rank, info.lora_alpha)
        head = ClassificationHead(self.model.cfg.transformer.width, len(info.class_names))
        try:
            missing = self.model.transformer.load_state_dict(adapters, strict=info.kind == "full")
        except RuntimeError:
            raise ModelError(f"task head {task!r} does not fit the model in {self.model_dir}") from None
        if missing.unexpected_keys or any("lora" in k for k in missing.missing_keys):
            raise ModelError(f"task head {task!r} does not fit the model in {self.model_dir}")
        try:
            head.load_state_dict(head_state)
        except RuntimeError:
            raise ModelError(f"task head {task!r} does not fit the model in {self.model_dir}") from None
        return head.to(self.device).eval(), info

    def _check_trained_on_this_model(self, task: str, info: HeadInfo) -> None:
        """A head reads the features of the model it was trained with: on another model
        (retrained, or a head copied between weights folders) its answers are meaningless,
        yet look as confident. Heads written before the hash was recorded are not checked."""
        if head_fits_weights(info.model_sha256, self.info) is False:
            raise ModelError(f"task head {task!r} was trained on model {info.model_sha256[:16]}, but {self.model_dir} "
                             f"holds model {model_hash(self.info)}: retrain the head on this model "
                             "(vqdna train finetune)")

    # --- tokens ---------------------------------------------------------------------

    @torch.inference_mode()
    def tokens_of(self, codes: list[np.ndarray], batch_tokens: int,
                  on_batch: Callable[[int], None] = lambda n: None) -> list[np.ndarray]:
        """Base codes of several records -> (L, levels) uint16 tokens of each; `on_batch`
        gets the bases each batch tokenized."""
        radius = self.model.cfg.encoder.receptive_radius
        chunks = [c for i, array in enumerate(codes) for c in tokenizer_chunks(i, len(array), CHUNK_BASES, radius)]
        out = [np.empty((len(array), self.levels), dtype=np.uint16) for array in codes]
        lengths = [c.context_end - c.context_start for c in chunks]
        for batch in budget_batches(lengths, batch_tokens):
            pieces = [codes[chunks[i].record][chunks[i].context_start : chunks[i].context_end] for i in batch]
            bases = torch.from_numpy(pad(pieces).astype(np.int64)).to(self.device)
            tokens = self.model.quantize(bases).tokens.cpu().numpy()  # fp32 on every device
            for row, index in enumerate(batch):
                chunk = chunks[index]
                core = tokens[row, chunk.core]
                out[chunk.record][chunk.start : chunk.end] = core
            on_batch(sum(chunks[i].end - chunks[i].start for i in batch))
        return out

    # --- Transformer vectors ----------------------------------------------------------

    @torch.inference_mode()
    def hidden_of(self, token_windows: list[np.ndarray], batch_tokens: int,
                  layers: tuple[int, ...] | None = None,
                  on_batch: Callable[[int], None] = lambda n: None) -> Iterator[tuple[int, np.ndarray]]:
        """(T, levels) token windows -> (index, (T, W) float32 Transformer output); with
        `layers`, (index, (len(layers), T, W)): those layers' outputs (`layer_outputs`).
        `on_batch` gets the tokens of each batch once it has run."""
        for batch in budget_batches([len(w) for w in token_windows], batch_tokens):
            tokens = torch.from_numpy(pad([token_windows[i].astype(np.int64) for i in batch], fill=0)).to(self.device)
            lengths = torch.tensor([len(token_windows[i]) for i in batch], device=self.device)
            valid = torch.arange(tokens.shape[1], device=self.device)[None, :] < lengths[:, None]
            with runtime.autocast(self.device, cpu_bf16=self.precision == "bf16"):
                if layers is None:
                    hidden = self.model.contextualise(self.model.embed_tokens(tokens), valid)
                else:
                    hidden = self.layer_outputs(self.model.embed_tokens(tokens), valid, layers)
            hidden = hidden.float().cpu().numpy()
            on_batch(sum(len(token_windows[i]) for i in batch))
            for row, index in enumerate(batch):
                yield index, hidden[row, ..., : len(token_windows[index]), :]

    def layer_outputs(self, embedding: torch.Tensor, valid: torch.Tensor, layers: tuple[int, ...]) -> torch.Tensor:
        """(B, T, D) quantized embedding -> (B, len(layers), T, W), numbered as esm's
        `repr_layers`: 0 is what the first block reads, n the output of block n, and the last
        (`self.layers`) the Transformer's own output, after its final LayerNorm. Read with
        forward hooks on the blocks, so the Transformer runs exactly as it does for the
        default output and its module needs no change."""
        blocks = self.model.transformer.blocks
        seen: dict[int, torch.Tensor] = {}

        def keep(number: int):
            return lambda module, args, output: seen.__setitem__(number, output)

        hooks = [block.register_forward_hook(keep(number))
                 for number, block in enumerate(blocks, start=1) if number in layers and number < len(blocks)]
        if 0 in layers:
            hooks.append(blocks[0].register_forward_pre_hook(lambda module, args: seen.__setitem__(0, args[0])))
        try:
            seen[len(blocks)] = self.model.contextualise(embedding, valid)
        finally:
            for hook in hooks:
                hook.remove()
        return torch.stack([seen[number] for number in layers], dim=1)


class GroupProgress:
    """Reports a group's bases as its batches finish, not once per record: one chromosome
    is a group of its own, and per record its progress would sit at 0 bp until its end.
    Each pass over the group (the tokenizer, the Transformer; each once per strand) moves an
    equal share of its bases; the shares add up to exactly the group's bases."""

    def __init__(self, on_bases: Callable[[int], None], bases: int, passes: int) -> None:
        self._on_bases, self._bases, self._passes = on_bases, bases, passes
        self._started = 0
        self._reported = 0

    def pass_over(self, units: int) -> Callable[[int], None]:
        """The `on_batch` callback of the next pass, over `units` bases (or tokens)."""
        first, seen = self._started, 0
        self._started += 1

        def advance(done: int) -> None:
            nonlocal seen
            seen += done
            self._report_share((first + min(seen / max(units, 1), 1.0)) / self._passes)

        return advance

    def finish(self) -> None:
        self._report_share(1.0)

    def _report_share(self, share: float) -> None:
        target = int(self._bases * share)
        if target > self._reported:
            self._on_bases(target - self._reported)
            self._reported = target


def grouped(records: Iterable[SequenceRecord], max_bases: int = GROUP_BASES,
            max_records: int = GROUP_RECORDS, first_share: int = 1) -> Iterator[list[SequenceRecord]]:
    """Consecutive records in groups of about `max_bases` and at most `max_records` (a
    longer record is alone). With `first_share` N, the first group is 1/N of both and each
    next one twice the last, up to them: the first results come out soon (classify's rows to
    a pipe, `| head`), and the groups after are as large as ever."""
    group, size, share = [], 0, first_share
    for record in records:
        if group and (size + len(record) > max_bases // share or len(group) >= max(1, max_records // share)):
            yield group
            group, size, share = [], 0, max(1, share // 2)
        group.append(record)
        size += len(record)
    if group:
        yield group


def tokenize_records(runner: Runner, records: Iterable[SequenceRecord], batch_tokens: int,
                     on_bases: Callable[[int], None] = lambda n: None,
                     part_bases: int = PART_BASES) -> Iterator[tuple[SequenceRecord, np.ndarray, bool]]:
    """(record, tokens, continued) of every record in order. A record longer than
    `part_bases` (a chromosome) comes in parts of that many bases, one after the other, the
    later ones `continued`: its tokens are never whole in memory, and they are the same as
    the whole record's (each part is encoded with the encoder's context on both sides)."""
    for group in grouped(records, max_bases=part_bases):  # a record longer than that is alone
        if len(group[0]) > part_bases:
            yield from _record_in_parts(runner, group[0], batch_tokens, on_bases, part_bases)
            continue
        bases = sum(map(len, group))
        progress = GroupProgress(on_bases, bases, passes=1)
        tokens = runner.tokens_of([encode(r.seq) for r in group], batch_tokens, progress.pass_over(bases))
        progress.finish()
        for record, record_tokens in zip(group, tokens):
            yield record, record_tokens, False


def _record_in_parts(runner: Runner, record: SequenceRecord, batch_tokens: int, on_bases: Callable[[int], None],
                     part_bases: int) -> Iterator[tuple[SequenceRecord, np.ndarray, bool]]:
    """Parts cut as the tokenizer cuts its chunks: a core and the encoder's context around it."""
    for part in tokenizer_chunks(0, len(record), part_bases, runner.model.cfg.encoder.receptive_radius):
        codes = encode(record.seq[part.context_start : part.context_end])
        progress = GroupProgress(on_bases, part.end - part.start, passes=1)  # the context counts in its own part
        tokens = runner.tokens_of([codes], batch_tokens, progress.pass_over(len(codes)))[0]
        progress.finish()
        yield record, tokens[part.core], part.start > 0


@dataclass
class WindowVectors:
    record: SequenceRecord
    windows: list[tuple[int, int]]  # token (= base) ranges within the record
    pooled: np.ndarray  # (n_windows, W)
    per_token: np.ndarray | None  # (L, W) for the whole record, when asked for
    # (n_windows, sum of codebook sizes): each level's code frequencies in the window, when asked for
    code_frequencies: np.ndarray | None = None
    # (n_windows, N * D): the HRQ embeddings of N tokens at a fixed place of the window (default:
    # its middle), one after the other, when asked for
    center: np.ndarray | None = None
    # (sum of codebook sizes,): the code frequencies of the whole record, when asked for
    record_frequencies: np.ndarray | None = None
    # (n_windows, N * W): the mean Transformer output of each of N equal parts of the window, in
    # order along the strand read, when asked for (`head_features.segment_means`)
    segments: np.ndarray | None = None
    # A later part of the record before (`embed_records` with `part_bases`): its windows follow
    # that part's, in record coordinates like theirs.
    continued: bool = False


def embed_records(runner: Runner, records: Iterable[SequenceRecord], request: WindowRequest = WindowRequest(), *,
                  batch_tokens: int, on_bases: Callable[[int], None] = lambda n: None,
                  group_records: int = GROUP_RECORDS, part_bases: int | None = None,
                  first_group_share: int = 1) -> Iterator[WindowVectors]:
    """Transformer vectors of every record, as `request` asks (`WindowRequest`): one pooled
    vector per window (a record no longer than the model window is one window); with
    `reverse_complement`, the average of the forward strand and the reverse-complement strand
    (mapped back to forward coordinates). `with_code_frequencies` adds each window's code
    frequencies, `with_record_frequencies` those of the whole record, and `center_tokens` the
    HRQ embeddings of that many tokens centred on base `center_at` of the window (default: its
    middle); what frozen-model heads read, `head_features.head_inputs`. `layers`
    (`Runner.layer_outputs`) makes each pooled vector (len(layers), W), the per-token vectors
    those of the last layer listed; `all_layers` is `layers` 0 to the last (what an
    `all_layers` head reads); `pooling` "max" takes the maximum over a window's tokens instead
    of the mean; `segments` adds the mean output (of the last layer) of each of that many parts
    of the window, each strand's in its own 5' to 3' order, so that averaged over both strands
    the parts of a sequence and of its reverse complement are alike (a one-strand head given
    `--rc` gets each part averaged with the mirrored part of the other strand). Records run in
    groups of at most `group_records` (`grouped`; the first 1/`first_group_share` of that, then
    growing): the first vectors come once the first group is done. With `part_bases`, a
    record longer than that (a chromosome) comes as several results, a run of its windows of
    about that many bases each, the later ones `continued`: its tokens are never whole in
    memory, and its windows and vectors are the whole record's (`_record_in_window_parts`).
    Per-token vectors and whole-record code frequencies need the whole record, so
    `part_bases` is refused with them."""
    if part_bases is not None and (request.per_token or request.with_record_frequencies):
        raise ValueError("per-token vectors and record frequencies need the whole record: no part_bases")
    layers = tuple(range(runner.layers + 1)) if request.all_layers else request.layers
    max_bases = GROUP_BASES if part_bases is None else min(part_bases, GROUP_BASES)
    groups = grouped(records, max_bases=max_bases, max_records=group_records, first_share=first_group_share)
    for group in groups:
        if part_bases is not None and len(group[0]) > part_bases:  # then it is alone in its group
            yield from _record_in_window_parts(runner, group[0], request, layers, batch_tokens, on_bases, part_bases)
            continue
        codes = [encode(r.seq) for r in group]
        bases = sum(map(len, codes))
        progress = GroupProgress(on_bases, bases, passes=4 if request.reverse_complement else 2)
        strands = [runner.tokens_of(codes, batch_tokens, progress.pass_over(bases))]
        if request.reverse_complement:
            strands.append(runner.tokens_of([reverse_complement_codes(c) for c in codes], batch_tokens,
                                            progress.pass_over(bases)))
        stride = request.stride or runner.window
        layout = [transformer_windows(len(c), runner.window, stride) for c in codes]
        yield from _group_vectors(runner, group, strands, layout, request, layers, batch_tokens, progress)


def _record_in_window_parts(runner: Runner, record: SequenceRecord, request: WindowRequest,
                            layers: tuple[int, ...] | None, batch_tokens: int, on_bases: Callable[[int], None],
                            part_bases: int) -> Iterator[WindowVectors]:
    """A long record a run of whole windows at a time (`window_runs`). Each run's bases are
    tokenized on each strand with the encoder's context around them, as `tokenize_records`
    takes its parts, so its tokens, and the vectors of its windows, are the whole record's."""
    length, radius = len(record), runner.model.cfg.encoder.receptive_radius
    windows = transformer_windows(length, runner.window, request.stride or runner.window)
    counted = 0  # bases reported to on_bases: runs of overlapping windows share some
    for run in window_runs(windows, part_bases):
        part = context_chunk(0, run[0][0], run[-1][1], length, radius)
        codes = encode(record.seq[part.context_start : part.context_end])
        progress = GroupProgress(on_bases, part.end - counted, passes=4 if request.reverse_complement else 2)
        counted = part.end
        strands = [[runner.tokens_of([codes], batch_tokens, progress.pass_over(len(codes)))[0][part.core]]]
        if request.reverse_complement:
            reverse = runner.tokens_of([reverse_complement_codes(codes)], batch_tokens, progress.pass_over(len(codes)))
            strands.append([reverse[0][part.reverse_core]])
        local = [[(s - part.start, e - part.start) for s, e in run]]
        for result in _group_vectors(runner, [record], strands, local, request, layers, batch_tokens, progress):
            yield replace(result, windows=run, continued=part.start > 0)


def window_runs(windows: list[tuple[int, int]], max_bases: int) -> Iterator[list[tuple[int, int]]]:
    """Consecutive windows in runs that span at most `max_bases` (a longer window: a run of
    its own)."""
    run: list[tuple[int, int]] = []
    for window in windows:
        if run and window[1] - run[0][0] > max_bases:
            yield run
            run = []
        run.append(window)
    if run:
        yield run


def _group_vectors(runner: Runner, group: list[SequenceRecord], strands: list[list[np.ndarray]],
                   layout: list[list[tuple[int, int]]], request: WindowRequest, layers: tuple[int, ...] | None,
                   batch_tokens: int, progress: GroupProgress) -> Iterator[WindowVectors]:
    """`embed_records`' vectors of a group from its tokens (one list per strand read) and its
    windows (`layout`, in the coordinates of those tokens)."""
    window_tokens = sum(end - start for windows in layout for start, end in windows)
    results = [_strand_vectors(runner, strand, layout, batch_tokens, request.per_token, flipped=(n == 1),
                               layers=layers, pooling=request.pooling, segments=request.segments,
                               on_batch=progress.pass_over(window_tokens))
               for n, strand in enumerate(strands)]
    progress.finish()
    sizes = runner.model.cfg.quantizer.codebook_sizes
    for index, record in enumerate(group):
        pooled = np.mean([r[index].pooled for r in results], axis=0)
        tokens = _strand_mean([r[index].per_token for r in results]) if request.per_token else None
        parts = (np.mean([r[index].segments for r in results], axis=0).astype(np.float32)
                 if request.segments else None)
        center = None
        if request.center_tokens:  # averaged over the strands, as the pooled vectors are
            center = np.mean([window_centers(runner, strand[index], layout[index], request.center_tokens,
                                             request.center_at, flipped=(n == 1))
                              for n, strand in enumerate(strands)], axis=0).astype(np.float32)
        frequencies = record_frequencies = None  # averaged over the strands, as the pooled vectors are
        if request.with_code_frequencies:
            frequencies = np.mean([window_frequencies(strand[index], layout[index], sizes, flipped=(n == 1))
                                   for n, strand in enumerate(strands)], axis=0)
        if request.with_record_frequencies:
            record_frequencies = np.mean([code_frequencies(strand[index], sizes) for strand in strands], axis=0)
        yield WindowVectors(record, layout[index], pooled.astype(np.float32),
                            None if tokens is None else tokens.astype(np.float32, copy=False), frequencies, center,
                            record_frequencies, parts)


class _StrandVectors(NamedTuple):
    pooled: np.ndarray  # (n_windows, W), or (n_windows, len(layers), W)
    per_token: np.ndarray | None  # (L, W), when asked for
    segments: np.ndarray | None  # (n_windows, N * W), when asked for


def _strand_vectors(runner: Runner, tokens: list[np.ndarray], layout: list[list[tuple[int, int]]],
                    batch_tokens: int, per_token: bool, flipped: bool, layers: tuple[int, ...] | None = None,
                    pooling: str = "mean", segments: int = 0,
                    on_batch: Callable[[int], None] = lambda n: None) -> list[_StrandVectors]:
    """Pooled (and per-token) vectors of one strand's windows, in forward coordinates; each
    window's segment means in the strand's own order."""
    pieces, owners = [], []
    for record, windows in enumerate(layout):
        length = len(tokens[record])
        for start, end in windows:
            s, e = strand_span(length, start, end, flipped)
            pieces.append(tokens[record][s:e])
            owners.append((record, start, end))
    width = runner.model.cfg.transformer.width
    shape = (width,) if layers is None else (len(layers), width)
    pooled = [np.zeros((len(w), *shape), dtype=np.float32) for w in layout]
    token_sum = [np.zeros((len(t), width), dtype=np.float32) for t in tokens] if per_token else None
    token_count = [np.zeros((len(t), 1), dtype=np.float32) for t in tokens] if per_token else None
    parts = [np.zeros((len(w), segments * width), dtype=np.float32) for w in layout] if segments else None
    window_number = {}
    for record, windows in enumerate(layout):
        for number, window in enumerate(windows):
            window_number[(record, *window)] = number
    for index, hidden in runner.hidden_of(pieces, batch_tokens, layers, on_batch):
        record, start, end = owners[index]
        if segments:  # before the flip: a strand's parts run 5' to 3' along it
            parts[record][window_number[(record, start, end)]] = segment_means(
                hidden if layers is None else hidden[-1], segments)
        if flipped:
            hidden = hidden[..., ::-1, :]
        # Tokens are the second-last axis, after the layers when there are several.
        pooled[record][window_number[(record, start, end)]] = hidden.max(-2) if pooling == "max" else hidden.mean(-2)
        if per_token:
            token_sum[record][start:end] += hidden if layers is None else hidden[-1]
            token_count[record][start:end] += 1
    if per_token:  # in place: a chromosome's per-token vectors are hundreds of MB, made once
        for total, count in zip(token_sum, token_count):
            total /= np.maximum(count, 1)
    return [_StrandVectors(pooled[record], token_sum[record] if per_token else None,
                           parts[record] if segments else None) for record in range(len(layout))]


def _strand_mean(arrays: list[np.ndarray]) -> np.ndarray:
    """The mean of one strand's or both strands' float32 arrays, without the copies np.mean of
    a list makes (stacked, then averaged): the first array is reused (its strand is done)."""
    if len(arrays) == 1:
        return arrays[0]
    total = arrays[0]
    for other in arrays[1:]:
        total += other
    total /= len(arrays)
    return total


def window_vectors(runner: Runner, sequences: list[str], labels: np.ndarray, reads: HeadReads = HeadReads(),
                   batch_tokens: int = 16384) -> LabelledFeatures:
    """Head features of labelled sequences for a frozen-model head that reads `reads`, from
    the model run over them the way `classify` runs it: what `train.head` trains on."""
    records = (SequenceRecord(f"row{i}", s, f"row{i}") for i, s in enumerate(sequences))
    vectors, owner = [], []
    for index, result in enumerate(embed_records(runner, records, feature_inputs(True, reads),
                                                 batch_tokens=batch_tokens)):
        features = features_of(True, reads, result)  # a row per window, or one (whole_record)
        vectors.append(features)
        owner.extend([index] * len(features))
    features = head_feature_count(runner.model.cfg, reads)
    stacked = np.concatenate(vectors) if vectors else np.zeros((0, features), np.float32)
    return LabelledFeatures(stacked, np.array(owner, dtype=np.int64), np.asarray(labels, dtype=np.int64))
