"""The PDFs: the partner review (`partner_pdf`) and the portfolio review (`portfolio_pdf`).

The look (page, fonts, colours, styles) lives in `pipeline.render.layout`; each module here builds its
document from flowables and returns the bytes. Writing them to disk is the caller's job.
"""
from __future__ import annotations

__all__ = ["partner_pdf", "portfolio_pdf"]


def __getattr__(name: str):  # lazy, so importing the package stays cheap
    if name == "partner_pdf":
        from pipeline.render.partner import partner_pdf

        return partner_pdf
    if name == "portfolio_pdf":
        from pipeline.render.portfolio import portfolio_pdf

        return portfolio_pdf
    raise AttributeError(name)
