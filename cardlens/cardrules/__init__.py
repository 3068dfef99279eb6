"""Payment-card rules: Luhn, issuer table, masking, expiry and name parsing (stdlib only)."""

from cardlens.cardrules.brands import (
    BRANDS,
    PAN_MAX_LENGTH,
    PAN_MIN_LENGTH,
    Brand,
    BrandMatch,
    generate_pan,
    get_brand,
    group_digits,
    identify_brand,
    shorter_than_its_prefix,
)
from cardlens.cardrules.expiry import (
    Expiry,
    PrintedExpiry,
    find_dates,
    is_expired,
    is_plausible,
    parse_expiry,
    printed_non_date,
)
from cardlens.cardrules.luhn import luhn_check_digit, luhn_valid
from cardlens.cardrules.masking import PanDigits, PanRedactingFilter, mask_pan, redact_text
from cardlens.cardrules.names import normalize_name

__all__ = [
    "BRANDS", "PAN_MAX_LENGTH", "PAN_MIN_LENGTH", "Brand", "BrandMatch", "Expiry", "PanDigits",
    "PanRedactingFilter", "PrintedExpiry", "find_dates", "generate_pan", "get_brand", "group_digits", "identify_brand",
    "is_expired", "is_plausible", "luhn_check_digit", "luhn_valid", "mask_pan", "normalize_name",
    "parse_expiry", "printed_non_date", "redact_text", "shorter_than_its_prefix",
]
