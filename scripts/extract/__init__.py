"""`extract`: frames -> faces with landmarks -> aligned face PNGs and an alignments file.
args: the command line and its Config; run: the run."""
