from __future__ import annotations

import pytest

from bot.money.pricing import PRICES, price_of
from bot.requests.rules import GenerationRequest, Resolution, validate_request


@pytest.mark.parametrize(
    ("resolution", "duration", "price"),
    [
        ("768p", 6, 5),
        ("768p", 10, 8),
        ("1080p", 6, 10),
    ],
)
def test_prices_match_apiframe(resolution: str, duration: int, price: int) -> None:
    assert price_of(validate_request(GenerationRequest("a cat", duration, resolution))) == price


def test_1080p_10s_has_no_price_because_it_is_not_offered() -> None:
    assert (Resolution.P1080, 10) not in PRICES
    assert len(PRICES) == 3
