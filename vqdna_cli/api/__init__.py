"""The callable API: one module per command, each a short read -> run -> write function.

Every function takes the option objects of `vqdna_cli.options` whole (built once by the CLI,
or by a script); none prints (progress goes through `rich` on stderr, which `quiet`
silences), and user errors are raised as `VqdnaError` subclasses.
"""

from vqdna_cli.api._common import NO_PROGRESS, input_bases
from vqdna_cli.api.classify import classify, list_tasks, scan, what_head_reads
from vqdna_cli.api.embed import embed
from vqdna_cli.api.mutations import mutations
from vqdna_cli.api.tokenize import tokenize
from vqdna_cli.api.train import HeadData, evaluate, finetune, head_training_data, pretrain, train_tokenizer

__all__ = ["NO_PROGRESS", "HeadData", "classify", "embed", "evaluate", "finetune", "head_training_data",
           "input_bases", "list_tasks", "mutations", "pretrain", "scan", "tokenize", "train_tokenizer",
           "what_head_reads"]
