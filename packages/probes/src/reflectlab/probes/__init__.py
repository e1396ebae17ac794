"""reflectlab.probes: read a model without changing it (logit self-reports, surprisal), and the introspection inquiry."""

from reflectlab.probes.self_report import two_way_choice
from reflectlab.probes.surprisal import mean_surprisal

__all__ = ["mean_surprisal", "two_way_choice"]
