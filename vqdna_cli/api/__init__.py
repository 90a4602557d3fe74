"""The callable API: one module per command, each a short read -> run -> write function.

Every function takes the option objects of `vqdna_cli.options` whole (built once by the CLI,
or by a script), reads files and writes files (`classify` and `scan` write their table to
stdout when `output` is None). Inference shows no progress: it calls the `progress` callback
given (the bases done since its last call); training shows rich progress on stderr unless
`TrainControl(quiet=True)`. User errors, bad option values among them, are raised as
`VqdnaError` subclasses. Threads, seeds and torch's float32 matmul settings are set for a
call's run and put back when it returns.
"""

from vqdna_cli.api._common import NO_PROGRESS, input_bases
from vqdna_cli.api.classify import classify, list_tasks, scan, trained_lengths, what_head_reads
from vqdna_cli.api.embed import embed
from vqdna_cli.api.mutations import mutations
from vqdna_cli.api.tokenize import tokenize
from vqdna_cli.api.train import HeadData, evaluate, finetune, head_training_data, pretrain, train_tokenizer

__all__ = ["NO_PROGRESS", "HeadData", "classify", "embed", "evaluate", "finetune", "head_training_data",
           "input_bases", "list_tasks", "mutations", "pretrain", "scan", "tokenize", "train_tokenizer",
           "trained_lengths", "what_head_reads"]
