"""Side-by-side HTTP benchmark: this service against small peers of the same API subset.

`python -m benchmarks.side_by_side` (`make bench` runs it); knobs in `knobs.py` and README.
"""
