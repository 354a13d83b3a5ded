"""Why the model said what it said about one post: the evidence weights, what removing the words
or the photo does to the answer, the attention between the post's words and the photo's regions,
and the routing of the evidence.

The weights are the gate's; the reliance is measured by intervention (the post scored again
without its photo, and without its words), so the two can be checked against each other
(bench/faithfulness.py does it across posts). Attention is shown per whole word of the post (word
pieces joined, links and @mentions left out, the prompt's words never shown) and as its lift over
a uniform spread: 1 means the word looked at that region no more than at any other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from crisis_model.model.fusion import GROUPS
from crisis_model.model.image_encoder import REGIONS

NEGLIGIBLE_WEIGHT = 0.05  # evidence weighted less than this barely reaches the answer
_NOT_A_WORD = re.compile(r"^(https?://|www\.|t\.co/|@|\W+$)", re.IGNORECASE)


@dataclass
class Explanation:
    """Why the model said what it said, for one post. Matrices are numpy arrays."""

    tokens: list[str]  # the prompt-wrapped post as the tokenizer split it
    modality_weights: dict[str, float]  # {"text", "image", "joint"}: the gate's weights, summing to 1
    capsule_lengths: np.ndarray  # (S,) length of each capsule the classifier's GRU reads
    has_image: bool
    has_words: bool = True  # the post has words the model read (False: no text, or a photo-only model)
    # each evidence group's own vote: label -> probability; the answer is their weighted mean
    votes: dict[str, dict[str, float]] = field(default_factory=dict)
    words: list[str] = field(default_factory=list)  # the post's own words (links and @mentions left out)
    word_tokens: list[list[int]] = field(default_factory=list)  # each word's positions in `tokens`
    # how much the answer's probability falls when the post is scored again without its words (the
    # prompt alone) or without its photo; None where not measured or not applicable
    reliance: dict[str, float | None] | None = None
    # with the reliance, for a post with a photo: how much the answer's probability falls when each of
    # the 49 regions is replaced by the photo's average region (what in the photo mattered)
    region_importance: np.ndarray | None = None
    token_to_region: np.ndarray | None = None  # (tokens, 49): each token's attention over regions
    region_to_token: np.ndarray | None = None  # (49, tokens): each region's attention over the post's tokens
    routing_coefficients: np.ndarray | None = None  # (primary, fused) capsules; rows sum to 1
    primary_groups: list[str] = field(default_factory=list)  # each routing row's evidence: text, image, joint
    warnings: list[str] = field(default_factory=list)  # e.g. an image that could not be read
    # where the post was longer than the model reads (max_text_tokens): the part it read, cleaned
    read_text: str | None = None

    def word_attention(self) -> tuple[list[str], np.ndarray | None, np.ndarray | None]:
        """(words, word->region lift (W, 49), region->word attention (49, W)). A word's pieces are
        averaged in word->region (each row stays a distribution over the regions, times 49: its
        lift over uniform) and summed in region->word (the share of the region's attention the
        word got)."""
        if self.token_to_region is None or not self.words:
            return self.words, None, None
        to_region = np.stack([self.token_to_region[t].mean(axis=0) for t in self.word_tokens]) * REGIONS
        from_region = None
        if self.region_to_token is not None:
            from_region = np.stack([self.region_to_token[:, t].sum(axis=1) for t in self.word_tokens], axis=1)
        return self.words, to_region, from_region

    def negligible_groups(self) -> list[str]:
        """The evidence groups whose weight is too small to matter for this answer."""
        return [g for g in GROUPS if g in self.primary_groups and self.modality_weights[g] < NEGLIGIBLE_WEIGHT]


def post_words(post: str, offsets: list[tuple[int, int]], start: int) -> tuple[list[str], list[list[int]]]:
    """The whitespace-separated words of `post` with the token positions that fall in each, given
    the tokens' character offsets in the prompted text and where the post starts there. Words that
    are links, @mentions or punctuation alone are left out; so is every token of the prompt."""
    spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", post)]
    tokens: list[list[int]] = [[] for _ in spans]
    for position, (a, b) in enumerate(offsets):
        a, b = a - start, b - start
        if b <= a or b <= 0 or a >= len(post):
            continue  # a special token, padding, or the prompt's
        for k, (first, end) in enumerate(spans):
            if a < end and b > first:
                tokens[k].append(position)
                break
    kept = [(post[a:b], t) for (a, b), t in zip(spans, tokens) if t and not _NOT_A_WORD.match(post[a:b])]
    return [w for w, _ in kept], [t for _, t in kept]
