"""Study ``emergence/knowledge_awareness`` (RESEARCH.md §1.2, after Ferrando et al. 2025): does the model carry an
internal signal of whether it knows an entity, and does that signal steer it towards refusing?

Pipeline, one module a step:

1. :mod:`.entities`: the shipped set (``reflectlab.evals.tasks.entities``; cities, people, films, songs) and as
   many fabricated names, matched one-to-one in token length under the model's tokenizer; labels from the model's
   own answers: it answers two attribute questions per real entity (greedy); *known* = at least
   ``known_min_correct`` right, *unknown* = a fabricated entity or a real one it gets all wrong; entities are
   split, stratified by label, into a training and a held-out half;
2. :mod:`.activations`: residual states at the last entity token of "Tell me about the city of <name>" over a
   sweep of layers, and of every token of a generic corpus, all through ``Model`` (cached);
3. :mod:`.directions`: a difference-of-means "unknown" direction per layer (training half) and its AUROC on the
   held-out half, against chance and against the name's token length (the length confound);
4. :mod:`.sae_directions` (sae-lens through :mod:`.sae`): an SAE (TopK) trained on activations of the generic
   corpus plus the training entities, or loaded (``sae_path``, or ``sae_release``/``sae_id``); latents scored as in
   the paper - activation frequency on unknown minus on known entities, latents active on more than
   ``generic_max_freq`` of generic tokens excluded - and the best one, chosen on the training half, evaluated on the
   held-out half;
5. :mod:`.steering`: the unknown direction added to the residual stream while the model answers attribute
   questions about held-out *known* entities; refusals counted by the ``refusal`` verifier, against random
   directions of equal norm and against no steering. The opposite ("known") direction on fabricated entities should
   make refusals rarer.

The generic corpus is the English prose of Python's own documentation (``pydoc_data``, part of every CPython): text
that is about nothing in the entity set, so latents that fire on it are generic rather than about entities.
"""

from reflectlab.probes.emergence.knowledge_awareness.config import KnowledgeAwarenessConfig
from reflectlab.probes.emergence.knowledge_awareness.study import KnowledgeAwarenessStudy

__all__ = ["KnowledgeAwarenessConfig", "KnowledgeAwarenessStudy"]
