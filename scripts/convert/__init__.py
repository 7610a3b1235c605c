"""`convert`: frames or a video in, the same frames with the chosen face swapped out (images, video or GIF).
args: the command line and its Config; run: the run."""
