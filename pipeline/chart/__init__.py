"""Stage 4, chart: each partner's trend charts as PNG bytes (`charts`), their text drawn once per
process (`text`)."""
