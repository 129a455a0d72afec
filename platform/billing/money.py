"""Money: Decimal only (never float), ISO 4217 currencies and rounding to each currency's minor unit."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

# ISO 4217 minor units (digits after the decimal point) of the currencies a plan may be priced in. A currency
# not listed here is refused when a plan is created, so an invoice can never be rounded to a guessed precision.
MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(
        ("EUR", "USD", "GBP", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK", "HUF", "RON", "BGN", "CAD", "AUD", "NZD",
         "INR", "BRL", "ZAR", "SGD", "HKD", "CNY", "MXN", "TRY", "ILS", "AED", "SAR", "EGP", "NGN", "KES"),
        2,
    ),
    **dict.fromkeys(("JPY", "KRW", "ISK", "CLP", "VND", "PYG", "UGX"), 0),
    **dict.fromkeys(("BHD", "KWD", "OMR", "JOD", "TND", "IQD", "LYD"), 3),
}


class UnknownCurrency(ValueError):
    """The currency code is not an ISO 4217 code this platform knows the minor unit of."""


def minor_unit(currency: str) -> int:
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise UnknownCurrency(f"{currency!r} is not a supported ISO 4217 currency code") from None


def quantum(currency: str) -> Decimal:
    """The smallest amount of the currency: Decimal('0.01') for EUR, Decimal('1') for JPY, '0.001' for KWD."""
    return Decimal(1).scaleb(-minor_unit(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round to the currency's minor unit, half away from zero (ROUND_HALF_UP: 0.125 EUR -> 0.13, -0.125 -> -0.13)."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"money must be a Decimal, not {type(amount).__name__}")
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def line_amount(quantity: int, unit_price: Decimal, currency: str) -> Decimal:
    """quantity x unit price, rounded once (per line, never per assessment), so lines sum exactly to the total."""
    return round_money(Decimal(int(quantity)) * unit_price, currency)
