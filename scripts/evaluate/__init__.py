"""`evaluate`: swap held-out faces (and, with -i, a video) with a trained model and report how good the swap
is. args: the command line and its Config; run: the run (the measuring is lib/evaluation)."""
