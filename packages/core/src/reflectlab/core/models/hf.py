"""The ``hf`` backend: transformers on CPU or GPU, with internals (hidden states, steering).

Generation is a plain decoding loop over transformers' KV cache: left padding, one random generator per row,
log-probabilities gathered only for the chosen tokens, and rows dropped from the batch as they finish.
Teacher-forced work (scoring, next-token reads, hidden states, token states) runs on a CPU in decoder passes of a bounded number
of padded tokens, whose activations stay in cache. Scoring runs the decoder once per pass and projects only the
positions being scored, a chunk of positions and a block of the vocabulary at a time, folding each block's softmax
statistics into running ones; a batch's full logits (800 MB for 32 x 128 tokens of a 49k vocabulary) are never
held at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from reflectlab.core.errors import UserError
from reflectlab.core.models.base import Generation, Model, SamplingParams, Scored
from reflectlab.core.models.batching import pad_batch

#: Padded tokens (rows x width) in one teacher-forced decoder pass on a CPU. Larger passes spill the activations
#: out of cache: on 2 cores, 128 rows of 140 tokens in one pass ran at about 0.7 of the rate they reach in passes
#: of this size (``benchmarks/pass_size.py``). On a GPU a batch runs in one pass.
_CPU_PASS_TOKENS = 2048
#: Floats of logits held at once while scoring (8 MB): scored positions x a block of the vocabulary.
_LOGIT_BUDGET = 1 << 21
#: Vocabulary rows projected at a time. Each block's logits are reduced (running max, normaliser, entropy sum,
#: target logit) while still in cache, so the vocabulary-sized tensor is never written out to memory and read back.
_VOCAB_BLOCK = 2048


class _StopForward(Exception):
    pass


class _Running(NamedTuple):
    """Softmax statistics of each scored position over the vocabulary blocks seen so far, relative to their
    running maximum ``top``: ``norm`` = sum of exp(x - top), ``spread`` = sum of exp(x - top) * (x - top), and
    ``target`` the target token's logit (0 until its block is seen)."""

    top: torch.Tensor
    norm: torch.Tensor
    spread: torch.Tensor
    target: torch.Tensor

    def finish(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(log-probability of the target, entropy): log p_t = x_t - top - log norm, H = log norm - spread / norm."""
        log_norm = self.norm.log()
        return self.target - self.top - log_norm, log_norm - self.spread / self.norm


def _fold(state: _Running | None, logits: torch.Tensor, local_targets: torch.Tensor) -> _Running:
    """Fold one block of logits (positions x block) into ``state``; ``local_targets`` index into the block, and
    fall outside it where the target lies in another block. One exp per logit: the entropy's x log p terms come
    from the same exponentials as the normaliser."""
    top = logits.amax(-1)
    if state is not None:
        top = torch.maximum(state.top, top)
    shifted = logits - top[:, None]
    weights = shifted.exp()
    norm, spread = weights.sum(-1), torch.linalg.vecdot(weights, shifted)
    width = logits.shape[1]
    inside = (local_targets >= 0) & (local_targets < width)
    picked = logits.gather(1, local_targets.clamp(0, width - 1)[:, None])[:, 0]
    target = torch.where(inside, picked, torch.zeros_like(picked))
    if state is not None:  # rescale what came before to the new maximum
        moved = state.top - top  # <= 0
        scale = moved.exp()
        norm = norm + state.norm * scale
        spread = spread + scale * (state.spread + state.norm * moved)
        target = target + state.target
    return _Running(top, norm, spread, target)


def _block_output(output: Any) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output


class HFModel(Model):
    backend_name = "hf"
    has_internals = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._model: Any = None

    # ----------------------------------------------------------------- loading
    @property
    def hf_model(self) -> Any:
        if self._model is None:
            self._model = self._load()
        return self._model

    def _load(self) -> Any:
        from transformers import AutoModelForCausalLM

        dtype = getattr(torch, self.spec.dtype, None)
        if not isinstance(dtype, torch.dtype):
            raise UserError(f"model.dtype {self.spec.dtype!r} is not a torch dtype (try float32, bfloat16)")
        try:
            model: Any = AutoModelForCausalLM.from_pretrained(self.path, dtype=dtype)
        except OSError as exc:
            raise UserError(f"cannot load model {self.spec.name!r}: {str(exc).splitlines()[0]}") from exc
        if self.spec.adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, self.spec.adapter)
        model.to(self.spec.device)
        model.eval()
        return model

    @property
    def device(self) -> torch.device:
        return torch.device(self.spec.device)

    @property
    def eos_ids(self) -> set[int]:
        ids: set[int] = set()
        tok = self.tokenizer
        if tok.eos_token_id is not None:
            ids.add(int(tok.eos_token_id))
        gen_eos = getattr(getattr(self.hf_model, "generation_config", None), "eos_token_id", None)
        if isinstance(gen_eos, int):
            ids.add(gen_eos)
        elif gen_eos:
            ids.update(int(i) for i in gen_eos)
        for special in ("<|im_end|>", "<end_of_turn>", "<|eot_id|>"):
            tid = tok.convert_tokens_to_ids(special)
            if isinstance(tid, int) and tid != tok.unk_token_id and tid >= 0:
                ids.add(tid)
        return ids

    @property
    def decoder(self) -> Any:
        return self.hf_model.get_decoder()

    @property
    def layers(self) -> Any:
        return self.decoder.layers

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def _project(self, hidden: torch.Tensor, vocab: slice | None = None) -> torch.Tensor:
        """Final hidden states -> float32 logits (with the model's soft-capping, if any), over ``vocab`` only
        where given (the output layer must then be a plain linear layer)."""
        head = self.hf_model.get_output_embeddings()
        if vocab is None:
            logits = head(hidden).float()
        else:
            bias = None if head.bias is None else head.bias[vocab]
            logits = torch.nn.functional.linear(hidden, head.weight[vocab], bias).float()
        cap = getattr(self.hf_model.config, "final_logit_softcapping", None)
        if cap:
            logits = torch.tanh(logits / cap) * cap
        return logits

    def _left_pad(self, rows: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ids, mask = pad_batch(rows, int(self.tokenizer.pad_token_id), side="left")
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        return ids.to(self.device), mask.to(self.device), positions.to(self.device)

    # ----------------------------------------------------------------- generation
    @torch.inference_mode()
    def _generate_ids(self, rows: list[list[int]], params: SamplingParams, seeds: list[int]) -> list[Generation]:
        from transformers import DynamicCache

        model = self.hf_model
        eos = torch.tensor(sorted(self.eos_ids), dtype=torch.long, device=self.device)
        ids, mask, positions = self._left_pad(rows)
        generators = [torch.Generator().manual_seed(s % (1 << 63)) for s in seeds]
        tokens: list[list[int]] = [[] for _ in rows]
        logprobs: list[list[float]] = [[] for _ in rows]
        finish = ["length"] * len(rows)
        active = list(range(len(rows)))  # original row index of each batch row still decoding
        cache = DynamicCache(config=model.config)
        step_input, step_pos = ids, positions
        for _ in range(params.max_new_tokens):
            out = model(
                input_ids=step_input,
                attention_mask=mask,
                position_ids=step_pos,
                cache=cache,
                use_cache=True,
                logits_to_keep=1,
            )
            logits = out.logits[:, -1, :].float()
            chosen = self._choose(logits, params, [generators[r] for r in active])
            # log p(chosen) without writing the full log-softmax: one pass over the vocabulary instead of two.
            chosen_lp = logits.gather(1, chosen[:, None])[:, 0] - torch.logsumexp(logits, dim=-1)
            done = torch.isin(chosen, eos).tolist()
            chosen_ids, chosen_lps = chosen.tolist(), chosen_lp.tolist()  # one conversion per step, not per row
            keep: list[int] = []
            for b, row in enumerate(active):
                tokens[row].append(chosen_ids[b])
                logprobs[row].append(chosen_lps[b])
                if done[b] or (params.stop and self._hit_stop(tokens[row], params.stop)):
                    finish[row] = "stop"
                else:
                    keep.append(b)
            if not keep:
                break
            step_input = chosen[:, None]
            step_pos = step_pos[:, -1:] + 1
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            if len(keep) < len(active):
                # Drop finished rows: they would otherwise be computed until the longest row ends.
                sel = torch.tensor(keep, dtype=torch.long, device=self.device)
                cache.batch_select_indices(sel)
                step_input, step_pos, mask = step_input[sel], step_pos[sel], mask[sel]
                active = [active[b] for b in keep]
        results = []
        for row in range(len(rows)):
            text = str(self.tokenizer.decode(tokens[row], skip_special_tokens=True))
            if params.stop:
                cut = min((text.find(s) for s in params.stop if s in text), default=-1)
                if cut >= 0:
                    text = text[:cut]
            results.append(
                Generation(text=text, token_ids=tokens[row], logprobs=logprobs[row], finish_reason=finish[row])
            )
        return results

    @staticmethod
    def _choose(logits: torch.Tensor, params: SamplingParams, generators: list[torch.Generator]) -> torch.Tensor:
        if params.temperature <= 0:
            return logits.argmax(dim=-1)
        probs = torch.softmax(logits / params.temperature, dim=-1)
        if params.top_p < 1.0:
            sorted_p, order = probs.sort(dim=-1, descending=True)
            drop = sorted_p.cumsum(-1) - sorted_p > params.top_p
            sorted_p = sorted_p.masked_fill(drop, 0.0)
            probs = torch.zeros_like(probs).scatter(1, order, sorted_p)
        # The per-row generators live on the CPU, so a seed draws the same tokens on every device.
        probs = probs.cpu()
        picks = [torch.multinomial(probs[b], 1, generator=g) for b, g in enumerate(generators)]
        return torch.cat(picks).to(logits.device)

    def _hit_stop(self, tokens: list[int], stop: tuple[str, ...]) -> bool:
        tail = self.tokenizer.decode(tokens[-16:], skip_special_tokens=True)
        return any(s in tail for s in stop)

    # ----------------------------------------------------------------- teacher-forced passes
    def _passes(self, lengths: list[int]) -> list[list[int]]:
        """Row indices grouped into decoder passes, longest rows first: on a CPU each pass holds at most
        ``_CPU_PASS_TOKENS`` padded tokens (a row longer than that goes alone); on other devices, one pass."""
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        if self.device.type != "cpu":
            return [order]
        passes: list[list[int]] = []
        for i in order:
            if passes and (len(passes[-1]) + 1) * lengths[passes[-1][0]] <= _CPU_PASS_TOKENS:
                passes[-1].append(i)
            else:
                passes.append([i])
        return passes

    def _in_passes(self, lengths: list[int], run: Any) -> list[Any]:
        """``run(indices)`` over each pass of :meth:`_passes`, its per-row results put back in input order."""
        out: list[Any] = [None] * len(lengths)
        for idx in self._passes(lengths):
            for i, value in zip(idx, run(idx), strict=True):
                out[i] = value
        return out

    # ----------------------------------------------------------------- scoring
    def _score_ids(self, pairs: list[tuple[list[int], list[int]]]) -> list[Scored]:
        return self._in_passes(
            [len(p) + len(c) for p, c in pairs], lambda idx: self._score_pass([pairs[i] for i in idx])
        )

    @torch.inference_mode()
    def _score_pass(self, pairs: list[tuple[list[int], list[int]]]) -> list[Scored]:
        full = [p + c for p, c in pairs]
        ids, mask = pad_batch(full, int(self.tokenizer.pad_token_id))  # right padding: positions stay 0..n-1
        hidden = self.decoder(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).last_hidden_state
        rows, cols, targets, owners = [], [], [], []
        for i, (p, c) in enumerate(pairs):
            start = max(len(p), 1)  # the first token of a continuation with no prefix has nothing to condition on
            for j in range(start, len(p) + len(c)):
                rows.append(i)
                cols.append(j - 1)
                targets.append(full[i][j])
                owners.append(i)
        lp_all, ent_all = self._chunked_logprobs(hidden, rows, cols, targets)
        out = [Scored(token_ids=[], logprobs=[], entropies=[]) for _ in pairs]
        for k, i in enumerate(owners):
            out[i].token_ids.append(targets[k])
            out[i].logprobs.append(lp_all[k])
            out[i].entropies.append(ent_all[k])
        return out

    def _chunked_logprobs(
        self, hidden: torch.Tensor, rows: list[int], cols: list[int], targets: list[int]
    ) -> tuple[list[float], list[float]]:
        if not rows:
            return [], []
        head = self.hf_model.get_output_embeddings()
        vocab = int(head.weight.shape[0])
        # an adapter-wrapped output layer cannot be sliced: project the whole vocabulary at once instead
        block = _VOCAB_BLOCK if type(head) is torch.nn.Linear else vocab
        chunk = max(1, _LOGIT_BUDGET // min(block, vocab))
        r = torch.tensor(rows, device=hidden.device)
        c = torch.tensor(cols, device=hidden.device)
        t = torch.tensor(targets, device=hidden.device)
        lps, ents = [], []
        for s in range(0, len(rows), chunk):
            h = hidden[r[s : s + chunk], c[s : s + chunk]]
            state: _Running | None = None
            for v in range(0, vocab, block):
                logits = self._project(h, slice(v, v + block)) if block < vocab else self._project(h)
                state = _fold(state, logits, t[s : s + chunk] - v)
            assert state is not None
            lp, ent = state.finish()
            lps.append(lp)
            ents.append(ent)
        return torch.cat(lps).tolist(), torch.cat(ents).tolist()

    def _next_token_logprobs_ids(self, rows: list[list[int]], option_ids: list[list[int]]) -> list[list[float]]:
        return self._in_passes(
            [len(r) for r in rows], lambda idx: self._next_token_pass([rows[i] for i in idx], option_ids)
        )

    @torch.inference_mode()
    def _next_token_pass(self, rows: list[list[int]], option_ids: list[list[int]]) -> list[list[float]]:
        ids, mask, positions = self._left_pad(rows)
        hidden = self.decoder(input_ids=ids, attention_mask=mask, position_ids=positions).last_hidden_state
        logp = torch.log_softmax(self._project(hidden[:, -1, :]), dim=-1)
        cols = [torch.logsumexp(logp[:, torch.tensor(v, device=logp.device)], dim=-1) for v in option_ids]
        return torch.stack(cols, dim=1).tolist()

    # ----------------------------------------------------------------- internals
    def _check_layers(self, layers: list[int]) -> None:
        n_layers = len(self.layers)
        if not layers:
            raise UserError("no layers asked for")
        for layer in layers:
            if not 0 <= layer <= n_layers:
                raise UserError(f"layer {layer} is out of range: {self.name} has layers 0..{n_layers}")

    def _capture(
        self, layers: list[int], ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor | None
    ) -> dict[int, torch.Tensor]:
        """The residual stream after each of ``layers`` (0: the embeddings) over a padded batch; the forward pass
        stops at the deepest of them."""
        deepest = max(layers)
        captured: dict[int, torch.Tensor] = {}

        def grab(layer: int) -> Any:
            def hook(_m: Any, _inp: Any, output: Any) -> None:
                captured[layer] = _block_output(output).detach()
                if layer == deepest:
                    raise _StopForward  # nothing above the deepest layer asked for is computed

            return hook

        handles = []
        if 0 in layers:
            handles.append(self.decoder.embed_tokens.register_forward_hook(grab(0)))
        handles += [self.layers[layer - 1].register_forward_hook(grab(layer)) for layer in layers if layer > 0]
        try:
            self.decoder(input_ids=ids, attention_mask=mask, position_ids=positions)
        except _StopForward:
            pass
        finally:
            for h in handles:
                h.remove()
        return captured

    def _hidden_states_ids(self, rows: list[list[int]], layers: list[int], positions: list[int]) -> np.ndarray:
        self._check_layers(layers)
        states = self._in_passes(
            [len(r) for r in rows],
            lambda idx: self._hidden_states_pass([rows[i] for i in idx], layers, [positions[i] for i in idx]),
        )
        return (
            np.stack(states)
            if states
            else np.zeros((0, len(layers), int(self.hf_model.config.hidden_size)), dtype=np.float32)
        )

    @torch.inference_mode()
    def _hidden_states_pass(self, rows: list[list[int]], layers: list[int], positions: list[int]) -> np.ndarray:
        out = np.zeros((len(rows), len(layers), int(self.hf_model.config.hidden_size)), dtype=np.float32)
        ids, mask, pos = self._left_pad(rows)
        width = ids.shape[1]
        captured = self._capture(layers, ids, mask, pos)
        for b, row in enumerate(rows):
            p = positions[b]
            idx = width + p if p < 0 else width - len(row) + p
            for li, layer in enumerate(layers):
                out[b, li] = captured[layer][b, idx].float().cpu().numpy()
        return out

    def _token_states_ids(
        self, rows: list[list[int]], layers: list[int], spans: list[tuple[int, int, int]]
    ) -> list[np.ndarray]:
        self._check_layers(layers)
        return self._in_passes(
            [len(r) for r in rows],
            lambda idx: self._token_states_pass([rows[i] for i in idx], layers, [spans[i] for i in idx]),
        )

    @torch.inference_mode()
    def _token_states_pass(
        self, rows: list[list[int]], layers: list[int], spans: list[tuple[int, int, int]]
    ) -> list[np.ndarray]:
        d_model = int(self.hf_model.config.hidden_size)
        if not any(rows):
            return [np.zeros((0, len(layers), d_model), dtype=np.float32) for _ in rows]
        ids, mask = pad_batch(rows, int(self.tokenizer.pad_token_id))  # right padding: positions stay 0..n-1
        captured = self._capture(layers, ids.to(self.device), mask.to(self.device), None)
        stacked = torch.stack([captured[layer] for layer in layers], dim=2)  # batch x width x layers x d_model
        return [stacked[b, slice(*span)].float().cpu().numpy() for b, span in enumerate(spans)]

    def _install_steering(self, vectors: Mapping[int, Any], scale: float, last_n: int | None) -> Any:
        handles = []
        n_layers = len(self.layers)
        for layer, vec in vectors.items():
            if not 1 <= layer <= n_layers:
                raise UserError(f"steering layer {layer} is out of range: {self.name} has blocks 1..{n_layers}")
            v = torch.as_tensor(np.asarray(vec), dtype=self.hf_model.dtype, device=self.device) * scale

            def hook(_m: Any, _inp: Any, output: Any, v: torch.Tensor = v) -> Any:
                hidden = _block_output(output)
                if last_n is None:
                    hidden = hidden + v
                else:
                    hidden = hidden.clone()
                    hidden[:, -last_n:, :] += v
                return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

            handles.append(self.layers[layer - 1].register_forward_hook(hook))

        def remove() -> None:
            for h in handles:
                h.remove()

        return remove
