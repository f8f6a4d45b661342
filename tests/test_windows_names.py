"""Output file names that Windows accepts: no reserved device name (CON, PRN, AUX, NUL, COM1-9, LPT1-9,
with or without an extension, in any case, superscript digits included), no trailing dot or space, none of
<>:"/\\|?* and no control character; and still one file per partner where case and Unicode normalisation
do not tell names apart (tests/test_exactly_once.py runs the whole report on such names)."""
from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.write.outputs import (
    name_key,
    portfolio_pdf_name,
    review_file_names,
    slug,
    windows_name_problem,
)

RESERVED = ["CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10)),
            "COM¹", "COM²", "COM³", "LPT¹", "LPT²", "LPT³"]
FORBIDDEN = '<>:"/\\|?*'
ADVERSARIAL = [
    *RESERVED, *(r.lower() for r in RESERVED), "Con", "nUl", "con.txt", "CON.", "CON ", " CON", "con .pdf",
    "aux.tar.gz", "COM0", "LPT10", "COM1-2", "...", ". . .", "   ", "", "trailing.", "trailing ", "trailing. . ",
    "a<b>c", 'say "hi"', "C:\\Windows", "../../etc/passwd", "a/b", "pipe|line", "why?", "star*", "tab\there",
    "new\nline", "nul\x00byte", "bell\x07", "\x1b[2Jclear", "del\x7f", "c1\x85\x9f", "\u200bzero width",
    "Café Ünion", unicodedata.normalize("NFD", "Café Ünion"), "ＣＯＮ", "Ｃ：ｗｉｎ", "名前", "🦄 Unicorn",
]


# --- the check itself: each rule of Windows, in a name it accepts and in one it refuses ---------------
@pytest.mark.parametrize("name", ["report.pdf", "CON_2026-Q3_partnership-review.pdf", "console.pdf", "COM10",
                                  "LPT0.txt", "NULL", "a.b.c", "名前.pdf", "Café"])
def test_the_check_accepts_names_windows_accepts(name):
    assert windows_name_problem(name) == ""


@pytest.mark.parametrize("name", [*RESERVED, "con", "Con.pdf", "nul.tar.gz", "COM1 .pdf", "lpt³.txt", "aux ",
                                  "name.", "name ", "", ".", "..", "a\x00b", "a\x1fb", *(f"a{c}b" for c in FORBIDDEN)])
def test_the_check_refuses_names_windows_refuses(name):
    assert windows_name_problem(name) != ""


# --- slug: a name part that is valid alone ------------------------------------------------------------
@pytest.mark.parametrize("text", ADVERSARIAL)
def test_a_slug_is_a_valid_windows_name_on_its_own(text):
    s = slug(text)
    assert windows_name_problem(s) == "", (text, s)
    assert windows_name_problem(f"{s}.pdf") == "", (text, s)


@pytest.mark.parametrize("text", RESERVED)
def test_a_reserved_device_name_is_kept_readable(text):
    s = slug(text)
    assert s.casefold() != text.casefold()
    assert s.casefold().startswith(text.casefold())


def test_a_reserved_name_and_its_escape_do_not_share_a_file():
    names = review_file_names("2026-Q3", [("P1", "CON"), ("P2", "CON_"), ("P3", "con")])
    assert len({name_key(n) for n in names.values()}) == 3, names
    assert all(windows_name_problem(n) == "" for n in names.values()), names


# --- the review file names of a whole registry --------------------------------------------------------
def test_adversarial_partner_names_give_valid_and_distinct_files():
    partners = [(f"P{i}", name) for i, name in enumerate(ADVERSARIAL)]
    partners += [(pid, "CON") for pid in ("CON", "con", "AUX.", "LPT1 ", "a:b", "x" * 90)]  # ids that are hostile too
    names = review_file_names("2026-Q3", partners)
    assert set(names) == {pid for pid, _ in partners}
    assert len({name_key(n) for n in names.values()}) == len(partners), names
    for pid, n in names.items():
        assert windows_name_problem(n) == "", (pid, n)
        assert n.endswith("_2026-Q3_partnership-review.pdf")
        assert len(n.encode("utf-8")) <= 200
    assert windows_name_problem(portfolio_pdf_name("2026-Q3")) == ""


NAME_TEXT = st.text(alphabet=st.sampled_from([*"CONPRAUXLTM1239¹²³ .-_", *FORBIDDEN, "\x00", "\x1f", "é", "e", "\u0301", "É"]),
                    max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1, max_size=8), NAME_TEXT), max_size=8, unique_by=lambda t: t[0]))
def test_any_registry_gives_valid_and_distinct_files(partners):
    names = review_file_names("2026-Q3", partners)
    assert len(names) == len(partners)
    assert len({name_key(n) for n in names.values()}) == len(partners), names
    for n in names.values():
        assert windows_name_problem(n) == "", n
