"""The ``vllm`` backend: generation and log-probabilities at GPU throughput (no internals).

Behind the optional extra ``reflectlab-core[vllm]``; vllm is imported only when this backend is asked for.
Teacher-forced scoring uses vLLM's prompt log-probabilities; per-token entropies need the full distribution,
which vLLM does not return, so :class:`Scored` entropies are empty here (use the ``hf`` backend for entropies).
"""

from __future__ import annotations

import importlib.util
from typing import Any

from reflectlab.core.errors import UserError
from reflectlab.core.models.base import Generation, Model, SamplingParams, Scored

INSTALL = "pip install 'reflectlab-core[vllm]'"


class VLLMModel(Model):
    backend_name = "vllm"
    has_internals = False

    @classmethod
    def check_available(cls) -> None:
        if importlib.util.find_spec("vllm") is None:
            raise UserError(f"the vllm backend needs vllm, which is not installed: {INSTALL}")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.check_available()
        super().__init__(*args, **kwargs)
        self._llm: Any = None

    @property
    def llm(self) -> Any:
        if self._llm is None:
            from vllm import LLM

            dtype = "float32" if self.spec.dtype == "float32" else self.spec.dtype
            self._llm = LLM(
                model=self.path,
                dtype=dtype,
                seed=0,
                enable_lora=bool(self.spec.adapter),
                enable_prefix_caching=True,
            )
        return self._llm

    def _lora(self) -> Any:
        if not self.spec.adapter:
            return None
        from vllm.lora.request import LoRARequest

        return LoRARequest("adapter", 1, self.spec.adapter)

    def _generate_ids(self, rows: list[list[int]], params: SamplingParams, seeds: list[int]) -> list[Generation]:
        from vllm import SamplingParams as VSP
        from vllm.inputs import TokensPrompt

        sps = [
            VSP(
                max_tokens=params.max_new_tokens,
                temperature=params.temperature,
                top_p=params.top_p,
                stop=list(params.stop) or None,
                seed=s % (1 << 63),
                logprobs=0,
            )
            for s in seeds
        ]
        outs = self.llm.generate([TokensPrompt(prompt_token_ids=r) for r in rows], sps, lora_request=self._lora())
        results = []
        for out in outs:
            c = out.outputs[0]
            ids = list(c.token_ids)
            lps = [float(step[t].logprob) for step, t in zip(c.logprobs or [], ids, strict=False)]
            finish = "length" if c.finish_reason == "length" else "stop"
            results.append(Generation(text=c.text, token_ids=ids, logprobs=lps, finish_reason=finish))
        return results

    def _score_ids(self, pairs: list[tuple[list[int], list[int]]]) -> list[Scored]:
        from vllm import SamplingParams as VSP
        from vllm.inputs import TokensPrompt

        sp = VSP(max_tokens=1, prompt_logprobs=0, temperature=0.0)
        outs = self.llm.generate(
            [TokensPrompt(prompt_token_ids=p + c) for p, c in pairs], sp, lora_request=self._lora()
        )
        results = []
        for (p, c), out in zip(pairs, outs, strict=True):
            full = p + c
            plp = out.prompt_logprobs or []
            start = max(len(p), 1)
            lps = [float(plp[j][full[j]].logprob) for j in range(start, len(full))]
            results.append(Scored(token_ids=full[start:], logprobs=lps, entropies=[]))
        return results

    def _next_token_logprobs_ids(self, rows: list[list[int]], option_ids: list[list[int]]) -> list[list[float]]:
        """Exact: each candidate token is appended to the prompt and read back from the prompt log-probs
        (vLLM's prefix cache makes the shared prompt cost one prefill)."""
        import math

        wanted = sorted({t for ids in option_ids for t in ids})
        pairs = [(r, [t]) for r in rows for t in wanted]
        scored = self._score_ids(pairs)
        results = []
        for i in range(len(rows)):
            lp = {t: scored[i * len(wanted) + k].logprobs[-1] for k, t in enumerate(wanted)}
            results.append([math.log(sum(math.exp(lp[t]) for t in ids)) if ids else -math.inf for ids in option_ids])
        return results
