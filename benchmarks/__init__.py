"""Benchmarks: measured speed, memory and accuracy of the workbook at 1M leads.

``python -m benchmarks.run`` (``make bench``) measures everything in one run and writes
``benchmarks/results/latest.json``; ``--quick`` (``make bench-quick``) does the same on a small
history and writes ``benchmarks/results/quick.json``. See ``docs/benchmarks.md``.
"""
