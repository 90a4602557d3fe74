"""Process-wide settings a command makes before it runs the model."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_freed_activations_stay_in_the_process_for_the_next_batch():
    """After the setting, a freed 48 MiB block is reused by the next allocation without
    fresh pages; glibc's default maps blocks that large anew (page faults) every time."""
    script = """
import resource, numpy as np
from vqdna_cli import runtime
assert runtime.reuse_freed_memory()
def faults_of_one_buffer():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    np.ones(12 << 20, np.float32)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(max([faults_of_one_buffer() for _ in range(6)][2:]))
"""
    faults = int(subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout)
    assert faults < 50


def test_the_setting_is_refused_quietly_where_malloc_is_not_glibc(monkeypatch):
    from vqdna_cli import runtime

    monkeypatch.setattr(runtime.sys, "platform", "darwin")
    assert runtime.reuse_freed_memory() is False


def test_head_probabilities_do_not_depend_on_the_thread_count():
    """--threads changes how a CPU matmul splits its sums; classify's head must not pass that on
    to the probabilities (the Transformer's outputs already do not), or -t 1 and -t 2 differ."""
    import numpy as np
    import torch

    from vqdna_cli.api._common import window_probabilities
    from vqdna_cli.model.heads import FeatureHead

    torch.manual_seed(0)
    head = FeatureHead(4000, 2).eval()
    features = np.random.default_rng(0).standard_normal((266, 4000)).astype(np.float32)
    threads = torch.get_num_threads()
    try:
        by_threads = []
        for count in (1, 2):
            torch.set_num_threads(count)
            by_threads.append(window_probabilities(head, features, "cpu"))
            assert torch.get_num_threads() == count  # left as the command set it
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(*by_threads)
