"""ssl-toolkit: self-supervised representation learning with pluggable pretext tasks.

Data flows one way: dataset -> pretext task -> shared backbone -> head/loss -> engine -> probe -> bench.
"""

__version__ = "0.1.0"
