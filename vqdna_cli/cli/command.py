"""The click command class of every vqdna command: an option that says *what* to read or
write (`--region`, `--bed`, `--scan`, `--task`, `--reference`, `-o`), given twice, is refused
instead of the last one silently winning: `-r chrA:1-600 -r chrB:1-600` read chrB alone.
Settings (`--threads`, `--device`, `--batch-tokens`, ...) may still be given again, the last
one winning as in most command-line tools: pipelines append a user's options (nf-core's
`ext.args`, the workflow's `extra`) after their own to override them.

An empty value (`-o "$OUT"` with OUT unset in a script) is refused too: as a path it would
read as the working folder, and `mutations -o '' --force` would write its files there."""

from __future__ import annotations

from collections import Counter

import typer
from typer.core import TyperCommand

# click's UsageError, from the click Typer runs on (its own copy, or click itself)
_USAGE_ERROR = next(cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "UsageError")
# The options that select data, and what to do instead of repeating them
_SELECTING = {"region": "for several regions, list them in a BED file and give --bed", "bed": "merge the BED files",
              "scan": "scan one genome at a time", "task": "run one task at a time", "reference": "give it once",
              "output": "give it once", "model": "give it once", "annotation": "give it once",
              "labels": "give it once"}
# Text options where an empty value means "none"
_MAY_BE_EMPTY = {"description"}


class OneValueEach(TyperCommand):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if getattr(param, "param_type_name", "") == "argument":
                # typer writes an argument's Python type after its name (`INPUT <list[str]>`);
                # the name and help already say what it takes
                param.display_type_rich = lambda ctx: None

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        if not ctx.resilient_parsing:  # (shell completion parses half-typed lines)
            refuse_repeated_selections(self, ctx, args)
            refuse_empty_values(self, ctx, args)
        return super().parse_args(ctx, args)


def refuse_repeated_selections(command, ctx, args: list[str]) -> None:
    try:
        _, _, order = command.make_parser(ctx).parse_args(args=list(args))
    except Exception:  # a bad option or value: the real parse says which, in click's words
        return
    selecting = [param for param in order if getattr(param, "param_type_name", "") == "option"
                 and param.name in _SELECTING and not param.multiple]
    times = Counter(param.name for param in selecting)
    for param in selecting:
        if times[param.name] > 1:
            raise _USAGE_ERROR(f"{max(param.opts, key=len)} given {times[param.name]} times, but it takes one "
                               f"value; {_SELECTING[param.name]}", ctx=ctx)



def refuse_empty_values(command, ctx, args: list[str]) -> None:
    try:
        values, _, _ = command.make_parser(ctx).parse_args(args=list(args))
    except Exception:
        return
    options = [param for param in command.params if getattr(param, "param_type_name", "") == "option"]
    for option in options:  # (an empty input argument has its own message, where inputs are read)
        given = values.get(option.name)
        given = given if isinstance(given, (list, tuple)) else [given]
        if option.name not in _MAY_BE_EMPTY and any(isinstance(value, str) and not value.strip() for value in given):
            raise _USAGE_ERROR(f"{max(option.opts, key=len)} is empty: give a value (a variable left unset in a "
                               "script?)", ctx=ctx)
