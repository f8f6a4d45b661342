"""Stage 8, run: the quarterly run behind `partner-review report` (`report`): every stage in order, the
worker processes that chart and render, and the manifest."""
