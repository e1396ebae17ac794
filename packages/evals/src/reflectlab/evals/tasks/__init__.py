"""Task generators: seeded, verifiable problems with controllable difficulty."""

from reflectlab.evals.tasks.arithmetic import Problem, evaluate, generate_problems

__all__ = ["Problem", "evaluate", "generate_problems"]
