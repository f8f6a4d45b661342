"""Stage 7, distribute: each partner's review as an e-mail (`text` and `template` write its words, `mail` builds
and checks one message, `send` drafts them all, shows who gets what, and sends them, exactly once)."""
