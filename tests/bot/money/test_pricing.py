"""Members' prices per model and variant: Apiframe's credits by default, the owner's where set."""

from __future__ import annotations

import pytest

from bot.money.pricing import DEFAULT_PRICES, PriceTable, parse_prices, price_of
from bot.requests.rules import GenerationRequest, ImageFacts, Model, Resolution, validate_request

PICTURE = ImageFacts("start.png", "image/png", 1000, 1280, 720)


def spec(model: str, resolution: str, duration: int) -> object:
    return validate_request(
        GenerationRequest("a cat", duration, resolution, start_image=PICTURE, model=model)
    )


@pytest.mark.parametrize(
    ("model", "resolution", "duration", "price"),
    [
        ("hailuo-02", "768p", 6, 5),
        ("hailuo-02", "768p", 10, 8),
        ("hailuo-02", "1080p", 6, 10),
        ("hailuo-2.3", "768p", 6, 5),
        ("hailuo-2.3", "768p", 10, 10),
        ("hailuo-2.3", "1080p", 6, 10),
        # No published Apiframe price: Hailuo 2.3's until the owner sets one.
        ("hailuo-2.3-fast", "768p", 6, 5),
        ("hailuo-2.3-fast", "768p", 10, 10),
        ("hailuo-2.3-fast", "1080p", 6, 10),
    ],
)
def test_default_prices_are_apiframes(
    model: str, resolution: str, duration: int, price: int
) -> None:
    assert price_of(spec(model, resolution, duration)) == price  # type: ignore[arg-type]


def test_1080p_10s_is_offered_by_no_model() -> None:
    assert all((model, Resolution.P1080, 10) not in DEFAULT_PRICES for model in Model)
    assert len(DEFAULT_PRICES) == 9


def test_the_owner_overrides_some_prices_and_keeps_the_rest() -> None:
    table = PriceTable.with_overrides("hailuo-2.3-fast 768p 6s=4,  HAILUO-02 1080p 6 s = 12")
    assert table.of(spec("hailuo-2.3-fast", "768p", 6)) == 4  # type: ignore[arg-type]
    assert table.of(spec("hailuo-02", "1080p", 6)) == 12  # type: ignore[arg-type]
    assert table.of(spec("hailuo-2.3", "768p", 10)) == 10  # type: ignore[arg-type]
    assert table.cheapest() == 4
    assert PriceTable.with_overrides(None).prices == DEFAULT_PRICES


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("hailuo-02=5", "first price cannot be read: write each price as model resolution"),
        ("hailuo-02 768p 6s=5, hailuo-3 768p 6s=5", "second price names no model"),
        ("hailuo-02 720p 6s=5", "names no resolution"),
        ("hailuo-02 1080p 10s=5", "a video Apiframe does not make"),
        ("hailuo-02 768p 6s=0", "must be from 1 to 1000 credits"),
    ],
)
def test_a_price_that_cannot_be_read_is_said_in_words_without_repeating_it(
    text: str, said: str
) -> None:
    with pytest.raises(ValueError, match=said) as refused:
        parse_prices(text)
    assert "hailuo-3" not in str(refused.value) and "720p 6s" not in str(refused.value)
