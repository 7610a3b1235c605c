"""`demo`: the whole pipeline on the bundled clips of two people, in one command.
args: the command line and its Config; run: the run."""
