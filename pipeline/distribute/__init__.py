"""Stage 7, distribute: each partner's review as an e-mail (`mail` builds and checks one message,
`send` drafts or sends them all, exactly once)."""
