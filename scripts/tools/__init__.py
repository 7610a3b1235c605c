"""`tools`: utilities around the pipeline: alignments files, and videos split into frames and joined back.
args: the command line and its Config; run: the tools."""
