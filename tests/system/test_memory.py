"""The allocator setting that keeps memory flat under large images (benchmark: bench/run.py)."""

from __future__ import annotations

import platform

import pytest

from bot.memory import return_large_buffers_to_the_system


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="only glibc has this setting")
def test_glibc_accepts_the_fixed_mmap_threshold() -> None:
    assert return_large_buffers_to_the_system()
