"""References across sheets and files: the keys (partner_id, kpi_id) and display names a reference may
use, matched trimmed, and the rule that a reference matching two entries is ambiguous, never given to
the first. Also the cell-as-text helpers every converter uses to read and compare what was typed.
"""
from __future__ import annotations

import datetime as dt
import difflib
import unicodedata
from collections.abc import Callable
from typing import Any


def cell_text(v: Any) -> str:
    """A cell as trimmed text: 101.0 -> '101', dates as ISO."""
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e16:
        return str(int(v))
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time() else v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    return " ".join(str(v).split())


def free_text(v: Any) -> str:
    """Free text as typed (line breaks kept), only trimmed."""
    return "" if v is None else (cell_text(v) if not isinstance(v, str) else v.strip())


def exact_text(v: Any) -> str:
    """A reference as typed: trimmed, in one Unicode form (NFC)."""
    return unicodedata.normalize("NFC", cell_text(v))


def ref_key(v: Any) -> str:
    """A reference as matched ignoring case."""
    return exact_text(v).casefold()


class Refs:
    """Keys (partner_id, kpi_id) and display names a reference may use, matched trimmed (`matches`). A
    reference that matches two entries (one entry's key and another's name, or two names) resolves to
    nothing: it is ambiguous, never given to the first. `find` resolves and reports; the bulk paths use
    `resolve`, which follows the same rule without reporting."""

    def __init__(self, field: str, unknown: str, ambiguous: str) -> None:
        self.field = field                       # the column a reference is usually in
        self.unknown = unknown                   # the problem codes `find` reports
        self.ambiguous = ambiguous
        self.ids: dict[str, str] = {}            # casefolded key -> key
        self.exact_ids: dict[str, str] = {}      # key as typed (trimmed) -> key
        self.owners: dict[str, list[str]] = {}   # casefolded name -> every key with that name
        self.exact_owners: dict[str, list[str]] = {}  # name as typed (trimmed) -> every key with that name
        self.first: dict[str, str] = {}      # key -> where it was first defined
        self.key_names: dict[str, str] = {}      # key -> its name as typed
        self._hints: dict[str, str] = {}
        self._cache: dict[Any, str | None] = {}

    def clash(self, key: str, name: str) -> str:
        """What a new entry (key, name) could be taken for, in words ('' when nothing): another entry with
        the same name (ignoring case), an entry whose key is this name, or one whose name is this key."""
        def who(k: str) -> str:
            where = self.first.get(k.casefold(), "")
            return f"{k!r} ({self.key_names.get(k, '')}{', ' + where if where else ''})"

        found = [f"the name of {who(k)}" for k in self.owners.get(ref_key(name), []) if k != key]
        other = self.ids.get(ref_key(name))
        if other is not None and other != key:
            found.append(f"the id of {who(other)}" + ("" if exact_text(name) == exact_text(other) else " but for case"))
        if ref_key(key) != ref_key(name):
            found += [f"the name of {who(k)}, which is this partner's id" for k in self.owners.get(ref_key(key), [])
                      if k != key]
        return " and ".join(found)

    def add(self, key: str, name: str) -> None:
        self.ids[ref_key(key)] = key
        self.exact_ids[exact_text(key)] = key
        self.owners.setdefault(ref_key(name), []).append(key)
        self.exact_owners.setdefault(exact_text(name), []).append(key)
        self.key_names[key] = name
        self._cache.clear()

    def matches(self, v: Any) -> list[tuple[str, str]]:
        """Every entry `v` refers to, as (key, 'id' or 'name'). A key typed exactly (trimmed) is matched with
        the names typed exactly; otherwise keys and names are matched ignoring case. Names that differ only
        in case are one name: a reference to it is ambiguous, however it is typed."""
        exact = exact_text(v)
        if exact in self.exact_ids:
            found = [(self.exact_ids[exact], "id")]
            owners = self.exact_owners.get(exact, [])
        else:
            k = ref_key(v)
            found = [(self.ids[k], "id")] if k in self.ids else []
            owners = self.owners.get(k, [])
        return found + [(key, "name") for key in owners if key not in {f for f, _ in found}]

    def resolve(self, v: Any) -> str | None:
        """The one key `v` refers to; None when it refers to none, or to two."""
        try:
            return self._cache[v]
        except (KeyError, TypeError):
            pass
        hits = self.matches(v)
        found = hits[0][0] if len(hits) == 1 else None
        try:
            self._cache[v] = found
        except TypeError:
            pass
        return found

    def find(self, v: Any, problem: Callable[..., None], field: str = "", unknown: str = "") -> str | None:
        """`resolve`, with the problem reported (on `field`, by default this registry's) when `v` refers to
        none (`unknown`, by default this registry's code) or to two."""
        key = self.resolve(v)
        if key is None:
            hits = self.matches(v)
            if len(hits) > 1:
                problem(self.ambiguous, field or self.field, detail=self.describe(hits))
            else:
                problem(unknown or self.unknown, field or self.field, detail=self.hint(v))
        return key

    def describe(self, hits: list[tuple[str, str]]) -> str:
        """'P1 (Northwind) by its id or NW (P1) by its name'."""
        return " or ".join(f"{key!r} ({self.key_names.get(key, '')}) by its {how}" for key, how in hits)

    def hint(self, v: Any) -> str:
        """' (did you mean 'A', 'B'?)' from the closest ids and names, or ''."""
        typed = cell_text(v)
        if typed not in self._hints:
            display = {**self.ids, **{k: self.key_names[keys[0]] for k, keys in self.owners.items()}}
            close = difflib.get_close_matches(ref_key(typed), list(display), n=3, cutoff=0.6)
            shown = list(dict.fromkeys(display[c] for c in close))
            self._hints[typed] = f" (did you mean {', '.join(repr(s) for s in shown)}?)" if shown else ""
        return self._hints[typed]
