"""`train`: two folders of faces -> an A<->B model in a model folder that saves safely and resumes.
args: the command line and its Config; run: this process trains (session: options resolved, the model built or
resumed), or with --cluster local:N starts workers that do (launch); loop: the steps; summary: what a run did."""
