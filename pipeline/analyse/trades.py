"""Trades for the meeting brief (`pipeline.analyse.brief`): what the asymmetries between the two sides suggest
giving for what. From the Canvas, only by its words (an ask of theirs we recorded as an offer of ours); from the
commitments, only where both sides are overdue. docs/brief.md gives the rules."""
from __future__ import annotations

import pandas as pd

from pipeline.analyse.wording import day
from pipeline.core.frames import text_of

TRADE_COLUMNS = ["give", "get", "basis", "why"]


def key(text: object) -> str:
    """A Canvas entry's words, compared without case or spacing."""
    return " ".join(str(text).casefold().split())


def canvas_trades(theirs: pd.DataFrame, ours: pd.DataFrame) -> pd.DataFrame:
    """The asymmetries the Canvas records: each thing they ask for that we recorded as an offer (the same
    words), where it matters more to them than it costs us, given for what we ask that matters most to us
    (each of our asks used once, weightiest first); then our offers of weight 1 nobody asked for (cheap
    openers). We never guess that one of their asks is one of our offers by anything but its words."""
    if not len(ours):
        return pd.DataFrame(columns=TRADE_COLUMNS)
    weight = lambda f: pd.to_numeric(f["weight"], errors="coerce").fillna(1)  # noqa: E731 - one-line key
    asks = theirs[theirs["kind"] == "ask"].assign(_w=weight)
    offers = ours[ours["kind"] == "offer"].assign(_w=weight)
    wants = ours[ours["kind"] == "ask"].assign(_w=weight).sort_values("_w", ascending=False, kind="stable")
    wanted = [(str(t), float(w)) for t, w in zip(wants["text"], wants["_w"])]
    cost = {key(t): float(w) for t, w in zip(offers["text"], offers["_w"])}
    rows: list[dict] = []
    for text, w in sorted(zip(asks["text"].astype(str), asks["_w"]), key=lambda tw: -tw[1]):
        c = cost.get(key(text))
        if c is None or c > w:
            continue
        get, gw = wanted.pop(0) if wanted else ("", 0.0)
        rows.append({"give": text, "get": get, "basis": "canvas",
                     "why": f"they weigh it {w:.0f} of 3, it costs us {c:.0f} of 3"
                            + (f"; we weigh our ask {gw:.0f} of 3" if get else "")})
    asked = {key(t) for t in asks["text"]}
    for text, w in zip(offers["text"].astype(str), offers["_w"]):
        if w <= 1 and key(text) not in asked:
            rows.append({"give": text, "get": "", "basis": "canvas", "why": "costs us little (1 of 3): an opener"})
    return pd.DataFrame(rows, columns=TRADE_COLUMNS)


def commitment_trades(cs: pd.DataFrame, options: pd.DataFrame) -> pd.DataFrame:
    """From the commitments: where both sides are behind, a firm new date for ours against one for theirs, the
    one of theirs worth most to the score first (`what_if`). Where only one side is behind there is nothing
    to trade: it is an ask, or an apology."""
    behind = cs[cs["is_overdue"].astype(bool) & ~cs["is_dropped"].astype(bool)]
    done = options[options["kind"] == "commitment"]
    gain = pd.Series(pd.to_numeric(done["gain"], errors="coerce").to_numpy(),
                     index=pd.MultiIndex.from_arrays([done["partner_id"].astype(str), done["subject"].astype(str)]))
    keys = pd.MultiIndex.from_arrays([behind["partner_id"].astype(str), behind["commitment_id"].astype(str)])
    behind = behind.assign(_g=gain.reindex(keys).fillna(0).to_numpy(), _d=pd.to_datetime(behind["due_date"]))
    mine = behind[behind["party"] == "us"].sort_values(["partner_id", "_d"], kind="stable")
    yours = behind[behind["party"] == "partner"].sort_values(["partner_id", "_g", "_d"], ascending=[True, False, True],
                                                             kind="stable")
    mine = mine.assign(_n=mine.groupby("partner_id").cumcount())
    yours = yours.assign(_n=yours.groupby("partner_id").cumcount())
    pairs = mine.merge(yours, on=["partner_id", "_n"], suffixes=("_o", "_t"))

    def said(ids: pd.Series, desc: pd.Series, due: pd.Series) -> list[str]:
        return [f"a new date we keep for {i} ({text_of(d)}), due {day(t)}" if text_of(d) else
                f"a new date we keep for {i}, due {day(t)}" for i, d, t in zip(ids, desc, due)]

    return pd.DataFrame({
        "partner_id": pairs["partner_id"].astype(str),
        "give": said(pairs["commitment_id_o"], pairs["description_o"], pairs["due_date_o"]),
        "get": [g.replace("we keep", "they keep") for g in
                said(pairs["commitment_id_t"], pairs["description_t"], pairs["due_date_t"])],
        "basis": "commitments",
        "why": [f"both overdue; theirs is worth {g:.0f} points of health" if g > 0 else "both overdue"
                for g in pairs["_g_t"]]}, columns=["partner_id", *TRADE_COLUMNS])
