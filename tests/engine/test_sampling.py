"""Speech-token samplers and the silent-run limiter."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cosydesk.engine.errors import ModelFolderError
from cosydesk.engine.folder.yamlconf import Tagged, load_yaml
from cosydesk.engine.model.sampling import (
    GreedySampler,
    RandomSampler,
    RasSampler,
    SilentRunLimiter,
    from_config,
    limit_silent_tokens,
)


def _scores(probs: list[float], vocab: int = 50) -> torch.Tensor:
    """Log-probabilities: the given head, the remaining mass spread evenly over the rest."""
    rest = (1.0 - sum(probs)) / (vocab - len(probs))
    return torch.tensor(probs + [rest] * (vocab - len(probs))).log()


def _seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_greedy_takes_the_best_id() -> None:
    assert GreedySampler()(_scores([0.1, 0.6, 0.2]), []) == 1


def test_ras_draws_only_from_the_top_k() -> None:
    sampler = RasSampler(top_p=1.0, top_k=3, generator=_seeded())
    scores = _scores([0.2, 0.19, 0.18, 0.17, 0.16])
    draws = {sampler(scores, []) for _ in range(300)}
    assert draws == {0, 1, 2}


def test_ras_nucleus_stops_once_top_p_is_reached() -> None:
    # The mass before id 2 is 0.7 >= 0.6, so only ids 0 and 1 are candidates.
    sampler = RasSampler(top_p=0.6, top_k=25, generator=_seeded())
    scores = _scores([0.4, 0.3, 0.2])
    assert {sampler(scores, []) for _ in range(300)} == {0, 1}
    # The first id is always a candidate, however small top_p is.
    assert {RasSampler(top_p=0.01)(scores, []) for _ in range(20)} == {0}


def test_ras_falls_back_to_the_whole_distribution_on_repetition() -> None:
    scores = _scores([0.5, 0.3])
    # Nucleus of one: id 0 every time; a single earlier 0 in the window triggers the fallback.
    sampler = RasSampler(top_p=0.1, top_k=2, win_size=10, tau_r=0.1, generator=_seeded())
    draws = [sampler(scores, [7, 0, 9]) for _ in range(300)]
    assert 0 not in draws
    assert any(d >= 2 for d in draws)  # ids outside the top-k come back in the fallback
    # An occurrence outside the window does not count.
    assert {sampler(scores, [0] + [5] * 10) for _ in range(20)} == {0}


def test_ras_repetition_threshold_is_win_size_times_tau_r() -> None:
    scores = _scores([0.5, 0.3])
    sampler = RasSampler(top_p=0.1, top_k=2, win_size=10, tau_r=0.3, generator=_seeded())
    assert {sampler(scores, [0, 0, 4]) for _ in range(20)} == {0}  # 2 < 3
    assert 0 not in {sampler(scores, [0, 0, 0]) for _ in range(20)}  # 3 >= 3


def test_ras_accepts_decoded_tokens_as_a_tensor() -> None:
    scores = _scores([0.5, 0.3])
    sampler = RasSampler(top_p=0.1, top_k=2, generator=_seeded())
    assert sampler(scores, torch.tensor([3, 0])) != 0


def test_seeded_draws_are_reproducible() -> None:
    scores = _scores([0.3, 0.25, 0.2, 0.1])

    def run(seed: int) -> list[int]:
        sampler = RasSampler(generator=_seeded(seed))
        decoded: list[int] = []
        for _ in range(60):
            decoded.append(sampler(scores, decoded))
        return decoded

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_samplers_leave_the_scores_untouched() -> None:
    scores = _scores([0.5, 0.3])
    before = scores.clone()
    RasSampler(top_p=0.1, generator=_seeded())(scores, [0])
    RandomSampler(_seeded())(scores, [])
    assert torch.equal(scores, before)


def test_barred_ids_are_never_drawn() -> None:
    scores = _scores([0.5, 0.3]).masked_fill(torch.arange(50) == 0, -float("inf"))
    ras = RasSampler(top_p=0.1, top_k=2, generator=_seeded())
    assert 0 not in {ras(scores, [1]) for _ in range(100)}  # nor by the fallback
    assert 0 not in {RandomSampler(_seeded())(scores, []) for _ in range(100)}


def test_sampler_follows_the_model_yaml(parity_dir: Path, official_yaml: Path) -> None:
    for path in (parity_dir / "model" / "cosyvoice3.yaml", official_yaml):
        sampler = from_config(load_yaml(path)["llm"])
        assert isinstance(sampler, RasSampler)
        assert (sampler.top_p, sampler.top_k, sampler.win_size, sampler.tau_r) == (
            0.8,
            25,
            10,
            0.1,
        )


@pytest.mark.parametrize(
    "sampling",
    [
        Tagged("name", "cosyvoice.utils.common.nucleus_sampling", kwargs={"top_p": 0.8}),
        Tagged("name", "cosyvoice.utils.common.ras_sampling", kwargs={"top_k": 0}),
        Tagged("name", "cosyvoice.utils.common.ras_sampling", kwargs={"temperature": 2}),
    ],
)
def test_unusable_sampler_settings_are_reported(sampling: Tagged) -> None:
    node = Tagged("new", "cosyvoice.llm.llm.CosyVoice3LM", kwargs={"sampling": sampling})
    with pytest.raises(ModelFolderError, match=r"cosyvoice3\.yaml"):
        from_config(node)


def test_long_silences_are_cut_to_five_tokens() -> None:
    assert limit_silent_tokens([7, 1, 1, 1, 1, 1, 1, 1, 9]) == [7, 1, 1, 1, 1, 1, 9]
    # Different silent ids form one run; a spoken token starts the count again.
    mixed = [1, 2, 28, 29, 55, 248, 494, 40, 2241, 2242, 2322, 2323, 1, 2]
    assert limit_silent_tokens(mixed) == [1, 2, 28, 29, 55, 40, 2241, 2242, 2322, 2323, 1]
    assert limit_silent_tokens([1] * 5) == [1] * 5
    assert limit_silent_tokens([3, 4, 5]) == [3, 4, 5]


def test_streaming_limiter_decides_token_by_token() -> None:
    limiter = SilentRunLimiter()
    verdicts = [limiter.accept(t) for t in [2241] * 7 + [9, 1]]
    assert verdicts == [True] * 5 + [False, False, True, True]
