"""Subject identifiers: valid, invalid (with the reason), letter-prefixed USCCs, dates."""

from __future__ import annotations

import datetime as dt

import pytest

from credence.core.ids import (
    InvalidSubject,
    SubjectKind,
    check_ric,
    check_uscc,
    make_ric,
    make_uscc,
    parse_subject,
)

VALID_USCC = "91110000600037341L"  # python-stdnum's own example
VALID_RIC = "360426199101010071"  # python-stdnum's own example


def test_valid_uscc_and_ric_are_canonicalised() -> None:
    assert str(parse_subject(f"USCC:{VALID_USCC.lower()}")) == f"uscc:{VALID_USCC}"
    key = parse_subject(f"ric:{VALID_RIC}")
    assert (key.scheme, key.ident, key.kind) == ("ric", VALID_RIC, SubjectKind.PERSON)
    assert parse_subject(f"uscc:{VALID_USCC}").kind is SubjectKind.ORGANISATION


def test_uscc_wrong_check_character_says_which() -> None:
    with pytest.raises(InvalidSubject, match="check character should be 'L'"):
        check_uscc(VALID_USCC[:-1] + "P")


@pytest.mark.parametrize("authority", ["N", "Y", "A"])
def test_letter_registration_authority_is_accepted(authority: str) -> None:
    """GB 32100 allows letters in position 1; python-stdnum alone refuses them."""
    code = make_uscc(authority + VALID_USCC[1:17])
    assert check_uscc(code) == code
    wrong = "0" if code[-1] != "0" else "1"
    with pytest.raises(InvalidSubject, match=f"check character should be '{code[-1]}'"):
        check_uscc(code[:-1] + wrong)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("9111000060003734", "must have 18 characters, not 16"),
        ("91110000600037341I", "'I' is not in the GB 32100 alphabet"),
        ("N1A10000600037341L", "region code 'A10000' must be 6 digits"),
    ],
)
def test_uscc_format_errors(code: str, reason: str) -> None:
    with pytest.raises(InvalidSubject, match=reason):
        check_uscc(code)


def test_ric_wrong_check_character() -> None:
    with pytest.raises(InvalidSubject, match="check character should be '1'"):
        check_ric(VALID_RIC[:-1] + "2")


def test_ric_impossible_birth_date() -> None:
    number = make_ric("11010520310230123")
    with pytest.raises(InvalidSubject, match="birth date 2031-02-30 is not a date"):
        check_ric(number)


def test_ric_future_birth_date() -> None:
    number = make_ric("11010520300101123")
    with pytest.raises(InvalidSubject, match="birth date 2030-01-01 is in the future"):
        check_ric(number, today=dt.date(2026, 11, 26))


def test_ric_unknown_region() -> None:
    number = make_ric("99999919900101123")
    with pytest.raises(InvalidSubject, match="region code 999999"):
        check_ric(number)


def test_ric_x_check_character() -> None:
    number = make_ric("11010519491231002")
    assert number.endswith("X")
    assert check_ric(number.lower()) == number


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("91110000600037341L", "not of the form scheme:id"),
        ("uscc:", "not of the form scheme:id"),
        ("X:abc", "scheme 'x' is not"),
        ("npo:bad id", "has characters outside"),
    ],
)
def test_bad_keys(key: str, reason: str) -> None:
    with pytest.raises(InvalidSubject, match=reason):
        parse_subject(key)


def test_other_schemes_are_kept() -> None:
    key = parse_subject("npo:51100000500000123X")
    assert str(key) == "npo:51100000500000123X"
    assert key.kind is SubjectKind.ORGANISATION


def test_uscc_check_character_agrees_with_python_stdnum() -> None:
    import random

    from stdnum.cn import uscc as stdnum_uscc

    from credence.core.ids import USCC_ALPHABET, uscc_check_character

    rng = random.Random(3)
    for _ in range(5000):
        body = (
            rng.choice("123456789")
            + rng.choice(USCC_ALPHABET)
            + "".join(rng.choices("0123456789", k=6))
            + "".join(rng.choices(USCC_ALPHABET, k=9))
        )
        if not body[:8].isdigit():
            continue
        assert uscc_check_character(body) == stdnum_uscc.calc_check_digit(body)
        assert stdnum_uscc.is_valid(body + uscc_check_character(body))


# Issue 8: Unicode digits made one person four subjects; only ASCII is accepted.
@pytest.mark.parametrize(
    "digits",
    ["\u0661\u0662\u0663", "\uff11\uff12\uff13", "\u0e51\u0e52\u0e53"],
    ids=["arabic-indic", "full-width", "thai"],
)
def test_ric_with_non_ascii_digits_is_refused(digits: str) -> None:
    body = VALID_RIC[:14] + digits
    for check in "0123456789X":
        with pytest.raises(InvalidSubject, match="ASCII digits"):
            parse_subject(f"ric:{body}{check}")


def test_uscc_with_full_width_characters_is_refused() -> None:
    with pytest.raises(InvalidSubject, match="no full-width"):
        parse_subject("uscc:\uff19" + VALID_USCC[1:])


def test_subject_fits_the_store_column() -> None:
    from credence.core.ids import SUBJECT_MAX_LENGTH
    from credence.store.schema import records

    assert records.c.subject.type.length == SUBJECT_MAX_LENGTH == 160
    longest = "a" * 32 + ":" + "B" * 127
    assert str(parse_subject(longest)) == longest
    with pytest.raises(InvalidSubject, match="longer than 160 characters"):
        parse_subject("a" * 32 + ":" + "B" * 128)


def test_region_check_agrees_with_stdnum_for_every_county_code() -> None:
    """The per-region cache against python-stdnum's own birth-place lookup, the oracle:
    every county code in its table, in years before, at and after typical span ends."""
    from stdnum.cn import ric as stdnum_ric
    from stdnum.exceptions import ValidationError

    from credence.core.ids import region_codes, region_existed

    def stdnum_says(region: str, year: int) -> bool:
        try:
            stdnum_ric.get_birth_place(f"{region}{year}0101000X")
        except (ValidationError, KeyError):
            return False
        return True

    codes = region_codes()
    assert len(codes) > 3000  # the whole table, not a stub
    outside = ["000000", "999999", "110199", "710000"]  # no county there (or not in the table)
    years = (1949, 1984, 2011, 2026)
    differ = [
        (code, year)
        for code in [*codes, *outside]
        for year in years
        if region_existed(code, str(year)) != stdnum_says(code, year)
    ]
    assert differ == []
    assert region_existed("110103", "2000") and not region_existed("110103", "2011")  # 崇文区


def test_region_spans_read_in_one_process_seed_another_with_the_same_answers() -> None:
    """The writer hands the regions it has read to the validation worker (CheckSpec.regions)."""
    from credence.core import ids

    assert ids.region_existed("110103", "2000")  # 崇文区, merged into 东城区 in 2010
    known = ids.known_region_spans()
    assert known["110103"] == ids._read_spans("110103")
    ids._SPANS.clear()
    ids.seed_region_spans({"110103": known["110103"]})
    assert dict(ids._SPANS) == {"110103": known["110103"]}
    assert ids.region_existed("110103", "2000") and not ids.region_existed("110103", "2011")
