"""How values read in the PDFs: the one number style and the one date style (`fmt_number`, `fmt_date`, defined
once in `pipeline.analyse.wording` and re-exported here for the renderers and the e-mail), percentages and
changes with arrows. Pure functions, no reportlab."""
from __future__ import annotations

from pipeline.analyse.wording import attainment_pct, fmt_change, fmt_date, fmt_number  # noqa: F401 - the public names of the style
from pipeline.core.frames import is_missing


def fmt_pct(value: object, digits: int = 0) -> str:
    return "—" if is_missing(value) else f"{float(value) * 100:.{digits}f}%"  # type: ignore[arg-type]  # number-like, not missing


def fmt_attainment(value: object, edges: tuple[float, ...] = ()) -> str:
    """Attainment as the analysis words it (`attainment_pct`: never rounded up to a band edge), "—" when missing."""
    return attainment_pct(value, edges, "—")
