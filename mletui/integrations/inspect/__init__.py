"""Watch and steer live Inspect AI evals through Inspect's control channel.

``discovery``: the eval processes serving a control channel (Inspect's per-process discovery files).
``client``: a small HTTP client over the channel's Unix socket; every answer is untrusted.
``rows``: one row per sample (task, model, sample id and epoch, state, elapsed, tokens, score).
``transcript``: a sample's events as log lines.
``logfile``: ended evals, read from their ``.eval`` log files (the only module importing Inspect).
``session``: a watch session over one sample, with Inspect's own pause, cancel and limits.
``source``: the samples as a source of the watch registry (registered when it is imported).

Only ``logfile`` imports ``inspect_ai``; the rest speaks the channel's HTTP API, so it works
against any Inspect process whatever Inspect this environment has.
"""
