"""What several commands share: the run's set-up, the input's records, the head's probabilities."""

from __future__ import annotations

from vqdna_cli.errors import UsageError
from vqdna_cli.options import InputSpec, RunOptions

def no_progress(bases: int) -> None:
    """The default progress callback: shows nothing."""


NO_PROGRESS = no_progress


def keeps_global_state(command):
    """An API command sets threads, seeds and fp32 matmul precision for its run
    (`runtime.configure`, `runtime.exact_fp32`); the caller's are back when it returns."""
    import functools

    @functools.wraps(command)
    def run_kept(*args, **kwargs):
        from vqdna_cli.runtime import global_state_kept

        with global_state_kept():
            return command(*args, **kwargs)

    return run_kept


def setup_training(run: RunOptions, batch: int | None = None):
    """Threads, seeds and the device; under torchrun also the process group (and a check
    that the global `batch` splits evenly over the processes)."""
    from vqdna_cli import distributed, runtime

    runtime.configure(run.threads, run.seed)
    runtime.exact_fp32()
    torch_device = distributed.init(runtime.pick_device(run.device))
    if batch is not None:
        distributed.local_batch(batch)
    return torch_device


def save_on_main(save, *args) -> None:
    """Rank 0 writes the weights; the other processes wait until they are written."""
    from vqdna_cli import distributed

    if distributed.is_main():
        save(*args)
    distributed.barrier()


def load_runner(run: RunOptions, transformer: bool = True):
    """The model of `run` loaded for inference, with its threads and seed set. Where the
    command reads the Transformer (`transformer`: all but tokenize), weights whose
    Transformer was never pre-trained (a tokenizer stage alone) are warned about."""
    from vqdna_cli import runtime
    from vqdna_cli.runner import Runner

    runtime.configure(run.threads, run.seed)
    runner = Runner.load(run.model_dir, run.device, run.precision)
    if transformer:
        warn_if_never_pretrained(runner.info, runner.model_dir)
    return runner


def warn_if_never_pretrained(info: dict, model_dir) -> None:
    """Weights of a tokenizer stage alone: their Transformer is a random network's."""
    import warnings

    from vqdna_cli.checkpoint import never_pretrained
    from vqdna_cli.errors import VqdnaWarning

    if never_pretrained(info):
        warnings.warn(f"the Transformer of {model_dir} was never pre-trained (tokenizer stage only): its "
                      "vectors are a random network's; run `vqdna train pretrain` first", VqdnaWarning, stacklevel=3)


def open_records(inputs: InputSpec):
    from vqdna_cli.io.sequences import open_sequences

    return open_sequences(inputs.source, region=inputs.region, bed=str(inputs.bed) if inputs.bed else None,
                          mapped_only=inputs.mapped_only,
                          reference=str(inputs.reference) if inputs.reference else None)


def input_bases(inputs: InputSpec) -> int | None:
    """The bases an input holds, when its `.fai` says so (for a progress total), else None."""
    from vqdna_cli.io.sequences import known_bases
    from vqdna_cli.options import expect_input

    expect_input("inputs", inputs)

    return known_bases(inputs.source, inputs.region, str(inputs.bed) if inputs.bed else None)


def check_stride(stride: int | None, window: int) -> None:
    if stride is not None and not 0 < stride <= window:
        raise UsageError(f"--stride {stride}: must be between 1 and the model window ({window})")


def window_probabilities(head, features, device):
    """(windows, F) head features (`head_features.head_features`) -> (windows, classes) class probabilities."""
    import torch

    # one thread: how a CPU matmul splits its sums follows the thread count, which would make
    # the probabilities' last digits depend on --threads (the Transformer's do not); the head
    # is a small fraction of the work
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            logits = head(torch.from_numpy(features).to(device))
            return torch.softmax(logits.float(), -1).cpu().numpy()
    finally:
        torch.set_num_threads(threads)


def warn_if_labels_unused(files, labels) -> None:
    """--labels with CSV files only: the rows carry their own labels, and the file is read for nothing."""
    import warnings

    from vqdna_cli.errors import VqdnaWarning
    from vqdna_cli.io.labelled import looks_like_fasta

    if labels and not any(looks_like_fasta(f) for f in files):
        warnings.warn(f"--labels {labels.path} is not used: none of {', '.join(files)} is FASTA (CSV rows carry "
                      "their own labels)", VqdnaWarning, stacklevel=2)


def read_labelled(files, labels=None):
    """Labelled sequences of CSV files and of FASTA files with their `labels`
    (io.labelled.FastaLabels), as one set; each file's format is its own."""
    from vqdna_cli.io.labelled import LabelledSet, looks_like_fasta, read_labelled_csv, read_labelled_fasta

    sets = [read_labelled_fasta(f, labels) if labels and looks_like_fasta(f) else read_labelled_csv(f) for f in files]
    return LabelledSet([s for x in sets for s in x.sequences], [label for x in sets for label in x.labels],
                       ", ".join(files))
