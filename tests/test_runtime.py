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
