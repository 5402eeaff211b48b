"""``python -m bench`` (``make bench``): load-test a fresh ``reach serve`` with wrk.

See docs/benchmarks.md for how to run it and how to read what it prints.
"""
